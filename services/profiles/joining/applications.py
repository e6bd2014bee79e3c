"""Volunteering and applying, as use cases: an application is kept apart from people until its
email address is confirmed (a signed link that works once) and a coordinator confirms it; only
then is it a person (the usual person.upserted). Declined, it is deleted and the newcomer told.

Abuse: the answer to a form is the same whatever happened (sent, address already known, limit
reached), so the forms tell nobody who takes part; join requests are limited per address and
per client within the hour, counted under keyed hashes so no address is kept for it."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from services.profiles.accounts.audit import claim_link_token, record_audit
from services.profiles.api.schemas import MenteeIn, MentorIn
from services.profiles.directory import people
from services.profiles.directory.errors import Conflict
from services.profiles.self_service.profile_form import ProfileRefused
from services.profiles.trusts import staff_requests
from shared.events import JoinEmailPurpose, JoinEmailRequested, SelfServiceLinkRequested
from shared.links import JoinLink, LinkPurpose
from shared.outbox import add_to_outbox
from shared.people import Role

WINDOW_SECONDS = 3600


@dataclass(frozen=True)
class JoinLimits:
    per_address: int
    per_client: int
    link_max_age_seconds: int


class TooManyRequests(Exception):
    """This client sent more join forms than the limit allows; nothing was kept."""


class ApplicationGone(LookupError):
    """The application is not (or no longer) waiting for this: decided, replaced or expired."""


@dataclass(frozen=True)
class Newcomer:
    """An application waiting for a coordinator, as the queue shows it."""

    id: UUID
    role: Role
    profile: MentorIn | MenteeIn
    trust_name: str
    confirmed_at: Any


def _key(secret: str, kind: str, value: str) -> str:
    return hmac.new(secret.encode(), f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


async def _count_and_take(conn: asyncpg.Connection, key: str, limit: int) -> bool:
    """Whether ``key`` is under its limit; if so, counts this request."""
    recent = await conn.fetchval(
        "SELECT count(*) FROM join_requests WHERE key = $1"
        " AND at > now() - make_interval(secs => $2)",
        key,
        WINDOW_SECONDS,
    )
    if recent >= limit:
        return False
    await conn.execute("INSERT INTO join_requests (key) VALUES ($1)", key)
    return True


async def forget_stale(conn: asyncpg.Connection, link_max_age_seconds: int) -> None:
    """Applications never confirmed within their link's life, and old counts, are deleted."""
    await conn.execute(
        "DELETE FROM applications WHERE confirmed_at IS NULL"
        " AND created_at < now() - make_interval(secs => $1)",
        link_max_age_seconds,
    )
    await conn.execute(
        "DELETE FROM join_requests WHERE at < now() - make_interval(secs => $1)", WINDOW_SECONDS
    )


async def network_trusts(conn: asyncpg.Connection, network_id: str) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT code, name FROM trusts WHERE network_id = $1 ORDER BY name", network_id
    )
    return rows


async def apply(
    conn: asyncpg.Connection,
    *,
    secret: str,
    limits: JoinLimits,
    network_id: str,
    network_name: str,
    profile: MentorIn | MenteeIn,
    client: str,
) -> None:
    """Keep the application (unconfirmed) and email its confirmation link; or, for an address
    already known, email that person's own link instead. Call in a transaction."""
    if profile.trust_code not in {t["code"] for t in await network_trusts(conn, network_id)}:
        raise ProfileRefused(("Your trust: choose one of the network's trusts.",))
    await forget_stale(conn, limits.link_max_age_seconds)
    if not await _count_and_take(conn, _key(secret, "client", client), limits.per_client):
        raise TooManyRequests
    email = str(profile.email).lower()
    if not await _count_and_take(conn, _key(secret, "address", email), limits.per_address):
        return  # the same answer; nothing sent
    role = Role.MENTOR if isinstance(profile, MentorIn) else Role.MENTEE
    known = await conn.fetchval(
        "SELECT id FROM people WHERE network_id = $1 AND lower(email) = $2 AND role = $3",
        network_id,
        email,
        role.value,
    )
    if known is not None:  # they take part already: their own link, not a second profile
        await add_to_outbox(
            conn, [SelfServiceLinkRequested(entity_key=str(known), person_id=known)]
        )
        return
    token_id = uuid4()
    application_id = await conn.fetchval(
        """
        INSERT INTO applications (id, network_id, role, email, details, token_id)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (network_id, role, lower(email)) DO UPDATE
          SET details = EXCLUDED.details, token_id = EXCLUDED.token_id, created_at = now()
          WHERE applications.confirmed_at IS NULL
        RETURNING id
        """,
        uuid4(),
        network_id,
        role.value,
        email,
        profile.model_dump(mode="json"),
        token_id,
    )
    if application_id is None:  # confirmed already, waiting for a coordinator: nothing to send
        return
    await add_to_outbox(
        conn,
        [
            JoinEmailRequested(
                entity_key=str(application_id),
                application_id=application_id,
                purpose=JoinEmailPurpose.CONFIRM_ADDRESS,
                role=role,
                name=profile.name,
                email=profile.email,
                network_name=network_name,
                token_id=token_id,
            )
        ],
    )


