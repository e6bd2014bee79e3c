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

A network's round's writes and its arrivals never interleave: both take the network's advisory
lock first, the arrivals without waiting. A round solves without it (rounds.py) and takes it
only to write; newcomers whose network's round is writing are tried again as soon as it is over
(``WaitingArrivals``), outside the batch's transaction.

What a batch costs (issue #19): every batch used to read, vectorise and score all the open
mentors of its networks afresh, so a newcomer cost in proportion to their network's mentors.
Now a batch reads the mentors' places held (one row each, ``places_held``) and leaves full
ones out in SQL; it reads a mentor's stored profile only when its row changed since this
process last read it (``MentorProfiles``, keyed by row version); and each network's mentor side
is prepared once and kept between batches (``MentorSides``: providers, skill matrices, a text
model fitted on the bios and their vectors, services/matcher/engine/prepared.py), rebuilt only
when one of its mentors' profiles changes or a mentor joins. A batch vectorises its newcomers'
goals and scores them against the prepared mentors who have room now. Capacity is never
cached: places held, capacity, hours and pause are read in the batch's transaction under the
network's lock, so replicas with their own caches never propose beyond a mentor's capacity.
Each batch logs its mentors, newcomers, the sides it prepared and the milliseconds of its load,
engine and store steps.
"""

from __future__ import annotations

import asyncio
import logging
import operator
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple
from uuid import UUID

import asyncpg
import numpy as np

from services.matcher.engine.contract import (
    MatchingEngine,
    MatchingInput,
    MatchingResult,
    MenteeInput,
    MentorInput,
    TrustInfo,
)
from services.matcher.engine.optimal import BridgeworkEngine
from services.matcher.engine.prepared import Offer, PreparedMentors, propose_to_newcomers
from services.matcher.round_input import (
    NEVER_AGAIN,
    ROW_VERSION,
    SEARCH_OVER,
    StoredProfiles,
    mentor_input,
    open_mentee,
    parsed_once,
    read_profiles,
    trust_info,
)
from services.matcher.rounds import network_lock_key, proposed_event, store_proposals
from shared.consuming import Contexts, context_of
from shared.events import Event, PersonUpserted
from shared.matching import MatchKind
from shared.observability.context import Carrier
from shared.people import Role

log = logging.getLogger(__name__)


# Arriving mentees by network, each with the context (correlation id, trace) of their change.
Arrivals = dict[str, dict[UUID, Carrier]]


@dataclass(frozen=True)
class ArrivalOutcome:
    proposed: int
    # Networks whose round held the lock: their newcomers are tried again when it is over.
    waiting: Arrivals


def arrivals_in(events: Sequence[Event], contexts: Contexts | None = None) -> Arrivals:
    arrivals: Arrivals = {}
    for event in events:
        if isinstance(event, PersonUpserted) and event.profile.role is Role.MENTEE:
            profile = event.profile
            # The mentee's latest event in the batch gives the context.
            network = arrivals.setdefault(profile.network_id, {})
            network[profile.person_id] = context_of(event, contexts)
    return arrivals


def mentor_networks(events: Sequence[Event]) -> set[str]:
    """The networks of the mentors a batch brings or changes: their mentor sides go stale."""
    return {
        event.profile.network_id
        for event in events
        if isinstance(event, PersonUpserted) and event.profile.role is Role.MENTOR
    }


class OnArrival:
    """Proposals on arrival as one matcher process makes them: its engine, and what it keeps
    between batches (the mentors' stored profiles, ``MentorProfiles``). The process's runtime
    makes one (services/matcher/bootstrap.py) for its consumer's batches and its
    ``WaitingArrivals``; nothing is kept at module level, so two of them never share a cache."""

    def __init__(self, engine: MatchingEngine, profiles: MentorProfiles | None = None) -> None:
        self.engine = engine
        self.profiles = MentorProfiles() if profiles is None else profiles
        self.sides = MentorSides()

    async def propose_on_arrival(
        self,
        conn: asyncpg.Connection,
        events: Sequence[Event],
        contexts: Contexts | None = None,
    ) -> ArrivalOutcome:
        """Propose mentors to the batch's arriving mentees. Each proposal carries on the
        correlation id and trace of its mentee's arrival (``contexts``)."""
        return await self.propose_to(conn, arrivals_in(events, contexts))

    async def propose_to(self, conn: asyncpg.Connection, arrivals: Arrivals) -> ArrivalOutcome:
        # Each network's lock, tried in one round trip (sorted, as rounds take them one at a
        # time).
        ordered = sorted(arrivals)
        locked = await conn.fetch(
            "SELECT i FROM unnest($1::text[]) WITH ORDINALITY AS k(key, i)"
            " WHERE pg_try_advisory_xact_lock(hashtext(k.key)) ORDER BY i",
            [network_lock_key(n) for n in ordered],
        )
        networks = [ordered[row["i"] - 1] for row in locked]
        waiting = {n: arrivals[n] for n in set(ordered) - set(networks)}
        if not networks:
            return ArrivalOutcome(0, waiting)
        started = time.perf_counter()
        mentees = [m for n in networks for m in arrivals[n]]
        data = await _load(conn, networks, mentees, self.profiles)
        loaded = time.perf_counter()
        if not (data.mentors and data.mentees):
            return ArrivalOutcome(0, waiting)
        # One engine call for the whole batch: its trusts carry their network, and the engine
        # never pairs across networks. A call per network cost ~2 ms each, once per arriving
        # mentee at 500 events/s over 42 networks: the matcher's whole core
        # (bench/results/pipeline.json).
        result, prepared = await asyncio.to_thread(self._propose, data)
        solved = time.perf_counter()
        mentee_network = {m.id: network for network, m in data.mentees}
        events_ = [
            proposed_event(mentee_network[p.mentee_id], p)
            for p in result.proposals
            if p.kind is MatchKind.MENTORING
        ]
        contexts = [arrivals[e.network_id][e.mentee_id] for e in events_]
        await store_proposals(conn, events_, contexts)
        stored = time.perf_counter()
        log.info(
            "arrivals: %d networks, %d mentors, %d newcomers -> %d proposals, %d sides"
            " prepared; load %.1f ms, engine %.1f ms, store %.1f ms",
            len(networks),
            sum(len(rows) for rows in data.mentors.values()),
            len(data.mentees),
            len(events_),
            prepared,
            (loaded - started) * 1000,
            (solved - loaded) * 1000,
            (stored - solved) * 1000,
        )
        return ArrivalOutcome(len(events_), waiting)

    async def prepare_sides(self, conn: asyncpg.Connection, networks: Sequence[str]) -> int:
        """Prepare the mentor sides of ``networks`` ahead of their next arrivals (after their
        mentors joined or changed), so that the batch that brings the next newcomers does not
        pay for it; returns how many were prepared. Only a cache is filled: a batch still
        checks each side against its own read of the mentors and prepares it again if needed."""
        if not networks or not isinstance(self.engine, BridgeworkEngine):
            return 0
        ordered = sorted(networks)
        network_of = _network_of(await _trusts(conn, ordered))
        mentors = await _mentors_with_room(conn, ordered, self.profiles, network_of)
        if not mentors:
            return 0
        _, prepared = await asyncio.to_thread(self.sides.offers, mentors, self.engine)
        return prepared

    def _propose(self, data: ArrivalInput) -> tuple[MatchingResult, int]:
        """The engine's proposals for the batch, and how many mentor sides it prepared."""
        if not isinstance(self.engine, BridgeworkEngine):  # any other engine: the whole input
            return self.engine.propose(data.matching_input()), 0
        offers, prepared = self.sides.offers(data.mentors, self.engine)
        mentees = data.mentee_inputs()
        result = propose_to_newcomers(
            self.engine, offers, mentees, data.trusts, data.rejected_pairs
        )
        return result, prepared


class WaitingArrivals:
    """Newcomers who arrived while their network's round held its lock (while it wrote), tried
    again every ``retry_seconds`` until the round is over, instead of waiting for the network's
    next round, seconds later under a steady stream. And the networks whose mentors changed,
    whose mentor sides it prepares then (``OnArrival.prepare_sides``), off the batches' path.

    Kept in memory: after a crash, the network's next round (it is marked dirty) proposes to
    them, as it would have without this. Each entry waits one interval before its first try,
    so the batch that brought the newcomer (or the mentor) has committed by then."""

    def __init__(
        self, pool: asyncpg.Pool, proposer: OnArrival, retry_seconds: float = 0.02
    ) -> None:
        self._pool = pool
        self._proposer = proposer
        self._retry_seconds = retry_seconds
        self._new: Arrivals = {}
        self._due: Arrivals = {}
        self._stale: set[str] = set()  # networks whose mentor sides to prepare, after a wait
        self._stale_due: set[str] = set()

    def add(self, arrivals: Arrivals) -> None:
        for network, mentees in arrivals.items():
            self._new.setdefault(network, {}).update(mentees)

    def prepare(self, networks: set[str]) -> None:
        self._stale |= networks

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._retry_seconds)
            due, self._due, self._new = self._due, self._new, {}
            if due:
                await self.retry(due)
            stale, self._stale_due, self._stale = self._stale_due, self._stale, set()
            if stale:
                await self.prepare_sides(stale)

    async def prepare_sides(self, networks: set[str]) -> None:
        try:
            async with self._pool.acquire() as conn:
                await self._proposer.prepare_sides(conn, sorted(networks))
        except (OSError, asyncpg.PostgresError) as error:
            # Only a cache: the next batch of arrivals prepares what it needs itself.
            log.warning("mentor sides not prepared ahead: %s", type(error).__name__)

    async def retry(self, due: Arrivals) -> None:
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                outcome = await self._proposer.propose_to(conn, due)
        except (OSError, asyncpg.PostgresError) as error:
            log.warning("arrivals will be tried again: %s", type(error).__name__)
            self.add(due)
            return
        self.add(outcome.waiting)


class MentorWithRoom(NamedTuple):
    """A mentor a batch may propose: not paused, placed in a trust of their network, with
    ``room`` places left after approved and pending proposals. A tuple, not a dict: a batch
    reads every open mentor of its networks, thousands under a steady stream."""

    id: UUID
    profile_json: str
    room: int
    hours_per_month: float

    def input(self) -> MentorInput:
        return mentor_input(self.profile_json, self.room, self.hours_per_month)


@dataclass(frozen=True)
class ArrivalInput:
    """What a batch of arrivals reads: its networks' mentors with room (by network), its
    newcomers (each with their network), the trusts and the pairs never proposed again."""

    mentors: dict[str, list[MentorWithRoom]]
    mentees: list[tuple[str, MenteeInput]]
    trusts: tuple[TrustInfo, ...]
    rejected_pairs: frozenset[tuple[str, str]]

    def mentee_inputs(self) -> tuple[MenteeInput, ...]:
        return tuple(m for _, m in self.mentees)

    def matching_input(self) -> MatchingInput:
        """The engine's whole input, for an engine without prepared mentors."""
        return MatchingInput(
            mentors=tuple(m.input() for mentors in self.mentors.values() for m in mentors),
            mentees=self.mentee_inputs(),
            trusts=self.trusts,
            rejected_pairs=self.rejected_pairs,
        )


class MentorSides:
    """Each network's mentor side as the engine prepares it (``PreparedMentors``), kept
    between batches with the stored profile each mentor was prepared from.

    A side is used while every mentor with room in the batch is in it at the profile it was
    prepared from (mentors who filled up or paused are simply not offered); it is prepared
    again, from the mentors with room now, when a mentor joins or their profile changes, or when
    fewer than half of its mentors still have room (so its text model follows the network's
    open mentors). Only profiles are prepared: capacity left and hours come with every batch."""

    def __init__(self) -> None:
        # network -> (side, the profile each mentor was prepared from, their column)
        self._sides: dict[str, tuple[PreparedMentors, dict[UUID, str], dict[UUID, int]]] = {}

    def __len__(self) -> int:
        return len(self._sides)

    def offers(
        self, mentors: dict[str, list[MentorWithRoom]], engine: BridgeworkEngine
    ) -> tuple[list[Offer], int]:
        """Each network's offer of its mentors with room, and how many sides were prepared."""
        offers, prepared = [], 0
        for network, with_room in sorted(mentors.items()):
            ids, texts, rooms, hours = zip(*with_room, strict=True)
            known = self._sides.get(network)
            if known is None or not _current(known[1], ids, texts):
                inputs = [m.input() for m in with_room]
                side = PreparedMentors.build(inputs, engine.config, engine.taxonomy)
                known = (
                    side,
                    dict(zip(ids, texts, strict=True)),
                    {m: j for j, m in enumerate(ids)},
                )
                self._sides[network] = known
                prepared += 1
            side, _, column = known
            offers.append(
                Offer(
                    side,
                    np.fromiter(map(column.__getitem__, ids), np.int64, len(ids)),
                    np.array(rooms, dtype=float),
                    np.array(hours, dtype=float),
                )
            )
        return offers, prepared


def _current(profiles: dict[UUID, str], ids: Sequence[UUID], texts: Sequence[str]) -> bool:
    """Whether a side prepared from ``profiles`` serves these mentors with room as they are."""
    if 2 * len(ids) < len(profiles):
        return False
    return all(map(operator.eq, map(profiles.get, ids), texts))


class MentorProfiles(StoredProfiles):
    """The stored profiles of the mentors arrivals have read (``StoredProfiles``), so that a
    batch reads only the profiles that are new or changed since, not every open mentor's again.

    Profiles only: capacity, paused and the places held are read from the database in every
    batch, in its transaction, under the network's lock, so that two matcher replicas (each
    with its own cache) never propose beyond a mentor's capacity."""


async def _load(
    conn: asyncpg.Connection, networks: list[str], mentee_ids: list[UUID], profiles: MentorProfiles
) -> ArrivalInput:
    """Only what the newcomers need, for all the batch's networks: the mentors with room left
    after approved and pending proposals (their profiles from ``profiles`` unless new or
    changed), the newcomers with nothing pending or approved, the trusts, and the pairs
    rejected before. Not the whole network."""
    trusts = await _trusts(conn, networks)
    network_of = _network_of(trusts)
    mentors = await _mentors_with_room(conn, networks, profiles, network_of)
    newcomers = await conn.fetch(
        f"""
        SELECT p.network_id, p.profile::text AS profile_json, p.paused, 0 AS approved_mentoring,
          1 AS approved_secondment, p.trust_code
        FROM people p
        WHERE p.id = ANY($1::uuid[]) AND p.role = 'mentee' AND NOT EXISTS (
          SELECT 1 FROM proposals a WHERE a.mentee_id = p.id AND a.kind = 'mentoring'
            AND (a.status = 'pending' OR {SEARCH_OVER}))
        """,
        mentee_ids,
    )
    rejected = await conn.fetch(
        "SELECT provider_id, mentee_id FROM proposals"
        " WHERE mentee_id = ANY($1::uuid[]) AND status = ANY($2::text[])",
        mentee_ids,
        list(NEVER_AGAIN),
    )
    # The rows read like a round's (round_input.py): capacity held counts pending proposals too,
    # and a newcomer is offered mentoring only (secondments wait for the round). A newcomer's
    # profile is parsed for this batch only: kept (``stored_profile``'s cache, by text), every
    # arrival's stayed about 40 s at 500 a second, long enough for the collector to move it to
    # its oldest generation, whose passes then walked 17,000 of them for 120-210 ms while the
    # batches waited (docs/scaling.md, "Collector pauses").
    # One input holds several networks, told apart by their trusts: someone whose trust is not
    # known (yet) in their own network waits for the round.
    return ArrivalInput(
        mentors=mentors,
        mentees=[
            (r["network_id"], e)
            for r in newcomers
            if _placed(r["trust_code"], r["network_id"], network_of)
            and (e := open_mentee(r, parse=parsed_once))
        ],
        trusts=tuple(trust_info(r, r["network_id"]) for r in trusts),
        rejected_pairs=frozenset((str(r["provider_id"]), str(r["mentee_id"])) for r in rejected),
    )


async def _trusts(conn: asyncpg.Connection, networks: list[str]) -> list[asyncpg.Record]:
    """Only a known network's trusts: the people of one that does not exist (yet) wait for it."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT * FROM trusts WHERE network_id = ANY($1::text[])"
        " AND network_id IN (SELECT id FROM networks)",
        networks,
    )
    return rows


def _network_of(trusts: Sequence[asyncpg.Record]) -> dict[str, str]:
    """Each trust code's network: a person is placed once their trust is known in their network."""
    return {r["code"]: r["network_id"] for r in trusts}


def _placed(trust_code: str | None, network_id: str, network_of: dict[str, str]) -> bool:
    """Whether the person's trust (their row's ``trust_code``, not parsed from their profile
    here) is known in their own network."""
    return network_of.get(trust_code or "") == network_id


async def _mentors_with_room(
    conn: asyncpg.Connection,
    networks: list[str],
    profiles: MentorProfiles,
    network_of: dict[str, str],
) -> dict[str, list[MentorWithRoom]]:
    """The networks' mentors not paused, placed (``network_of``) and with room left.

    Places held are one row a mentor (``places_held``, kept by triggers on ``proposals``),
    full mentors are left out here, not in Python, and a profile is read only when
    ``profiles`` does not have its row's version. A profile changed between the two reads is
    taken as it is now (only the profile comes from the second; the trust that places the
    mentor from the first, as the room does)."""
    # The trust code from its column: parsing every open mentor's profile in every batch only
    # to place them took about 5 % of the consumer's main thread under a steady stream.
    rows = await conn.fetch(
        f"""
        SELECT p.id, p.network_id, {ROW_VERSION} AS version,
          p.capacity - coalesce(h.held, 0) AS room, p.hours_per_month,
          p.trust_code
        FROM people p LEFT JOIN places_held h ON h.provider_id = p.id
        WHERE p.network_id = ANY($1::text[]) AND p.role = 'mentor' AND NOT p.paused
          AND p.capacity > coalesce(h.held, 0)
        """,
        networks,
    )
    texts = [profiles.get(r["id"], r["version"]) for r in rows]
    unknown = [r["id"] for r, text in zip(rows, texts, strict=True) if text is None]
    fresh = await read_profiles(conn, unknown, profiles)
    by_network: dict[str, list[MentorWithRoom]] = {}
    for (person, network, _, room, hours, trust), text in zip(rows, texts, strict=True):
        text = text or fresh.get(person)
        if text is not None and _placed(trust, network, network_of):
            mentor = MentorWithRoom(person, text, room, hours)
            by_network.setdefault(network, []).append(mentor)
    return by_network
