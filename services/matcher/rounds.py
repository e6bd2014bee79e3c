"""Matching rounds: when a network's events have gone quiet, solve it and propose matches.

A round reads its network in one snapshot, solves it holding no lock a batch waits for, and
writes what still holds of its plan under the network's lock: its proposals, withdrawals,
their outbox events and its record commit in one transaction. Its dirty mark is cleared after,
only if nothing marked the network since the snapshot: a crash at any point leaves the network
dirty, and the round simply runs again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID, uuid4

import asyncpg

from services.matcher.engine.contract import (
    FairnessOutcome,
    MatchingEngine,
    MatchingInput,
    MatchingResult,
    Proposal,
)
from services.matcher.engine.fairness import FairnessReport, fairness_report
from services.matcher.handlers import withdrawals
from services.matcher.network_weights import weighted
from services.matcher.reconcile import Standing, Writes, reconciled
from services.matcher.repository import MatcherRepository
from services.matcher.round_input import (
    NEVER_AGAIN,
    PROFILES_KEPT,
    SEARCH_OVER,
    PairKey,
    RoundRows,
    StoredProfiles,
    read_round_rows,
    round_input,
)
from shared.events import (
    FairnessFigures,
    FairnessPriceFigures,
    GroupTargetFigures,
    MatchProposed,
    RoundCompleted,
)
from shared.matching import REPLACED_BY_A_BETTER_MATCH
from shared.observability import metrics
from shared.observability.context import Carrier, continued
from shared.outbox import add_to_outbox
from shared.people import Role

log = logging.getLogger(__name__)


def network_lock_key(network_id: str) -> str:
    """The advisory lock a network's round and its proposals on arrival share."""
    return f"bridgework-round:{network_id}"


async def due_networks(
    conn: asyncpg.Connection, quiet_seconds: float, max_delay_seconds: float
) -> list[str]:
    rows = await conn.fetch(
        """
        SELECT network_id FROM dirty_networks
        WHERE last_change_at <= now() - make_interval(secs => $1)
           OR first_change_at <= now() - make_interval(secs => $2)
        ORDER BY first_change_at
        """,
        quiet_seconds,
        max_delay_seconds,
    )
    return [row["network_id"] for row in rows]


async def run_round(
    pool: asyncpg.Pool,
    engine: MatchingEngine,
    network_id: str,
    profiles: StoredProfiles | None = None,
) -> list[MatchProposed] | None:
    """Solve one network; returns its new proposals, or None when another replica has it.
    ``profiles``: the stored profiles the process's rounds have read (``RoundScheduler``'s),
    so a round reads only those changed since; without it, every profile is read.

    The round (its log line, its span, its proposals' Kafka headers) carries on the correlation
    id and trace of the latest change that asked for it."""
    async with pool.acquire() as conn:
        trace_context = await conn.fetchval(
            "SELECT trace_context FROM dirty_networks WHERE network_id = $1", network_id
        )
    if trace_context is None:
        return None
    with continued(trace_context, "matching round"):
        return await _run_round(pool, engine, network_id, profiles)


async def _run_round(
    pool: asyncpg.Pool,
    engine: MatchingEngine,
    network_id: str,
    profiles: StoredProfiles | None = None,
) -> list[MatchProposed] | None:
    """Solve one network unless another replica has it.

    A round reads the network in one snapshot and solves it holding no lock that a batch
    waits for: the batches that change the network meanwhile, and its newcomers' proposals on
    arrival, go on. Only its writes take the network's lock (arrivals.py takes the same one),
    for as long as writing takes: the plan is reconciled with the network as it is now
    (reconcile.py), so pending proposals the engine keeps stay as they are (no flapping),
    pending ones it replaced are withdrawn, and new pairs become proposals, as far as they
    still fit."""
    async with pool.acquire() as conn:
        # One replica solves a network at a time: a session lock that no batch takes.
        if not await conn.fetchval(
            "SELECT pg_try_advisory_lock(hashtext($1))", round_claim_key(network_id)
        ):
            return None
        try:
            return await _solve_and_write(conn, engine, network_id, profiles)
        finally:
            await conn.execute(
                "SELECT pg_advisory_unlock(hashtext($1))", round_claim_key(network_id)
            )


