"""Security headers on every response of the profiles app, as plain ASGI middleware.

Every response: ``X-Content-Type-Options: nosniff`` (a browser never guesses a type: an
uploaded CSV is not a script); ``Referrer-Policy: no-referrer`` (a self-service or decision
link carries its token in the URL, and no page should hand its URL to another site); and,
unless the route set its own, ``Cache-Control: no-store`` (API answers and pages hold personal
data; the stylesheet sets its own). HTML pages without a policy of their own get a strict
Content-Security-Policy and may not be framed. In production, ``Strict-Transport-Security``
keeps browsers on HTTPS.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_POLICY = (
    "default-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self';"
    " base-uri 'none'; frame-ancestors 'none'"
)
HSTS = "max-age=31536000; includeSubDomains"


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, production: bool) -> None:
        self.app = app
        self.production = production

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                self._add(MutableHeaders(scope=message))
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _add(self, headers: MutableHeaders) -> None:
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "no-referrer"
        headers.setdefault("Cache-Control", "no-store")
        if headers.get("content-type", "").startswith("text/html"):
            headers.setdefault("Content-Security-Policy", PAGE_POLICY)
            headers.setdefault("X-Frame-Options", "DENY")
        if self.production:
            headers["Strict-Transport-Security"] = HSTS
