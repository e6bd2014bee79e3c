"""A request body size limit for the HTTP API, as plain ASGI middleware.

A body over the limit is refused with 413 and a clear message before the application sees any
of it, so nothing is stored. The declared Content-Length is checked first; a body sent without
one (chunked) is counted as it arrives and refused as soon as it passes the limit. A few paths
may have limits of their own (the coordinators' import upload takes files of up to 5 MB).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_MAX_BODY_BYTES = 256 * 1024
# The import page's promise; its multipart request adds the form's other fields and boundaries.
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
IMPORT_MAX_BODY_BYTES = MAX_UPLOAD_BYTES + 64 * 1024
IMPORT_PATH = r"/dashboard/[^/]+/imports"
# The public join forms: short fields and two texts of at most 4,000 characters (up to 12 bytes
# each once percent-encoded); anything larger is not a person's form.
JOIN_MAX_BODY_BYTES = 64 * 1024
JOIN_PATH = r"/join/.*"


class BodyTooLarge(Exception):
    pass


class ClientGone(Exception):
    pass


class RequestSizeLimit:
    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        path_limits: Sequence[tuple[str, int]] = (),
    ) -> None:
        """``path_limits``: (regular expression matching the whole path, limit) pairs, the
        first match applying instead of ``max_body_bytes``."""
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.path_limits = [(re.compile(pattern), limit) for pattern, limit in path_limits]

    def limit_for(self, path: str) -> int:
        for pattern, limit in self.path_limits:
            if pattern.fullmatch(path):
                return limit
        return self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send, limit)
            return
        try:
            body = await _read_body(receive, limit)
        except BodyTooLarge:
            await _refuse(send, limit)
            return
        except ClientGone:
            return
        await self.app(scope, _replay(body, receive), send)


async def _read_body(receive: Receive, limit: int) -> bytes:
    """The whole body, or BodyTooLarge as soon as it passes the limit (the body is held in
    memory, which the limit bounds: a few megabytes at most)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away: nothing to serve
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _refuse(send: Send, limit: int) -> None:
    content = json.dumps(
        {"detail": (f"the request body is larger than {limit} bytes; nothing was stored")}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(content)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": content})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the buffered body to the app once, then defers to the real one
    (which reports the client's disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            message: dict[str, Any] = {"type": "http.request", "body": body, "more_body": False}
            return message
        return await receive()

    return replay
