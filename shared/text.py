"""Text that is safe to store, log and put in an email header: refused clearly, never mangled.

One rule, by Unicode category, for every name and every free text, at every way in (the HTTP
API, the CSV import, the events):

* **Cc**, control characters (U+0000-U+001F, U+007F-U+009F, NEL U+0085 among them): a NUL
  cannot be stored in PostgreSQL text or jsonb, and the others are line breaks to a mail
  library or invisible to a reader.
* **Zl** and **Zp**, the line and paragraph separators U+2028 and U+2029: line breaks too.
* **Cs**, lone surrogates (U+D800-U+DFFF, which JSON's ``\\ud800`` escapes can carry): not
  text at all; they cannot be encoded as UTF-8, so nothing can store or send them.

A name ends up in an email's Subject and To headers, where any line break is a header injection
(Python's email library refuses every character ``str.splitlines`` breaks on); so one line of
text has none of these. Free text (a bio, goals) goes into email bodies and may hold plain line
breaks and tabs, nothing else of them."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

# Exactly the categories above, as code point ranges (tests/unit/test_text_rules.py checks the
# ranges against unicodedata for every code point).
_REFUSED = "\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff"
_NOT_IN_ONE_LINE = re.compile(f"[{_REFUSED}]")
# Free text keeps its plain line breaks and tabs: they are blanked before the one-line check.
_KEEP_LINES = str.maketrans(dict.fromkeys("\t\n\r", " "))


def _first_refused(value: str) -> str | None:
    found = _NOT_IN_ONE_LINE.search(value)
    return None if found is None else f"U+{ord(found.group()):04X}"


def single_line(value: str) -> str:
    refused = _first_refused(value)
    if refused is not None:
        raise ValueError(
            "must be one line of text: line breaks, line or paragraph separators, control"
            f" characters and lone surrogates refused (found {refused})"
        )
    return value


def free_text(value: str) -> str:
    refused = _first_refused(value.translate(_KEEP_LINES))
    if refused is not None:
        raise ValueError(
            "control characters (other than line breaks and tabs), line or paragraph"
            f" separators and lone surrogates refused (found {refused})"
        )
    return value


def no_markup(value: str) -> str:
    """Names travel into emails and web pages: angle brackets there are markup, never a name."""
    if "<" in value or ">" in value:
        raise ValueError("must not contain < or > (HTML is not accepted in names)")
    return value


SingleLine = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(single_line)]
FreeText = Annotated[str, Field(max_length=4000), AfterValidator(free_text)]


def one_line_name(value: str) -> str:
    """``single_line``, then ``no_markup``: one call from pydantic-core into Python instead of
    two, for the two names of every person's event (issue 19)."""
    return no_markup(single_line(value))


# A person's, trust's or network's name, or a job title: the API's rule and the events'.
Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(one_line_name)]

# Network ids and trust codes: what URLs, keys and the API's paths take.
IDENTIFIER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
Identifier = Annotated[str, Field(pattern=IDENTIFIER_PATTERN)]


def recorded_reason(reason: str, required: str | None) -> str:
    """A reason as stored (trimmed, free text, at most 2000 characters); ``required``: the
    message when it is missing and must be given. ValueError says what is wrong."""
    reason = reason.strip()
    if required and not reason:
        raise ValueError(required)
    if len(reason) > 2000:
        raise ValueError("The reason is too long (at most 2000 characters).")
    try:
        return free_text(reason)
    except ValueError as error:
        raise ValueError(f"The reason cannot be stored: {error}.") from error
