"""``make demo``: the whole stack with a demo network, showing proposals and the emails sent.

Starts the SMTP catcher and the three services against a fresh demo database, loads the
synthetic network through the HTTP API, waits for the proposals to be emailed, prints them,
and stops what it started. The last line is ``Summary: <N> proposals, <M> emails sent``.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import shutil
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from devtools import ROOT, demo_trusts
from devtools.demo_history import show_history
from devtools.demo_join import join_links_table
from devtools.demo_network import DemoNetwork, build_demo_network
from devtools.stack import StackConfig, fresh_database, running_stack
from services.matcher.use_cases import latest_fairness
from services.profiles.accounts.accounts import NewAccount, create_account, demo_password
from services.profiles.accounts.api_tokens import development_api_token
from services.profiles.accounts.permissions import AccountRole
from services.profiles.coordination.decisions import ProposalNotFound, decide
from shared.db import connection
from shared.events import Event, MatchProposed, MatchWithdrawn, decode_event
from shared.matching import MatchKind
from shared.settings import Settings
from shared.topics import Topic

console = Console(width=160)
MAILDIR = ROOT / ".local" / "demo-mail"
DEMO_DATABASE = "bridgework_demo"
WAIT_SECONDS = 180


async def demo_api_headers(database_url: str, environment: str) -> dict[str, str]:
    """An administrator's API token that the demo makes for itself once the services are up.
    Development only: refused in production, where an administrator makes every token."""
    async with connection(database_url, "profiles") as conn:
        token = await development_api_token(conn, "demo", environment, actor="demo")
    return {"Authorization": f"Bearer {token}"}


async def load_network(
    base_url: str, network: DemoNetwork, headers: dict[str, str]
) -> dict[str, str]:
    """Send the whole network through the HTTP API (with the demo's API token); returns
    person/placement id -> label."""
    labels: dict[str, str] = {}
    total = (
        len(network.networks)
        + len(network.trusts)
        + len(network.mentors)
        + len(network.mentees)
        + len(network.placements)
    )
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("Loading the demo network over HTTP", total=total)

            async def send(method: str, url: str, body: dict[str, Any]) -> httpx.Response:
                response = await client.request(method, url, json=body)
                if response.status_code >= 300:
                    raise RuntimeError(f"{method} {url} -> {response.status_code}: {response.text}")
                progress.advance(task)
                return response

            for network_id, body in network.networks.items():
                await send("PUT", f"/networks/{network_id}", body)
            for code, body in network.trusts.items():
                await send("PUT", f"/trusts/{code}", body)
            for path, people in (("/mentors", network.mentors), ("/mentees", network.mentees)):
                for body in people:
                    person_id = (await send("POST", path, body)).json()["id"]
                    labels[person_id] = f"{body['name']} ({body['trust_code']})"
            for body in network.placements:
                placement_id = (await send("POST", "/placements", body)).json()["id"]
                labels[placement_id] = f"{body['role']} ({body['host_trust_code']})"
    console.print(
        f"Loaded {len(network.trusts)} trusts in {len(network.networks)} networks, "
        f"{len(network.mentors)} mentors, {len(network.mentees)} mentees, "
        f"{len(network.placements)} placements."
    )
    return labels


async def read_proposals(bootstrap: str, idle_seconds: float) -> list[MatchProposed]:
    """Read the proposals topic until it has been quiet for ``idle_seconds``: the proposals
    that still stand (a later round may withdraw one it replaced by a better match)."""
    consumer = AIOKafkaConsumer(
        Topic.PROPOSALS.value,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    events: list[Event] = []
    try:
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < idle_seconds:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                events += [decode_event(r.value) for r in records]
                quiet_since = time.monotonic()
    finally:
        await consumer.stop()
    withdrawn = {e.match_id for e in events if isinstance(e, MatchWithdrawn)}
    return [e for e in events if isinstance(e, MatchProposed) and e.match_id not in withdrawn]


def read_mail(maildir: Path) -> list[EmailMessage]:
    messages = []
    for path in sorted(maildir.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        messages.append(message)
    return messages


async def wait_for_mail(maildir: Path, expected: int, timeout: float) -> list[EmailMessage]:
    deadline = time.monotonic() + timeout
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("Waiting for the emails", total=expected)
        while time.monotonic() < deadline:
            received = len(list(maildir.glob("*.eml")))
            progress.update(task, completed=received)
            if received >= expected:
                break
            await asyncio.sleep(0.5)
    return read_mail(maildir)


async def approve(database_url: str, proposal: MatchProposed) -> None:
    """Approve one proposal through the coordinators' decision use case (read model, audit
    record and match.decided in one transaction), the one the decision pages call. The
    proposal may not have reached the coordinators' read model yet: try again until it has."""
    deadline = time.monotonic() + 30
    async with connection(database_url, "profiles") as conn:
        while True:
            try:
                await decide(
                    conn,
                    network_id=proposal.network_id,
                    match_ids=[proposal.match_id],
                    approved=True,
                    reason="",
                    decided_by="demo",
                    via="demo",
                )
                return
            except ProposalNotFound as error:
                if time.monotonic() > deadline:
                    message = "the proposal did not reach the coordinators' read model"
                    raise TimeoutError(message) from error
                await asyncio.sleep(0.3)


