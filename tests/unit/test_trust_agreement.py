"""When a secondment is agreed (every consent of its exchange, or none), the dates it is planned
for, the steps of its life, and the trusts' signed links (forged or expired ones refused)."""

from __future__ import annotations

import string
from datetime import date, timedelta
from uuid import UUID, uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.matcher.handlers import ProposalRow, secondment_outcome
from services.profiles.accounts.permissions import (
    Account,
    AccountRole,
    home_path,
    may_act_for_trust,
    may_coordinate,
)
from services.profiles.trusts.agreement import (
    Consent,
    LifeStep,
    StepRefused,
    add_months,
    exchange_outcome,
    next_status,
    no_answer_reason,
    planned_dates,
)
from shared.events import ConsentParty, SecondmentChanged, SecondmentStatus
from shared.links import (
    LinkRefused,
    read_consent_link,
    read_trust_sign_in_link,
    sign_consent_link,
    sign_trust_sign_in_link,
)

ANSWERS = st.sampled_from([None, "given", "refused", "expired"])


@st.composite
def exchanges(draw: st.DrawFn) -> list[Consent]:
    """One to four secondments, each with its host's and home's answer (or none yet)."""
    matches = [uuid4() for _ in range(draw(st.integers(1, 4)))]
    return [Consent(m, party, draw(ANSWERS)) for m in matches for party in ConsentParty]


@given(exchanges())
def test_an_exchange_is_agreed_only_when_every_consent_is_given(consents: list[Consent]) -> None:
    outcome = exchange_outcome(consents)
    matches = {c.match_id for c in consents}
    refused = {c.match_id for c in consents if c.answer == "refused"}
    if refused:
        # All or none: one refusal and nobody is agreed; only the refused pairs are refused.
        assert set(outcome.statuses) == matches
        assert {m for m, s in outcome.statuses.items() if s is SecondmentStatus.REFUSED} == refused
        assert all(
            s is SecondmentStatus.NOT_AGREED
            for m, s in outcome.statuses.items()
            if m not in refused
        )
    elif any(c.answer == "expired" for c in consents):
        # No answer by the deadline: nobody agreed, nobody refused (the pairs may come back).
        assert outcome.statuses == dict.fromkeys(matches, SecondmentStatus.NOT_AGREED)
    elif all(c.answer == "given" for c in consents):
        assert outcome.statuses == {m: SecondmentStatus.AGREED for m in matches}
    else:
        assert not outcome.decided


def test_the_reason_an_exchange_lapsed_names_who_did_not_answer_and_by_when() -> None:
    day = date(2026, 12, 10)
    assert (
        no_answer_reason(["Broads", "Broads"], day) == "no answer from Broads by 10 December 2026"
    )
    assert no_answer_reason(["Fens", "Broads", "Coast"], day) == (
        "no answer from Broads, Coast and Fens by 10 December 2026"
    )


def test_a_three_trust_exchange_with_one_refusal_agrees_nobody() -> None:
    a, b, c = uuid4(), uuid4(), uuid4()
    answers = {(a, "host"): "given", (a, "home"): "given", (b, "host"): "given"}
    answers |= {(b, "home"): "refused", (c, "host"): "given", (c, "home"): "given"}
    outcome = exchange_outcome(
        [Consent(m, ConsentParty(p), answer) for (m, p), answer in answers.items()]
    )
    assert outcome.statuses == {
        a: SecondmentStatus.NOT_AGREED,
        b: SecondmentStatus.REFUSED,
        c: SecondmentStatus.NOT_AGREED,
    }


@given(
    st.dates(date(2026, 1, 1), date(2030, 1, 1)),
    st.one_of(st.none(), st.dates(date(2026, 1, 1), date(2030, 1, 1))),
    st.integers(1, 24),
)
def test_a_planned_start_is_a_monday_with_notice_and_the_end_months_later(
    today: date, start_from: date | None, months: int
) -> None:
    start, end = planned_dates(start_from, None, months, today)
    assert start.weekday() == 0
    assert start >= today + timedelta(weeks=4)
    if start_from:
        assert start >= start_from
    assert end == add_months(start, months)
    assert end > start


def test_a_start_window_caps_the_planned_start() -> None:
    today = date(2026, 12, 3)
    start, _ = planned_dates(date(2026, 12, 7), date(2026, 12, 14), 6, today)
    assert start == date(2026, 12, 14)


def test_add_months_keeps_to_the_end_of_short_months() -> None:
    assert add_months(date(2027, 1, 31), 1) == date(2027, 2, 28)
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)


