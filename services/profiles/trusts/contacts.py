"""A trust's contacts: accounts of role ``trust_contact``, added and removed by the trust's
network's coordinators or an administrator (audited), and published with the trust
(``TrustUpserted.contacts``) so the notifier knows whom to email for it. A contact signs in
with a single-use link the notifier emails on request (no password)."""

from __future__ import annotations

import asyncpg
from pydantic import BaseModel, ConfigDict

from services.profiles.accounts.audit import record_audit
from services.profiles.accounts.sessions import end_sessions_of
from services.profiles.api.schemas import Name
from services.profiles.directory.trusts import publish_trust
from shared.addresses import EmailAddress, normalised_email
from shared.events import TrustSignInRequested
from shared.outbox import add_to_outbox

SIGN_IN_REQUEST_INTERVAL_SECONDS = 120.0


class ContactRefused(ValueError):
    """The contact cannot be added or removed as asked; the message says why."""


class NewContact(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Name
    email: EmailAddress


class TrustContactRow(BaseModel):
    name: str
    email: str


async def contacts_of(conn: asyncpg.Connection, trust_code: str) -> list[TrustContactRow]:
    rows = await conn.fetch(
        "SELECT name, email FROM accounts WHERE trust_code = $1 ORDER BY email", trust_code
    )
    return [TrustContactRow(name=r["name"], email=r["email"]) for r in rows]


async def add_contact(
    conn: asyncpg.Connection, trust_code: str, new: NewContact, *, actor: str
) -> None:
    email = normalised_email(str(new.email))
    async with conn.transaction():
        if not await conn.fetchval("SELECT 1 FROM trusts WHERE code = $1 FOR UPDATE", trust_code):
            raise ContactRefused(f"unknown trust {trust_code!r}")
        try:
            await conn.execute(
                "INSERT INTO accounts (email, name, role, trust_code)"
                " VALUES ($1, $2, 'trust_contact', $3)",
                email,
                new.name,
                trust_code,
            )
        except asyncpg.UniqueViolationError as error:
            raise ContactRefused(f"{email} has a Bridgework account already") from error
        await publish_trust(conn, trust_code)
        await record_audit(
            conn,
            actor=actor,
            action="trust_contact.added",
            subject=email,
            details={"trust_code": trust_code},
        )


async def remove_contact(
    conn: asyncpg.Connection, trust_code: str, email: str, *, actor: str
) -> None:
    """The contact's account goes, with its sessions; their links stop working."""
    email = normalised_email(email)
    async with conn.transaction():
        await end_sessions_of(conn, email)
        removed = await conn.fetchval(
            "DELETE FROM accounts WHERE email = $1 AND trust_code = $2 RETURNING 1",
            email,
            trust_code,
        )
        if removed is None:
            raise ContactRefused(f"{email} is not a contact of {trust_code}")
        await publish_trust(conn, trust_code)
        await record_audit(
            conn,
            actor=actor,
            action="trust_contact.removed",
            subject=email,
            details={"trust_code": trust_code},
        )


async def is_contact(conn: asyncpg.Connection, trust_code: str, email: str) -> bool:
    found = await conn.fetchval(
        "SELECT 1 FROM accounts WHERE email = $1 AND trust_code = $2",
        normalised_email(email),
        trust_code,
    )
    return found is not None


async def request_sign_in(conn: asyncpg.Connection, email: str) -> bool:
    """Ask the notifier to email a sign-in link, if ``email`` is a trust's contact (the page
    answers the same either way); at most one every two minutes, so the form floods nobody."""
    row = await conn.fetchrow(
        """
        SELECT a.email, a.trust_code FROM accounts a
        WHERE a.email = $1 AND a.role = 'trust_contact' AND NOT EXISTS (
          SELECT 1 FROM outbox o WHERE o.message_key = a.trust_code
            AND o.payload->>'event_type' = $2 AND o.payload->>'contact_email' = a.email
            AND o.created_at > now() - make_interval(secs => $3))
        """,
        normalised_email(email),
        TrustSignInRequested.model_fields["event_type"].default,
        SIGN_IN_REQUEST_INTERVAL_SECONDS,
    )
    if row is None:
        return False
    event = TrustSignInRequested(
        entity_key=row["trust_code"], trust_code=row["trust_code"], contact_email=row["email"]
    )
    await add_to_outbox(conn, [event])
    return True
