"""Sign-in accounts for administrators and coordinators.

Passwords are hashed with Argon2id (argon2-cffi). Signing in goes through ``IdentityProvider``,
so an organisation's single sign-on can replace passwords: it proves who someone is, and the
account (role, network) still comes from this table.

Creating a coordinator also lists them among the network's coordinators (through the network's
one writer, which publishes NetworkUpserted), in one transaction: they then receive the proposal
emails. Removing one takes them off again.
"""

from __future__ import annotations

import secrets
from typing import Protocol

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, ConfigDict, SecretStr

from services.profiles.accounts.audit import record_audit
from services.profiles.accounts.permissions import Account, AccountRole
from services.profiles.accounts.sessions import end_sessions_of
from services.profiles.api.schemas import Identifier, Name, NetworkIn
from services.profiles.directory import networks
from shared.addresses import EmailAddress, normalised_email
from shared.events import Coordinator

MIN_PASSWORD_LENGTH = 12
_hasher = PasswordHasher()


class AccountRefused(ValueError):
    """The account cannot be created as asked; the message says why."""


class NewAccount(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    email: EmailAddress
    name: Name
    role: AccountRole
    network_id: Identifier | None = None  # the API's rule for network ids, here too
    password: SecretStr


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# Verifying against a real hash for unknown emails keeps sign-in time the same either way.
_UNKNOWN_ACCOUNT_HASH = hash_password("no account has this password")


class IdentityProvider(Protocol):
    """Proves who is signing in. Password sign-in is one; an SSO provider can be another."""

    async def authenticate(
        self, conn: asyncpg.Connection, email: str, secret: str
    ) -> Account | None: ...


class PasswordSignIn:
    async def authenticate(
        self, conn: asyncpg.Connection, email: str, secret: str
    ) -> Account | None:
        row = await conn.fetchrow(
            "SELECT email, name, role, network_id, trust_code, password_hash FROM accounts"
            " WHERE email = $1",
            normalised_email(email),
        )
        if row is None or row["password_hash"] is None:
            password_matches(_UNKNOWN_ACCOUNT_HASH, secret)
            return None
        if not password_matches(row["password_hash"], secret):
            return None
        return _account(row)


def _account(row: asyncpg.Record) -> Account:
    return Account(
        email=row["email"],
        name=row["name"],
        role=AccountRole(row["role"]),
        network_id=row["network_id"],
        trust_code=row["trust_code"],
    )


async def load_account(conn: asyncpg.Connection, email: str) -> Account | None:
    """The account as it is now (a removed or moved coordinator loses access at once)."""
    row = await conn.fetchrow(
        "SELECT email, name, role, network_id, trust_code FROM accounts WHERE email = $1",
        email,
    )
    return None if row is None else _account(row)


async def change_password(conn: asyncpg.Connection, email: str, current: str, new: str) -> None:
    """Set a new password once the current one is proven, and end every session of the account
    (in the same transaction: no session outlives the old password)."""
    if len(new) < MIN_PASSWORD_LENGTH:
        raise AccountRefused(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    async with conn.transaction():
        stored = await conn.fetchval(
            "SELECT password_hash FROM accounts WHERE email = $1 FOR UPDATE", email
        )
        if stored is None or not password_matches(stored, current):
            raise AccountRefused("the current password is not right")
        await conn.execute(
            "UPDATE accounts SET password_hash = $2 WHERE email = $1", email, hash_password(new)
        )
        await end_sessions_of(conn, email)
        await record_audit(conn, actor=email, action="account.password_changed", subject=email)


async def create_account(conn: asyncpg.Connection, new: NewAccount, *, actor: str) -> Account:
    password = new.password.get_secret_value()
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountRefused(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if new.role is AccountRole.TRUST_CONTACT:
        raise AccountRefused("a trust's contacts are added on the trust's page (no password)")
    if (new.role is AccountRole.COORDINATOR) != (new.network_id is not None):
        raise AccountRefused("a coordinator belongs to one network; an administrator to none")
    email = str(new.email).lower()
    async with conn.transaction():
        try:
            await conn.execute(
                "INSERT INTO accounts (email, name, role, network_id, password_hash)"
                " VALUES ($1, $2, $3, $4, $5)",
                email,
                new.name,
                new.role.value,
                new.network_id,
                hash_password(password),
            )
        except asyncpg.UniqueViolationError as error:
            raise AccountRefused(f"an account for {email} already exists") from error
        except asyncpg.ForeignKeyViolationError as error:
            raise AccountRefused(f"unknown network {new.network_id!r}") from error
        if new.network_id is not None:
            coordinator = Coordinator(name=new.name, email=email)
            await networks.add_coordinator(conn, new.network_id, coordinator)
        await record_audit(
            conn,
            actor=actor,
            action="account.created",
            subject=email,
            details={"role": new.role.value, "network_id": new.network_id},
        )
    return Account(email=email, name=new.name, role=new.role, network_id=new.network_id)


async def remove_coordinator(conn: asyncpg.Connection, email: str, *, actor: str) -> str:
    """Delete a coordinator's account and take them off their network's coordinators (they get
    no more proposal emails, and their decision links stop working); returns the network."""
    email = email.strip().lower()
    async with conn.transaction():
        network_id: str | None = await conn.fetchval(
            "DELETE FROM accounts WHERE email = $1 AND role = 'coordinator' RETURNING network_id",
            email,
        )
        if network_id is None:
            raise AccountRefused(f"there is no coordinator account for {email}")
        await networks.remove_coordinator(conn, network_id, email)
        await record_audit(
            conn,
            actor=actor,
            action="account.removed",
            subject=email,
            details={"network_id": network_id},
        )
    return network_id


async def create_network(
    conn: asyncpg.Connection, network_id: str, name: Name, coordinator: NewAccount, *, actor: str
) -> None:
    """A new network with its first coordinator's account, audited; refused if it exists."""
    network = NetworkIn(
        name=name, coordinators=[Coordinator(name=coordinator.name, email=coordinator.email)]
    )
    async with conn.transaction():
        if await networks.network_exists(conn, network_id):
            raise AccountRefused(f"network {network_id!r} exists already")
        await networks.upsert_network(conn, network_id, network)
        await record_audit(conn, actor=actor, action="network.created", subject=network_id)
        await create_account(conn, coordinator, actor=actor)


async def list_accounts(conn: asyncpg.Connection) -> list[Account]:
    rows = await conn.fetch(
        "SELECT email, name, role, network_id, trust_code FROM accounts"
        " ORDER BY role, network_id, trust_code, email"
    )
    return [_account(row) for row in rows]


class DevelopmentOnly(RuntimeError):
    """Something meant for development only (demo accounts, printed passwords) was asked for
    in production."""


def demo_password(settings_environment: str) -> str:
    """A fresh random password for a demo account; refused in production, where every
    password is chosen by a person and none is ever printed."""
    if settings_environment == "production":
        raise DevelopmentOnly("demo accounts are refused in production (BRIDGEWORK_ENVIRONMENT)")
    return secrets.token_urlsafe(12)