def round_claim_key(network_id: str) -> str:
    """The session lock held by the replica solving a network's round, from its read to its
    commit; batches and arrivals never take it."""
    return f"bridgework-round-claim:{network_id}"


@dataclass(frozen=True)
class Snapshot:
    """A network as its round read it, in one transaction's snapshot."""

    rows: RoundRows
    weights: Mapping[str, float] | None  # its coordinator's, if they applied some
    mark_version: str  # the version of its dirty mark's row, then
    read_at: datetime


# The dirty mark's row version (as arrivals.ROW_VERSION): every batch that marks the network
# writes a new one.
MARK_VERSION = "xmin::text || ':' || ctid::text"


async def read_snapshot(
    conn: asyncpg.Connection, network_id: str, profiles: StoredProfiles | None = None
) -> Snapshot | None:
    """The network's rows and its dirty mark in one snapshot (repeatable read), or None when it
    is no longer marked (another replica's round has just solved it)."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        mark = await conn.fetchrow(
            f"SELECT {MARK_VERSION} AS version, now() AS read_at FROM dirty_networks"
            " WHERE network_id = $1",
            network_id,
        )
        if mark is None:
            return None
        rows = await read_round_rows(conn, network_id, profiles)
        weights = await conn.fetchval("SELECT weights FROM networks WHERE id = $1", network_id)
    return Snapshot(rows, weights, mark["version"], mark["read_at"])


async def _solve_and_write(
    conn: asyncpg.Connection,
    engine: MatchingEngine,
    network_id: str,
    profiles: StoredProfiles | None,
) -> list[MatchProposed] | None:
    clock = Phases()
    snapshot = await read_snapshot(conn, network_id, profiles)
    if snapshot is None:
        return None
    engine = weighted(engine, snapshot.weights)  # its coordinator's, if they applied some
    clock.lap("read")
    # Everything between reading and writing is CPU-bound (thousands of mentees in a large
    # network): in a worker thread, so the event loop keeps serving the consumer's batches
    # and the outbox relay while the round is planned.
    plan = await asyncio.to_thread(_plan, engine, network_id, snapshot.rows, clock)
    async with conn.transaction():
        if plan.changes_proposals:
            # Arrivals in this network wait (WaitingArrivals) while the round writes. A round
            # that keeps everything writes only its own record, which no arrival reads: the lock
            # would hold them up for nothing (docs/scaling.md).
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1))", network_lock_key(network_id)
            )
        clock.lap("lock")
        writes = await _reconcile(conn, network_id, plan)
        withdrawn = await MatcherRepository(conn).withdraw_pending(writes.withdrawn)
        await add_to_outbox(conn, withdrawals(withdrawn, REPLACED_BY_A_BETTER_MATCH))
        await store_proposals(conn, writes.new)
        clock.lap("write")
        summary = plan.summary(network_id, clock.total(), clock.laps, writes.new, len(withdrawn))
        await _record(conn, summary)
        await add_to_outbox(conn, [_round_completed(summary)])
    # After the commit, outside the network's lock: clearing the mark waits for any batch
    # marking the network now, and arrivals need not wait with it. A crash in between leaves
    # the network marked: one more round, which keeps everything.
    whole = len(writes.new) == len(plan.new) and len(withdrawn) == len(plan.replaced)
    await _settle_mark(conn, network_id, snapshot, whole)
    metrics.ROUND_SECONDS.observe(summary.seconds)
    for event in writes.new:
        metrics.PROPOSALS.labels(kind=event.kind.value).inc()
    log.info("%s", summary.describe())
    return writes.new


async def _reconcile(conn: asyncpg.Connection, network_id: str, plan: RoundPlan) -> Writes:
    """The plan as far as it still holds (reconcile.py), read under the network's lock."""
    if not plan.changes_proposals:
        return Writes(new=[], withdrawn=[])
    # The replaced proposals still pending, locked: a decision on one in flight settles first.
    pending = await conn.fetch(
        "SELECT match_id, kind, provider_id, mentee_id FROM proposals"
        " WHERE match_id = ANY($1::uuid[]) AND status = 'pending' ORDER BY match_id FOR UPDATE",
        plan.replaced,
    )
    providers = sorted({p.provider_id for p in plan.new})
    mentees = sorted({p.mentee_id for p in plan.new})
    # The people and placements named, shared-locked (in one order): a change to one of them
    # in flight (an erasure, a pause, a capacity) commits before this reads it, or waits for
    # the round's commit and then sees its proposals.
    people = await conn.fetch(
        f"""
        SELECT p.id, p.role, p.capacity - ({LIVE_HELD}) AS room FROM people p
        WHERE p.id = ANY($1::uuid[]) AND p.network_id = $2 AND NOT p.paused
        ORDER BY p.id FOR SHARE OF p
        """,
        sorted({*providers, *mentees}),
        network_id,
    )
    places = await conn.fetch(
        f"""
        SELECT p.id, (p.profile->>'places')::int - ({LIVE_HELD}) AS room FROM placements p
        WHERE p.id = ANY($1::uuid[]) AND p.network_id = $2 ORDER BY p.id FOR SHARE OF p
        """,
        providers,
        network_id,
    )
    busy = await conn.fetch(
        f"SELECT a.kind, a.mentee_id, count(*) AS n FROM proposals a"
        f" WHERE a.mentee_id = ANY($1::uuid[]) AND (a.status = 'pending' OR {SEARCH_OVER})"
        " GROUP BY a.kind, a.mentee_id",
        mentees,
    )
    never = await conn.fetch(
        "SELECT provider_id, mentee_id FROM proposals"
        " WHERE mentee_id = ANY($1::uuid[]) AND status = ANY($2::text[])",
        mentees,
        list(NEVER_AGAIN),
    )
    standing = Standing(
        room={
            **{r["id"]: r["room"] for r in people if r["role"] == Role.MENTOR},
            **{r["id"]: r["room"] for r in places},
        },
        open_mentees=frozenset(r["id"] for r in people if r["role"] == Role.MENTEE),
        busy={(r["kind"], r["mentee_id"]): r["n"] for r in busy},
        never_again=frozenset((r["provider_id"], r["mentee_id"]) for r in never),
        still_pending={
            r["match_id"]: (r["kind"], r["provider_id"], r["mentee_id"]) for r in pending
        },
    )
    return reconciled(plan.new, standing)


