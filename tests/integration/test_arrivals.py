"""Proposals on arrival, against the real database: an arriving mentee is proposed a free
mentor in the transaction that brought them, capacity held by pending proposals is respected,
newcomers in a network being solved are served once its round is over, and the round afterwards
keeps the proposal."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from services.matcher.arrivals import OnArrival, WaitingArrivals, mentor_networks
from services.matcher.bootstrap import apply_event, apply_events
from services.matcher.engine import MatchingConfig, build_engine
from services.matcher.repository import mark_dirty
from services.matcher.round_input import mentor_input, stored_profile
from services.matcher.rounds import network_lock_key, run_round
from shared.people import Role
from tests.support.factories import person
from tests.support.matcher import seed

pytestmark = pytest.mark.integration
ENGINE = build_engine(MatchingConfig())


@pytest.fixture
def arrivals() -> OnArrival:
    """A matcher process's proposals on arrival, with nothing kept yet."""
    return OnArrival(ENGINE)


async def pending_for(conn: asyncpg.Connection, mentee_id: object) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT match_id, provider_id, status FROM proposals WHERE mentee_id = $1", mentee_id
    )
    return rows


async def test_an_arriving_mentee_is_proposed_a_free_mentor_at_once(
    matcher_pool: asyncpg.Pool, arrivals: OnArrival
) -> None:
    async with matcher_pool.acquire() as conn, conn.transaction():
        network, mentor_id, first_mentee = await seed(conn)
        # The seeded mentee arrived before any fast path: the round proposes for them later.
        newcomer = person(Role.MENTEE, network, f"{network}B")
        await apply_events(conn, [newcomer])
        assert (await arrivals.propose_on_arrival(conn, [newcomer])).proposed == 1
        [row] = await pending_for(conn, newcomer.profile.person_id)
        assert (row["provider_id"], row["status"]) == (mentor_id, "pending")
        assert await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE message_key = $1", str(row["match_id"])
        )
        # The mentor's only place is now held: a second arrival gets nothing.
        another = person(Role.MENTEE, network, f"{network}B")
        await apply_event(conn, another)
        assert (await arrivals.propose_on_arrival(conn, [another])).proposed == 0
        # Proposed once: the same arrival again changes nothing.
        assert (await arrivals.propose_on_arrival(conn, [newcomer])).proposed == 0
        assert len(await pending_for(conn, newcomer.profile.person_id)) == 1
        assert await pending_for(conn, first_mentee) == []

    # The network's round keeps the pending proposal (nothing beats it by the margin).
    await run_round(matcher_pool, ENGINE, network)
    async with matcher_pool.acquire() as conn:
        [kept] = await pending_for(conn, newcomer.profile.person_id)
        assert kept["match_id"] == row["match_id"]
        assert kept["status"] == "pending"


async def test_a_network_being_solved_waits_and_its_newcomers_are_served_after_the_round(
    matcher_pool: asyncpg.Pool, arrivals: OnArrival
) -> None:
    waiting = WaitingArrivals(matcher_pool, arrivals)
    async with matcher_pool.acquire() as solving, matcher_pool.acquire() as conn:
        network, _, _ = await seed(conn)
        newcomer = person(Role.MENTEE, network, f"{network}B")
        async with solving.transaction():
            await solving.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1))", network_lock_key(network)
            )
            async with conn.transaction():
                await apply_events(conn, [newcomer])
                outcome = await arrivals.propose_on_arrival(conn, [newcomer])
            assert outcome.proposed == 0
            assert list(outcome.waiting) == [network]
            assert newcomer.profile.person_id in outcome.waiting[network]
            # Still being solved: tried, and kept waiting.
            await waiting.retry(outcome.waiting)
            assert await pending_for(conn, newcomer.profile.person_id) == []
        # The round is over: the next try serves them, without waiting for the next round.
        waiting.add(outcome.waiting)
        task = asyncio.create_task(waiting.run())
        try:
            for _ in range(100):
                if await pending_for(conn, newcomer.profile.person_id):
                    break
                await asyncio.sleep(0.02)
        finally:
            task.cancel()
        [row] = await pending_for(conn, newcomer.profile.person_id)
        assert row["status"] == "pending"


async def test_one_batch_across_networks_proposes_within_each_network(
    matcher_pool: asyncpg.Pool, arrivals: OnArrival
) -> None:
    """A batch's networks are solved in one engine call; nobody is paired across them. The
    first network's mentor is full, so its newcomer gets nothing rather than the other's."""
    async with matcher_pool.acquire() as conn, conn.transaction():
        first, first_mentor, _ = await seed(conn)
        second, second_mentor, _ = await seed(conn)
        hold = person(Role.MENTEE, first, f"{first}B")
        await apply_events(conn, [hold])
        # The first network's mentor is taken:
        assert (await arrivals.propose_on_arrival(conn, [hold])).proposed == 1
        newcomers = [person(Role.MENTEE, n, f"{n}B") for n in (first, second, second)]
        await apply_events(conn, newcomers)
        assert (await arrivals.propose_on_arrival(conn, newcomers)).proposed == 1
        proposed = await conn.fetch(
            "SELECT network_id, provider_id, mentee_id FROM proposals WHERE mentee_id = ANY($1)",
            [n.profile.person_id for n in newcomers],
        )
    [row] = proposed
    assert row["network_id"] == second
    assert row["provider_id"] == second_mentor
    assert row["mentee_id"] in {n.profile.person_id for n in newcomers[1:]}
    assert first_mentor != second_mentor


