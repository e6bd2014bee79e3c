"""The platform team's commands: ``bridgework status``, ``dlq replay``, ``rerun-round``,
``republish`` and ``export network``. They talk to the services' health endpoints, the Kafka
broker and each service's use cases (on its own schema), with the same settings (environment)
as the services."""

from __future__ import annotations

import asyncio
import csv
import json
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar
from uuid import UUID

import asyncpg
import httpx
import typer
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from services.matcher import use_cases as matcher
from services.notifier import use_cases as notifier
from services.profiles.directory import export as directory_export
from services.profiles.directory import republish as directory_republish
from services.profiles.directory.errors import NotFound
from shared.db import connection
from shared.kafka import (
    DEAD_LETTER_KIND,
    DEAD_LETTER_REASON,
    DEAD_LETTER_SOURCE,
    DEAD_LETTER_TRUNCATED,
    idempotent_producer,
)
from shared.observability.context import correlated, new_correlation_id
from shared.observability.kafka_state import consumer_lag, end_offsets, has_consumed, topic_size
from shared.observability.service_ops import DEFAULT_OPS_PORTS
from shared.outbox import unpublished
from shared.settings import Settings
from shared.topics import Topic
from shared.topology import consumer_group, publications, replayable, subscriptions

app = typer.Typer(no_args_is_help=True)
dlq = typer.Typer(help="The dead-letter topic: messages no consumer could read.")
export = typer.Typer(help="Export data for offline use (the files hold personal data).")
app.add_typer(dlq, name="dlq")
app.add_typer(export, name="export")
console = Console()
T = TypeVar("T")

REPLAYED_FROM = "x-replayed-from"


def _run(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(work())


def service_urls(settings: Settings) -> dict[str, str]:
    """Where each service answers /health (the profiles API serves it on its own port)."""
    ops_port = settings.ops_port
    return {
        "profiles": f"http://{settings.http_host}:{settings.http_port}",
        "matcher": f"http://{settings.ops_host}:{ops_port or DEFAULT_OPS_PORTS['matcher']}",
        "notifier": f"http://{settings.ops_host}:{ops_port or DEFAULT_OPS_PORTS['notifier']}",
    }


# --- status ---------------------------------------------------------------------------------


@dataclass
class Status:
    services: dict[str, str] = field(default_factory=dict)
    lag: dict[str, dict[str, int]] = field(default_factory=dict)
    outbox_backlog: dict[str, int] = field(default_factory=dict)
    dead_letters: int = 0
    pending_proposals: dict[str, int] = field(default_factory=dict)
    # The notifier's emails not settled yet, by status (empty before it has migrated).
    mail_queue: dict[str, int] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return all(state == "ready" for state in self.services.values())


async def _service_state(client: httpx.AsyncClient, url: str) -> str:
    try:
        response = await client.get(f"{url}/health/ready")
    except httpx.HTTPError as error:
        return f"down ({type(error).__name__})"
    if response.status_code == 200:
        return "ready"
    try:
        checks = response.json().get("checks", {})
    except (ValueError, AttributeError):  # something else answers there: not our service
        return f"not ready (HTTP {response.status_code}, not a Bridgework health answer)"
    failing = ", ".join(f"{name}: {state}" for name, state in checks.items() if state != "ok")
    return f"not ready ({failing})"


async def collect_status(settings: Settings, urls: dict[str, str]) -> Status:
    status = Status()
    async with httpx.AsyncClient(timeout=settings.health_timeout_seconds) as client:
        states = await asyncio.gather(*(_service_state(client, url) for url in urls.values()))
    status.services = dict(zip(urls, states, strict=True))
    for service, topics in subscriptions().items():
        group = consumer_group(service)
        status.lag[group] = await consumer_lag(
            settings.kafka_bootstrap_servers, group, [t.value for t in topics]
        )
    status.dead_letters = await topic_size(settings.kafka_bootstrap_servers, Topic.DEAD_LETTERS)
    for service in publications():
        async with connection(settings.database_url, service) as conn:
            backlog = await unpublished(conn)
        if backlog is not None:  # None: that service has not migrated its schema yet
            status.outbox_backlog[service] = backlog
    async with connection(settings.database_url, "matcher") as conn:
        status.pending_proposals = await matcher.pending_proposals(conn)
    async with connection(settings.database_url, "notifier") as conn:
        status.mail_queue = await notifier.mail_queue(conn)
    return status


def _print_status(status: Status) -> None:
    services = Table("service", "state", title="Services")
    for name, state in status.services.items():
        services.add_row(name, state, style=None if state == "ready" else "red")
    lag = Table("consumer group", "topic", "lag", title="Consumer lag")
    for group, topics in status.lag.items():
        for topic, behind in sorted(topics.items()):
            lag.add_row(group, topic, str(behind))
    backlog = Table("service", "unpublished outbox rows", title="Outbox backlog")
    for service, rows in status.outbox_backlog.items():
        backlog.add_row(service, str(rows))
    pending = Table("network", "pending proposals", title="Proposals awaiting a decision")
    for network, count in status.pending_proposals.items():
        pending.add_row(network, str(count))
    mail = Table("status", "emails", title="Mail queue")
    for state, count in status.mail_queue.items():
        # Uncertain or failed emails wait for an operator (`bridgework emails uncertain|failed`).
        attention = state in ("uncertain", "failed") and count > 0
        mail.add_row(state, str(count), style="red" if attention else None)
    for table in (services, lag, backlog, pending, mail):
        console.print(table)
    console.print(f"Dead letters: {status.dead_letters} (`bridgework dlq replay --dry-run`)")
    if status.mail_queue.get("uncertain"):
        console.print(
            "Uncertain emails: check the mail server's log (`bridgework emails uncertain`)"
        )
    if status.mail_queue.get("failed"):
        console.print("Failed emails: see why with `bridgework emails failed`")


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
    service_url: Annotated[
        list[str] | None,
        typer.Option(help="NAME=URL where a service answers /health (repeatable)"),
    ] = None,
) -> None:
    """Services (health), consumer lag, outbox backlog, dead letters, pending proposals, the
    mail queue. Exits 1 when a service is not ready."""
    settings = Settings()
    urls = service_urls(settings)
    for override in service_url or []:
        name, _, url = override.partition("=")
        if name not in urls or not url:
            raise typer.BadParameter(f"expected NAME=URL with NAME in {sorted(urls)}")
        urls[name] = url.rstrip("/")
    result = _run(lambda: collect_status(settings, urls))
    if as_json:
        typer.echo(json.dumps(result.__dict__, indent=2, sort_keys=True))
    else:
        _print_status(result)
    if not result.healthy:
        raise typer.Exit(1)


