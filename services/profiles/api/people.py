"""The JSON API's mentors and mentees: create, replace, read, availability and erasure."""

from __future__ import annotations

from uuid import UUID

import asyncpg
from fastapi import Response, status

from services.profiles.accounts.audit import record_audit
from services.profiles.accounts.permissions import ApiClient
from services.profiles.api import access, versions
from services.profiles.api.auth import NO_CONTENT, Client, api_router
from services.profiles.api.schemas import AvailabilityIn, Created, MenteeIn, MentorIn, PersonOut
from services.profiles.api.versions import PRECONDITION, IfMatch
from services.profiles.dependencies import Connection
from services.profiles.directory import people

router = api_router()


async def _require_version(conn: asyncpg.Connection, person_id: UUID, if_match: str | None) -> None:
    await versions.require_version(
        if_match, lambda: people.get_person(conn, person_id, lock=True), f"person {person_id}"
    )


async def _save_person(
    conn: asyncpg.Connection,
    client: ApiClient,
    body: MentorIn | MenteeIn,
    person_id: UUID | None,
    response: Response,
    if_match: str | None = None,
) -> UUID:
    async with conn.transaction():
        if person_id is not None:
            await access.require_person_in_reach(conn, client, person_id, lock=True)
            await _require_version(conn, person_id, if_match)
        await access.require_named_trust(conn, client, body.trust_code)
        saved = await people.save_person(conn, body, person_id)
        versions.tag_response(response, await people.get_person(conn, saved))
        return saved


@router.post("/mentors", status_code=status.HTTP_201_CREATED, tags=["people"])
async def create_mentor(
    body: MentorIn, conn: Connection, client: Client, response: Response
) -> Created:
    return Created(id=await _save_person(conn, client, body, None, response))


@router.put("/mentors/{person_id}", status_code=NO_CONTENT, tags=["people"], responses=PRECONDITION)
async def update_mentor(
    person_id: UUID,
    body: MentorIn,
    conn: Connection,
    client: Client,
    response: Response,
    if_match: IfMatch = None,
) -> None:
    await _save_person(conn, client, body, person_id, response, if_match)


@router.post("/mentees", status_code=status.HTTP_201_CREATED, tags=["people"])
async def create_mentee(
    body: MenteeIn, conn: Connection, client: Client, response: Response
) -> Created:
    return Created(id=await _save_person(conn, client, body, None, response))


@router.put("/mentees/{person_id}", status_code=NO_CONTENT, tags=["people"], responses=PRECONDITION)
async def update_mentee(
    person_id: UUID,
    body: MenteeIn,
    conn: Connection,
    client: Client,
    response: Response,
    if_match: IfMatch = None,
) -> None:
    await _save_person(conn, client, body, person_id, response, if_match)


@router.get("/people/{person_id}", tags=["people"])
async def get_person(
    person_id: UUID, conn: Connection, client: Client, response: Response
) -> PersonOut:
    await access.require_person_in_reach(conn, client, person_id)
    person = await people.get_person(conn, person_id)
    versions.tag_response(response, person)
    return person


@router.put(
    "/people/{person_id}/availability",
    status_code=NO_CONTENT,
    tags=["people"],
    responses=PRECONDITION,
)
async def put_availability(
    person_id: UUID,
    body: AvailabilityIn,
    conn: Connection,
    client: Client,
    response: Response,
    if_match: IfMatch = None,
) -> None:
    """The person's ETag (GET /people/{id}) is the one If-Match names."""
    async with conn.transaction():
        await access.require_person_in_reach(conn, client, person_id, lock=True)
        await _require_version(conn, person_id, if_match)
        await people.set_availability(conn, person_id, body)
        versions.tag_response(response, await people.get_person(conn, person_id))


@router.delete("/people/{person_id}", status_code=NO_CONTENT, tags=["people"])
async def erase_person(person_id: UUID, conn: Connection, client: Client) -> None:
    async with conn.transaction():
        await access.require_person_in_reach(conn, client, person_id, lock=True)
        await people.erase_person(conn, person_id)
        # Audited like a self-service erasure, in the same transaction as the erasure.
        await record_audit(
            conn,
            actor=client.actor,
            action="person.erased",
            subject=str(person_id),
            reason="API: DELETE /people/{id}",
        )
