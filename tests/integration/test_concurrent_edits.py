"""Concurrent edits are not lost silently (issue 14, item 12): GET and PUT answer with an ETag,
and a PUT whose If-Match names a version the resource no longer has is refused with 412 and
changes nothing, for every PUT the JSON API has. If-Match is optional."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import asyncpg
import httpx
import pytest

from services.profiles.app import create_app
from shared.settings import Settings

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Resource:
    read: str  # the GET whose ETag If-Match names
    write: str  # the PUT
    edits: tuple[dict[str, Any], dict[str, Any]]  # two different changes


def _mentor(code: str, email: str, title: str) -> dict[str, Any]:
    return {
        "name": "Ann Mentor",
        "email": email,
        "job_title": title,
        "trust_code": code,
        "skills": [{"skill": "board-influence", "level": 6}],
        "capacity": 2,
        "hours_per_month": 4,
    }


def _mentee(code: str, email: str, title: str) -> dict[str, Any]:
    return {
        "name": "Tom Mentee",
        "email": email,
        "job_title": title,
        "trust_code": code,
        "gaps": [{"skill": "board-influence", "current": 2, "target": 5}],
    }


def _placement(code: str, months: int) -> dict[str, Any]:
    return {
        "host_trust_code": code,
        "role": "Digital lead",
        "months": months,
        "fte": 0.6,
        "skills_developed": [{"skill": "change-management", "level": 5}],
    }


async def _created(response: httpx.Response) -> str:
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def resources(client: httpx.AsyncClient) -> dict[str, Resource]:
    """A fresh network with one of everything; each PUT the API has, with two edits."""
    tag = uuid4().hex[:8]
    network, code = f"ce-{tag}", f"CE{tag}"
    coordinators = [{"name": "C", "email": "c@n.example"}]
    trust = {"region": "London", "network_id": network}
    assert (
        await client.put(f"/networks/{network}", json={"name": "N", "coordinators": coordinators})
    ).is_success
    assert (await client.put(f"/trusts/{code}", json=trust | {"name": "T"})).is_success
    ann, tom = f"ann.{tag}@example.org", f"tom.{tag}@example.org"
    mentor = await _created(await client.post("/mentors", json=_mentor(code, ann, "CIO")))
    mentee = await _created(await client.post("/mentees", json=_mentee(code, tom, "Nurse")))
    placement = await _created(await client.post("/placements", json=_placement(code, 6)))
    return {
        "network": Resource(
            f"/networks/{network}",
            f"/networks/{network}",
            (
                {"name": "N1", "coordinators": coordinators},
                {"name": "N2", "coordinators": coordinators},
            ),
        ),
        "trust": Resource(
            f"/trusts/{code}", f"/trusts/{code}", (trust | {"name": "T1"}, trust | {"name": "T2"})
        ),
        "mentor": Resource(
            f"/people/{mentor}",
            f"/mentors/{mentor}",
            (_mentor(code, ann, "CCIO"), _mentor(code, ann, "CNIO")),
        ),
        "mentee": Resource(
            f"/people/{mentee}",
            f"/mentees/{mentee}",
            (_mentee(code, tom, "Analyst"), _mentee(code, tom, "Lead")),
        ),
        "availability": Resource(
            f"/people/{mentor}",
            f"/people/{mentor}/availability",
            ({"paused": True}, {"paused": False, "capacity": 3}),
        ),
        "placement": Resource(
            f"/placements/{placement}",
            f"/placements/{placement}",
            (_placement(code, 9), _placement(code, 12)),
        ),
    }


def test_every_put_of_the_api_is_covered() -> None:
    covered = {
        "/networks/{network_id}",
        "/trusts/{code}",
        "/mentors/{person_id}",
        "/mentees/{person_id}",
        "/people/{person_id}/availability",
        "/placements/{placement_id}",
    }
    paths = create_app(Settings()).openapi()["paths"]
    assert {path for path, operations in paths.items() if "put" in operations} == covered


async def _outbox(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM outbox"))


@pytest.mark.parametrize(
    "name", ["network", "trust", "mentor", "mentee", "availability", "placement"]
)
async def test_a_put_with_a_stale_if_match_is_refused_and_changes_nothing(
    api_client: httpx.AsyncClient, pool: asyncpg.Pool, name: str
) -> None:
    resource = (await resources(api_client))[name]
    first, second = resource.edits
    read = await api_client.get(resource.read)
    version = read.headers["etag"]
    assert version.startswith('"')
    assert version.endswith('"')

    # The version read: the PUT is applied and answers with the new version.
    applied = await api_client.put(resource.write, json=first, headers={"If-Match": version})
    assert applied.status_code == 204, applied.text
    now = await api_client.get(resource.read)
    assert applied.headers["etag"] == now.headers["etag"] != version

    # The version before that one: refused, nothing stored, nothing published.
    events = await _outbox(pool)
    stale = await api_client.put(resource.write, json=second, headers={"If-Match": version})
    assert stale.status_code == 412
    assert "nothing was stored" in stale.json()["detail"]
    after = await api_client.get(resource.read)
    assert (after.json(), after.headers["etag"]) == (now.json(), now.headers["etag"])
    assert await _outbox(pool) == events

    # Any of a list, or "*" (it exists), matches; without If-Match a PUT still applies.
    listed = f'"0000", {now.headers["etag"]}'
    assert (
        await api_client.put(resource.write, json=second, headers={"If-Match": listed})
    ).status_code == 204
    assert (
        await api_client.put(resource.write, json=first, headers={"If-Match": "*"})
    ).status_code == 204
    assert (await api_client.put(resource.write, json=second)).status_code == 204
    weak = f"W/{(await api_client.get(resource.read)).headers['etag']}"
    assert (
        await api_client.put(resource.write, json=first, headers={"If-Match": weak})
    ).status_code == 412


@pytest.mark.parametrize("name", ["network", "trust", "mentor", "placement"])
async def test_of_two_edits_of_one_version_exactly_one_is_applied(
    api_client: httpx.AsyncClient, name: str
) -> None:
    resource = (await resources(api_client))[name]
    version = (await api_client.get(resource.read)).headers["etag"]
    answers = await asyncio.gather(
        *(
            api_client.put(resource.write, json=edit, headers={"If-Match": version})
            for edit in resource.edits
        )
    )
    assert sorted(answer.status_code for answer in answers) == [204, 412]
    winner = next(answer for answer in answers if answer.status_code == 204)
    assert (await api_client.get(resource.read)).headers["etag"] == winner.headers["etag"]


@pytest.mark.parametrize("kind", ["networks", "trusts"])
async def test_if_match_on_what_does_not_exist_creates_nothing(
    api_client: httpx.AsyncClient, kind: str
) -> None:
    key = f"ce-new-{uuid4().hex[:8]}"
    network = f"ce-{uuid4().hex[:8]}"
    coordinators = [{"name": "C", "email": "c@n.example"}]
    await api_client.put(f"/networks/{network}", json={"name": "N", "coordinators": coordinators})
    body = (
        {"name": "N", "coordinators": coordinators}
        if kind == "networks"
        else {"name": "T", "region": "London", "network_id": network}
    )
    refused = await api_client.put(f"/{kind}/{key}", json=body, headers={"If-Match": "*"})
    assert refused.status_code == 412
    assert "does not exist" in refused.json()["detail"]
    assert (await api_client.get(f"/{kind}/{key}")).status_code == 404
