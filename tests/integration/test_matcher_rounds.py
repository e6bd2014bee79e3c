"""Matching rounds against the real database: proposals stored with their outbox events,
never duplicated, and a rejected pair never proposed again."""

from __future__ import annotations

import json
from uuid import UUID

import asyncpg
import pytest

from services.matcher.bootstrap import apply_event
from services.matcher.engine import (
    MatchingConfig,
    MatchingInput,
    MatchingResult,
    Proposal,
    build_engine,
)
from services.matcher.repository import mark_dirty
from services.matcher.rounds import due_networks, run_round
from shared.events import (
    MatchDecided,
    MatchProposed,
    PersonErased,
    RoundCompleted,
    decode_event,
)
from shared.matching import Explanation, MatchKind
from shared.people import Role
from tests.support.factories import person
from tests.support.matcher import seed
from tests.support.metrics import metric

pytestmark = pytest.mark.integration


def decision(proposed: MatchProposed, approved: bool) -> MatchDecided:
    return MatchDecided(
        entity_key=str(proposed.match_id),
        match_id=proposed.match_id,
        network_id=proposed.network_id,
        approved=approved,
        reason="" if approved else "same team",
        decided_by="coordinator",
    )


async def test_a_round_proposes_once_and_respects_rejections(matcher_pool: asyncpg.Pool) -> None:
    engine = build_engine(MatchingConfig())
    async with matcher_pool.acquire() as conn:
        network, mentor_id, mentee_id = await seed(conn)
        assert network in await due_networks(conn, quiet_seconds=0, max_delay_seconds=60)

    rounds = metric("bridgework_round_solve_seconds_count")
    solving = metric("bridgework_round_solve_seconds_sum")
    [proposed] = await run_round(matcher_pool, engine, network) or []
    assert (proposed.provider_id, proposed.mentee_id) == (mentor_id, mentee_id)
    assert metric("bridgework_round_solve_seconds_count") == rounds + 1
    assert metric("bridgework_round_solve_seconds_sum") > solving
    assert proposed.explanation.region_reason == "same region (North West)"

    async with matcher_pool.acquire() as conn:
        outboxed = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE message_key = $1", str(proposed.match_id)
        )
        assert outboxed == 1
        assert network not in await due_networks(conn, 0, 60)
        recorded = await conn.fetchrow(
            "SELECT mentors, mentees, new_proposals, fairness, fairness_price FROM rounds"
            " WHERE network_id = $1",
            network,
        )
        assert (recorded["mentors"], recorded["mentees"], recorded["new_proposals"]) == (1, 1, 1)
        assert recorded["fairness"]["overall"]["match_rate"] == 1.0
        # The fairness targets' price is stored with the round: nothing binds for one mentee.
        price = recorded["fairness_price"]
        assert (price["price"], price["free_total_score"]) == (0.0, price["total_score"])
        assert {g["group"] for g in price["groups"]} == {"part_time", "social_care", "small_trust"}
        # The same figures travel to the coordinators' view as a round.completed event.
        published = await conn.fetchval(
            "SELECT payload FROM outbox WHERE message_key = $1 AND topic = $2",
            network,
            RoundCompleted.topic.value,
        )
        completed = decode_event(json.dumps(published).encode())
        assert isinstance(completed, RoundCompleted)
        assert completed.network_id == network
        assert completed.fairness.overall.match_rate == 1.0
        assert completed.fairness.overall.matched == 1
        assert completed.fairness.price is not None
        assert completed.fairness.price.total_score == pytest.approx(proposed.score)
        assert all(target.met for target in completed.fairness.price.targets)
        await mark_dirty(conn, network)
    assert await run_round(matcher_pool, engine, network) == []  # the pair is already live

    rejected = metric("bridgework_decisions_total", outcome="rejected")
    async with matcher_pool.acquire() as conn:
        await apply_event(conn, decision(proposed, approved=False))
        await apply_event(conn, decision(proposed, approved=False))  # a decided match stays so
    assert metric("bridgework_decisions_total", outcome="rejected") == rejected + 1
    assert await run_round(matcher_pool, engine, network) == []  # rejected: never again
    async with matcher_pool.acquire() as conn:
        status = await conn.fetchval(
            "SELECT status FROM proposals WHERE match_id = $1", proposed.match_id
        )
    assert status == "rejected"


