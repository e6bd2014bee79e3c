"""Imports against the real database: each stored row is published through the outbox, a file
with a refused row stores nothing (unless partial), every import is audited, and the CLI shows
the report and exits non-zero on refused rows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from uuid import uuid4

import asyncpg
import pytest
from typer.testing import CliRunner

from services.cli.main import app
from services.profiles.api.schemas import NetworkIn, TrustIn
from services.profiles.directory.networks import upsert_network
from services.profiles.directory.trusts import upsert_trust
from services.profiles.imports.importers import (
    import_people_csv,
    import_placements_csv,
    import_trusts_ods,
)
from shared.events import Coordinator
from shared.regions import Region
from shared.settings import Settings
from tests.support.database import migrated_pool

pytestmark = pytest.mark.integration

HEADER = "role,name,email,job_title,trust_code,skills,capacity,hours_per_month,gaps\n"


@pytest.fixture(scope="module")
async def profiles_pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await migrated_pool(settings, "profiles")
    yield pool
    await pool.close()


async def a_network(pool: asyncpg.Pool) -> tuple[str, str]:
    """A fresh network with one trust; returns (network id, trust code)."""
    network, code = f"net-{uuid4().hex[:6]}", f"T{uuid4().hex[:6].upper()}"
    async with pool.acquire() as conn:
        coordinator = Coordinator(name="Cora", email="cora@example.org")
        await upsert_network(conn, network, NetworkIn(name="N", coordinators=[coordinator]))
        trust = TrustIn(name="Trust", region=Region.LONDON, network_id=network)
        await upsert_trust(conn, code, trust)
    return network, code


def people_file(code: str, tag: str, *extra_rows: str) -> bytes:
    rows = [
        f"mentor,Mina Mentor,mina.{tag}@example.org,CIO,{code},procurement:6,1,4,\n",
        f"mentee,Theo Mentee,theo.{tag}@example.org,Analyst,{code},,,,procurement:1-4\n",
        *extra_rows,
    ]
    return (HEADER + "".join(rows)).encode()


async def stored(pool: asyncpg.Pool, tag: str) -> tuple[int, int]:
    """(people rows, their outbox events) whose email carries the tag."""
    people = await pool.fetchval("SELECT count(*) FROM people WHERE email LIKE $1", f"%.{tag}@%")
    events = await pool.fetchval(
        "SELECT count(*) FROM outbox WHERE payload->>'event_type' = 'person.upserted'"
        " AND payload->'profile'->>'email' LIKE $1",
        f"%.{tag}@%",
    )
    return people, events


async def test_a_clean_file_is_stored_published_and_audited(profiles_pool: asyncpg.Pool) -> None:
    network, code = await a_network(profiles_pool)
    tag = uuid4().hex[:6]
    seen: list[tuple[int, int]] = []
    report = await import_people_csv(
        profiles_pool,
        people_file(code, tag),
        actor="cli:tester",
        network_id=network,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert (report.accepted, report.refused, report.applied) == (2, 0, True)
    assert [o.action for o in report.rows] == ["created", "created"]
    assert seen == [(1, 2), (2, 2)]
    assert await stored(profiles_pool, tag) == (2, 2)
    audit = await profiles_pool.fetchrow(
        "SELECT actor, action, details FROM audit_log ORDER BY id DESC LIMIT 1"
    )
    assert (audit["actor"], audit["action"]) == ("cli:tester", "import.people")
    assert audit["details"]["accepted"] == 2

    # Importing the same sheet again updates the same people: no duplicates.
    again = await import_people_csv(
        profiles_pool, people_file(code, tag), actor="cli:tester", network_id=network
    )
    assert [o.action for o in again.rows] == ["updated", "updated"]
    assert (await stored(profiles_pool, tag))[0] == 2


async def test_one_refused_row_stores_nothing_by_default(profiles_pool: asyncpg.Pool) -> None:
    network, code = await a_network(profiles_pool)
    tag = uuid4().hex[:6]
    data = people_file(
        code,
        tag,
        f"mentor,Una Known,una.{tag}@example.org,CIO,NOSUCHTRUST,procurement:6,1,4,\n",
    )
    report = await import_people_csv(profiles_pool, data, actor="cli:tester", network_id=network)
    assert (report.accepted, report.refused, report.applied) == (2, 1, False)
    refused = report.rows[2]
    assert (refused.row, refused.accepted) == (4, False)
    assert refused.reasons == [
        "trust_code: NOSUCHTRUST is not one of your network's trusts: check the code against"
        " the trusts on the Network page, or import the NHS trusts file first"
    ]
    assert "nothing was stored" in report.summary
    # The accepted rows were held back with the rest: none of them reads as created.
    assert [o.action for o in report.rows[:2]] == ["not stored", "not stored"]
    assert await stored(profiles_pool, tag) == (0, 0)  # rows 2 and 3 were rolled back too
    audit = await profiles_pool.fetchrow(
        "SELECT action, details FROM audit_log ORDER BY id DESC LIMIT 1"
    )
    assert audit["details"]["applied"] is False
    assert audit["details"]["refused_rows"] == [4]


async def test_partial_stores_the_accepted_rows_only(profiles_pool: asyncpg.Pool) -> None:
    network, code = await a_network(profiles_pool)
    tag = uuid4().hex[:6]
    bad = f"mentor,Bad Email,not-an-email,CIO,{code},procurement:6,1,4,\n"
    report = await import_people_csv(
        profiles_pool, people_file(code, tag, bad), actor="t", network_id=network, partial=True
    )
    assert (report.accepted, report.refused, report.applied) == (2, 1, True)
    assert await stored(profiles_pool, tag) == (2, 2)


async def test_a_trust_of_another_network_is_refused(profiles_pool: asyncpg.Pool) -> None:
    _, code = await a_network(profiles_pool)
    other_network, _ = await a_network(profiles_pool)
    tag = uuid4().hex[:6]
    report = await import_people_csv(
        profiles_pool, people_file(code, tag), actor="t", network_id=other_network
    )
    assert report.refused == 2
    # Exactly what an unknown trust would say: the other network is not named.
    assert report.rows[0].reasons == [
        f"trust_code: {code} is not one of your network's trusts: check the code against"
        " the trusts on the Network page, or import the NHS trusts file first"
    ]
    assert await stored(profiles_pool, tag) == (0, 0)


async def test_an_address_of_another_network_is_a_person_of_this_one(
    profiles_pool: asyncpg.Pool,
) -> None:
    """Someone taking part elsewhere is that network's person: a sheet with their address makes
    a person of this network, moves nobody and says nothing of the other network."""
    tag = uuid4().hex[:6]
    first_network, first_code = await a_network(profiles_pool)
    await import_people_csv(
        profiles_pool, people_file(first_code, tag), actor="t", network_id=first_network
    )
    second_network, second_code = await a_network(profiles_pool)
    second = await import_people_csv(
        profiles_pool, people_file(second_code, tag), actor="t", network_id=second_network
    )
    assert (second.accepted, second.refused) == (2, 0)
    assert [row.action for row in second.rows] == ["created", "created"]
    again = await import_people_csv(
        profiles_pool, people_file(second_code, tag), actor="t", network_id=second_network
    )
    assert [row.action for row in again.rows] == ["updated", "updated"]
    homes = await profiles_pool.fetch(
        "SELECT trust_code, network_id, count(*) FROM people WHERE email LIKE $1"
        " GROUP BY trust_code, network_id ORDER BY network_id = $2 DESC",
        f"%.{tag}@%",
        first_network,
    )
    assert [tuple(row) for row in homes] == [
        (first_code, first_network, 2),
        (second_code, second_network, 2),
    ]


async def test_dry_run_checks_everything_and_stores_nothing(profiles_pool: asyncpg.Pool) -> None:
    network, code = await a_network(profiles_pool)
    tag = uuid4().hex[:6]
    report = await import_people_csv(
        profiles_pool, people_file(code, tag), actor="t", network_id=network, dry_run=True
    )
    assert (report.accepted, report.refused, report.applied) == (2, 0, False)
    assert [o.action for o in report.rows] == ["would create", "would create"]
    assert await stored(profiles_pool, tag) == (0, 0)
    audit = await profiles_pool.fetchrow(
        "SELECT actor, action, details FROM audit_log ORDER BY id DESC LIMIT 1"
    )
    assert (audit["actor"], audit["action"]) == ("t", "import.people.dry_run")
    assert (audit["details"]["dry_run"], audit["details"]["applied"]) == (True, False)

    # A dry run of a sheet already imported says what it would update.
    await import_people_csv(profiles_pool, people_file(code, tag), actor="t", network_id=network)
    again = await import_people_csv(
        profiles_pool, people_file(code, tag), actor="t", network_id=network, dry_run=True
    )
    assert [o.action for o in again.rows] == ["would update", "would update"]


async def test_placements_import(profiles_pool: asyncpg.Pool) -> None:
    network, code = await a_network(profiles_pool)
    data = (
        "host_trust_code,role,skills_developed,months,fte\n"
        f"{code},Digital lead,interoperability:5,6,0.6\n"
    ).encode()
    report = await import_placements_csv(profiles_pool, data, actor="t", network_id=network)
    assert (report.accepted, report.applied) == (1, True)
    again = await import_placements_csv(profiles_pool, data, actor="t", network_id=network)
    assert again.rows[0].action == "updated"
    count = await profiles_pool.fetchval(
        "SELECT count(*) FROM placements WHERE host_trust_code = $1", code
    )
    assert count == 1


async def test_the_real_ods_trusts_file(profiles_pool: asyncpg.Pool, shared_data: Path) -> None:
    network, own_trust = await a_network(profiles_pool)
    data = (shared_data / "nhs_trusts" / "nhs_trusts_england.csv").read_bytes()
    report = await import_trusts_ods(
        profiles_pool, data, actor="t", network_id=network, partial=True
    )
    assert (report.accepted, report.refused, report.applied) == (205, 3, True)
    row = await profiles_pool.fetchrow("SELECT name, region FROM trusts WHERE code = 'RTH'")
    assert (row["name"], row["region"]) == (
        "Oxford University Hospitals NHS Foundation Trust",
        "Y59",
    )
    events = await profiles_pool.fetchval(
        "SELECT count(*) FROM outbox WHERE payload->>'event_type' = 'trust.upserted'"
        " AND payload->>'network_id' = $1 AND payload->>'trust_code' <> $2",
        network,
        own_trust,
    )
    assert events == 205

    # Importing again into the same network updates; into another network moves nothing.
    again = await import_trusts_ods(
        profiles_pool, data, actor="t", network_id=network, partial=True
    )
    assert (again.accepted, again.rows[1].action) == (205, "updated")
    other, _ = await a_network(profiles_pool)
    elsewhere = await import_trusts_ods(profiles_pool, data, actor="t", network_id=other)
    assert (elsewhere.accepted, elsewhere.applied) == (0, False)
    assert elsewhere.rows[1].reasons == [
        f"ods_code: {elsewhere.rows[1].key} belongs to another network; it is not moved"
    ]
    assert network not in " ".join(r for row in elsewhere.rows for r in row.reasons)
    home = await profiles_pool.fetchval("SELECT network_id FROM trusts WHERE code = 'R0A'")
    assert home == network


def test_the_cli_prints_the_report_and_fails_on_refused_rows(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRIDGEWORK_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("COLUMNS", "240")
    sheet = tmp_path / "people.csv"
    sheet.write_text(
        HEADER + "mentor,<script>x</script>,x@example.org,CIO,NOPE,procurement:6,1,4,\n"
    )
    runner = CliRunner()
    result = runner.invoke(app, ["import", "people", str(sheet), "--dry-run"])
    assert result.exit_code == 1, result.output
    assert "refused" in result.output
    assert "HTML is not accepted in names" in result.output
    assert "0 people row(s) accepted, 1 refused" in result.output

    missing = tmp_path / "missing.csv"
    missing.write_text("role,name\nmentor,Mina\n")
    result = runner.invoke(app, ["import", "people", str(missing)])
    assert result.exit_code == 1
    assert "missing column(s): email, job_title, trust_code" in result.output