async def test_a_mentor_whose_profile_changed_is_read_again(
    matcher_pool: asyncpg.Pool, arrivals: OnArrival
) -> None:
    """Arrivals keep the mentors' profiles between batches, by row version: a mentor who moved
    to the newcomers' own trust after a batch read them is no longer proposed to them (no
    mentoring within a trust), even when they moved in the same transaction."""
    async with matcher_pool.acquire() as conn, conn.transaction():
        network, mentor_id, _ = await seed(conn)
        await conn.execute("UPDATE people SET capacity = 3 WHERE id = $1", mentor_id)
        first, second = (person(Role.MENTEE, network, f"{network}B") for _ in range(2))
        await apply_events(conn, [first, second])
        assert (await arrivals.propose_on_arrival(conn, [first])).proposed == 1
        # Room for two more; with the profile read before the move, the second would get them.
        await conn.execute(
            "UPDATE people SET trust_code = $2,"
            " profile = jsonb_set(profile::jsonb, '{trust_code}', to_jsonb($2::text))::json"
            " WHERE id = $1",
            mentor_id,
            f"{network}B",
        )
        assert (await arrivals.propose_on_arrival(conn, [second])).proposed == 0


async def test_mentor_sides_are_prepared_ahead_when_mentors_join_or_change(
    matcher_pool: asyncpg.Pool, arrivals: OnArrival
) -> None:
    """The batch that brings a network's mentors asks for their side to be prepared after it
    (``mentor_networks``), so the next newcomers' batch does not pay for it; a side already
    current is left alone, and a changed profile makes it stale again."""
    waiting = WaitingArrivals(matcher_pool, arrivals, retry_seconds=0.01)
    async with matcher_pool.acquire() as conn:
        network, mentor_id, _ = await seed(conn)
        mentor = person(Role.MENTOR, network, f"{network}A")
        assert mentor_networks([mentor, person(Role.MENTEE, network, f"{network}B")]) == {network}
        assert len(arrivals.sides) == 0
        waiting.prepare({network})
        running = asyncio.create_task(waiting.run())
        try:
            for _ in range(100):  # two intervals: the batch that asked has committed by then
                if len(arrivals.sides):
                    break
                await asyncio.sleep(0.01)
        finally:
            running.cancel()
        assert len(arrivals.sides) == 1
        assert await arrivals.prepare_sides(conn, [network]) == 0  # current: kept
        await conn.execute(
            "UPDATE people"
            " SET profile = jsonb_set(profile::jsonb, '{bio}', to_jsonb('Data'::text))::json"
            " WHERE id = $1",
            mentor_id,
        )
        assert await arrivals.prepare_sides(conn, [network]) == 1
        # Newcomers are proposed as before.
        newcomer = person(Role.MENTEE, network, f"{network}B")
        await apply_events(conn, [newcomer])
        assert (await arrivals.propose_on_arrival(conn, [newcomer])).proposed == 1


async def test_a_round_that_keeps_everything_does_not_hold_up_arrivals(
    matcher_pool: asyncpg.Pool,
) -> None:
    """A round takes its network's lock only to write proposals or withdrawals: one that keeps
    everything completes while an arrival's transaction holds the lock, and one with a new
    proposal waits for it (docs/scaling.md)."""
    async with matcher_pool.acquire() as conn, matcher_pool.acquire() as arriving:
        network, mentor_id, mentee_id = await seed(conn)  # the mentee waits for a round
        async with arriving.transaction():
            await arriving.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1))", network_lock_key(network)
            )
            proposing = asyncio.create_task(run_round(matcher_pool, ENGINE, network))
            await asyncio.sleep(0.5)
            assert not proposing.done()  # its new proposal waits for the arrival's commit
        new = await proposing
        assert new is not None
        [proposed] = new
        assert (proposed.provider_id, proposed.mentee_id) == (mentor_id, mentee_id)

        await mark_dirty(conn, network)
        async with arriving.transaction():
            await arriving.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1))", network_lock_key(network)
            )
            keeping = await asyncio.wait_for(run_round(matcher_pool, ENGINE, network), 10)
        assert keeping == []
        assert (
            await conn.fetchval("SELECT count(*) FROM rounds WHERE network_id = $1", network) == 2
        )
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM dirty_networks WHERE network_id = $1", network
            )
            == 0
        )
        [row] = await pending_for(conn, mentee_id)
        assert row["provider_id"] == mentor_id


async def test_a_newcomers_profile_is_not_kept_after_their_batch(
    matcher_pool: asyncpg.Pool, arrivals: OnArrival
) -> None:
    """Each arrival is read once: kept by text, every newcomer's parsed profile lived on in the
    process's cache long enough for the collector to walk it again and again (a 120-210 ms pause
    every half minute at 500 arrivals a second). The mentors', read batch after batch, are kept."""
    stored_profile.cache_clear()
    mentor_input.cache_clear()
    async with matcher_pool.acquire() as conn, conn.transaction():
        network, _, _ = await seed(conn)
        newcomers = [person(Role.MENTEE, network, f"{network}B") for _ in range(3)]
        await apply_events(conn, newcomers)
        assert (await arrivals.propose_on_arrival(conn, newcomers)).proposed == 1
    assert stored_profile.cache_info().currsize == 1  # the mentor's