async def confirm_address(conn: asyncpg.Connection, link: JoinLink) -> None:
    """The link's holder owns the address: the application joins the coordinators' queue.
    A replayed, replaced or expired link raises ApplicationGone and changes nothing."""
    async with conn.transaction():
        if not await claim_link_token(conn, link.token_id, LinkPurpose.JOIN.value):
            raise ApplicationGone("used")
        confirmed = await conn.fetchval(
            "UPDATE applications SET confirmed_at = now()"
            " WHERE id = $1 AND token_id = $2 AND confirmed_at IS NULL RETURNING id",
            link.application_id,
            link.token_id,
        )
        if confirmed is None:
            raise ApplicationGone("replaced or expired")


async def waiting(conn: asyncpg.Connection, network_id: str) -> list[Newcomer]:
    rows = await conn.fetch(
        """
        SELECT a.id, a.role, a.details, a.confirmed_at, coalesce(t.name, '') AS trust_name
        FROM applications a LEFT JOIN trusts t ON t.code = a.details->>'trust_code'
        WHERE a.network_id = $1 AND a.confirmed_at IS NOT NULL ORDER BY a.confirmed_at
        """,
        network_id,
    )
    return [
        Newcomer(
            id=row["id"],
            role=Role(row["role"]),
            profile=_profile(row["role"], row["details"]),
            trust_name=row["trust_name"],
            confirmed_at=row["confirmed_at"],
        )
        for row in rows
    ]


def _profile(role: str, details: dict[str, Any]) -> MentorIn | MenteeIn:
    model = MentorIn if role == Role.MENTOR else MenteeIn
    return model.model_validate(details)


async def _take(conn: asyncpg.Connection, network_id: str, application_id: UUID) -> asyncpg.Record:
    row = await conn.fetchrow(
        "DELETE FROM applications WHERE id = $1 AND network_id = $2"
        " AND confirmed_at IS NOT NULL RETURNING role, details",
        application_id,
        network_id,
    )
    if row is None:
        raise ApplicationGone("decided already")
    return row


async def accept(
    conn: asyncpg.Connection, network_id: str, network_name: str, application_id: UUID, actor: str
) -> UUID:
    """The newcomer becomes a person (person.upserted) and is emailed their own page's link."""
    async with conn.transaction():
        row = await _take(conn, network_id, application_id)
        profile = _profile(row["role"], row["details"])
        # A newcomer's "open to a secondment" asks their home trust, as on their own page.
        asks = isinstance(profile, MenteeIn) and profile.open_to_secondment
        profile = profile.model_copy(update={"open_to_secondment": False}) if asks else profile
        try:
            person_id = await people.save_person(conn, profile)
        except Conflict as error:
            raise ApplicationGone("the address takes part already") from error
        if asks:
            await staff_requests.ask(conn, person_id)
        welcome = JoinEmailRequested(
            entity_key=str(person_id),  # after their profile, on its partition
            application_id=application_id,
            purpose=JoinEmailPurpose.WELCOME,
            role=Role(row["role"]),
            name=profile.name,
            email=profile.email,
            network_name=network_name,
            person_id=person_id,
        )
        await add_to_outbox(conn, [welcome])
        await record_audit(
            conn,
            actor=actor,
            action="newcomer.accepted",
            subject=str(person_id),
            details={"application_id": str(application_id)},
        )
    return person_id


async def decline(
    conn: asyncpg.Connection, network_id: str, network_name: str, application_id: UUID, actor: str
) -> None:
    """The application is deleted; the newcomer gets a polite email (the notifier keeps no
    address of theirs once it is sent)."""
    async with conn.transaction():
        row = await _take(conn, network_id, application_id)
        profile = _profile(row["role"], row["details"])
        # Earlier copies of their address: the confirmation emails' events.
        await conn.execute("DELETE FROM outbox WHERE message_key = $1", str(application_id))
        declined = JoinEmailRequested(
            entity_key=str(application_id),
            application_id=application_id,
            purpose=JoinEmailPurpose.DECLINED,
            role=Role(row["role"]),
            name=profile.name,
            email=profile.email,
            network_name=network_name,
        )
        await add_to_outbox(conn, [declined])
        await record_audit(
            conn, actor=actor, action="newcomer.declined", subject=str(application_id)
        )