# A provider's places held now (the provider is ``p``): approved and pending proposals alike,
# counted by the triggers that keep ``places_held`` (absent: none).
LIVE_HELD = "SELECT coalesce(max(h.held), 0) FROM places_held h WHERE h.provider_id = p.id"


async def _settle_mark(
    conn: asyncpg.Connection, network_id: str, snapshot: Snapshot, whole: bool
) -> None:
    """Clear the network's dirty mark if nothing marked it since the round's snapshot and the
    plan was written whole; else keep it, as first marked no earlier than the snapshot, so the
    next round sees what this one did not."""
    if whole and await conn.fetchval(
        f"DELETE FROM dirty_networks WHERE network_id = $1 AND {MARK_VERSION} = $2 RETURNING true",
        network_id,
        snapshot.mark_version,
    ):
        return
    await conn.execute(
        "UPDATE dirty_networks SET first_change_at = GREATEST(first_change_at, $2)"
        " WHERE network_id = $1",
        network_id,
        snapshot.read_at,
    )


class Phases:
    """Milliseconds of a round's phases, in order, for its log line: where a round's time goes
    (docs/scaling.md)."""

    def __init__(self) -> None:
        self._started = self._last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.laps[phase] = self.laps.get(phase, 0.0) + (now - self._last) * 1000
        self._last = now

    def total(self) -> float:
        return time.perf_counter() - self._started


@dataclass(frozen=True)
class RoundSummary:
    network_id: str
    mentors: int
    mentees: int
    placements: int
    new_proposals: int
    kept_proposals: int
    replaced_proposals: int
    seconds: float
    fairness: FairnessReport
    price: FairnessOutcome | None = None  # the fairness targets' price (optimal mode)
    phases: Mapping[str, float] = field(default_factory=dict)  # milliseconds, in order
    profiles_read: int = 0  # from the database; the others were kept from earlier rounds

    def describe(self) -> str:
        phases = ", ".join(f"{name} {ms:.1f} ms" for name, ms in self.phases.items())
        return (
            f"round for network {self.network_id}: {self.mentors} mentors, {self.mentees}"
            f" mentees, {self.placements} placements -> {self.new_proposals} new,"
            f" {self.kept_proposals} kept, {self.replaced_proposals} replaced"
            f" in {self.seconds:.3f}s"
            + (f" ({phases})" if phases else "")
            + f", {self.profiles_read} profiles read"
        )


