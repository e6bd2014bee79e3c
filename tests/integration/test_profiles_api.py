"""The HTTP API against the real database and broker: stored, published, or refused whole."""

from __future__ import annotations

import json
from typing import Any
from uuid import uuid4

import asyncpg
import httpx
import pytest

from shared.settings import Settings
from shared.topics import Topic
from tests.support.kafka import read_topic

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def trust_code(api_client: httpx.AsyncClient) -> str:
    network = f"net-{uuid4().hex[:6]}"
    coordinators = [{"name": "Cora", "email": "cora@example.org"}]
    response = await api_client.put(
        f"/networks/{network}", json={"name": "Test", "coordinators": coordinators}
    )
    assert response.status_code == 204
    code = f"T{uuid4().hex[:6]}"
    body = {"name": "Test Trust", "region": "London", "network_id": network}
    assert (await api_client.put(f"/trusts/{code}", json=body)).status_code == 204
    return code


def mentor(home_trust: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Ann Mentor",
        "email": f"ann.{uuid4().hex[:8]}@example.org",
        "job_title": "CIO",
        "trust_code": home_trust,
        "skills": [{"skill": "board-influence", "level": 6}],
        "capacity": 2,
        "hours_per_month": 4,
    }
    return body | changes


async def counts(settings: Settings) -> tuple[int, int]:
    conn = await asyncpg.connect(settings.database_url)
    try:
        people = await conn.fetchval("SELECT count(*) FROM profiles.people")
        outbox = await conn.fetchval("SELECT count(*) FROM profiles.outbox")
    finally:
        await conn.close()
    return people, outbox


def keyed(key: str) -> Any:
    return lambda record: record.key == key.encode()


async def test_a_mentor_is_stored_and_published_keyed_by_their_id(
    api_client: httpx.AsyncClient, trust_code: str, settings: Settings
) -> None:
    response = await api_client.post("/mentors", json=mentor(trust_code))
    assert response.status_code == 201
    person_id = response.json()["id"]

    stored = (await api_client.get(f"/people/{person_id}")).json()
    assert stored["role"] == "mentor"
    assert stored["details"]["skills"] == [{"skill": "board-influence", "level": 6}]

    [record] = await read_topic(settings.kafka_bootstrap_servers, Topic.PEOPLE, keyed(person_id))
    event = json.loads(record.value)
    assert event["event_type"] == "person.upserted"
    assert event["profile"]["region"] == "Y56"
    assert event["schema_version"] == 1


@pytest.mark.parametrize(
    ("body_changes", "field"),
    [
        ({"capacity": -1}, "capacity"),
        ({"email": "nope"}, "email"),
        ({"skills": [{"skill": "juggling", "level": 3}]}, "skills.0.skill"),
        ({"unknown_field": 1}, "unknown_field"),
        ({"trust_code": "NOPE1"}, "trust_code"),
    ],
)
async def test_bad_input_is_refused_with_the_field_named_and_nothing_stored(
    api_client: httpx.AsyncClient,
    trust_code: str,
    settings: Settings,
    body_changes: dict[str, Any],
    field: str,
) -> None:
    before = await counts(settings)
    response = await api_client.post("/mentors", json=mentor(trust_code, **body_changes))
    assert response.status_code == 422
    assert field in [e["field"] for e in response.json()["errors"]]
    assert await counts(settings) == before


