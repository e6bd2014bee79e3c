"""Versions of the JSON API's resources, so that concurrent edits are not lost silently.

GET and PUT (and POST, for what it creates) answer with an ``ETag``: a digest of the resource
as GET returns it, so every change a client could read, whichever way it came (the API, the
pages, an import, a self-service link), gives a new one. A PUT may send ``If-Match`` with the
ETag it read (or ``*``: "as long as it exists"); if the resource is not that version any more,
the PUT is refused with 412 and nothing is stored. The check reads the row locked and the write
follows in the same transaction, so no other edit can slip between them.

``If-Match`` is optional (docs/http-api.md says why): without it, a PUT replaces the resource
whatever its version, as before."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Header, Response
from pydantic import BaseModel

from services.profiles.api.schemas import Problem

IfMatch = Annotated[
    str | None,
    Header(
        description="The ETag read with GET (or `*`): the PUT is refused with 412 and stores"
        " nothing unless the resource is still that version. Optional."
    ),
]
PRECONDITION: dict[int | str, dict[str, Any]] = {
    412: {
        "model": Problem,
        "description": "If-Match names a version the resource no longer has; nothing was stored",
    }
}


class PreconditionFailed(Exception):
    """The PUT's If-Match does not name the resource's current version; the message says what
    to do."""


def etag(resource: BaseModel) -> str:
    """A strong ETag: the SHA-256 (128 bits of it) of the resource's JSON as GET returns it."""
    digest = hashlib.sha256(resource.model_dump_json().encode()).hexdigest()[:32]
    return f'"{digest}"'


def matches(if_match: str, current: BaseModel | None) -> bool:
    """RFC 9110's If-Match with strong comparison: ``*`` matches any existing resource; a list
    matches if one of its tags is the current ETag (a weak ``W/`` tag never matches)."""
    if current is None:
        return False
    tags = {tag.strip() for tag in if_match.split(",")}
    return "*" in tags or etag(current) in tags


async def require_version(
    if_match: str | None, current: Callable[[], Awaitable[BaseModel | None]], what: str
) -> None:
    """Refuse the PUT unless ``if_match`` (when sent) names the resource as ``current()`` reads
    it now, locked, in the PUT's transaction (None when it does not exist)."""
    if if_match is None:
        return
    found = await current()
    if not matches(if_match, found):
        now = "does not exist" if found is None else f"is now version {etag(found)}"
        raise PreconditionFailed(
            f"{what} {now}, not the version If-Match names ({if_match}): nothing was stored;"
            " read it again (GET), then send your change with its ETag"
        )


def tag_response(response: Response, resource: BaseModel) -> None:
    response.headers["ETag"] = etag(resource)
