"""A local SMTP server that keeps every message it receives, for the demo and manual testing.

Run: ``python deploy/smtp_catcher.py --port 2525 --maildir .local/mail``. Each message is saved
as ``<maildir>/<number>.eml``; nothing is relayed anywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import signal
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


class SaveToFolder:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        start = len(list(folder.glob("*.eml"))) + 1
        self._numbers = itertools.count(start)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        path = self.folder / f"{next(self._numbers):06d}.eml"
        path.with_suffix(".tmp").write_bytes(content)
        path.with_suffix(".tmp").rename(path)  # readers never see half a message
        return "250 Message accepted for delivery"


async def serve(host: str, port: int, maildir: Path) -> None:
    controller = Controller(SaveToFolder(maildir), hostname=host, port=port)
    controller.start()
    print(f"SMTP catcher on {host}:{port}, saving to {maildir}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    controller.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2525)
    parser.add_argument("--maildir", type=Path, default=Path(".local/mail"))
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port, args.maildir))


if __name__ == "__main__":
    main()
