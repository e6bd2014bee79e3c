from __future__ import annotations

from services.notifier.compose import (
    DigestLine,
    DigestMail,
    ProposalMail,
    compose_digest,
    compose_proposal_email,
)
from shared.matching import ScorePart
from tests.support.factories import covered, match_proposed

DASHBOARD = "https://bridgework.example/dashboard/north/proposals"


def mail(mentee: str = "Ben Mentee") -> ProposalMail:
    proposal = match_proposed(
        score=0.92,
        skills=(covered("board-influence", "Board influence", 2, 5, 6),),
        region_reason="neighbouring regions (London / South East)",
        parts=(
            ScorePart(name="skills", value=1.0, weight=0.8, contribution=0.8),
            ScorePart(name="region", value=0.6, weight=0.2, contribution=0.12),
        ),
    )
    return ProposalMail(
        coordinator_name="Cora",
        network_name="North",
        proposal=proposal,
        provider="Ann Mentor, CIO, Trust One",
        mentee_name=mentee,
        mentee=f"{mentee}, CCIO, Trust Two",
        approve_url="https://bridgework.example/links/decision/yes-token",
        reject_url="https://bridgework.example/links/decision/no-token",
        dashboard_url=DASHBOARD,
    )


def test_the_email_names_the_pair_and_gives_the_reasons() -> None:
    email = compose_proposal_email(mail())
    assert email.subject == "Proposed mentoring match for Ben Mentee — your decision"
    for part in (email.text, email.html):
        assert "Ann Mentor, CIO, Trust One" in part
        assert "Ben Mentee, CCIO, Trust Two" in part
        assert "Board influence: from level 2 to 5" in part
        assert "neighbouring regions (London / South East)" in part
        assert "0.92" in part
    assert "region: 0.60 x weight 0.20 = 0.120" in email.text


def test_names_are_escaped_in_html() -> None:
    email = compose_proposal_email(mail(mentee="<script>alert(1)</script>"))
    assert "<script>" not in email.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in email.html


def test_an_exchange_secondment_says_it_is_linked() -> None:
    proposed = mail().proposal.model_copy(update={"exchange_id": "exchange-abc123"})
    email = compose_proposal_email(
        ProposalMail(
            coordinator_name="Cora",
            network_name="North",
            proposal=proposed,
            provider="Data lead at Trust One",
            mentee_name="Ben",
            mentee="Ben, Analyst",
            approve_url="https://bridgework.example/links/decision/yes-token",
            reject_url="https://bridgework.example/links/decision/no-token",
            dashboard_url=DASHBOARD,
        )
    )
    for part in (email.text, email.html):
        assert "part of a staff exchange between trusts (exchange-abc123)" in part
        assert "Approve all of the exchange's secondments, or none." in part
    assert "staff exchange" not in compose_proposal_email(mail()).text


def test_the_email_carries_the_approve_and_reject_links() -> None:
    email = compose_proposal_email(mail())
    assert "Approve: https://bridgework.example/links/decision/yes-token" in email.text
    assert "Reject:  https://bridgework.example/links/decision/no-token" in email.text
    assert '<a href="https://bridgework.example/links/decision/yes-token"' in email.html
    assert '<a href="https://bridgework.example/links/decision/no-token"' in email.html
    # Every coordinator's email leads to the dashboard too.
    assert DASHBOARD in email.text
    assert f'<a href="{DASHBOARD}">' in email.html


def digest(lines: int) -> DigestMail:
    return DigestMail(
        coordinator_name="Cora",
        network_name="North",
        day="Thursday 3 December",
        lines=tuple(
            DigestLine(
                kind="mentoring",
                provider=f"Ann Mentor {i}, CIO, Trust One",
                mentee=f"<b>Ben</b> {i}, CCIO, Trust Two",
                score=0.5 + i / 1000,
                approve_url=f"https://bridgework.example/links/decision/yes-{i}",
                reject_url=f"https://bridgework.example/links/decision/no-{i}",
            )
            for i in range(lines)
        ),
        dashboard_url=DASHBOARD,
    )


def test_a_digest_lists_every_new_proposal_with_its_links_and_the_dashboard() -> None:
    email = compose_digest(digest(307))
    assert email.subject == "Bridgework: 307 new proposals in North, Thursday 3 December"
    for i in range(307):
        assert f"https://bridgework.example/links/decision/yes-{i}\n" in email.text
        assert f'<a href="https://bridgework.example/links/decision/no-{i}">' in email.html
    assert "<b>Ben</b>" not in email.html
    assert "&lt;b&gt;Ben&lt;/b&gt; 0" in email.html
    assert DASHBOARD in email.text
    assert f'<a href="{DASHBOARD}">' in email.html
    assert compose_digest(digest(1)).subject.startswith("Bridgework: 1 new proposal in")
    empty = compose_digest(digest(0))
    assert "nothing waits for you" in empty.text
    assert DASHBOARD in empty.text
