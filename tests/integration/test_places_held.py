"""``places_held`` against the proposals it counts: whatever statements change proposals, in
whatever order and transactions, each provider's row is its number of live (pending or
approved) proposals, and a provider with none has no row (an erased person's id stays nowhere).
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID, uuid4

import asyncpg
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

pytestmark = pytest.mark.integration

PROVIDERS, MENTEES = 4, 6


@dataclass(frozen=True)
class Step:
    """One statement on proposals, as the matcher's writers make them: ``what`` picks the
    statement, the numbers pick its rows (modulo what exists); ``undo`` rolls its transaction
    back."""

    what: str
    picks: tuple[int, ...]
    undo: bool


STEPS = st.builds(
    Step,
    what=st.sampled_from(["propose", "decide", "withdraw", "close", "erase", "move"]),
    picks=st.lists(st.integers(0, 1000), min_size=1, max_size=5).map(tuple),
    undo=st.booleans(),
)


def drawn_sequences(count: int) -> list[list[Step]]:
    """Hypothesis' sequences of statements, drawn here and run by the async test below."""
    drawn: list[list[Step]] = []

    @given(st.lists(STEPS, min_size=1, max_size=25))
    @hypothesis_settings(max_examples=count, deadline=None, database=None, derandomize=True)
    def draw(steps: list[Step]) -> None:
        drawn.append(steps)

    draw()
    return drawn


async def test_places_held_is_the_count_of_live_proposals_after_any_statements(
    matcher_pool: asyncpg.Pool,
) -> None:
    for steps in drawn_sequences(100):
        providers = [uuid4() for _ in range(PROVIDERS)]
        mentees = [uuid4() for _ in range(MENTEES)]
        async with matcher_pool.acquire() as conn:
            for step in steps:
                transaction = conn.transaction()
                await transaction.start()
                await _run(conn, step, providers, mentees)
                await (transaction.rollback() if step.undo else transaction.commit())
                assert await _held(conn, providers) == await _counted(conn, providers), step
            await conn.execute(
                "DELETE FROM proposals WHERE provider_id = ANY($1::uuid[])", providers
            )
            assert await _held(conn, providers) == {}


async def _run(
    conn: asyncpg.Connection, step: Step, providers: list[UUID], mentees: list[UUID]
) -> None:
    ours = await conn.fetch(
        "SELECT match_id, status FROM proposals WHERE provider_id = ANY($1::uuid[])"
        " ORDER BY created_at, match_id",
        providers,
    )
    chosen = [ours[i % len(ours)]["match_id"] for i in step.picks] if ours else []
    if step.what == "propose":  # a batch's proposals: one INSERT, a live pair at most once
        pairs = sorted(
            {(providers[i % PROVIDERS], mentees[i // PROVIDERS % MENTEES]) for i in step.picks}
        )
        await conn.execute(
            "INSERT INTO proposals (match_id, network_id, kind, provider_id, mentee_id, score,"
            " explanation) SELECT gen_random_uuid(), 'held-net', 'mentoring', p, m, 0.5, '{}'"
            " FROM unnest($1::uuid[], $2::uuid[]) AS pair(p, m) ON CONFLICT DO NOTHING",
            [p for p, _ in pairs],
            [m for _, m in pairs],
        )
    elif step.what == "decide":  # approvals and rejections of pending ones
        status = "approved" if step.picks[0] % 2 else "rejected"
        await conn.execute(
            "UPDATE proposals SET status = $2 WHERE match_id = ANY($1::uuid[])"
            " AND status = 'pending'",
            chosen,
            status,
        )
    elif step.what == "withdraw":
        await conn.execute(
            "UPDATE proposals SET status = 'withdrawn' WHERE match_id = ANY($1::uuid[])"
            " AND status = 'pending'",
            chosen,
        )
    elif step.what == "close":  # an approved match ends: its place comes back
        await conn.execute(
            "UPDATE proposals SET status = 'closed' WHERE match_id = ANY($1::uuid[])"
            " AND status = 'approved'",
            chosen,
        )
    elif step.what == "erase":  # a person erased: every proposal naming them goes
        person = (providers + mentees)[step.picks[0] % (PROVIDERS + MENTEES)]
        await conn.execute("DELETE FROM proposals WHERE provider_id = $1 OR mentee_id = $1", person)
    else:  # a trust moves network: its proposals follow, nothing held changes
        await conn.execute(
            "UPDATE proposals SET network_id = 'held-net-2' WHERE match_id = ANY($1::uuid[])",
            chosen,
        )


async def _held(conn: asyncpg.Connection, providers: list[UUID]) -> dict[UUID, int]:
    rows = await conn.fetch(
        "SELECT provider_id, held FROM places_held WHERE provider_id = ANY($1::uuid[])",
        providers,
    )
    return {row["provider_id"]: row["held"] for row in rows}


async def _counted(conn: asyncpg.Connection, providers: list[UUID]) -> dict[UUID, int]:
    rows = await conn.fetch(
        "SELECT provider_id, count(*) AS n FROM proposals WHERE provider_id = ANY($1::uuid[])"
        " AND status IN ('pending', 'approved') GROUP BY provider_id",
        providers,
    )
    return {row["provider_id"]: row["n"] for row in rows}
