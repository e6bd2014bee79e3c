"""The demo's trusts taking part (issue 17): every demo trust gets a contact, and a network of
three trusts swaps staff in an exchange cycle that reaches every consent and its introductions.

Called from demo.py once the demo network's proposals are out. It loads a small network of
three trusts (each hosts a placement and has one member of staff wanting what the next trust's
placement develops; one of them asks to be considered herself and her trust agrees) through the
HTTP API, waits for the matcher's exchange, approves it as the
coordinator would, gives each trust's two consents as its contact would, and waits for the nine
introductions (each secondment: the candidate, the host trust and the home trust, each with an
invitation for the start date)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from rich.console import Console
from rich.table import Table

from services.profiles.coordination.decisions import decide
from services.profiles.trusts import staff_requests
from services.profiles.trusts.consents import Answer, answer_consent
from services.profiles.trusts.contacts import NewContact, add_contact
from shared.db import connection
from shared.events import ConsentParty

EXCHANGE_NETWORK = "trusts-exchange"
COORDINATOR = {"name": "Tess Coordinator", "email": "tess.coordinator@exchange.example"}
# code: (name, the skill its placement develops, the skill its member of staff wants)
EXCHANGE_TRUSTS = {
    "DEMOX1": ("Fenland Community NHS Trust", "cyber-security", "interoperability"),
    "DEMOX2": ("Broads Coast NHS Trust", "interoperability", "user-research"),
    "DEMOX3": ("Breckland Care NHS Trust", "user-research", "cyber-security"),
}
WAIT_SECONDS = 120


def contact_email(code: str) -> str:
    return f"workforce.{code.lower()}@trusts.example"


async def _load_exchange_network(client: httpx.AsyncClient) -> None:
    async def send(method: str, url: str, body: dict[str, Any]) -> None:
        response = await client.request(method, url, json=body)
        if response.status_code >= 300:
            raise RuntimeError(f"{method} {url} -> {response.status_code}: {response.text}")

    await send(
        "PUT",
        f"/networks/{EXCHANGE_NETWORK}",
        {"name": "East of England Trusts Exchange", "coordinators": [COORDINATOR]},
    )
    for i, (code, (name, develops, wants)) in enumerate(EXCHANGE_TRUSTS.items()):
        trust = {"name": name, "region": "East of England", "network_id": EXCHANGE_NETWORK}
        await send("PUT", f"/trusts/{code}", {**trust, "is_small": True})
        await send(
            "POST",
            "/placements",
            {
                "host_trust_code": code,
                "role": f"{develops.replace('-', ' ').capitalize()} lead",
                "skills_developed": [{"skill": develops, "level": 6}],
                "months": 6,
                "fte": 0.4,
            },
        )
        await send(
            "POST",
            "/mentees",
            {
                "name": ("Priya Shah", "Callum Reid", "Amara Okafor")[i],
                "email": f"staff.{code.lower()}@trusts.example",
                "job_title": "Digital Programme Manager",
                "trust_code": code,
                "gaps": [{"skill": wants, "current": 2, "target": 6}],
                # The first asks to be considered herself (her trust agrees, below).
                "open_to_secondment": i > 0,
            },
        )


async def _add_contacts(conn: asyncpg.Connection, codes: list[str]) -> None:
    for code in codes:
        new = NewContact(name=f"Workforce lead, {code}", email=contact_email(code))
        await add_contact(conn, code, new, actor="demo")


async def _own_request_agreed(conn: asyncpg.Connection) -> str:
    """The first trust's member of staff asks to be considered for secondment (as on her own
    page) and her trust's contact agrees: only then is she a candidate. Returns what happened."""
    code = next(iter(EXCHANGE_TRUSTS))
    person = await conn.fetchrow(
        "SELECT id, details->>'name' AS name FROM people WHERE trust_code = $1 AND role = 'mentee'",
        code,
    )
    await staff_requests.ask(conn, person["id"])
    await staff_requests.decide(
        conn,
        trust_code=code,
        person_id=person["id"],
        agree=True,
        reason="",
        actor=contact_email(code),
    )
    return (
        f"{person['name']} asked to be considered for secondment; {contact_email(code)}"
        f" ({code}) agreed, so she is a candidate from now on."
    )


