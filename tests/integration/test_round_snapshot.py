"""A round solves a snapshot of its network without holding the network's lock, against the
real database: while it solves, batches mark the network and newcomers are proposed mentors at
once; when it writes, what changed meanwhile wins (a place taken, a mentee erased, a proposal
decided), and the network stays marked for the next round."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from uuid import UUID, uuid4

import asyncpg
import pytest

from services.matcher.arrivals import OnArrival
from services.matcher.bootstrap import apply_event, apply_events
from services.matcher.engine import MatchingConfig, build_engine
from services.matcher.engine.contract import (
    MatchingEngine,
    MatchingInput,
    MatchingResult,
    Proposal,
)
from services.matcher.repository import mark_dirty
from services.matcher.round_input import StoredProfiles, read_round_rows
from services.matcher.rounds import due_networks, run_round
from shared.events import MatchDecided, MatchProposed, PersonErased
from shared.matching import Explanation, MatchKind
from shared.people import Role
from tests.support.factories import person
from tests.support.matcher import seed

pytestmark = pytest.mark.integration
ENGINE = build_engine(MatchingConfig())
# Long enough for a loaded machine; a batch held up by the round would wait for the gate.
SECONDS = 10.0


class GatedEngine:
    """An engine whose solve waits at a gate, so a test acts while the round is solving."""

    def __init__(self, engine: MatchingEngine) -> None:
        self._engine = engine
        self.solving = threading.Event()
        self.gate = threading.Event()

    def propose(self, data: MatchingInput) -> MatchingResult:
        self.solving.set()
        if not self.gate.wait(SECONDS):
            raise TimeoutError("the test never opened the gate")
        return self._engine.propose(data)


class Scripted:
    def __init__(self, *proposals: Proposal) -> None:
        self.proposals = proposals

    def propose(self, data: MatchingInput) -> MatchingResult:
        return MatchingResult(proposals=self.proposals)


def scripted(provider: UUID, mentee: UUID) -> Proposal:
    return Proposal(
        kind=MatchKind.MENTORING,
        provider_id=str(provider),
        mentee_id=str(mentee),
        score=0.5,
        explanation=Explanation(skills_covered=(), region_reason="same region", parts=()),
    )


@asynccontextmanager
async def solving(
    pool: asyncpg.Pool, engine: GatedEngine, network: str
) -> AsyncIterator[Callable[[], Awaitable[list[MatchProposed] | None]]]:
    """A round of ``network`` held in its solve; the caller's ``finish()`` opens the gate and
    returns what the round wrote."""
    task = asyncio.create_task(run_round(pool, engine, network))

    async def finish() -> list[MatchProposed] | None:
        engine.gate.set()
        return await asyncio.wait_for(task, SECONDS)

    try:
        assert await asyncio.to_thread(engine.solving.wait, SECONDS)
        yield finish
    finally:
        engine.gate.set()
        if not task.done():
            await asyncio.wait_for(task, SECONDS)


async def live(conn: asyncpg.Connection, column: str, person_id: UUID) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT match_id, provider_id, mentee_id, status FROM proposals WHERE {column} = $1"
        " AND status IN ('pending', 'approved')",
        person_id,
    )
    return rows


async def test_a_newcomer_is_served_while_the_round_solves_and_keeps_the_last_place(
    matcher_pool: asyncpg.Pool,
) -> None:
    """The mentor has one place. The round plans it for the waiting mentee; meanwhile a
    newcomer's batch marks the network and is proposed the place at once (it would wait for the
    round's lock before). The round then writes nothing beyond the mentor's capacity."""
    gated = GatedEngine(ENGINE)
    async with matcher_pool.acquire() as conn:
        network, mentor_id, waiting_mentee = await seed(conn)
    newcomer = person(Role.MENTEE, network, f"{network}B")
    async with solving(matcher_pool, gated, network) as finish:
        async with matcher_pool.acquire() as conn:

            async def batch() -> int:
                async with conn.transaction():
                    await apply_events(conn, [newcomer])
                    return (await OnArrival(ENGINE).propose_on_arrival(conn, [newcomer])).proposed

            assert await asyncio.wait_for(batch(), SECONDS / 2) == 1
        assert await finish() == []
    async with matcher_pool.acquire() as conn:
        [held] = await live(conn, "provider_id", mentor_id)
        assert held["mentee_id"] == newcomer.profile.person_id
        assert await live(conn, "mentee_id", waiting_mentee) == []
        # Marked since the round read it: the next round sees what this one did not.
        assert network in await due_networks(conn, 0, 60)
    assert await run_round(matcher_pool, ENGINE, network) == []
    async with matcher_pool.acquire() as conn:
        [kept] = await live(conn, "provider_id", mentor_id)
        assert kept["match_id"] == held["match_id"]
        assert network not in await due_networks(conn, 0, 60)


async def test_a_mentee_erased_while_the_round_solves_is_not_proposed(
    matcher_pool: asyncpg.Pool,
) -> None:
    gated = GatedEngine(ENGINE)
    async with matcher_pool.acquire() as conn:
        network, mentor_id, mentee_id = await seed(conn)
    async with solving(matcher_pool, gated, network) as finish:
        async with matcher_pool.acquire() as conn:
            erased = PersonErased(entity_key=str(mentee_id), person_id=mentee_id)
            await asyncio.wait_for(apply_event(conn, erased), SECONDS / 2)
        assert await finish() == []
    async with matcher_pool.acquire() as conn:
        assert (
            await conn.fetchval("SELECT count(*) FROM proposals WHERE mentee_id = $1", mentee_id)
            == 0
        )
        assert await live(conn, "provider_id", mentor_id) == []


async def test_a_proposal_approved_while_the_round_solves_is_neither_withdrawn_nor_doubled(
    matcher_pool: asyncpg.Pool,
) -> None:
    """The round plans to replace a pending proposal by another mentor's; the coordinator
    approves the pending one meanwhile. It stays approved, and the mentee gets no second one."""
    async with matcher_pool.acquire() as conn:
        network, mentor_id, mentee_id = await seed(conn)
        other = person(Role.MENTOR, network, f"{network}A")
        await apply_event(conn, other)
    [first] = await run_round(matcher_pool, Scripted(scripted(mentor_id, mentee_id)), network) or []
    async with matcher_pool.acquire() as conn:
        await mark_dirty(conn, network)
    gated = GatedEngine(Scripted(scripted(other.profile.person_id, mentee_id)))
    async with solving(matcher_pool, gated, network) as finish:
        approval = MatchDecided(
            entity_key=str(first.match_id),
            match_id=first.match_id,
            network_id=network,
            approved=True,
            reason="",
            decided_by="coordinator",
        )
        async with matcher_pool.acquire() as conn:
            await asyncio.wait_for(apply_event(conn, approval), SECONDS / 2)
        assert await finish() == []
    async with matcher_pool.acquire() as conn:
        [row] = await live(conn, "mentee_id", mentee_id)
        assert (row["match_id"], row["status"]) == (first.match_id, "approved")
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM outbox WHERE message_key = $1"
                " AND payload->>'event_type' = 'match.withdrawn'",
                str(first.match_id),
            )
            == 0
        )


async def test_a_round_reads_only_the_profiles_that_changed_since_the_last(
    matcher_pool: asyncpg.Pool,
) -> None:
    """Rounds keep the stored profiles between rounds, by row version: the next round reads
    only the changed ones, and uses them (a mentor who moved to the mentee's own trust is no
    longer proposed to them: no mentoring within a trust)."""
    profiles = StoredProfiles()
    async with matcher_pool.acquire() as conn:
        network, mentor_id, mentee_id = await seed(conn)
        rows = await read_round_rows(conn, network, profiles)
        assert rows.profiles_read == len(rows.people) == 2
        assert (await read_round_rows(conn, network, profiles)).profiles_read == 0
        await conn.execute(
            "UPDATE people SET trust_code = $2,"
            " profile = jsonb_set(profile::jsonb, '{trust_code}', to_jsonb($2::text))::json"
            " WHERE id = $1",
            mentor_id,
            f"{network}B",
        )
        rows = await read_round_rows(conn, network, profiles)
        assert rows.profiles_read == 1
        [moved] = [r for r in rows.people if r["id"] == mentor_id]
        assert f'"{network}B"' in moved["profile_json"]
    assert await run_round(matcher_pool, ENGINE, network, profiles) == []
    async with matcher_pool.acquire() as conn:
        assert await live(conn, "mentee_id", mentee_id) == []


async def test_a_round_counts_each_persons_decided_matches(matcher_pool: asyncpg.Pool) -> None:
    """What ends a search and what takes a mentor's place, as the round's read counts them: an
    approved match, or one that closed other than early; pending and early-ended ones do not."""
    async with matcher_pool.acquire() as conn:
        network, mentor_id, mentee_id = await seed(conn)
        others = [person(Role.MENTEE, network, f"{network}B") for _ in range(2)]
        for other in others:
            await apply_event(conn, other)
        early, secondee = (other.profile.person_id for other in others)
        decided = [
            (MatchKind.MENTORING, mentor_id, mentee_id, "approved", None),
            (MatchKind.MENTORING, mentor_id, early, "closed", "ended_early"),
            (MatchKind.SECONDMENT, uuid4(), secondee, "closed", "completed"),
            (MatchKind.MENTORING, mentor_id, secondee, "pending", None),
        ]
        for kind, provider, mentee, status, outcome in decided:
            await conn.execute(
                "INSERT INTO proposals (match_id, network_id, kind, provider_id, mentee_id,"
                " score, explanation, status, outcome) VALUES ($1, $2, $3, $4, $5, 0.5, '{}',"
                " $6, $7)",
                uuid4(),
                network,
                kind.value,
                provider,
                mentee,
                status,
                outcome,
            )
        rows = await read_round_rows(conn, network)
    counts = {
        r["id"]: (r["approved_as_provider"], r["approved_mentoring"], r["approved_secondment"])
        for r in rows.people
    }
    assert counts == {
        mentor_id: (1, 0, 0),
        mentee_id: (0, 1, 0),
        early: (0, 0, 0),
        secondee: (0, 0, 1),
    }
