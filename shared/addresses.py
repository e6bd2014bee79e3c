"""Email addresses as every boundary takes them: one spelling per address.

An address is stored and compared in lower case with no spaces around it, so "Ann@NHS.net " and
"ann@nhs.net" are one person, one account, one lock-out. Only printable ASCII is accepted: a
Cyrillic "а" that looks like a Latin "a", or a zero-width space that cannot be seen, would make
a second address that looks the same as the first (NHS addresses are ASCII)."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, EmailStr


def normalised_email(value: str) -> str:
    """The one spelling of an address typed by a person: what lookups and lock-outs key on."""
    return value.strip().lower()


def _plain_address(value: Any) -> Any:
    if not isinstance(value, str):
        return value  # EmailStr refuses it with its own message
    return _refuse_beyond_ascii(normalised_email(value))


def _refuse_beyond_ascii(value: str) -> str:
    for character in value:
        if not " " < character <= "~":
            name = unicodedata.name(character, "a control character")
            raise ValueError(
                f"email addresses are plain ASCII: U+{ord(character):04X} ({name}) refused"
                " (a lookalike or invisible character)"
            )
    return value


# Checked again once EmailStr has normalised it: an internationalised domain typed in its ASCII
# form (xn--...) comes out in Unicode, where lookalikes live; it would also be refused the next
# time it was sent, so it is refused now.
EmailAddress = Annotated[
    EmailStr, BeforeValidator(_plain_address), AfterValidator(_refuse_beyond_ascii)
]