@dataclass(frozen=True)
class RoundPlan:
    """What a round decided: its new proposals, the pending ones they replace, and what it saw."""

    data: MatchingInput
    result: MatchingResult
    fairness: FairnessReport
    new: list[MatchProposed]
    kept: int  # pending proposals the engine chose again
    replaced: list[UUID]
    profiles_read: int = 0  # stored profiles the round read from the database

    @property
    def changes_proposals(self) -> bool:
        """Whether it proposes or withdraws anything: under a steady stream most rounds keep
        everything, and then write only their own record."""
        return bool(self.new or self.replaced)

    def summary(
        self,
        network_id: str,
        seconds: float,
        phases: Mapping[str, float],
        written: Sequence[MatchProposed],
        withdrawn: int,
    ) -> RoundSummary:
        """The round as written (``written``, ``withdrawn``: what still held of the plan)."""
        return RoundSummary(
            network_id=network_id,
            mentors=len(self.data.mentors),
            mentees=len(self.data.mentees),
            placements=len(self.data.placements),
            new_proposals=len(written),
            kept_proposals=self.kept,
            replaced_proposals=withdrawn,
            seconds=seconds,
            fairness=self.fairness,
            price=self.result.fairness,
            phases=dict(phases),
            profiles_read=self.profiles_read,
        )


def _plan(
    engine: MatchingEngine, network_id: str, rows: RoundRows, clock: Phases | None = None
) -> RoundPlan:
    """The round from its rows: the input built, solved, and compared with what is pending."""
    clock = clock or Phases()
    given = round_input(rows)
    clock.lap("input")
    result = engine.propose(given.data)
    clock.lap("solve")
    chosen = {_key(p): p for p in result.proposals}
    pending = given.pending_match_ids
    new = [proposed_event(network_id, p) for k, p in chosen.items() if k not in pending]
    fairness = fairness_report(given.data, result.proposals)
    clock.lap("fairness")
    return RoundPlan(
        data=given.data,
        result=result,
        fairness=fairness,
        new=new,
        kept=len(chosen) - len(new),
        replaced=[match_id for k, match_id in pending.items() if k not in chosen],
        profiles_read=rows.profiles_read,
    )


async def _record(conn: asyncpg.Connection, summary: RoundSummary) -> None:
    await conn.execute(
        """
        INSERT INTO rounds (network_id, mentors, mentees, placements, new_proposals,
                            kept_proposals, replaced_proposals, seconds, fairness,
                            fairness_price)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        """,
        summary.network_id,
        summary.mentors,
        summary.mentees,
        summary.placements,
        summary.new_proposals,
        summary.kept_proposals,
        summary.replaced_proposals,
        summary.seconds,
        summary.fairness.model_dump(mode="json"),
        None if summary.price is None else summary.price.model_dump(mode="json"),
    )


def _round_completed(summary: RoundSummary) -> RoundCompleted:
    figures = FairnessFigures.model_validate(summary.fairness.model_dump(mode="json"))
    if summary.price is not None:
        figures = figures.model_copy(update={"price": price_figures(summary.price)})
    return RoundCompleted(
        entity_key=summary.network_id, network_id=summary.network_id, fairness=figures
    )


def price_figures(outcome: FairnessOutcome) -> FairnessPriceFigures:
    """The engine's fairness outcome as the round-completed event carries it."""
    return FairnessPriceFigures(
        total_score=outcome.total_score,
        free_total_score=outcome.free_total_score,
        price=outcome.price,
        price_pct=outcome.price_pct,
        bound_gap=outcome.bound_gap,
        targets=tuple(
            GroupTargetFigures(
                group=g.group,
                target_share=g.target_share,
                rate_to_overall=g.rate_to_overall,
                reference=g.reference,
                rate_to_reference=g.rate_to_reference,
                met=g.met,
            )
            for g in outcome.groups
        ),
    )


