"""The text rules (shared/text.py) for names and free text, at every way in: a name the rules
accept can always go into an email's headers, and one that cannot is refused at the door."""

from __future__ import annotations

import sys
import unicodedata
from typing import Any
from uuid import uuid4

import pytest
from aiosmtplib.email import flatten_message
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from services.notifier.compose import RenderedEmail
from services.notifier.mailer import build_message
from services.profiles.api.schemas import MenteeIn, NetworkIn, TrustIn
from services.profiles.coordination.decisions import DecisionRefused, check_reason
from services.profiles.imports.rows import parse_people
from shared.consuming import Unreadable, read_message
from shared.people import Role
from shared.settings import Settings
from shared.text import free_text, single_line
from tests.support.factories import person as person_upserted

REFUSED_CATEGORIES = {"Cc", "Cs", "Zl", "Zp"}
# The separators of the attack (issue 14, item 1), and the other line breaks str.splitlines knows.
LINE_BREAKS = ["\u2028", "\u2029", "\u0085", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e"]
# Every code point, lone surrogates included (hypothesis leaves those out unless asked).
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=60)


def accepted(rule: Any, value: str) -> bool:
    try:
        rule(value)
    except ValueError:
        return False
    return True


def test_the_rule_refuses_exactly_the_control_separator_and_surrogate_categories() -> None:
    for code in range(sys.maxunicode + 1):
        character = chr(code)
        refused = unicodedata.category(character) in REFUSED_CATEGORIES
        assert accepted(single_line, character) is not refused, f"U+{code:04X}"


@pytest.mark.parametrize("separator", LINE_BREAKS)
def test_a_name_with_any_line_break_is_refused_saying_which(separator: str) -> None:
    with pytest.raises(ValueError, match=f"U\\+{ord(separator):04X}"):
        single_line(f"Eve{separator}Bcc: victim@example.org")


def test_free_text_keeps_plain_line_breaks_and_tabs_but_not_the_unicode_separators() -> None:
    assert free_text("line one\r\nline two\n\tindented") == "line one\r\nline two\n\tindented"
    for separator in ("\u2028", "\u2029", "\u0085", "\x00", "\ud800"):
        assert not accepted(free_text, f"one{separator}two")


def built_email(name: str) -> bytes:
    """The proposal email to a coordinator called ``name``, about a mentee called ``name``,
    as the notifier builds it and SMTP's DATA would carry it."""
    email = {
        "recipient_name": name,
        "recipient_email": "coordinator@example.org",
        "dedupe_key": f"proposal:{uuid4()}",
    }
    subject = f"Proposed mentoring match for {name} — your decision"
    rendered = RenderedEmail(subject, f"Hello {name}", f"<p>Hello {name}</p>")
    return flatten_message(build_message(Settings(), email, rendered))  # type: ignore[arg-type]


@given(ANY_TEXT)
def test_a_name_the_rules_accept_can_always_be_sent_in_headers(name: str) -> None:
    if accepted(single_line, name):
        assert built_email(name)


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\u0085"])
def test_the_issue_names_would_break_the_email_had_they_been_let_in(separator: str) -> None:
    with pytest.raises(ValueError, match="linefeed or carriage return"):
        built_email(f"Eve{separator}Example")


MENTEE = {
    "email": "eve@example.org",
    "job_title": "Analyst",
    "trust_code": "TB",
    "gaps": [{"skill": "procurement", "current": 1, "target": 4}],
}


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\u0085"])
def test_the_http_api_refuses_such_a_name_with_the_field_named(separator: str) -> None:
    with pytest.raises(ValidationError) as refused:
        MenteeIn.model_validate({"name": f"Eve{separator}Example", **MENTEE})
    [error] = refused.value.errors()
    assert error["loc"] == ("name",)
    assert f"U+{ord(separator):04X}" in error["msg"]
    for model, body in (
        (NetworkIn, {"coordinators": [{"name": "C", "email": "c@example.org"}]}),
        (TrustIn, {"region": "London", "network_id": "north"}),
    ):
        with pytest.raises(ValidationError, match="one line of text"):
            model.model_validate({"name": f"North{separator}East", **body})


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\u0085"])
def test_the_csv_import_refuses_the_row_and_says_why(separator: str) -> None:
    data = (
        "role,name,email,job_title,trust_code,gaps\n"
        f"mentee,Eve{separator}Example,eve@example.org,Analyst,TB,procurement:1-4\n"
        "mentee,Theo Mentee,theo@example.org,Analyst,TB,procurement:1-4\n"
    ).encode()
    refused, fine = parse_people(data)
    assert refused.request is None
    assert any(reason.startswith("name:") and "one line" in reason for reason in refused.reasons)
    assert fine.ok


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\u0085"])
def test_an_event_bringing_such_a_name_is_dead_lettered_as_invalid(separator: str) -> None:
    # model_copy does not validate: the event as a buggy or hostile producer would write it.
    upserted = person_upserted(Role.MENTEE, "north", "T2")
    profile = upserted.profile.model_copy(update={"name": f"Eve{separator}Example"})
    event = upserted.model_copy(update={"profile": profile})
    decision = read_message(event.model_dump_json().encode())
    assert isinstance(decision, Unreadable)
    assert decision.kind == "invalid"
    assert "profile.name" in decision.reason


def test_a_rejection_reason_that_cannot_be_stored_is_refused_clearly() -> None:
    assert check_reason(False, "Too far apart\nand no shared skills") == (
        "Too far apart\nand no shared skills"
    )
    with pytest.raises(DecisionRefused, match="U\\+0000"):
        check_reason(False, "nul \x00 byte")