def test_a_secondment_starts_when_agreed_and_then_is_extended_or_ends() -> None:
    planned_end = date(2027, 6, 1)
    agreed, started = SecondmentStatus.AGREED.value, SecondmentStatus.STARTED.value
    assert next_status(agreed, LifeStep.START, date(2027, 1, 4), planned_end) == "started"
    assert next_status(started, LifeStep.EXTEND, date(2027, 9, 1), planned_end) == "extended"
    assert next_status(started, LifeStep.END, date(2027, 3, 1), planned_end) == "ended_early"
    assert next_status(started, LifeStep.END, planned_end, planned_end) == "ended"
    with pytest.raises(StepRefused):
        next_status(started, LifeStep.EXTEND, date(2027, 5, 1), planned_end)
    for status in ("awaiting_consent", "refused", "not_agreed", "ended"):
        with pytest.raises(StepRefused):
            next_status(status, LifeStep.START, date(2027, 1, 4), planned_end)
        with pytest.raises(StepRefused):
            next_status(status, LifeStep.END, date(2027, 1, 4), planned_end)


def _row(status: str) -> ProposalRow:
    return ProposalRow(uuid4(), "north", status, uuid4(), uuid4())


@pytest.mark.parametrize(
    ("status", "matcher_status"),
    [
        (SecondmentStatus.REFUSED, "rejected"),  # never proposed again
        (SecondmentStatus.NOT_AGREED, "withdrawn"),  # the place back, may be proposed again
        (SecondmentStatus.ENDED, "withdrawn"),
        (SecondmentStatus.ENDED_EARLY, "withdrawn"),
        (SecondmentStatus.AGREED, None),
        (SecondmentStatus.STARTED, None),
        (SecondmentStatus.EXTENDED, None),
    ],
)
def test_what_a_secondments_change_does_in_the_matcher(
    status: SecondmentStatus, matcher_status: str | None
) -> None:
    row = _row("approved")
    event = SecondmentChanged(
        entity_key=str(row.match_id), match_id=row.match_id, network_id="north", status=status
    )
    assert secondment_outcome(row, event) == matcher_status
    assert secondment_outcome(None, event) is None


def test_a_trust_contact_acts_for_their_own_trust_only() -> None:
    contact = Account(email="t@a.example", name="T", role=AccountRole.TRUST_CONTACT, trust_code="A")
    coordinator = Account(
        email="c@n.example", name="C", role=AccountRole.COORDINATOR, network_id="n"
    )
    assert may_act_for_trust(contact, "A")
    assert not may_act_for_trust(contact, "B")
    assert not may_act_for_trust(coordinator, "A")
    assert not may_act_for_trust(None, "A")
    assert not may_coordinate(contact, "n")
    assert home_path(contact) == "/trust/A"


SECRET = "s" * 40


def _consent_token(match_id: UUID) -> str:
    return sign_consent_link(
        SECRET, match_id=match_id, party="host", trust_code="A", give=True, contact_email="t@a"
    )


@given(st.integers(min_value=0), st.text(min_size=1, max_size=3))
def test_an_altered_consent_link_is_refused(position: int, splice: str) -> None:
    token = _consent_token(uuid4())
    at = position % len(token)
    forged = token[:at] + splice + token[at + 1 :]
    if forged == token:
        return
    with pytest.raises(LinkRefused):
        read_consent_link(SECRET, forged, 3600)


def test_a_link_whose_last_character_is_changed_is_refused() -> None:
    # The signature's last base64 character has bits the signature does not use: without the
    # check, three other characters there read as the same link.
    token = _consent_token(uuid4())
    alphabet = string.ascii_letters + string.digits + "-_"
    for character in alphabet.replace(token[-1], ""):
        with pytest.raises(LinkRefused):
            read_consent_link(SECRET, token[:-1] + character, 3600)
    assert read_consent_link(SECRET, token, 3600).party == "host"


def test_consent_and_sign_in_links_are_not_interchangeable_nor_usable_with_another_key() -> None:
    consent = _consent_token(uuid4())
    sign_in = sign_trust_sign_in_link(SECRET, trust_code="A", contact_email="t@a")
    with pytest.raises(LinkRefused):
        read_trust_sign_in_link(SECRET, consent, 3600)
    with pytest.raises(LinkRefused):
        read_consent_link(SECRET, sign_in, 3600)
    with pytest.raises(LinkRefused):
        read_consent_link("t" * 40, consent, 3600)
    assert read_consent_link(SECRET, consent, 3600).trust_code == "A"


def test_an_expired_consent_link_is_refused() -> None:
    token = _consent_token(uuid4())
    with pytest.raises(LinkRefused, match="expired"):
        read_consent_link(SECRET, token, -1)
