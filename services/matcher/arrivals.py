"""Proposals on arrival (opt-in, ``BRIDGEWORK_PROPOSE_ON_ARRIVAL``): a mentee who arrives with
nothing pending is proposed a mentor in the same transaction as the batch that brought them,
instead of waiting for their network's round.

Why: a round re-solves a whole network, so with every network busy the time to a proposal is
the time to sweep all due networks (seconds at 500 events/s, see docs/scaling.md). Here the
engine solves only the batch's newcomers against the mentors' capacity left after approved
and pending proposals, which takes milliseconds. The network is still marked dirty, and its
round later improves on these proposals under the usual no-flapping rule (a pending proposal
is replaced only when beaten by ``replace_margin``): the price of the fast path is that a
newcomer's first proposal is the best among what is free now, not the network's optimum.

A network's round and its arrivals never interleave: both take the network's advisory lock
first, the arrivals without waiting (a round in progress means this batch's newcomers wait for
the next round, which their batch has already asked for).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from uuid import UUID

import asyncpg

from services.matcher.engine.contract import MatchingEngine, MatchingInput
from services.matcher.rounds import network_lock_key, proposed_event, store_proposals
from services.matcher.state import (
    PEOPLE_COLUMNS,
    _open_mentee,
    _open_mentor,
    _trust,
    stored_profile,
)
from shared.consuming import Contexts, context_of
from shared.events import Event, PersonUpserted
from shared.matching import MatchKind
from shared.observability.context import Carrier
from shared.people import Role


async def propose_on_arrival(
    conn: asyncpg.Connection,
    engine: MatchingEngine,
    events: Sequence[Event],
    contexts: Contexts | None = None,
) -> int:
    """Propose mentors to the batch's arriving mentees; returns how many were proposed. Each
    proposal carries on the correlation id and trace of its mentee's arrival (``contexts``)."""
    arrivals: dict[str, set[UUID]] = {}
    arrived_with: dict[UUID, Carrier] = {}  # the mentee's latest event in the batch
    for event in events:
        if isinstance(event, PersonUpserted) and event.profile.role is Role.MENTEE:
            profile = event.profile
            arrivals.setdefault(profile.network_id, set()).add(profile.person_id)
            arrived_with[profile.person_id] = context_of(event, contexts)
    # Each network's lock, tried in one round trip (sorted, as rounds take them one at a time).
    ordered = sorted(arrivals)
    locked = await conn.fetch(
        "SELECT i FROM unnest($1::text[]) WITH ORDINALITY AS k(key, i)"
        " WHERE pg_try_advisory_xact_lock(hashtext(k.key)) ORDER BY i",
        [network_lock_key(n) for n in ordered],
    )
    networks = [ordered[row["i"] - 1] for row in locked]
    if not networks:
        return 0
    data = await _load(conn, networks, [m for n in networks for m in arrivals[n]])
    if not (data.mentors and data.mentees):
        return 0
    # One engine call for the whole batch: its trusts carry their network, and the engine never
    # pairs across networks. A call per network cost ~2 ms each, once per arriving mentee at
    # 500 events/s over 42 networks: the matcher's whole core (bench/results/pipeline.json).
    result = await asyncio.to_thread(engine.propose, data)
    network_of = {t.code: t.network_id or "" for t in data.trusts}
    mentee_network = {m.id: network_of[m.trust_code] for m in data.mentees}
    events_ = [
        proposed_event(mentee_network[p.mentee_id], p)
        for p in result.proposals
        if p.kind is MatchKind.MENTORING
    ]
    await store_proposals(conn, events_, [arrived_with[e.mentee_id] for e in events_])
    return len(events_)


async def _load(
    conn: asyncpg.Connection, networks: list[str], mentee_ids: list[UUID]
) -> MatchingInput:
    """Only what the newcomers need, for all the batch's networks in four queries: the
    mentors' capacity left after approved and pending proposals, the newcomers with nothing
    pending or approved, the trusts, and the pairs rejected before. Not the whole network."""
    trusts = await conn.fetch("SELECT * FROM trusts WHERE network_id = ANY($1::text[])", networks)
    mentors = await conn.fetch(
        f"""
        SELECT {PEOPLE_COLUMNS}, (SELECT count(*) FROM proposals a WHERE a.provider_id = p.id
                       AND a.status IN ('approved', 'pending')) AS approved_as_provider
        FROM people p
        WHERE p.network_id = ANY($1::text[]) AND p.role = 'mentor' AND NOT p.paused
        """,
        networks,
    )
    newcomers = await conn.fetch(
        """
        SELECT p.network_id, p.profile::text AS profile_json, p.paused, 0 AS approved_mentoring,
          1 AS approved_secondment
        FROM people p
        WHERE p.id = ANY($1::uuid[]) AND p.role = 'mentee' AND NOT EXISTS (
          SELECT 1 FROM proposals a WHERE a.mentee_id = p.id AND a.kind = 'mentoring'
            AND a.status IN ('approved', 'pending'))
        """,
        mentee_ids,
    )
    rejected = await conn.fetch(
        "SELECT provider_id, mentee_id FROM proposals"
        " WHERE mentee_id = ANY($1::uuid[]) AND status = 'rejected'",
        mentee_ids,
    )
    # The rows read like a round's (state.py): capacity held counts pending proposals too,
    # and a newcomer is offered mentoring only (secondments wait for the round).
    # One input holds several networks, told apart by their trusts: someone whose trust is not
    # known (yet) in their own network waits for the round.
    network_of = {r["code"]: r["network_id"] for r in trusts}

    def placed(row: asyncpg.Record) -> bool:
        trust_code = stored_profile(row["profile_json"]).trust_code
        return bool(network_of.get(trust_code) == row["network_id"])

    return MatchingInput(
        mentors=tuple(m for r in mentors if placed(r) and (m := _open_mentor(r))),
        mentees=tuple(e for r in newcomers if placed(r) and (e := _open_mentee(r))),
        trusts=tuple(_trust(r, r["network_id"]) for r in trusts),
        rejected_pairs=frozenset((str(r["provider_id"]), str(r["mentee_id"])) for r in rejected),
    )
