"""A match's close in the matcher, against the real database (docs/outcomes.md): the mentor's
capacity comes back; after an early end the mentee is matched again, never with the same
mentor; after any other end they are not sought for again."""

from __future__ import annotations

from uuid import UUID

import asyncpg
import pytest

from services.matcher.bootstrap import apply_event
from services.matcher.engine import MatchingConfig, build_engine
from services.matcher.rounds import run_round
from shared.events import LifeActor, MatchClosed, MatchDecided, MatchOutcome, MatchProposed
from shared.people import Role
from tests.support.factories import person
from tests.support.matcher import seed

pytestmark = pytest.mark.integration

ENGINE = build_engine(MatchingConfig())


def approved(proposed: MatchProposed) -> MatchDecided:
    return MatchDecided(
        entity_key=str(proposed.match_id),
        match_id=proposed.match_id,
        network_id=proposed.network_id,
        approved=True,
        decided_by="coordinator",
    )


def closed(proposed: MatchProposed, outcome: MatchOutcome) -> MatchClosed:
    return MatchClosed(
        entity_key=str(proposed.match_id),
        match_id=proposed.match_id,
        network_id=proposed.network_id,
        outcome=outcome,
        by=LifeActor.COORDINATOR,
    )


async def round_pairs(pool: asyncpg.Pool, network: str) -> set[tuple[UUID, UUID]]:
    return {(p.provider_id, p.mentee_id) for p in await run_round(pool, ENGINE, network) or []}


async def approve_only_proposal(pool: asyncpg.Pool, network: str) -> MatchProposed:
    [proposed] = await run_round(pool, ENGINE, network) or []
    async with pool.acquire() as conn:
        await apply_event(conn, approved(proposed))
    return proposed


async def test_a_completed_match_gives_the_capacity_back_and_ends_the_search(
    matcher_pool: asyncpg.Pool,
) -> None:
    async with matcher_pool.acquire() as conn:
        network, mentor_id, first_mentee = await seed(conn)  # the mentor's capacity is 1
    match = await approve_only_proposal(matcher_pool, network)
    second = person(Role.MENTEE, network, f"{network}B")
    async with matcher_pool.acquire() as conn:
        await apply_event(conn, second)
    assert await round_pairs(matcher_pool, network) == set()  # the mentor is full

    async with matcher_pool.acquire() as conn:
        await apply_event(conn, closed(match, MatchOutcome.COMPLETED))
        await apply_event(conn, closed(match, MatchOutcome.ENDED_EARLY))  # too late: no change
        row = await conn.fetchrow(
            "SELECT status, outcome FROM proposals WHERE match_id = $1", match.match_id
        )
    assert (row["status"], row["outcome"]) == ("closed", "completed")
    # Capacity back: the second mentee gets the mentor; the first, done, is not sought for.
    assert await round_pairs(matcher_pool, network) == {(mentor_id, second.profile.person_id)}
    assert first_mentee != second.profile.person_id


async def test_an_early_end_matches_the_mentee_again_never_with_the_same_mentor(
    matcher_pool: asyncpg.Pool,
) -> None:
    async with matcher_pool.acquire() as conn:
        network, first_mentor, mentee_id = await seed(conn)
    match = await approve_only_proposal(matcher_pool, network)
    async with matcher_pool.acquire() as conn:
        await apply_event(conn, closed(match, MatchOutcome.ENDED_EARLY))
    assert await round_pairs(matcher_pool, network) == set()  # only the same mentor is free

    other = person(Role.MENTOR, network, f"{network}A")
    async with matcher_pool.acquire() as conn:
        await apply_event(conn, other)
    assert await round_pairs(matcher_pool, network) == {(other.profile.person_id, mentee_id)}
    assert other.profile.person_id != first_mentor


async def test_a_decision_delivered_again_does_not_reopen_a_closed_match(
    matcher_pool: asyncpg.Pool,
) -> None:
    async with matcher_pool.acquire() as conn:
        network, _, _ = await seed(conn)
    match = await approve_only_proposal(matcher_pool, network)
    async with matcher_pool.acquire() as conn:
        await apply_event(conn, closed(match, MatchOutcome.NO_LONGER_NEEDED))
        await apply_event(conn, approved(match))  # another copy, with a new event id
        status = await conn.fetchval(
            "SELECT status FROM proposals WHERE match_id = $1", match.match_id
        )
    assert status == "closed"
