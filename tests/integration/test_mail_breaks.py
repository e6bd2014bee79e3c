"""An SMTP server that breaks the connection inside DATA: before it said 354 the message was
certainly not taken and is sent again; after the message's final dot it may have been, so it is
left 'uncertain' (never sent twice) until an operator re-queues it with ``bridgework emails``."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import asyncpg
import pytest
from typer.testing import CliRunner, Result

from devtools import ROOT
from devtools.stack import free_port
from services.cli.main import app
from services.notifier.mailer import MailQueue
from shared.consuming import EventConsumer
from shared.events import MatchProposed
from shared.settings import Settings
from tests.support.factories import network_events
from tests.support.mail import Inbox
from tests.support.notifier import deliver, send_everything

pytestmark = pytest.mark.integration

BreakPoint = Literal["before 354", "after the final dot"]


@dataclass
class BreakingServer:
    """Speaks just enough SMTP, then drops the connection at ``breaks``, without a reply."""

    breaks: BreakPoint
    port: int = field(default_factory=free_port)
    bodies_received: list[bytes] = field(default_factory=list)

    async def session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 breaking.test ESMTP\r\n")
        while line := await reader.readline():
            verb = line[:4].upper()
            if verb == b"DATA":
                if self.breaks == "after the final dot":
                    writer.write(b"354 go ahead\r\n")
                    self.bodies_received.append(await reader.readuntil(b"\r\n.\r\n"))
                break
            writer.write(b"221 bye\r\n" if verb == b"QUIT" else b"250 OK\r\n")
            await writer.drain()
        writer.close()


@asynccontextmanager
async def breaking_server(breaks: BreakPoint) -> AsyncIterator[BreakingServer]:
    server = BreakingServer(breaks)
    listening = await asyncio.start_server(server.session, "127.0.0.1", server.port)
    try:
        yield server
    finally:
        listening.close()
        await listening.wait_closed()


async def email_row(pool: asyncpg.Pool, match_id: object) -> asyncpg.Record:
    return await pool.fetchrow(
        "SELECT id, status, attempts FROM emails WHERE match_id = $1", match_id
    )


async def propose_through(
    breaks: BreakPoint, settings: Settings, pool: asyncpg.Pool, notifier_consumer: EventConsumer
) -> tuple[MatchProposed, BreakingServer]:
    """A proposal whose email is sent to a server that breaks at ``breaks``."""
    events, proposal = network_events()
    await deliver(notifier_consumer, *events, proposal)
    async with breaking_server(breaks) as server:
        breaking = settings.model_copy(update={"smtp_port": server.port})
        await send_everything(MailQueue(pool, breaking), pool)
    return proposal, server


async def make_due(pool: asyncpg.Pool, email_id: int) -> None:
    await pool.execute("UPDATE emails SET next_attempt_at = now() WHERE id = $1", email_id)


async def test_a_break_before_354_leaves_the_email_pending_and_it_is_sent_once_later(
    settings: Settings,
    notifier_pool: asyncpg.Pool,
    notifier_consumer: EventConsumer,
    smtp_inbox: Inbox,
) -> None:
    proposal, server = await propose_through(
        "before 354", settings, notifier_pool, notifier_consumer
    )
    assert server.bodies_received == []  # the message never went out
    email = await email_row(notifier_pool, proposal.match_id)
    assert (email["status"], email["attempts"]) == ("pending", 1)

    await make_due(notifier_pool, email["id"])
    working = settings.model_copy(update={"smtp_port": smtp_inbox.port})
    await send_everything(MailQueue(notifier_pool, working), notifier_pool)
    assert (await email_row(notifier_pool, proposal.match_id))["status"] == "sent"
    assert len([m for m in smtp_inbox.messages if proposal.network_id in str(m["To"])]) == 1


async def test_a_break_after_the_final_dot_is_uncertain_until_an_operator_resends_it(
    settings: Settings,
    notifier_pool: asyncpg.Pool,
    notifier_consumer: EventConsumer,
    smtp_inbox: Inbox,
) -> None:
    proposal, server = await propose_through(
        "after the final dot", settings, notifier_pool, notifier_consumer
    )
    assert len(server.bodies_received) == 1  # the whole message reached the server
    email = await email_row(notifier_pool, proposal.match_id)
    assert email["status"] == "uncertain"

    # Never sent again by the notifier itself...
    await make_due(notifier_pool, email["id"])
    working = settings.model_copy(update={"smtp_port": smtp_inbox.port})
    await send_everything(MailQueue(notifier_pool, working), notifier_pool)
    assert not [m for m in smtp_inbox.messages if proposal.network_id in str(m["To"])]

    # ...the operator finds it, with the Message-ID to look up in the server's log, and
    # re-queues it; the notifier then sends it once, under that Message-ID.
    env = {"BRIDGEWORK_DATABASE_URL": settings.database_url}

    async def bridgework(*args: str) -> Result:  # the CLI runs its own event loop
        return await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env)

    listed = await bridgework("emails", "uncertain", "--json")
    assert listed.exit_code == 0, listed.output
    mine = [e for e in json.loads(listed.output) if e["id"] == str(email["id"])]
    assert len(mine) == 1
    assert mine[0]["purpose"] == "proposal"
    resent = await bridgework("emails", "resend", str(email["id"]))
    assert resent.exit_code == 0
    assert f"re-queued: {email['id']}" in resent.output
    await send_everything(MailQueue(notifier_pool, working), notifier_pool)
    delivered = [m for m in smtp_inbox.messages if proposal.network_id in str(m["To"])]
    assert [m["Message-ID"] for m in delivered] == [mine[0]["message_id"]]
    assert (await email_row(notifier_pool, proposal.match_id))["status"] == "sent"

    again = await bridgework("emails", "resend", str(email["id"]))
    assert again.exit_code == 1  # sent: not re-queued
    assert "left alone" in again.output


async def test_the_smtp_catcher_stops_in_order_finishing_the_message_under_way(
    tmp_path: Path,
) -> None:
    """How the chaos run takes the SMTP server down: like ``postfix stop``, the message being
    sent is finished, new connections and new messages are refused."""
    port = free_port()
    script = str(ROOT / "devtools/smtp_catcher.py")
    catcher = await asyncio.create_subprocess_exec(
        *(sys.executable, script, "--port", str(port), "--maildir", str(tmp_path)),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert catcher.stdout is not None
        await catcher.stdout.readline()  # listening
        reader, writer = await asyncio.open_connection("127.0.0.1", port)

        async def say(line: bytes) -> bytes:
            writer.write(line)
            return await reader.readline()

        await reader.readline()  # greeting
        for command in (b"HELO client\r\n", b"MAIL FROM:<a@example.org>\r\n"):
            assert (await say(command)).startswith(b"250")
        assert (await say(b"RCPT TO:<b@example.org>\r\n")).startswith(b"250")
        assert (await say(b"DATA\r\n")).startswith(b"354")
        catcher.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.5)
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", port)
        assert (await say(b"Subject: under way\r\n\r\nhello\r\n.\r\n")).startswith(b"250")
        assert (await say(b"MAIL FROM:<a@example.org>\r\n")).startswith(b"421")
        writer.close()
        assert await asyncio.wait_for(catcher.wait(), 10) == 0
    finally:
        if catcher.returncode is None:
            catcher.kill()
            await catcher.wait()
    saved = list(tmp_path.glob("*.eml"))
    assert len(saved) == 1
    assert b"under way" in saved[0].read_bytes()