def show_introduction(messages: list[EmailMessage]) -> None:
    intro = next((m for m in messages if str(m["Subject"]).startswith("Introducing")), None)
    if intro is None:
        return
    body = intro.get_body(preferencelist=("plain",))
    attachments = ", ".join(str(part.get_filename()) for part in intro.iter_attachments())
    console.rule("An introduction, after a coordinator approved the match")
    console.print(f"{intro['Subject']}  (attached: {attachments})", markup=False)
    console.print(body.get_content() if body else "", markup=False, highlight=False)


def proposals_table(proposals: list[MatchProposed], labels: dict[str, str]) -> Table:
    table = Table(title=f"{len(proposals)} proposed matches, awaiting coordinators' decisions")
    for column in ("network", "kind", "mentor / placement", "mentee", "score", "why"):
        table.add_column(column, overflow="fold")
    for p in sorted(proposals, key=lambda p: (p.network_id, -p.score)):
        table.add_row(
            p.network_id,
            f"{p.kind.value} (exchange)" if p.exchange_id else p.kind.value,
            labels.get(str(p.provider_id), str(p.provider_id)),
            labels.get(str(p.mentee_id), str(p.mentee_id)),
            f"{p.score:.2f}",
            p.explanation.summary(),
        )
    return table


async def fairness_table(database_url: str) -> Table:
    """The latest round's fairness figures per network, as the matcher recorded them."""
    async with connection(database_url, "matcher") as conn:
        reports = await latest_fairness(conn)
    table = Table(title="Fairness of the latest round (mentoring): match rate and mean score")
    for column in ("network", "group", "mentees", "matched", "rate", "mean score"):
        table.add_column(column)
    for network_id, report in reports.items():
        for comparison in report.comparisons:
            for stats in (comparison.members, comparison.others):
                rate, mean = stats.match_rate, stats.mean_score
                table.add_row(
                    network_id,
                    stats.label,
                    str(stats.mentees),
                    str(stats.matched),
                    "-" if rate is None else f"{rate:.0%}",
                    "-" if mean is None else f"{mean:.2f}",
                )
    return table


def mail_table(messages: list[EmailMessage]) -> Table:
    table = Table(title=f"{len(messages)} emails received by the SMTP server")
    table.add_column("to")
    table.add_column("subject", overflow="fold")
    for message in messages:
        table.add_row(str(message["To"]), str(message["Subject"]))
    return table


DEMO_ADMIN = "admin@bridgework.example"


@dataclass(frozen=True)
class SignIn:
    role: str
    email: str
    password: str
    url: str


async def create_demo_accounts(
    database_url: str, network: DemoNetwork, base_url: str, environment: str
) -> list[SignIn]:
    """An administrator and each demo network's coordinators, with fresh random passwords.
    Development only: demo_password refuses in production, before anything is created."""
    wanted = [(DEMO_ADMIN, "Demo Administrator", AccountRole.ADMINISTRATOR, None)] + [
        (c["email"], c["name"], AccountRole.COORDINATOR, network_id)
        for network_id, body in network.networks.items()
        for c in body["coordinators"]
    ]
    passwords = [demo_password(environment) for _ in wanted]
    sign_ins = []
    async with connection(database_url, "profiles") as conn:
        for (email_address, name, role, network_id), password in zip(
            wanted, passwords, strict=True
        ):
            new = NewAccount(
                email=email_address,
                name=name,
                role=role,
                network_id=network_id,
                password=password,
            )
            await create_account(conn, new, actor="demo")
            sign_ins.append(SignIn(role.value, email_address, password, f"{base_url}/sign-in"))
    return sign_ins


def sign_in_table(sign_ins: list[SignIn]) -> Table:
    table = Table(title="Sign in to the coordinators' pages (demo accounts, development only)")
    for column in ("role", "email", "password", "sign-in page"):
        table.add_column(column, no_wrap=True)
    for s in sign_ins:
        table.add_row(s.role, s.email, s.password, s.url)
    return table


