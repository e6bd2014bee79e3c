"""One spelling per email address at every boundary (issue 14, item 12): the API, accounts and
events lower-case it and refuse lookalike or invisible characters; the admin page's accounts
refuse the network ids the API refuses."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError
from pydantic.networks import validate_email
from pydantic_core import PydanticCustomError

from services.profiles.accounts.accounts import NewAccount
from services.profiles.accounts.permissions import AccountRole
from services.profiles.api.schemas import MentorIn
from shared.addresses import EmailAddress, _refuse_beyond_ascii, plainly_valid
from shared.events import Coordinator

ADDRESS: TypeAdapter[Any] = TypeAdapter(EmailAddress)
# Characters that look like nothing or like a Latin letter.
INVISIBLE_OR_LOOKALIKE = st.sampled_from(
    ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u0430", "\u0435", "\u043e"]
)


@given(email=st.emails(), spaces=st.sampled_from(["", " ", "  ", "\t"]))
def test_case_and_spaces_make_no_second_address(email: str, spaces: str) -> None:
    if not email.isascii():
        return
    typed = spaces + email.upper() + spaces
    try:
        stored = ADDRESS.validate_python(email.lower())
    except ValidationError:  # an internationalised domain in its xn-- form: below
        with pytest.raises(ValidationError, match="plain ASCII"):
            ADDRESS.validate_python(typed)
        return
    assert ADDRESS.validate_python(typed) == stored


@given(email=st.emails())
@example(email="0@a.xn--i1b6b1a6a2e")
def test_an_address_as_stored_is_plain_ascii_and_taken_again_as_it_is(email: str) -> None:
    """Found by tests/integration/test_people_per_network.py: 0@a.xn--i1b6b1a6a2e was taken,
    stored as 0@a.संगठन, and refused when sent again."""
    try:
        stored = ADDRESS.validate_python(email)
    except ValidationError:
        return
    assert stored.isascii()
    assert ADDRESS.validate_python(stored) == stored


@given(email=st.emails(), odd=INVISIBLE_OR_LOOKALIKE, data=st.data())
def test_lookalike_or_invisible_characters_are_refused(
    email: str, odd: str, data: st.DataObject
) -> None:
    at = data.draw(st.integers(min_value=0, max_value=len(email)))
    with pytest.raises(ValidationError, match="plain ASCII"):
        ADDRESS.validate_python(email[:at] + odd + email[at:])


def test_the_api_accounts_and_events_share_the_rule() -> None:
    body = {
        "name": "Ann",
        "email": " Ann.Smith@NHS.net ",
        "job_title": "CIO",
        "trust_code": "T1",
        "skills": [{"skill": "board-influence", "level": 6}],
        "capacity": 1,
        "hours_per_month": 2,
    }
    assert MentorIn.model_validate(body).email == "ann.smith@nhs.net"
    assert Coordinator(name="Cora", email="Cora@NHS.net").email == "cora@nhs.net"
    with pytest.raises(ValidationError, match="plain ASCII"):
        Coordinator(name="Cora", email="c\u043era@nhs.net")
    with pytest.raises(ValidationError, match="plain ASCII"):
        MentorIn.model_validate(body | {"email": "ann\u200b@nhs.net"})


@pytest.mark.parametrize("network_id", ["north east", "-leading-dash", "x" * 65, "a/b", ""])
def test_an_account_refuses_the_network_ids_the_api_refuses(network_id: str) -> None:
    with pytest.raises(ValidationError):
        NewAccount(
            email="cora@nhs.net",
            name="Cora",
            role=AccountRole.COORDINATOR,
            network_id=network_id,
            password="a-long-enough-password",
        )


# --- the plain shape skips the full parse, and changes nothing -------------------------------

LABEL = r"[a-z0-9](?:[a-z0-9-]{0,8}[a-z0-9])?"
NEAR_PLAIN = st.from_regex(
    rf"[a-z0-9_+.-]{{1,20}}@(?:{LABEL}\.){{1,3}}[a-z0-9-]{{1,8}}", fullmatch=True
) | st.sampled_from(
    [
        "ann@nhs.test",
        "ann@a.local",
        "ann@x.arpa",
        "ann@ab--cd.net",
        "ann@xn--80ak6aa92e.com",
        ".ann@nhs.net",
        "ann.@nhs.net",
        "a..b@nhs.net",
        "ann@nhs.n3t",
        "ann@nhs.123",
        "ann@-nhs.net",
        "ann@nhs-.net",
        "x" * 65 + "@nhs.net",
        "ann@" + "a" * 64 + ".net",
        "ann@" + ("a" * 60 + ".") * 4 + "net",
    ]
)


def full_parse(address: str) -> str | None:
    """What pydantic's EmailStr (email_validator) makes of an address; None when it refuses."""
    try:
        return validate_email(address)[1]
    except PydanticCustomError:
        return None


def taken(address: str) -> str | None:
    try:
        stored: str = ADDRESS.validate_python(address)
    except ValidationError:
        return None
    return stored


@settings(max_examples=500)
@given(NEAR_PLAIN)
def test_an_address_of_the_plain_shape_is_one_the_full_parse_takes_as_it_is(
    address: str,
) -> None:
    """``plainly_valid`` lets through without the full parse only what that parse would take
    unchanged; whatever the shape, an address is taken or refused as the full parse says (an
    internationalised domain, which it turns into Unicode, is refused)."""
    parsed = full_parse(address)
    if plainly_valid(address):
        assert parsed == address
    assert taken(address) == (parsed if parsed is not None and parsed.isascii() else None)


def test_common_addresses_have_the_plain_shape() -> None:
    for address in ["ann.smith@nhs.net", "a_b+c-d@trust.nhs.uk", "x1@mail.example.org"]:
        assert plainly_valid(address)
        assert ADDRESS.validate_python(address) == address


@given(st.text(alphabet=st.characters(max_codepoint=0x2FF)) | st.emails())
def test_only_printable_ascii_without_spaces_is_taken(value: str) -> None:
    """The checks done in C take what a character by character reading takes."""
    if all(" " < character <= "~" for character in value):
        assert _refuse_beyond_ascii(value) == value
    else:
        with pytest.raises(ValueError, match="plain ASCII"):
            _refuse_beyond_ascii(value)
