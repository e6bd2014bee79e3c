"""The operator's CLI against the real broker and database: dead-letter replay (with filters
and a dry run), re-running a network's round, exporting a network, and status."""

from __future__ import annotations

import asyncio
import csv
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import uuid4

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from typer.testing import CliRunner, Result

from devtools import ROOT
from devtools.stack import free_port
from services.cli.main import app
from services.matcher.bootstrap import apply_event
from services.matcher.rounds import due_networks
from services.profiles.api.schemas import NetworkIn, TrustIn
from services.profiles.directory.networks import upsert_network
from services.profiles.directory.trusts import upsert_trust
from shared.db import create_pool, migrate_async
from shared.events import PersonErased, TrustUpserted
from shared.kafka import DEAD_LETTER_REASON, Origin, dead_letter
from shared.observability.context import correlated
from shared.regions import Region
from shared.settings import Settings
from shared.topics import Topic
from shared.topology import subscriptions
from tests.support.kafka import read_topic
from tests.support.matcher import network_upserted

pytestmark = pytest.mark.integration
runner = CliRunner()


@pytest.fixture
def cli_env(settings: Settings) -> dict[str, str]:
    return {
        "BRIDGEWORK_DATABASE_URL": settings.database_url,
        "BRIDGEWORK_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        # Nothing listens here: the services are not running in these tests.
        "BRIDGEWORK_HTTP_PORT": str(free_port()),
        "BRIDGEWORK_OPS_PORT": str(free_port()),
    }


@pytest.fixture(scope="module")
async def profiles_pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    await migrate_async(settings.database_url, "profiles", ROOT / "services/profiles/migrations")
    pool = await create_pool(settings.database_url, "profiles", min_size=1, max_size=2)
    yield pool
    await pool.close()


async def park(kafka: str, event: PersonErased, reason: str) -> None:
    """What a consumer does with a message it cannot apply, while handling change ``chg-1``."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka)
    await producer.start()
    try:
        with correlated("chg-1"):
            await dead_letter(
                producer,
                Origin(Topic.PEOPLE.value),
                event.entity_key.encode(),
                event.to_json_bytes(),
                reason,
            )
    finally:
        await producer.stop()


def replayed(kafka: str, event: PersonErased) -> list[dict[str, bytes]]:
    records = asyncio.run(
        read_topic(
            kafka,
            Topic.PEOPLE.value,
            lambda r: str(event.event_id).encode() in (r.value or b""),
            timeout=3,
        )
    )
    return [dict(r.headers) for r in records]


def test_dlq_replay_filters_dry_runs_then_republishes_to_the_original_topic(
    cli_env: dict[str, str], kafka: str
) -> None:
    tag = uuid4().hex[:8]
    event = PersonErased(entity_key="p", person_id=uuid4())
    asyncio.run(park(kafka, event, f"ValueError: fixed by release {tag}"))

    dry = runner.invoke(app, ["dlq", "replay", "--reason-contains", tag, "--dry-run"], env=cli_env)
    assert dry.exit_code == 0, dry.output
    assert "would replay 1 dead letters" in dry.output
    assert replayed(kafka, event) == []

    elsewhere = runner.invoke(
        app,
        ["dlq", "replay", "--reason-contains", tag, "--source-topic", Topic.PLACEMENTS.value],
        env=cli_env,
    )
    assert "replayed 0 dead letters" in elsewhere.output

    done = runner.invoke(app, ["dlq", "replay", "--reason-contains", tag], env=cli_env)
    assert done.exit_code == 0, done.output
    assert "replayed 1 dead letters" in done.output
    [headers] = replayed(kafka, event)
    assert headers["x-replayed-from"].startswith(Topic.DEAD_LETTERS.value.encode() + b"@")
    assert DEAD_LETTER_REASON not in headers
    assert headers["x-correlation-id"] == b"chg-1"  # the change can still be followed


async def invoke(args: list[str], env: dict[str, str]) -> Result:
    """The CLI runs its own event loop: in a thread, beside this test's loop."""
    return await asyncio.to_thread(lambda: runner.invoke(app, args, env=env))


