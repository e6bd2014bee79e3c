"""Email the services sent: an in-process SMTP server's inbox, or the SMTP catcher's maildir."""

from __future__ import annotations

import asyncio
import email
import email.policy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass
class Inbox:
    """An aiosmtpd handler that keeps every message it receives."""

    port: int
    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        message = email.message_from_bytes(
            envelope.original_content or b"", policy=email.policy.default
        )
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 OK"


def wait_for_mail(maildir: Path, contains: str, timeout: float = 60) -> EmailMessage:
    """The first message in the SMTP catcher's ``maildir`` that mentions ``contains``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted(maildir.glob("*.eml")):
            raw = path.read_bytes()
            if contains.encode() in raw:
                message = email.message_from_bytes(raw, policy=email.policy.default)
                assert isinstance(message, EmailMessage)
                return message
        time.sleep(0.3)
    raise AssertionError(f"no email mentioning {contains!r} arrived within {timeout}s")


async def wait_for_message(
    maildir: Path, recipient: str, subject_start: str, timeout: float = 60
) -> EmailMessage:
    """The first message in the SMTP catcher's ``maildir`` to ``recipient`` whose subject starts
    with ``subject_start``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted(maildir.glob("*.eml")):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            if recipient in str(message["To"]) and str(message["Subject"]).startswith(
                subject_start
            ):
                return message
        await asyncio.sleep(0.3)
    raise AssertionError(f"no {subject_start!r} email to {recipient} within {timeout}s")


def copies(maildir: Path, address: str) -> int:
    return sum(address.encode() in p.read_bytes() for p in maildir.glob("*.eml"))


def wait_for(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"not true within {timeout}s")
