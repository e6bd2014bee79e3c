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
from collections import Counter
from collections.abc import Sequence

import asyncpg

from services.matcher.engine.contract import MatchingEngine, MatchingInput
from services.matcher.rounds import network_lock_key, proposed_event, store_proposals
from services.matcher.state import load_round_input
from shared.events import Event, PersonUpserted
from shared.matching import MatchKind
from shared.people import Role


async def propose_on_arrival(
    conn: asyncpg.Connection, engine: MatchingEngine, events: Sequence[Event]
) -> int:
    """Propose mentors to the batch's arriving mentees; returns how many were proposed."""
    arrivals: dict[str, set[str]] = {}
    for event in events:
        if isinstance(event, PersonUpserted) and event.profile.role is Role.MENTEE:
            profile = event.profile
            arrivals.setdefault(profile.network_id, set()).add(str(profile.person_id))
    proposed = 0
    for network_id in sorted(arrivals):
        locked = await conn.fetchval(
            "SELECT pg_try_advisory_xact_lock(hashtext($1))", network_lock_key(network_id)
        )
        if locked:
            proposed += await _propose(conn, engine, network_id, arrivals[network_id])
    return proposed


async def _propose(
    conn: asyncpg.Connection, engine: MatchingEngine, network_id: str, mentee_ids: set[str]
) -> int:
    data = (await load_round_input(conn, network_id)).data
    held = Counter(p.provider_id for p in data.pending if p.kind is MatchKind.MENTORING)
    with_pending = {p.mentee_id for p in data.pending if p.kind is MatchKind.MENTORING}
    mentors = tuple(
        m.model_copy(update={"capacity": m.capacity - held[m.id]})
        for m in data.mentors
        if m.capacity - held[m.id] > 0
    )
    newcomers = tuple(
        m.model_copy(update={"open_to_secondment": False})
        for m in data.mentees
        if m.id in mentee_ids and m.id not in with_pending and m.seeks(MatchKind.MENTORING)
    )
    if not mentors or not newcomers:
        return 0
    small = MatchingInput(
        mentors=mentors, mentees=newcomers, trusts=data.trusts, rejected_pairs=data.rejected_pairs
    )
    result = await asyncio.to_thread(engine.propose, small)
    events = [
        proposed_event(network_id, p) for p in result.proposals if p.kind is MatchKind.MENTORING
    ]
    await store_proposals(conn, events)
    return len(events)
