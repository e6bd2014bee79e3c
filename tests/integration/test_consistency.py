"""Consistency under reordering (issue 14, items 5-7), against the real database: a
coordinator's decision applies whatever the proposal's state, a trust that moves to another
network takes its people (and their proposals) with it, and events for a network that does not
exist are neither matched nor shown to coordinators."""

from __future__ import annotations

from uuid import uuid4

import asyncpg
import pytest

from services.matcher.bootstrap import apply_event
from services.matcher.engine import MatchingConfig, build_engine
from services.matcher.rounds import due_networks, run_round
from shared.events import MatchDecided, MatchProposed, TrustUpserted
from shared.people import Role
from shared.regions import Region
from tests.support.factories import person
from tests.support.matcher import network_upserted, seed

pytestmark = pytest.mark.integration
ENGINE = build_engine(MatchingConfig())


def decision(proposed: MatchProposed, approved: bool) -> MatchDecided:
    return MatchDecided(
        entity_key=str(proposed.match_id),
        match_id=proposed.match_id,
        network_id=proposed.network_id,
        approved=approved,
        reason="" if approved else "same team",
        decided_by="coordinator",
    )


async def test_a_rejection_arriving_after_a_round_withdrew_the_proposal_still_counts(
    matcher_pool: asyncpg.Pool,
) -> None:
    """Profiles took the coordinator's rejection while a round withdrew the proposal: the
    matcher must record the rejection, or it proposes the rejected pair again."""
    async with matcher_pool.acquire() as conn:
        network, mentor_id, mentee_id = await seed(conn)
    [proposed] = await run_round(matcher_pool, ENGINE, network) or []
    async with matcher_pool.acquire() as conn:
        # The round's withdrawal (its MatchWithdrawn is on its way) raced the decision.
        await conn.execute(
            "UPDATE proposals SET status = 'withdrawn' WHERE match_id = $1", proposed.match_id
        )
        await apply_event(conn, decision(proposed, approved=False))
        status = await conn.fetchval(
            "SELECT status FROM proposals WHERE match_id = $1", proposed.match_id
        )
        assert status == "rejected"
        assert network in await due_networks(conn, 0, 60)
    again = await run_round(matcher_pool, ENGINE, network) or []
    assert (mentor_id, mentee_id) not in {(p.provider_id, p.mentee_id) for p in again}


async def test_a_trust_moving_to_another_network_takes_its_people_and_proposals(
    matcher_pool: asyncpg.Pool,
) -> None:
    async with matcher_pool.acquire() as conn:
        network, _mentor_id, mentee_id = await seed(conn)
    [proposed] = await run_round(matcher_pool, ENGINE, network) or []
    elsewhere = f"net-{uuid4().hex[:6]}"
    async with matcher_pool.acquire() as conn:
        await apply_event(conn, network_upserted(elsewhere))
        await conn.execute("DELETE FROM dirty_networks")
        moved = TrustUpserted(
            entity_key=f"{network}B",
            trust_code=f"{network}B",  # the mentee's trust
            name="Trust B",
            region=Region.NORTH_WEST,
            network_id=elsewhere,
        )
        await apply_event(conn, moved)
        person = await conn.fetchrow(
            "SELECT network_id, profile->>'network_id' AS in_profile FROM people WHERE id = $1",
            mentee_id,
        )
        assert (person["network_id"], person["in_profile"]) == (elsewhere, elsewhere)
        # The old network's coordinators no longer decide about them: the pending proposal
        # between the mentee (moved) and the mentor (stayed) is withdrawn, and said so.
        status = await conn.fetchval(
            "SELECT status FROM proposals WHERE match_id = $1", proposed.match_id
        )
        withdrawal = await conn.fetchval(
            "SELECT payload FROM outbox WHERE message_key = $1"
            " AND payload->>'event_type' = 'match.withdrawn'",
            str(proposed.match_id),
        )
        assert status == "withdrawn"
        assert withdrawal is not None
        assert {network, elsewhere} <= set(await due_networks(conn, 0, 60))
    # The next round of the old network leaves the mentee alone.
    assert await run_round(matcher_pool, ENGINE, network) == []


async def test_events_for_a_network_that_does_not_exist_are_held_until_it_does(
    matcher_pool: asyncpg.Pool,
) -> None:
    ghost = f"ghost-{uuid4().hex[:6]}"
    async with matcher_pool.acquire() as conn:
        for code in ("A", "B"):
            await apply_event(
                conn,
                TrustUpserted(
                    entity_key=f"{ghost}{code}",
                    trust_code=f"{ghost}{code}",
                    name=f"Trust {code}",
                    region=Region.NORTH_WEST,
                    network_id=ghost,
                ),
            )
        await apply_event(conn, person(Role.MENTOR, ghost, f"{ghost}A"))
        await apply_event(conn, person(Role.MENTEE, ghost, f"{ghost}B"))
        assert ghost not in await due_networks(conn, 0, 60)
    assert not await run_round(matcher_pool, ENGINE, ghost)
    async with matcher_pool.acquire() as conn:
        assert (
            await conn.fetchval("SELECT count(*) FROM proposals WHERE network_id = $1", ghost) == 0
        )
        await apply_event(
            conn, network_upserted(ghost)
        )  # the network arrives: what waited is matched
        assert ghost in await due_networks(conn, 0, 60)
    assert len(await run_round(matcher_pool, ENGINE, ghost) or []) == 1


async def test_a_proposal_for_a_network_profiles_does_not_know_is_dead_lettered(
    pool: asyncpg.Pool,
) -> None:
    """Profiles is where networks are made: a proposal for one it does not know was not made by
    Bridgework's matcher, and the coordinators' pages must not show it."""
    from services.profiles.bootstrap import apply_event as apply_to_read_model
    from services.profiles.handlers import UnknownNetwork
    from tests.support.factories import match_proposed

    proposal = match_proposed(network_id=f"ghost-{uuid4().hex[:6]}")
    async with pool.acquire() as conn:
        with pytest.raises(UnknownNetwork, match="does not exist"):
            async with conn.transaction():
                await apply_to_read_model(conn, proposal)
        shown = await conn.fetchval(
            "SELECT count(*) FROM proposals WHERE match_id = $1", proposal.match_id
        )
    assert shown == 0
