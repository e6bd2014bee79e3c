"""At most one copy across a crash: the notifier process dies right after the SMTP server
accepted an email and before it recorded it as sent (crashing_notifier.py: os._exit, no
clean-up, as SIGKILL). After a restart the SMTP server still holds exactly one copy."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from uuid import uuid4

import asyncpg
import pytest

from devtools.stack import (
    ServiceProcess,
    StackConfig,
    free_port,
    start_service,
    start_smtp_catcher,
)
from shared.events import Coordinator, NetworkUpserted
from tests.e2e.crashing_notifier import CRASH_EXIT_CODE
from tests.support.factories import network_events
from tests.support.kafka import publish
from tests.support.mail import copies, wait_for

pytestmark = pytest.mark.e2e


async def email_statuses(database_url: str, match_id: object) -> list[tuple[str, str]]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT recipient_email, status FROM notifier.emails WHERE match_id = $1"
            " ORDER BY recipient_email",
            match_id,
        )
    finally:
        await conn.close()
    return [(row["recipient_email"], row["status"]) for row in rows]


def test_a_crash_between_smtp_and_recording_sends_one_copy(
    database_url: str, kafka: str, tmp_path: Path
) -> None:
    tag = uuid4().hex[:6]
    crashing, other = f"first.{tag}@network.example", f"second.{tag}@network.example"
    events, proposal = network_events()
    network = events[0]
    assert isinstance(network, NetworkUpserted)
    events[0] = network.model_copy(
        update={
            "coordinators": (
                Coordinator(name="First", email=crashing),
                Coordinator(name="Second", email=other),
            )
        }
    )
    maildir = tmp_path / "mail"
    config = StackConfig(
        database_url=database_url,
        kafka_bootstrap_servers=kafka,
        smtp_port=free_port(),
        http_port=free_port(),
        log_dir=tmp_path / "logs",
    )
    smtp = start_smtp_catcher(config, maildir)
    crashing_notifier = [sys.executable, "-m", "tests.e2e.crashing_notifier", crashing]
    notifier = ServiceProcess("notifier", crashing_notifier, config, ops_port=free_port())
    try:
        asyncio.run(publish(kafka, [*events, proposal]))
        notifier.process.wait(timeout=90)  # it dies by itself once the server accepted
        assert notifier.process.returncode == CRASH_EXIT_CODE, notifier.log_path.read_text()[-2000:]
        assert copies(maildir, crashing) == 1
        assert asyncio.run(email_statuses(database_url, proposal.match_id))[0] == (
            crashing,
            "sending",
        )

        notifier = start_service("notifier", config)
        wait_for(lambda: copies(maildir, other) == 1, timeout=60)
        time.sleep(2)  # long enough for a second copy to arrive, were one sent
        assert copies(maildir, crashing) == 1
        assert copies(maildir, other) == 1
        assert asyncio.run(email_statuses(database_url, proposal.match_id)) == [
            (crashing, "uncertain"),
            (other, "sent"),
        ]
    finally:
        notifier.stop()
        smtp.stop()
