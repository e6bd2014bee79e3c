"""Introduction emails: who the other is, why they were matched, a first step, and for
mentoring an iCalendar invitation both calendars read as one meeting; names escaped."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest
from icalendar import Calendar

from services.notifier.compose import (
    MentoringIntroduction,
    MissingContactNotice,
    Participant,
    SecondmentIntroduction,
    compose_mentoring_introduction,
    compose_missing_contact_notice,
    compose_secondment_introduction,
    compose_self_service_link,
    first_conversation_slot,
)
from shared.matching import Explanation
from tests.support.factories import covered

MENTOR = Participant(
    name="Eleanor Underwood", email="eleanor@example.org", job_title="CDO", trust="Trust One"
)
MENTEE = Participant(
    name="O'Brien <Farid>", email="farid@example.org", job_title="Analyst", trust="Trust Two"
)
EXPLANATION = Explanation(
    skills_covered=(covered("user-research", "User research and design", 2, 5, 6),),
    region_reason="same region (North West), 50 km",
    parts=(),
)
DECIDED = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)  # a Wednesday


def intro() -> MentoringIntroduction:
    return MentoringIntroduction(
        match_id=uuid4(),
        network_name="Northern Network",
        mentor=MENTOR,
        mentee=MENTEE,
        explanation=EXPLANATION,
        decided_at=DECIDED,
        manage_url="https://bw.example/me",
    )


def test_the_first_conversation_is_a_week_later_on_a_weekday_morning() -> None:
    start, end = first_conversation_slot(DECIDED)
    assert start == datetime(2026, 12, 2, 10, 0, tzinfo=UTC)  # 10:00 in London (GMT)
    assert (end - start).total_seconds() == 45 * 60
    saturday = datetime(2026, 6, 13, 9, 0, tzinfo=UTC)
    start, _ = first_conversation_slot(saturday)
    assert start == datetime(2026, 6, 22, 9, 0, tzinfo=UTC)  # Monday, 10:00 BST


@pytest.mark.parametrize("to_mentor", [True, False])
def test_each_side_learns_who_the_other_is_and_why(to_mentor: bool) -> None:
    email = compose_mentoring_introduction(intro(), to_mentor=to_mentor)
    other = MENTEE if to_mentor else MENTOR
    assert email.subject == f"Introducing your {'mentee' if to_mentor else 'mentor'}: {other.name}"
    assert f"{other.name}, {other.job_title}, {other.trust}" in email.text
    assert other.email in email.text
    assert "User research and design" in email.text
    assert "same region (North West), 50 km" in email.text
    assert "Suggested first step" in email.text
    assert "ask for your link at https://bw.example/me" in email.text
    assert "Wednesday 2 December 2026 at 10:00 (UK time)" in email.text
    assert "<Farid>" not in email.html
    assert "O&#39;Brien &lt;Farid&gt;" in email.html


def test_the_invitation_is_one_meeting_organised_by_the_mentor() -> None:
    introduction = intro()
    to_mentor = compose_mentoring_introduction(introduction, to_mentor=True)
    to_mentee = compose_mentoring_introduction(introduction, to_mentor=False)
    [attachment] = to_mentor.attachments
    assert (attachment.maintype, attachment.subtype) == ("text", "calendar")
    assert attachment.filename.endswith(".ics")
    assert to_mentee.attachments[0].content == attachment.content
    calendar = Calendar.from_ical(attachment.content)
    assert str(calendar["method"]) == "REQUEST"
    [event] = calendar.walk("VEVENT")
    assert str(event["uid"]) == f"{introduction.match_id}@bridgework.local"
    assert str(event["organizer"]) == "mailto:eleanor@example.org"
    attendees = {str(a) for a in event.get("attendee", [])}  # type: ignore[union-attr]
    assert attendees == {"mailto:eleanor@example.org", "mailto:farid@example.org"}
    assert event.decoded("dtstart") == datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


def secondment(host_contact: str | None = "hr@host.example") -> SecondmentIntroduction:
    return SecondmentIntroduction(
        match_id=uuid4(),
        network_name="Northern Network",
        candidate=MENTEE,
        placement_role="Data lead",
        host_trust="Host Trust",
        home_trust="Trust Two",
        host_contact=host_contact,
        home_contact=None,
        explanation=EXPLANATION,
        manage_url="https://bw.example/me",
    )


def test_a_secondment_introduces_the_candidate_and_both_trusts() -> None:
    candidate = compose_secondment_introduction(secondment(), "candidate")
    assert candidate.subject == "Your secondment: Data lead at Host Trust"
    assert "Write to Host Trust (hr@host.example)" in candidate.text
    host = compose_secondment_introduction(secondment(), "host_trust")
    assert "O'Brien <Farid>" in host.subject
    assert "farid@example.org" in host.text
    assert "&lt;Farid&gt;" in host.html
    home = compose_secondment_introduction(secondment(), "home_trust")
    assert "how their work is covered" in home.text
    assert "https://bw.example/me" in candidate.text
    assert "https://bw.example/me" not in home.text
    assert not candidate.attachments
    with pytest.raises(ValueError, match="unknown audience"):
        compose_secondment_introduction(secondment(), "everyone")


def test_a_coordinator_is_told_when_a_trust_has_no_contact() -> None:
    email = compose_missing_contact_notice(
        MissingContactNotice(
            coordinator_name="Cora",
            network_name="Northern Network",
            match_id=uuid4(),
            trust="Host Trust",
            trust_code="RXX",
            side="host",
            candidate="Farid, Analyst, Trust Two",
            placement="Data lead at Host Trust",
            dashboard_url="https://bw.example/dashboard/north/proposals",
        )
    )
    assert email.subject == "Secondment introduction not sent to Host Trust: no contact"
    assert "no contact email for that trust" in email.text
    assert "https://bw.example/dashboard/north/proposals" in email.text
    assert '<a href="https://bw.example/dashboard/north/proposals">' in email.html


def test_the_self_service_link_email() -> None:
    email = compose_self_service_link("Ann <b>", "https://bw.example/me/token", 7)
    assert "https://bw.example/me/token" in email.text
    assert '<a href="https://bw.example/me/token">' in email.html
    assert "Ann &lt;b&gt;" in email.html
    assert "7 day(s)" in email.text