async def _exchange(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """The exchange's proposals once all three are in the coordinators' read model."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        rows: list[asyncpg.Record] = await conn.fetch(
            "SELECT match_id, exchange_id FROM proposals WHERE network_id = $1"
            " AND status = 'pending' AND exchange_id IS NOT NULL ORDER BY match_id",
            EXCHANGE_NETWORK,
        )
        if len(rows) == 3:
            return rows
        await asyncio.sleep(0.5)
    raise TimeoutError("the matcher proposed no three-trust exchange")


async def _consent_all(conn: asyncpg.Connection, match_ids: list[Any]) -> list[tuple[str, ...]]:
    """Each trust's contact gives the consents asked of it; returns what was recorded."""
    asked = await conn.fetch(
        "SELECT match_id, party, trust_code FROM consents WHERE match_id = ANY($1::uuid[])"
        " ORDER BY trust_code, party",
        match_ids,
    )
    recorded: list[tuple[str, ...]] = []
    for row in asked:
        answer = Answer(
            match_id=row["match_id"],
            party=ConsentParty(row["party"]),
            trust_code=row["trust_code"],
            given=True,
            reason="",
            answered_by=contact_email(row["trust_code"]),
            via="demo",
        )
        await answer_consent(conn, answer)
        recorded.append((row["trust_code"], row["party"], answer.answered_by))
    return recorded


async def exchange_with_consents(
    database_url: str,
    base_url: str,
    api_headers: dict[str, str],
    demo_trusts: list[str],
    read_mail: Callable[[Path], list[EmailMessage]],
    maildir: Path,
    console: Console,
) -> list[EmailMessage]:
    """Run the trusts' part of the demo; returns every email received so far."""
    async with httpx.AsyncClient(base_url=base_url, headers=api_headers, timeout=30) as client:
        await _load_exchange_network(client)
    async with connection(database_url, "profiles") as conn:
        await _add_contacts(conn, [*demo_trusts, *EXCHANGE_TRUSTS])
        console.print(await _own_request_agreed(conn), markup=False)
        console.print("Waiting for the matcher's three-trust exchange ...")
        proposals = await _exchange(conn)
        match_ids = [row["match_id"] for row in proposals]
        await decide(
            conn,
            network_id=EXCHANGE_NETWORK,
            match_ids=match_ids[:1],  # one leg: the whole exchange is approved together
            approved=True,
            reason="",
            decided_by=COORDINATOR["email"],
            via="demo",
        )
        recorded = await _consent_all(conn, match_ids)
        statuses = await conn.fetch(
            "SELECT s.status, s.start_date, s.host_trust_code, s.home_trust_code"
            " FROM secondments s WHERE s.match_id = ANY($1::uuid[]) ORDER BY s.home_trust_code",
            match_ids,
        )
    messages, introductions = await _introductions(read_mail, maildir)
    console.print(
        f"Each demo trust has a contact, workforce.<trust code>@trusts.example (e.g."
        f" {contact_email(demo_trusts[0])}): with `make demo-serve`, they sign in at"
        f" {base_url}/trust/sign-in; the link lands in {maildir}.",
        markup=False,
    )
    console.print(_table(recorded, statuses))
    console.print(
        f"{len(introductions)} secondment introductions sent (the candidate, the host trust and"
        " the home trust of each), each with secondment-start.ics:"
    )
    for message in introductions:
        console.print(f"  to {message['To']}: {message['Subject']}", markup=False)
    return messages


async def _introductions(
    read_mail: Callable[[Path], list[EmailMessage]], maildir: Path
) -> tuple[list[EmailMessage], list[EmailMessage]]:
    """Every email so far, and the exchange's introductions once all nine are in."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        messages = read_mail(maildir)
        introductions = [
            m
            for m in messages
            if any(p.get_filename() == "secondment-start.ics" for p in m.iter_attachments())
        ]
        if len(introductions) >= 9 or time.monotonic() > deadline:
            return messages, introductions
        await asyncio.sleep(0.5)


def _table(recorded: list[tuple[str, ...]], statuses: list[asyncpg.Record]) -> Table:
    table = Table(title="A three-trust exchange: every consent given, then introduced")
    for column in ("home trust -> host trust", "consents given", "status", "starts"):
        table.add_column(column, overflow="fold")
    for s in statuses:
        mine = ((s["host_trust_code"], "host"), (s["home_trust_code"], "home"))
        given = [f"{party} by {who}" for code, party, who in recorded if (code, party) in mine]
        table.add_row(
            f"{s['home_trust_code']} -> {s['host_trust_code']}",
            "; ".join(given),
            s["status"],
            str(s["start_date"]),
        )
    return table
