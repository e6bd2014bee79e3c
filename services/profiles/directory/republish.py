"""Republishing the directory's current state as events, for a consumer rebuilt from nothing
(``bridgework republish``, docs/operations.md): its schema dropped and its state gone, and the
old messages perhaps gone from the topics with their retention.

Every network, trust, person (profile, then availability) and open placement (neither
withdrawn nor paused: consumers forgot those) goes out as the events its use cases publish,
through the outbox: the relay sends them in order, after any change to the same entity stored
earlier. Each batch locks the rows it reads (``FOR SHARE``)
until its events are stored, so a change made meanwhile is stored either before the batch reads
the row or after the batch's events: no consumer ends with an older state than the directory's.
Consumers apply the events as the changes they describe; applied again (a second republish),
they change nothing.

A matcher rebuilt from nothing also needs the matches: each proposal the coordinators' read
model holds, with its decision and what became of it, goes out as ``match.restated`` on the
decisions topic (``restate_matches``), once the matcher has applied the directory (the CLI
waits for it): a match naming someone the matcher no longer holds was erased since, and is not
restored. Matches naming someone erased here are not restated at all.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import asyncpg

from services.profiles.api.schemas import PlacementIn, TrustIn
from services.profiles.directory.people import availability_event, person_details, person_event
from services.profiles.directory.placements import placement_event
from shared.events import (
    Coordinator,
    Event,
    MatchRestated,
    NetworkUpserted,
    SecondmentStatus,
    TrustUpserted,
)
from shared.outbox import add_to_outbox

BATCH = 500
TRUST_FIELDS = tuple(TrustIn.model_fields)


def network_events(row: asyncpg.Record) -> list[Event]:
    coordinators = tuple(Coordinator.model_validate(c) for c in row["coordinators"])
    network_id = row["key"]
    event = NetworkUpserted(
        entity_key=network_id, network_id=network_id, name=row["name"], coordinators=coordinators
    )
    return [event]


def trust_events(row: asyncpg.Record) -> list[Event]:
    data = TrustIn.model_validate({name: row[name] for name in TRUST_FIELDS})
    return [TrustUpserted(entity_key=row["key"], trust_code=row["key"], **data.model_dump())]


def person_events(row: asyncpg.Record) -> list[Event]:
    data = person_details(row["role"], row["details"])
    return [
        person_event(row["key"], data, row, row["paused"]),
        availability_event(row["key"], data, row["paused"]),
    ]


def placement_events(row: asyncpg.Record) -> list[Event]:
    return [placement_event(row["key"], PlacementIn.model_validate(row["details"]), row)]


# A secondment's states as its events name them (awaiting consent has no event: still approved).
SECONDMENT_STATES = {status.value: status for status in SecondmentStatus}


def match_events(row: asyncpg.Record) -> list[Event]:
    fields = {name: row[name] for name in MATCH_FIELDS}
    secondment = SECONDMENT_STATES.get(row["secondment"])
    event = MatchRestated.model_validate(
        {"entity_key": str(row["key"]), "match_id": row["key"], "secondment": secondment, **fields}
    )
    return [event]


@dataclass(frozen=True)
class Entities:
    """One kind of entity: its rows (with their trust's network and region where the event
    needs them), ordered and paged by ``key``, and the events that state them."""

    query: str  # selects ``key``; ends in a WHERE clause the page's condition extends
    key: str
    locked: str  # the table (alias) whose rows the batch locks
    events: Callable[[asyncpg.Record], list[Event]]


# In the order consumers need them: a trust names its network; a person, a placement its trust.
ENTITIES = {
    "networks": Entities(
        "SELECT id AS key, name, coordinators FROM networks n WHERE true",
        "n.id",
        "n",
        network_events,
    ),
    "trusts": Entities(
        f"SELECT code AS key, {', '.join(TRUST_FIELDS)} FROM trusts t WHERE true",
        "t.code",
        "t",
        trust_events,
    ),
    "people": Entities(
        "SELECT p.id AS key, p.role, p.paused, p.details, t.network_id, t.region"
        " FROM people p JOIN trusts t ON t.code = p.trust_code WHERE true",
        "p.id",
        "p",
        person_events,
    ),
    "placements": Entities(
        "SELECT p.id AS key, p.details, t.network_id, t.region FROM placements p"
        " JOIN trusts t ON t.code = p.host_trust_code"
        " WHERE p.withdrawn_at IS NULL AND p.paused_at IS NULL",
        "p.id",
        "p",
        placement_events,
    ),
}


MATCH_FIELDS = (
    "network_id",
    "kind",
    "provider_id",
    "mentee_id",
    "score",
    "explanation",
    "exchange_id",
    "status",
    "decided_at",
    "outcome",
    "closed_at",
)
# Every match whose mentee (and mentor) is still here, with its secondment's state and closing.
MATCHES = Entities(
    """
    SELECT p.match_id AS key, p.network_id, p.kind, p.provider_id, p.mentee_id, p.score,
      p.explanation, p.exchange_id, p.status, s.status AS secondment,
      CASE WHEN p.status IN ('approved', 'rejected', 'closed') THEN p.status_changed_at
      END AS decided_at, closing.event->>'outcome' AS outcome, closing.occurred_at AS closed_at
    FROM proposals p
    LEFT JOIN secondments s ON s.match_id = p.match_id
    LEFT JOIN LATERAL (
      SELECT l.event, l.occurred_at FROM match_life l
      WHERE l.match_id = p.match_id AND l.event_type = 'match.closed'
      ORDER BY l.occurred_at DESC LIMIT 1) closing ON p.status = 'closed'
    WHERE EXISTS (SELECT 1 FROM people m WHERE m.id = p.mentee_id)
      AND (p.kind = 'secondment' OR EXISTS (SELECT 1 FROM people m WHERE m.id = p.provider_id))
    """,
    "p.match_id",
    "p",
    match_events,
)


async def republish_directory(conn: asyncpg.Connection, batch: int = BATCH) -> Counter[str]:
    """Store the events of the directory's current state in the outbox, a batch of entities
    per transaction; returns how many entities of each kind."""
    counts: Counter[str] = Counter()
    for kind, entities in ENTITIES.items():
        counts[kind] = await _republish(conn, entities, batch)
    return counts


async def restate_matches(conn: asyncpg.Connection, batch: int = BATCH) -> int:
    """Store a ``match.restated`` event for every match (see the module's docstring); returns
    how many."""
    return await _republish(conn, MATCHES, batch)


async def last_outbox_row(conn: asyncpg.Connection) -> int:
    """The newest outbox row's id (0 when empty): the relay has sent what came before once
    ``relayed_through`` says so."""
    last: int = await conn.fetchval("SELECT coalesce(max(id), 0) FROM outbox")
    return last


async def relayed_through(conn: asyncpg.Connection, row_id: int) -> bool:
    """Whether the relay has published every outbox row up to ``row_id``."""
    waiting: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM outbox WHERE id <= $1 AND published_at IS NULL)", row_id
    )
    return not waiting


async def _republish(conn: asyncpg.Connection, entities: Entities, batch: int) -> int:
    count = 0
    after: str | None = None
    while rows := await _republish_batch(conn, entities, after, batch):
        count += len(rows)
        after = str(rows[-1]["key"])
    return count


async def _republish_batch(
    conn: asyncpg.Connection, entities: Entities, after: str | None, batch: int
) -> Sequence[asyncpg.Record]:
    key = f"{entities.key}::text"
    async with conn.transaction():
        rows: Sequence[asyncpg.Record] = await conn.fetch(
            f"{entities.query} AND ($1::text IS NULL OR {key} > $1)"
            f" ORDER BY {key} LIMIT $2 FOR SHARE OF {entities.locked}",
            after,
            batch,
        )
        events = [event for row in rows for event in entities.events(row)]
        if events:
            await add_to_outbox(conn, events)
    return rows
