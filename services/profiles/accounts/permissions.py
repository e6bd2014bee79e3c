"""Who may do what: plain rules on a signed-in account or an API client, no HTTP or SQL.

Administrators manage networks and coordinators and read the audit log; a coordinator sees and
decides only their own network's proposals; a trust's contact sees and decides only their own
trust's placements, staff and consents (never another trust's, never mentoring). An API
client's token is either an administrator's (every network, and the networks themselves) or one
network's (its trusts, people and placements). Nobody else gets anything."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from shared.addresses import normalised_email


class AccountRole(StrEnum):
    ADMINISTRATOR = "administrator"
    COORDINATOR = "coordinator"
    TRUST_CONTACT = "trust_contact"


class Account(BaseModel):
    """A signed-in person, however they signed in (password today, an organisation's SSO)."""

    model_config = ConfigDict(frozen=True)

    email: str
    name: str
    role: AccountRole
    network_id: str | None = None
    trust_code: str | None = None  # a trust contact's trust

    @property
    def is_administrator(self) -> bool:
        return self.role is AccountRole.ADMINISTRATOR

    @property
    def is_trust_contact(self) -> bool:
        return self.role is AccountRole.TRUST_CONTACT


def may_coordinate(account: Account | None, network_id: str) -> bool:
    """See the network's proposals and state, decide, import and export for it."""
    return (
        account is not None
        and account.role is AccountRole.COORDINATOR
        and account.network_id == network_id
    )


def may_act_for_trust(account: Account | None, trust_code: str) -> bool:
    """See the trust's placements, staff and secondments; post placements; consent for it."""
    return (
        account is not None
        and account.role is AccountRole.TRUST_CONTACT
        and account.trust_code == trust_code
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
    if account.is_trust_contact:
        return f"/trust/{account.trust_code}"
    return f"/dashboard/{account.network_id}/proposals"


class SignInThrottle:
    """Slows password guessing. After ``per_account`` failed sign-ins for one address within
    ``window`` seconds, that address is refused until the window has passed; after
    ``per_client`` failures from one client (its network address), whatever the addresses
    tried, that client is refused too: one password sprayed over many accounts.

    The address is keyed as the account lookup reads it (``normalised_email``): spaces or
    capitals around it are the same account, so they count towards the same lock-out. Per
    process (a guard, not an accounting system); the clock is passed in so the rule is tested
    without waiting."""

    def __init__(self, per_account: int = 5, per_client: int = 20, window: float = 15 * 60) -> None:
        self.per_account = per_account
        self.per_client = per_client
        self.window = window
        self._failures: dict[str, list[float]] = {}

    def _recent(self, key: str, now: float) -> list[float]:
        recent = [t for t in self._failures.get(key, []) if now - t < self.window]
        if recent:
            self._failures[key] = recent
        else:
            self._failures.pop(key, None)  # forgotten keys do not pile up
        return recent

    def blocked(self, email: str, client: str, now: float) -> bool:
        return (
            len(self._recent(_account_key(email), now)) >= self.per_account
            or len(self._recent(_client_key(client), now)) >= self.per_client
        )

    def failed(self, email: str, client: str, now: float) -> None:
        for key in (_account_key(email), _client_key(client)):
            self._failures[key] = [*self._recent(key, now), now]

    def succeeded(self, email: str) -> None:
        """The account's failures are forgiven; the client's are not (a sprayer may hold one
        real password)."""
        self._failures.pop(_account_key(email), None)


def _account_key(email: str) -> str:
    return "account:" + normalised_email(email)


def _client_key(client: str) -> str:
    return "client:" + client
