"""The matches the profiles service restates for a matcher rebuilt from nothing
(``bridgework republish --matches``, docs/operations.md#the-matcher): each match as the
coordinators' read model holds it, with a secondment's later state and a closing, and none
that names someone erased. (tests/e2e/test_rebuild.py rebuilds a matcher with them.)"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest

from services.matcher.handlers import restated_status
from services.profiles.coordination.read_model import ReadModelRepository
from services.profiles.directory.republish import restate_matches
from shared.events import LifeActor, MatchClosed, MatchOutcome, MatchRestated, SecondmentStatus
from shared.matching import MatchKind
from tests.support.factories import match_proposed

pytestmark = pytest.mark.integration


async def joined(http: httpx.AsyncClient, path: str, body: dict[str, object]) -> UUID:
    return UUID((await http.post(path, json=body)).raise_for_status().json()["id"])


async def network_of_people(http: httpx.AsyncClient, tag: str) -> dict[str, UUID]:
    """A network with two mentors, three mentees and a placement; their ids by name."""
    network = {"name": "Restated", "coordinators": [{"name": "C", "email": f"c.{tag}@x.org"}]}
    (await http.put(f"/networks/rs-{tag}", json=network)).raise_for_status()
    trust = {"name": "Restated Trust", "region": "London", "network_id": f"rs-{tag}"}
    (await http.put(f"/trusts/RS{tag}", json=trust)).raise_for_status()
    ids: dict[str, UUID] = {}
    for n in range(2):
        ids[f"mentor{n}"] = await joined(
            http,
            "/mentors",
            {
                "name": f"Mentor {n}",
                "email": f"mentor{n}.{tag}@example.org",
                "job_title": "CIO",
                "trust_code": f"RS{tag}",
                "skills": [{"skill": "data-analytics", "level": 6}],
                "capacity": 2,
                "hours_per_month": 4,
            },
        )
    for n in range(3):
        ids[f"mentee{n}"] = await joined(
            http,
            "/mentees",
            {
                "name": f"Mentee {n}",
                "email": f"mentee{n}.{tag}@example.org",
                "job_title": "Analyst",
                "trust_code": f"RS{tag}",
                "gaps": [{"skill": "data-analytics", "current": 2, "target": 5}],
            },
        )
    placement = {
        "host_trust_code": f"RS{tag}",
        "role": "Data lead",
        "skills_developed": [{"skill": "data-analytics", "level": 5}],
        "months": 6,
        "fte": 0.5,
        "places": 1,
    }
    ids["placement"] = await joined(http, "/placements", placement)
    return ids


async def restated_in_outbox(conn: asyncpg.Connection, network_id: str) -> list[MatchRestated]:
    rows = await conn.fetch(
        "SELECT payload FROM outbox WHERE payload->>'event_type' = 'match.restated'"
        " AND payload->>'network_id' = $1 ORDER BY id",
        network_id,
    )
    return [MatchRestated.model_validate(row["payload"]) for row in rows]


async def test_every_match_is_restated_as_profiles_holds_it_and_none_naming_the_erased(
    api_client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    tag = uuid4().hex[:6]
    network = f"rs-{tag}"
    ids = await network_of_people(api_client, tag)
    pairs = {
        "pending": ("mentor0", "mentee0"),
        "closed": ("mentor0", "mentee1"),
        "rejected": ("mentor1", "mentee1"),
        "erased": ("mentor1", "mentee2"),  # approved, then its mentee erased
    }
    proposed = {
        name: match_proposed(network_id=network, provider_id=ids[mentor], mentee_id=ids[mentee])
        for name, (mentor, mentee) in pairs.items()
    }
    match = {name: event.match_id for name, event in proposed.items()}
    async with pool.acquire() as conn:
        store = ReadModelRepository(conn)
        for event in proposed.values():
            await store.add_proposal(event)
        for name, status in [
            ("closed", "approved"),
            ("rejected", "rejected"),
            ("erased", "approved"),
        ]:
            await store.set_status(match[name], status, datetime.now(UTC), "", "c@x.org")
        closing = MatchClosed(
            entity_key=str(match["closed"]),
            match_id=match["closed"],
            network_id=network,
            outcome=MatchOutcome.COMPLETED,
            by=LifeActor.MENTOR,
        )
        await store.keep_life_event(closing)
    (await api_client.delete(f"/people/{ids['mentee2']}")).raise_for_status()

    async with pool.acquire() as conn:
        assert await restate_matches(conn, batch=2) >= 3  # other tests' matches too
        restated = {event.match_id: event for event in await restated_in_outbox(conn, network)}

    assert {m: (e.status, e.outcome) for m, e in restated.items()} == {
        match["pending"]: ("pending", None),
        match["closed"]: ("closed", MatchOutcome.COMPLETED),
        match["rejected"]: ("rejected", None),
    }
    assert restated[match["closed"]].closed_at == closing.occurred_at
    assert restated[match["closed"]].decided_at is not None
    assert restated[match["pending"]].decided_at is None
    pending, original = restated[match["pending"]], proposed["pending"]
    assert (pending.explanation, pending.score) == (original.explanation, original.score)


async def test_a_secondment_is_restated_with_its_latest_state(
    api_client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    """A trust refused it after the approval: the matcher must hold the pair as rejected."""
    tag = uuid4().hex[:6]
    network = f"rs-{tag}"
    ids = await network_of_people(api_client, tag)
    event = match_proposed(
        network_id=network,
        provider_id=ids["placement"],
        mentee_id=ids["mentee0"],
        kind=MatchKind.SECONDMENT,
    )
    async with pool.acquire() as conn:
        store = ReadModelRepository(conn)
        await store.add_proposal(event)
        await store.set_status(event.match_id, "approved", event.occurred_at, "", "c@x.org")
        await conn.execute(
            "INSERT INTO secondments (match_id, network_id, host_trust_code, home_trust_code,"
            " status) VALUES ($1, $2, $3, $3, 'refused')",
            event.match_id,
            network,
            f"RS{tag}",
        )
        await restate_matches(conn)
        [restated] = await restated_in_outbox(conn, network)
    assert (restated.status, restated.secondment) == ("approved", SecondmentStatus.REFUSED)
    assert restated_status(restated) == "rejected"