# --- dead letters ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DeadLetter:
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]

    @property
    def source(self) -> str:
        return self.headers.get(DEAD_LETTER_SOURCE, "")

    @property
    def reason(self) -> str:
        return self.headers.get(DEAD_LETTER_REASON, "")

    @property
    def kind(self) -> str:
        return self.headers.get(DEAD_LETTER_KIND, "")


@dataclass(frozen=True)
class ReplayFilter:
    source_topic: str | None = None
    kind: str | None = None
    reason_contains: str | None = None
    from_offset: int = 0

    def accepts(self, letter: DeadLetter) -> bool:
        return (
            letter.offset >= self.from_offset
            and self.source_topic in (None, letter.source)
            and self.kind in (None, letter.kind)
            and (self.reason_contains or "").lower() in letter.reason.lower()
            and replayable(letter.source)
            # A copy cut short to fit is not the message: replaying it would publish a stub.
            and DEAD_LETTER_TRUNCATED not in letter.headers
        )


def _dead_letter(record: ConsumerRecord[bytes, bytes]) -> DeadLetter:
    headers = {name: value.decode(errors="replace") for name, value in record.headers or ()}
    return DeadLetter(record.offset, record.key, record.value, headers)


async def read_dead_letters(
    bootstrap_servers: str,
    progress: Callable[[int, int], None] | None = None,
    timeout: float = 60.0,
) -> list[DeadLetter]:
    """Every message on the dead-letter topic, oldest first (read without a consumer group:
    replaying twice is harmless, consumers apply each event id once)."""
    total = await topic_size(bootstrap_servers, Topic.DEAD_LETTERS)
    consumer = AIOKafkaConsumer(
        Topic.DEAD_LETTERS.value,
        bootstrap_servers=bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    letters: list[DeadLetter] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(letters) < total and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            letters += [_dead_letter(r) for records in batch.values() for r in records]
            if progress is not None:
                progress(len(letters), total)
    finally:
        await consumer.stop()
    return sorted(letters, key=lambda letter: letter.offset)


async def replay(producer: AIOKafkaProducer, letter: DeadLetter) -> None:
    """Back to the topic it came from, as it was, so every consumer of that topic reads it
    again; a consumer that had applied it already (its event id) ignores it."""
    headers = [
        (name, value.encode())
        for name, value in letter.headers.items()
        if not name.startswith("x-dead-letter-")
    ]
    headers.append((REPLAYED_FROM, f"{Topic.DEAD_LETTERS.value}@{letter.offset}".encode()))
    await producer.send_and_wait(letter.source, letter.value, key=letter.key, headers=headers)


async def replay_dead_letters(
    settings: Settings, chosen: ReplayFilter, dry_run: bool
) -> list[DeadLetter]:
    with Progress(console=console, transient=True) as progress:
        reading = progress.add_task("reading dead letters", total=None)
        letters = await read_dead_letters(
            settings.kafka_bootstrap_servers,
            lambda done, total: progress.update(reading, completed=done, total=total),
        )
        selected = [letter for letter in letters if chosen.accepts(letter)]
        if dry_run or not selected:
            return selected
        producer = idempotent_producer(settings.kafka_bootstrap_servers)
        await producer.start()
        try:
            sending = progress.add_task("replaying", total=len(selected))
            for letter in selected:
                await replay(producer, letter)
                progress.advance(sending)
        finally:
            await producer.stop()
    return selected


@dlq.command("replay")
def dlq_replay(
    source_topic: Annotated[
        str | None, typer.Option(help="Only letters that came from this topic")
    ] = None,
    kind: Annotated[
        str | None, typer.Option(help="Only this kind (x-dead-letter-kind), e.g. invalid")
    ] = None,
    reason_contains: Annotated[
        str | None, typer.Option(help="Only letters whose reason contains this text")
    ] = None,
    from_offset: Annotated[int, typer.Option(help="Skip letters before this offset")] = 0,
    dry_run: Annotated[
        bool, typer.Option(help="List what would be replayed; send nothing")
    ] = False,
) -> None:
    """Re-publish dead-lettered messages to their original topic, after a fix."""
    settings = Settings()
    chosen = ReplayFilter(source_topic, kind, reason_contains, from_offset)
    selected = _run(lambda: replay_dead_letters(settings, chosen, dry_run))
    table = Table("offset", "from topic", "kind", "reason", title="Dead letters")
    for letter in selected:
        # The reason may quote the payload: shown to the operator, never logged.
        table.add_row(str(letter.offset), letter.source, letter.kind, letter.reason[:120])
    console.print(table)
    verb = "would replay" if dry_run else "replayed"
    typer.echo(f"{verb} {len(selected)} dead letters")


# --- re-running a round ---------------------------------------------------------------------


async def request_round(settings: Settings, network_id: str, correlation_id: str) -> int:
    """Mark the network for a round now; returns the number of rounds it has had so far."""
    async with connection(settings.database_url, "matcher") as conn:
        try:
            with correlated(correlation_id):
                return await matcher.request_round(conn, network_id)
        except matcher.UnknownNetwork:
            raise typer.BadParameter(f"the matcher knows no network {network_id!r}") from None


async def wait_for_round(
    settings: Settings, network_id: str, rounds_before: int, timeout: float
) -> matcher.RoundOutcome | None:
    async with connection(settings.database_url, "matcher") as conn:
        return await matcher.wait_for_round(conn, network_id, rounds_before, timeout)


@app.command("rerun-round")
def rerun_round(
    network: Annotated[str, typer.Argument(help="The network's id")],
    wait: Annotated[bool, typer.Option(help="Wait for the round and print its summary")] = True,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the round")] = 60.0,
) -> None:
    """Ask the matcher to run NETWORK's matching round now (for example after changing the
    matching configuration). Any matcher replica picks it up."""
    settings = Settings()
    correlation_id = new_correlation_id()
    rounds_before = _run(lambda: request_round(settings, network, correlation_id))
    typer.echo(f"round requested for {network} (correlation id {correlation_id})")
    if not wait:
        return
    with console.status("waiting for the matcher"):
        outcome = _run(lambda: wait_for_round(settings, network, rounds_before, timeout))
    if outcome is None:
        typer.echo(f"no round ran within {timeout:g}s: is the matcher up? (bridgework status)")
        raise typer.Exit(1)
    typer.echo(
        f"round done: {outcome.new_proposals} new, {outcome.kept_proposals} kept,"
        f" {outcome.replaced_proposals} replaced proposals in {outcome.seconds:.3f}s"
    )


# --- republish ------------------------------------------------------------------------------


# The topics the matcher's state is made from, apart from the decisions topic the matches go on.
DIRECTORY_TOPICS = (Topic.NETWORKS, Topic.PEOPLE, Topic.PLACEMENTS)


async def republish(
    settings: Settings, correlation_id: str, matches: bool, timeout: float
) -> Counter[str]:
    async with connection(settings.database_url, "profiles") as conn:
        with correlated(correlation_id):
            counts = await directory_republish.republish_directory(conn)
            if matches:
                with console.status("waiting for the matcher to apply the directory"):
                    await wait_for_matcher(settings, conn, timeout)
                counts["matches"] = await directory_republish.restate_matches(conn)
    return counts


async def wait_for_matcher(settings: Settings, conn: asyncpg.Connection, timeout: float) -> None:
    """Until the relay has sent every event stored so far and the matcher has applied them all
    (its group committed past them): only then can it tell a match naming someone erased since
    from one naming someone whose profile has not reached it yet."""
    async with asyncio.timeout(timeout):
        last = await directory_republish.last_outbox_row(conn)
        while not await directory_republish.relayed_through(conn, last):
            await asyncio.sleep(0.5)
        bootstrap = settings.kafka_bootstrap_servers
        marks = await end_offsets(bootstrap, [t.value for t in DIRECTORY_TOPICS])
        while not await has_consumed(bootstrap, consumer_group("matcher"), marks):
            await asyncio.sleep(0.5)


@app.command("republish")
def republish_command(
    matches: Annotated[
        bool,
        typer.Option(
            "--matches",
            help="Then restate every match (proposal, decision, close), for a matcher rebuilt"
            " from nothing: waits for the matcher to apply the directory first",
        ),
    ] = False,
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for the matcher (with --matches)")
    ] = 600.0,
) -> None:
    """Publish the directory's current state again (every network, trust, person and open
    placement, each as its latest change), for a matcher or notifier rebuilt from nothing: its
    schema dropped, or the topics' old messages gone with their retention. The profiles
    service's outbox relay sends the events, each entity's in order; consumers apply them as
    the changes they describe, so running it again changes nothing (docs/operations.md)."""
    settings = Settings()
    correlation_id = new_correlation_id()
    try:
        counts = _run(lambda: republish(settings, correlation_id, matches, timeout))
    except TimeoutError:
        typer.echo(
            f"the matcher did not apply the directory within {timeout:g}s: is it consuming?"
            " (bridgework status); the matches were not restated, run this again"
        )
        raise typer.Exit(1) from None
    kinds = [*directory_republish.ENTITIES, *(["matches"] if matches else [])]
    summary = ", ".join(f"{counts[kind]} {kind}" for kind in kinds)
    typer.echo(f"republished {summary} (correlation id {correlation_id})")


