"""Who may do what: plain rules on a signed-in account or an API client, no HTTP or SQL.

Administrators manage networks and coordinators and read the audit log; a coordinator sees and
decides only their own network's proposals. An API client's token is either an administrator's
(every network, and the networks themselves) or one network's (its trusts, people and
placements). Nobody else gets anything."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class AccountRole(StrEnum):
    ADMINISTRATOR = "administrator"
    COORDINATOR = "coordinator"


class Account(BaseModel):
    """A signed-in person, however they signed in (password today, an organisation's SSO)."""

    model_config = ConfigDict(frozen=True)

    email: str
    name: str
    role: AccountRole
    network_id: str | None = None

    @property
    def is_administrator(self) -> bool:
        return self.role is AccountRole.ADMINISTRATOR


def may_coordinate(account: Account | None, network_id: str) -> bool:
    """See the network's proposals and state, decide, import and export for it."""
    return (
        account is not None
        and account.role is AccountRole.COORDINATOR
        and account.network_id == network_id
    )


def may_administer(account: Account | None) -> bool:
    """Manage networks and coordinators, read the audit log."""
    return account is not None and account.is_administrator


class ApiClient(BaseModel):
    """The holder of an API token: named when it was made, so audit records say who acted."""

    model_config = ConfigDict(frozen=True)

    name: str
    network_id: str | None = None  # None: an administrator's token

    @property
    def actor(self) -> str:
        return f"api:{self.name}"

    @property
    def is_administrator(self) -> bool:
        return self.network_id is None


def api_may_use_network(client: ApiClient, network_id: str) -> bool:
    """Read and write the network's trusts, people and placements."""
    return client.is_administrator or client.network_id == network_id


def api_may_manage_networks(client: ApiClient) -> bool:
    """Create or change a network (its coordinators receive the signed decision links)."""
    return client.is_administrator


def home_path(account: Account) -> str:
    """Where an account lands after signing in."""
    if account.is_administrator:
        return "/admin"
    return f"/dashboard/{account.network_id}/proposals"


class SignInThrottle:
    """Slows password guessing: after ``limit`` failed sign-ins for one email within ``window``
    seconds, that email is refused until the window has passed. Per process (a guard, not an
    accounting system); the clock is passed in so the rule is tested without waiting."""

    def __init__(self, limit: int = 5, window: float = 15 * 60) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, list[float]] = {}

    def _recent(self, email: str, now: float) -> list[float]:
        recent = [t for t in self._failures.get(email.lower(), []) if now - t < self.window]
        self._failures[email.lower()] = recent
        return recent

    def blocked(self, email: str, now: float) -> bool:
        return len(self._recent(email, now)) >= self.limit

    def failed(self, email: str, now: float) -> None:
        self._recent(email, now).append(now)

    def succeeded(self, email: str) -> None:
        self._failures.pop(email.lower(), None)
