"""Text that is safe to store, log and put in an email header: refused clearly, never mangled.

A name ends up in an email's Subject and To headers, so a line break in it would be a header
injection (and the mail library refuses to send it at all); a NUL cannot be stored in
PostgreSQL text or jsonb. Both are refused at the door with a message that says why."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_EXCEPT_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def single_line(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must be one line of text: line breaks and control characters refused")
    return value


def free_text(value: str) -> str:
    if _CONTROL_EXCEPT_LINES.search(value):
        raise ValueError("control characters (other than line breaks and tabs) refused")
    return value


SingleLine = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(single_line)]
FreeText = Annotated[str, Field(max_length=4000), AfterValidator(free_text)]
