"""Email addresses as every boundary takes them: one spelling per address.

An address is stored and compared in lower case with no spaces around it, so "Ann@NHS.net " and
"ann@nhs.net" are one person, one account, one lock-out. Only printable ASCII is accepted: a
Cyrillic "а" that looks like a Latin "a", or a zero-width space that cannot be seen, would make
a second address that looks the same as the first (NHS addresses are ASCII)."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Any

from email_validator import SPECIAL_USE_DOMAIN_NAMES
from pydantic import EmailStr, ValidatorFunctionWrapHandler, WrapValidator


def normalised_email(value: str) -> str:
    """The one spelling of an address typed by a person: what lookups and lock-outs key on."""
    return value.strip().lower()


def _plain_address(value: Any) -> Any:
    if not isinstance(value, str):
        return value  # EmailStr refuses it with its own message
    return _refuse_beyond_ascii(normalised_email(value))


def _refuse_beyond_ascii(value: str) -> str:
    # Printable ASCII without the space is what the loop below takes: three checks in C say so
    # for nearly every address, read twice for each person's event (issue 19); the loop runs
    # only to name the character refused.
    if value.isascii() and value.isprintable() and " " not in value:
        return value
    for character in value:
        if not " " < character <= "~":
            name = unicodedata.name(character, "a control character")
            raise ValueError(
                f"email addresses are plain ASCII: U+{ord(character):04X} ({name}) refused"
                " (a lookalike or invisible character)"
            )
    return value


# The shape nearly every address has: dot-separated runs of letters, digits, "_", "+" and "-"
# before the @, lower-case host labels (no "--", which IDNA reserves) and a letters-only
# top-level domain after it. email_validator takes every such address as it is (a property test
# in tests/unit/test_addresses.py), so these skip its full parse, the costliest step of reading
# a person's event (issue 19). Anything else gets the full parse, and its message.
_PLAIN_SHAPE = re.compile(
    r"[a-z0-9_+-]{1,64}(?:\.[a-z0-9_+-]+)*@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"
)
_SPECIAL_USE = frozenset(SPECIAL_USE_DOMAIN_NAMES)


def plainly_valid(value: str) -> bool:
    """True for an address of the common plain shape (``_PLAIN_SHAPE``), which needs no parse."""
    if len(value) > 254 or "--" in value or not _PLAIN_SHAPE.fullmatch(value):
        return False
    local, _, domain = value.partition("@")
    return len(local) <= 64 and len(domain) <= 253 and domain.rsplit(".", 1)[1] not in _SPECIAL_USE


def _read_address(value: Any, parse: ValidatorFunctionWrapHandler) -> Any:
    """Normalised and refused beyond plain ASCII (``_plain_address``); then an address of the
    plain shape is taken as it is, and any other gets the full parse (``parse``: EmailStr's)
    and is checked again: an internationalised domain typed in its ASCII form (xn--...) comes
    out of the parse in Unicode, where lookalikes live; it would also be refused the next time
    it was sent, so it is refused now. One validator, not three: each is a call from
    pydantic-core into Python, for every person's event (issue 19)."""
    value = _plain_address(value)
    if isinstance(value, str) and plainly_valid(value):
        return value  # the plain shape is plain ASCII: nothing to check again
    return _refuse_beyond_ascii(parse(value))


EmailAddress = Annotated[EmailStr, WrapValidator(_read_address)]
