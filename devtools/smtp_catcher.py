"""A local SMTP server that keeps every message it receives, for the demo and manual testing.

Run: ``python devtools/smtp_catcher.py --port 2525 --maildir .local/mail``. Each message is saved
as ``<maildir>/<number>.eml``; nothing is relayed anywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import signal
from pathlib import Path
from typing import ClassVar

from aiosmtpd.smtp import SMTP, Envelope, Session


class SaveToFolder:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        start = len(list(folder.glob("*.eml"))) + 1
        self._numbers = itertools.count(start)
        self.closing = False  # shutting down: finish the message under way, take no new one

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.closing:
            return "421 4.3.2 shutting down, try again later"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        path = self.folder / f"{next(self._numbers):06d}.eml"
        path.with_suffix(".tmp").write_bytes(content)
        path.with_suffix(".tmp").rename(path)  # readers never see half a message
        return "250 Message accepted for delivery"


class TrackedSMTP(SMTP):
    """aiosmtpd's SMTP session, counted while its connection is open."""

    open_sessions: ClassVar[set[TrackedSMTP]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        TrackedSMTP.open_sessions.add(self)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        TrackedSMTP.open_sessions.discard(self)
        super().connection_lost(error)


async def serve(host: str, port: int, maildir: Path, grace_seconds: float) -> None:
    handler = SaveToFolder(maildir)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: TrackedSMTP(handler, hostname="bridgework-catcher"), host, port
    )
    print(f"SMTP catcher on {host}:{port}, saving to {maildir}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    # An orderly stop, as a mail server's own (``postfix stop``): no new connections, and the
    # sessions under way may finish the message they are sending before the process exits.
    server.close()
    handler.closing = True
    deadline = loop.time() + grace_seconds
    while TrackedSMTP.open_sessions and loop.time() < deadline:
        await asyncio.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2525)
    parser.add_argument("--maildir", type=Path, default=Path(".local/mail"))
    parser.add_argument(
        "--grace", type=float, default=5.0, help="seconds open sessions get to finish on stop"
    )
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port, args.maildir, args.grace))


if __name__ == "__main__":
    main()