class ScriptedEngine:
    """Returns the proposals it is told to, and records what each round was given."""

    def __init__(self) -> None:
        self.next: tuple[Proposal, ...] = ()
        self.seen: list[MatchingInput] = []

    def propose(self, data: MatchingInput) -> MatchingResult:
        self.seen.append(data)
        return MatchingResult(proposals=self.next)


def scripted(provider: UUID, mentee: UUID) -> Proposal:
    return Proposal(
        kind=MatchKind.MENTORING,
        provider_id=str(provider),
        mentee_id=str(mentee),
        score=0.5,
        explanation=Explanation(skills_covered=(), region_reason="same region", parts=()),
    )


async def test_kept_proposals_stay_and_replaced_ones_are_withdrawn(
    matcher_pool: asyncpg.Pool,
) -> None:
    engine = ScriptedEngine()
    async with matcher_pool.acquire() as conn:
        network, mentor_id, mentee_id = await seed(conn)
        other_mentor = person(Role.MENTOR, network, f"{network}A")
        await apply_event(conn, other_mentor)
    engine.next = (scripted(mentor_id, mentee_id),)
    [first] = await run_round(matcher_pool, engine, network) or []

    async with matcher_pool.acquire() as conn:
        await mark_dirty(conn, network)
    assert await run_round(matcher_pool, engine, network) == []  # same pair: kept, not re-sent
    [pending] = engine.seen[-1].pending
    assert (pending.provider_id, pending.mentee_id) == (str(mentor_id), str(mentee_id))

    engine.next = (scripted(other_mentor.profile.person_id, mentee_id),)
    async with matcher_pool.acquire() as conn:
        await mark_dirty(conn, network)
    [second] = await run_round(matcher_pool, engine, network) or []
    assert second.provider_id == other_mentor.profile.person_id
    async with matcher_pool.acquire() as conn:
        status = await conn.fetchval(
            "SELECT status FROM proposals WHERE match_id = $1", first.match_id
        )
        withdrawal = await conn.fetchval(
            "SELECT payload FROM outbox WHERE message_key = $1"
            " AND payload->>'event_type' = 'match.withdrawn'",
            str(first.match_id),
        )
    assert status == "withdrawn"
    assert withdrawal["reason"] == "replaced by a better match"


async def test_erasure_withdraws_pending_proposals(matcher_pool: asyncpg.Pool) -> None:
    engine = ScriptedEngine()
    async with matcher_pool.acquire() as conn:
        network, mentor_id, mentee_id = await seed(conn)
    engine.next = (scripted(mentor_id, mentee_id),)
    [proposed] = await run_round(matcher_pool, engine, network) or []
    async with matcher_pool.acquire() as conn:
        await apply_event(conn, PersonErased(entity_key=str(mentee_id), person_id=mentee_id))
        left = await conn.fetchval("SELECT count(*) FROM proposals WHERE mentee_id = $1", mentee_id)
        withdrawal = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE message_key = $1"
            " AND payload->>'event_type' = 'match.withdrawn'",
            str(proposed.match_id),
        )
    assert (left, withdrawal) == (0, 1)


async def test_an_approved_mentor_ends_the_mentoring_search_not_the_secondment_one(
    matcher_pool: asyncpg.Pool,
) -> None:
    engine = ScriptedEngine()
    async with matcher_pool.acquire() as conn:
        network, mentor_id, _ = await seed(conn)
        seeker = person(Role.MENTEE, network, f"{network}B")
        seeker = seeker.model_copy(
            update={"profile": seeker.profile.model_copy(update={"open_to_secondment": True})}
        )
        await apply_event(conn, seeker)
    engine.next = (scripted(mentor_id, seeker.profile.person_id),)
    [proposed] = await run_round(matcher_pool, engine, network) or []
    approved = metric("bridgework_decisions_total", outcome="approved")
    async with matcher_pool.acquire() as conn:
        await apply_event(conn, decision(proposed, approved=True))
    assert metric("bridgework_decisions_total", outcome="approved") == approved + 1
    engine.next = ()
    await run_round(matcher_pool, engine, network)
    [after] = [m for m in engine.seen[-1].mentees if m.id == str(seeker.profile.person_id)]
    assert (after.seeking_mentoring, after.open_to_secondment) == (False, True)
    assert not after.seeks(MatchKind.MENTORING)
    assert after.seeks(MatchKind.SECONDMENT)
    # The mentor's one place is taken by the approved match.
    assert str(mentor_id) not in {m.id for m in engine.seen[-1].mentors}