async def serve_until_interrupted(sign_ins: list[SignIn], api_headers: dict[str, str]) -> None:
    console.print(sign_in_table(sign_ins))
    console.print(
        "The JSON API (development only, an administrator's token): "
        f"-H 'Authorization: {api_headers['Authorization']}'",
        markup=False,
    )
    console.print(
        "The stack keeps running: sign in as a coordinator, approve or reject proposals; the"
        f" introduction emails land in {MAILDIR}. Press Ctrl-C to stop."
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signal_number, stop.set)
    await stop.wait()


@dataclass(frozen=True)
class DemoStack:
    """The stack up on a fresh database with the demo network loaded (``loaded_demo_stack``)."""

    settings: Settings
    config: StackConfig
    network: DemoNetwork
    api_headers: dict[str, str]
    labels: dict[str, str]  # person and placement ids to names

    @property
    def database_url(self) -> str:
        return self.config.database_url


@asynccontextmanager
async def loaded_demo_stack(database: str) -> AsyncIterator[DemoStack]:
    """A fresh database and mailbox, the three services and the SMTP catcher running, and the
    demo network loaded through the API: what the demo and the screenshots both start from."""
    settings = Settings()
    database_url = await fresh_database(settings.database_url, database)
    shutil.rmtree(MAILDIR, ignore_errors=True)
    config = StackConfig(
        database_url=database_url,
        kafka_bootstrap_servers=settings.kafka_bootstrap_servers,
        smtp_port=settings.smtp_port,
        http_port=settings.http_port,
    )
    network = build_demo_network()
    with running_stack(config, maildir=MAILDIR):
        console.print("Services are up: profiles (HTTP), matcher, notifier; SMTP catcher.")
        headers = await demo_api_headers(database_url, settings.environment)
        labels = await load_network(config.base_url, network, headers)
        yield DemoStack(settings, config, network, headers, labels)


async def run_demo(serve: bool = False) -> tuple[int, int]:
    async with loaded_demo_stack(DEMO_DATABASE) as stack:
        settings, config, network = stack.settings, stack.config, stack.network
        database_url, headers, labels = stack.database_url, stack.api_headers, stack.labels
        console.print("Waiting for the matcher's proposals ...")
        proposals = await read_proposals(settings.kafka_bootstrap_servers, idle_seconds=8)
        coordinators = {n: len(b["coordinators"]) for n, b in network.networks.items()}
        expected = sum(coordinators[p.network_id] for p in proposals)
        messages = await wait_for_mail(MAILDIR, expected, WAIT_SECONDS)
        mentoring = [p for p in proposals if p.kind is MatchKind.MENTORING]
        if mentoring:  # a coordinator approves one: mentor and mentee are introduced
            await approve(database_url, mentoring[0])
            messages = await wait_for_mail(MAILDIR, len(messages) + 2, 60)
        messages = await demo_trusts.exchange_with_consents(
            database_url,
            config.base_url,
            headers,
            list(network.trusts),
            read_mail,
            MAILDIR,
            console,
        )
        sign_ins = await create_demo_accounts(
            database_url, network, config.base_url, settings.environment
        )
        sign_ins += [
            SignIn(*s)
            for s in await show_history(database_url, config.base_url, settings.environment)
        ]
        console.print(join_links_table(network, config.base_url))
        if serve:
            await serve_until_interrupted(sign_ins, headers)
    if serve:
        return len(proposals), len(messages)
    console.print(proposals_table(proposals, labels))
    console.print(await fairness_table(database_url))
    console.print(mail_table(messages[:10]))
    if len(messages) > 10:
        console.print(f"... and {len(messages) - 10} more (all in {MAILDIR}).")
    if messages:
        body = messages[0].get_body(preferencelist=("plain",))
        console.rule("One of the emails, as the coordinator reads it")
        console.print(str(messages[0]["Subject"]))
        console.print(body.get_content() if body else "", markup=False, highlight=False)
    show_introduction(messages)
    console.print(sign_in_table(sign_ins))
    console.print(
        "The stack has stopped. `make demo-serve` keeps it running for you to sign in and decide."
    )
    return len(proposals), len(messages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--serve", action="store_true", help="keep the stack running until Ctrl-C")
    serve = parser.parse_args().serve
    proposals, emails = asyncio.run(run_demo(serve))
    print(f"Summary: {proposals} proposals, {emails} emails sent")


if __name__ == "__main__":
    main()