async def test_malformed_json_is_refused(api_client: httpx.AsyncClient, settings: Settings) -> None:
    before = await counts(settings)
    response = await api_client.post(
        "/mentors", content=b'{"name": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["message"].startswith("malformed JSON")
    assert await counts(settings) == before


async def test_an_unknown_region_is_refused(api_client: httpx.AsyncClient) -> None:
    response = await api_client.put(
        "/trusts/TX1", json={"name": "X", "region": "Atlantis", "network_id": "n"}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "region"


async def test_the_same_email_twice_is_a_conflict(
    api_client: httpx.AsyncClient, trust_code: str
) -> None:
    body = mentor(trust_code)
    assert (await api_client.post("/mentors", json=body)).status_code == 201
    response = await api_client.post("/mentors", json=body)
    assert response.status_code == 409
    assert body["email"] in response.json()["detail"]


async def test_pausing_publishes_zero_capacity(
    api_client: httpx.AsyncClient, trust_code: str, settings: Settings
) -> None:
    person_id = (await api_client.post("/mentors", json=mentor(trust_code))).json()["id"]
    response = await api_client.put(f"/people/{person_id}/availability", json={"paused": True})
    assert response.status_code == 204
    assert (await api_client.get(f"/people/{person_id}")).json()["paused"] is True
    records = await read_topic(settings.kafka_bootstrap_servers, Topic.PEOPLE, keyed(person_id), 2)
    availability = json.loads(records[-1].value)
    assert availability["event_type"] == "availability.changed"
    assert (availability["paused"], availability["capacity"]) == (True, 0.0)


async def test_erasure_removes_the_person_and_tells_everyone(
    api_client: httpx.AsyncClient, trust_code: str, settings: Settings
) -> None:
    person_id = (await api_client.post("/mentors", json=mentor(trust_code))).json()["id"]
    assert (await api_client.delete(f"/people/{person_id}")).status_code == 204
    assert (await api_client.get(f"/people/{person_id}")).status_code == 404
    assert (await api_client.delete(f"/people/{person_id}")).status_code == 404
    records = await read_topic(settings.kafka_bootstrap_servers, Topic.PEOPLE, keyed(person_id), 2)
    assert json.loads(records[-1].value)["event_type"] == "person.erased"
    conn = await asyncpg.connect(settings.database_url)
    try:
        left = await conn.fetchval(
            "SELECT count(*) FROM profiles.outbox WHERE message_key = $1"
            " AND payload->>'event_type' = 'person.upserted'",
            person_id,
        )
    finally:
        await conn.close()
    assert left == 0


async def test_placements_are_created_and_withdrawn(
    api_client: httpx.AsyncClient, trust_code: str
) -> None:
    body = {
        "host_trust_code": trust_code,
        "role": "Digital lead",
        "months": 6,
        "fte": 0.6,
        "skills_developed": [{"skill": "change-management", "level": 5}],
    }
    placement_id = (await api_client.post("/placements", json=body)).json()["id"]
    assert (await api_client.get(f"/placements/{placement_id}")).json()["withdrawn"] is False
    assert (await api_client.delete(f"/placements/{placement_id}")).status_code == 204
    assert (await api_client.get(f"/placements/{placement_id}")).json()["withdrawn"] is True


async def test_a_trusts_contact_email_is_stored_and_published(
    api_client: httpx.AsyncClient, trust_code: str, settings: Settings
) -> None:
    stored = (await api_client.get(f"/trusts/{trust_code}")).json()
    body = {k: stored[k] for k in ("name", "region", "network_id")}
    body["contact_email"] = "workforce@trust.example"
    assert (await api_client.put(f"/trusts/{trust_code}", json=body)).status_code == 204
    assert (await api_client.get(f"/trusts/{trust_code}")).json()["contact_email"] == (
        "workforce@trust.example"
    )
    records = await read_topic(
        settings.kafka_bootstrap_servers,
        Topic.NETWORKS,
        lambda r: r.key == trust_code.encode() and b"workforce@trust.example" in r.value,
    )
    assert json.loads(records[0].value)["contact_email"] == "workforce@trust.example"
    refused = await api_client.put(f"/trusts/{trust_code}", json=body | {"contact_email": "nope"})
    assert refused.status_code == 422


async def test_erasure_through_the_api_is_audited_as_the_tokens_name(
    api_client: httpx.AsyncClient, trust_code: str, settings: Settings
) -> None:
    person_id = (await api_client.post("/mentors", json=mentor(trust_code))).json()["id"]
    assert (await api_client.delete(f"/people/{person_id}")).status_code == 204
    conn = await asyncpg.connect(settings.database_url)
    try:
        record = await conn.fetchrow(
            "SELECT actor, action, reason FROM profiles.audit_log WHERE subject = $1", person_id
        )
        token_names = await conn.fetch("SELECT name FROM profiles.api_tokens")
    finally:
        await conn.close()
    assert record is not None
    assert record["action"] == "person.erased"
    assert record["actor"] in {f"api:{row['name']}" for row in token_names}
    assert record["reason"] == "API: DELETE /people/{id}"
    # Refused (404): no record, as nothing was erased.
    assert (await api_client.delete(f"/people/{uuid4()}")).status_code == 404


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE profiles.audit_log SET reason = 'rewritten' WHERE id = $1",
        "DELETE FROM profiles.audit_log WHERE id = $1",
        "TRUNCATE profiles.audit_log",
    ],
)
async def test_the_audit_log_is_append_only(
    api_client: httpx.AsyncClient, trust_code: str, settings: Settings, statement: str
) -> None:
    person_id = (await api_client.post("/mentors", json=mentor(trust_code))).json()["id"]
    assert (await api_client.delete(f"/people/{person_id}")).status_code == 204
    conn = await asyncpg.connect(settings.database_url)
    try:
        record_id = await conn.fetchval(
            "SELECT id FROM profiles.audit_log WHERE subject = $1", person_id
        )
        with pytest.raises(asyncpg.RaiseError, match="audit_log is append-only"):
            await conn.execute(statement, *([record_id] if "$1" in statement else []))
        kept = await conn.fetchval("SELECT reason FROM profiles.audit_log WHERE id = $1", record_id)
    finally:
        await conn.close()
    assert kept == "API: DELETE /people/{id}"