async def test_rerun_round_makes_the_network_due_at_once_for_any_matcher_replica(
    cli_env: dict[str, str], matcher_pool: asyncpg.Pool
) -> None:
    network = f"rr-{uuid4().hex[:6]}"
    trust = TrustUpserted(
        entity_key="T1",
        trust_code=f"T{network}",
        name="T",
        region=Region.LONDON,
        network_id=network,
    )
    async with matcher_pool.acquire() as conn:
        await apply_event(conn, network_upserted(network))
        await apply_event(conn, trust)
        await conn.execute("DELETE FROM dirty_networks WHERE network_id = $1", network)
    result = await invoke(["rerun-round", network, "--no-wait"], cli_env)
    assert result.exit_code == 0, result.output
    assert f"round requested for {network}" in result.output
    async with matcher_pool.acquire() as conn:
        stored = await conn.fetchval(
            "SELECT trace_context FROM dirty_networks WHERE network_id = $1", network
        )
        assert stored["x-correlation-id"] in result.output
        # Due even for a matcher with an hour-long quiet period.
        assert network in await due_networks(conn, 3600, 3600)

    unknown = await invoke(["rerun-round", "no-such-network", "--no-wait"], cli_env)
    assert unknown.exit_code == 2
    assert "knows no network 'no-such-network'" in unknown.output


async def test_export_network_writes_json_and_csv_files(
    cli_env: dict[str, str], profiles_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    network = f"ex-{uuid4().hex[:6]}"

    async with profiles_pool.acquire() as conn:
        coordinators = [{"name": "Cy", "email": "cy@example.org"}]
        await upsert_network(
            conn, network, NetworkIn.model_validate({"name": "Ex", "coordinators": coordinators})
        )
        for code in ("EXA", "EXB"):
            trust = TrustIn.model_validate(
                {"name": f"Trust {code}", "region": "London", "network_id": network}
            )
            await upsert_trust(conn, f"{code}{network[-6:]}", trust)

    as_json = await invoke(["export", "network", network, "--out", str(tmp_path)], cli_env)
    assert as_json.exit_code == 0, as_json.output
    folder = tmp_path / network
    assert json.loads((folder / "network.json").read_text())[0]["name"] == "Ex"
    trusts = json.loads((folder / "trusts.json").read_text())
    assert [t["region"] for t in trusts] == ["Y56", "Y56"]  # London's region code
    assert json.loads((folder / "proposals.json").read_text()) == []

    as_csv = await invoke(
        ["export", "network", network, "--out", str(tmp_path / "csv"), "--format", "csv"], cli_env
    )
    assert as_csv.exit_code == 0, as_csv.output
    with (tmp_path / "csv" / network / "network.csv").open() as file:
        [row] = list(csv.DictReader(file))
    assert json.loads(row["coordinators"]) == [
        {"name": "Cy", "email": "cy@example.org", "proposal_emails": "immediate"}
    ]

    missing = await invoke(["export", "network", "nope", "--out", str(tmp_path)], cli_env)
    assert missing.exit_code == 2


def test_status_reports_services_down_with_exit_code_1_and_the_broker_state(
    cli_env: dict[str, str], kafka: str
) -> None:
    asyncio.run(park(kafka, PersonErased(entity_key="p", person_id=uuid4()), "counted"))
    result = runner.invoke(app, ["status", "--json"], env=cli_env)
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit), repr(result.exception)  # not a crash
    report = json.loads(result.output)
    assert set(report["services"]) == {"profiles", "matcher", "notifier"}
    assert all(state.startswith("down") for state in report["services"].values())
    assert set(report["lag"]) == {f"bridgework-{service}" for service in subscriptions()}
    assert report["dead_letters"] >= 1


async def test_status_shows_the_mail_queue_with_its_uncertain_emails(
    cli_env: dict[str, str], notifier_pool: asyncpg.Pool
) -> None:
    uncertain = await notifier_pool.fetchval(
        "INSERT INTO emails (dedupe_key, purpose, recipient_name, recipient_email, status)"
        " VALUES ($1, 'self_service_link', 'U', 'u@example.org', 'uncertain') RETURNING id",
        f"status:{uuid4().hex}",
    )
    try:
        expected = {
            row["status"]: row["emails"]
            for row in await notifier_pool.fetch(
                "SELECT status, count(*) AS emails FROM emails GROUP BY status"
            )
        }
        report = json.loads((await invoke(["status", "--json"], cli_env)).output)
        printed = (await invoke(["status"], cli_env)).output
    finally:
        await notifier_pool.execute("DELETE FROM emails WHERE id = $1", uncertain)
    unsettled = ("pending", "sending", "uncertain", "failed")
    assert report["mail_queue"] == {status: expected.get(status, 0) for status in unsettled}
    assert report["mail_queue"]["uncertain"] >= 1
    mail_table = printed.split("Mail queue", 1)[1]
    for status in ("pending", "uncertain"):
        row = re.search(rf"{status}\W+(\d+)", mail_table)
        assert row is not None, printed
        assert int(row[1]) == expected.get(status, 0), printed
    assert "bridgework emails uncertain" in printed