def _key(proposal: Proposal) -> PairKey:
    return (proposal.kind.value, proposal.provider_id, proposal.mentee_id)


def proposed_event(network_id: str, proposal: Proposal) -> MatchProposed:
    if proposal.explanation is None:  # only a kept pending proposal comes without one
        raise ValueError("a pending proposal the engine kept is not proposed again")
    match_id = uuid4()
    return MatchProposed(
        entity_key=str(match_id),
        match_id=match_id,
        network_id=network_id,
        kind=proposal.kind,
        provider_id=UUID(proposal.provider_id),
        mentee_id=UUID(proposal.mentee_id),
        score=proposal.score,
        explanation=proposal.explanation,
        exchange_id=proposal.exchange_id,
    )


async def store_proposals(
    conn: asyncpg.Connection,
    events: list[MatchProposed],
    trace_contexts: Sequence[Carrier] | None = None,
) -> None:
    """Store proposals and their outbox events (with ``trace_contexts``, one per proposal, when
    they follow different changes; else the current change's)."""
    if not events:  # no statement: its triggers on proposals would still run
        return
    # One statement over arrays, not one INSERT per proposal (executemany): a batch of arrivals
    # stores hundreds at once.
    await conn.execute(
        """
        INSERT INTO proposals (match_id, network_id, kind, provider_id, mentee_id, score,
                               explanation, exchange_id)
        SELECT p.match_id, p.network_id, p.kind, p.provider_id, p.mentee_id, p.score,
          p.explanation::jsonb, p.exchange_id
        FROM unnest($1::uuid[], $2::text[], $3::text[], $4::uuid[], $5::uuid[], $6::float8[],
                    $7::text[], $8::text[])
          AS p(match_id, network_id, kind, provider_id, mentee_id, score, explanation, exchange_id)
        """,
        [e.match_id for e in events],
        [e.network_id for e in events],
        [e.kind.value for e in events],
        [e.provider_id for e in events],
        [e.mentee_id for e in events],
        [e.score for e in events],
        [e.explanation.model_dump_json() for e in events],
        [e.exchange_id for e in events],
    )
    await add_to_outbox(conn, events, trace_contexts)


def rest_after(round_seconds: float, duty_cycle: float) -> float:
    """How long the scheduler pauses after a round that took ``round_seconds``, so that rounds
    take at most ``duty_cycle`` of the time while several are due (1: no pause)."""
    return round_seconds * (1 - duty_cycle) / duty_cycle


class RoundScheduler:
    """Polls for networks whose changes have settled and runs their rounds.

    Rounds are paced (``duty_cycle``): under a steady stream every network falls due at its
    maximum delay, and they fall due together, so an unpaced sweep of every network takes the
    CPU for seconds while arrivals wait behind it. A paced sweep leaves the rest of the time to
    the consumer; a lone due round still runs at once."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        engine: MatchingEngine,
        quiet_seconds: float,
        max_delay_seconds: float,
        poll_seconds: float = 0.25,
        duty_cycle: float = 1.0,
    ) -> None:
        self._pool = pool
        self._engine = engine
        self._quiet = quiet_seconds
        self._max_delay = max_delay_seconds
        self._poll = poll_seconds
        self._duty_cycle = duty_cycle
        # The profiles this process's rounds have read, kept between rounds.
        self._profiles = StoredProfiles(max_size=PROFILES_KEPT)

    async def run(self) -> None:
        while True:
            try:
                await self.run_due_rounds()
            except (OSError, asyncpg.PostgresError) as error:
                log.warning("matching rounds will retry: %s", error)
            except Exception:
                log.exception("a matching round failed; will retry")
            await asyncio.sleep(self._poll)

    async def run_due_rounds(self) -> int:
        async with self._pool.acquire() as conn:
            networks = await due_networks(conn, self._quiet, self._max_delay)
        for network_id in networks:
            started = time.perf_counter()
            await run_round(self._pool, self._engine, network_id, self._profiles)
            await asyncio.sleep(rest_after(time.perf_counter() - started, self._duty_cycle))
        return len(networks)