# --- export ---------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, UUID | datetime):
        return str(value)
    return value


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(_plain(value))


def write_table(folder: Path, name: str, rows: Sequence[dict[str, Any]], fmt: str) -> Path:
    if fmt == "json":
        path = folder / f"{name}.json"
        plain = [{k: _plain(v) for k, v in row.items()} for row in rows]
        path.write_text(json.dumps(plain, indent=2, sort_keys=True, default=str) + "\n")
        return path
    path = folder / f"{name}.csv"
    with path.open("w", newline="") as out:
        columns = list(rows[0]) if rows else []
        writer = csv.writer(out)
        writer.writerow(columns)
        writer.writerows([_csv_cell(row[c]) for c in columns] for row in rows)
    return path


async def export_network_data(
    settings: Settings, network_id: str
) -> dict[str, list[dict[str, Any]]]:
    """The profiles service's directory of the network, then the matcher's proposals and
    rounds, each through its own use case."""
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"exporting {network_id}", total=2)
        async with connection(settings.database_url, "profiles") as conn:
            try:
                data = await directory_export.export_network(conn, network_id)
            except NotFound:
                raise typer.BadParameter(f"no network {network_id!r}") from None
        progress.advance(task)
        async with connection(settings.database_url, "matcher") as conn:
            data |= await matcher.export_network(conn, network_id)
        progress.advance(task)
    return data


@export.command("network")
def export_network(
    network: Annotated[str, typer.Argument(help="The network's id")],
    out: Annotated[Path, typer.Option(help="Folder to write the files into")] = Path("export"),
    fmt: Annotated[str, typer.Option("--format", help="json or csv")] = "json",
) -> None:
    """Write NETWORK's data (network, trusts, people, placements, proposals, rounds) as one
    file per table under OUT/NETWORK/."""
    if fmt not in ("json", "csv"):
        raise typer.BadParameter("--format must be json or csv")
    settings = Settings()
    data = _run(lambda: export_network_data(settings, network))
    folder = out / network
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in data.items():
        path = write_table(folder, name, rows, fmt)
        typer.echo(f"{path}: {len(rows)} rows")
