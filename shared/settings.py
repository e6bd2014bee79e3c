"""Settings from the environment (prefix ``BRIDGEWORK_``), with local-development defaults.

Grouped by concern: each group is a class of its own, and ``Settings`` (what every process
reads) inherits them all, so a setting is read flat (``settings.smtp_port``) wherever it is
used. docs/configuration.md is generated from these classes (``make api-docs``); a test fails
when the two disagree, so a new setting goes into a group, with a description.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_SECRET_KEY = "development-only-secret-key-change-me"
MIN_PRODUCTION_SECRET_LENGTH = 32
# The placeholders in deploy/k8s/secrets.yaml say this; one left in place is no secret.
PLACEHOLDER_MARK = "change-me"
# A key of 32 spaces or 40 times one letter is long enough and no secret at all. These bounds
# refuse such keys and still take any generated one: by this estimate 32 characters of
# `openssl rand -hex 16` carry 95 bits or more (the least of 10,000 draws) and 9 or more
# distinct characters (of 100,000), `secrets.token_urlsafe(24)` 128 bits or more.
MIN_SECRET_DISTINCT_CHARACTERS = 8
MIN_SECRET_ESTIMATED_BITS = 80
ENV_PREFIX = "BRIDGEWORK_"


def estimated_bits(secret: str) -> float:
    """The secret's length times the Shannon entropy of its characters: an upper bound on what
    a key of repeated or few characters can carry (it cannot see a dictionary word)."""
    counts = Counter(secret)
    return -sum(n * math.log2(n / len(secret)) for n in counts.values())


def weak_secret_reason(secret: str) -> str | None:
    """Why ``secret`` is too weak to sign anything in production, or None. Never quotes it."""
    if len(secret) < MIN_PRODUCTION_SECRET_LENGTH:
        return f"must be at least {MIN_PRODUCTION_SECRET_LENGTH} characters"
    if secret.strip() != secret or not secret.isprintable():
        return "must not start or end with spaces or hold control characters"
    if len(set(secret)) < MIN_SECRET_DISTINCT_CHARACTERS:
        return f"must use at least {MIN_SECRET_DISTINCT_CHARACTERS} different characters"
    if estimated_bits(secret) < MIN_SECRET_ESTIMATED_BITS:
        return "is too predictable (too many repeated characters): generate a random one"
    return None


class SettingsGroup(BaseSettings):
    """One concern's settings; its docstring is the group's title in docs/configuration.md."""

    # A refused setting's error must never quote what was given: the input holds the secret
    # key and the SMTP credentials, and the error ends up in the log.
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="ignore",
        populate_by_name=True,
        hide_input_in_errors=True,
        use_attribute_docstrings=True,  # a setting's description is the docstring below it
    )


class DeploymentSettings(SettingsGroup):
    """Deployment: environment, database and secrets"""

    environment: Literal["development", "production"] = "development"
    """In "production", refuses the development defaults (the secret key, a default password,
    plain-HTTP links, SMTP credentials without TLS)."""
    database_url: str = Field(
        default="postgresql://bridgework@127.0.0.1:55432/bridgework",
        validation_alias=AliasChoices("BRIDGEWORK_DATABASE_URL", "DATABASE_URL"),
    )
    """PostgreSQL; each service uses a schema of its own name in this database. A password's
    reserved characters are percent-encoded (`p@ss` is `p%40ss`); a Unix socket is named by
    `?host=/var/run/postgresql`; options such as `?sslmode=require` are kept."""
    secret_key: SecretStr = Field(
        default=SecretStr(DEVELOPMENT_SECRET_KEY),
        description="Signs session cookies and the links in emails. Must be set in production,"
        f" to a random key of at least {MIN_PRODUCTION_SECRET_LENGTH} characters.",
    )
    gc_freeze: bool = True
    """Shorter garbage-collector pauses (shared/gc_tuning.py): a full collection walks only what was
    created since start-up. Off: CPython's defaults."""


class KafkaSettings(SettingsGroup):
    """Kafka and the outbox"""

    kafka_bootstrap_servers: str = "127.0.0.1:19092"
    """The Kafka brokers, host:port[,host:port...]."""
    kafka_partitions: int | None = Field(default=None, gt=0, le=1000)
    """Partitions of the keyed topics (people, placements, proposals, decisions) when the
    services first create them; unset: 6, 3, 6, 3 (shared/topics.py). The networks and
    dead-letter topics keep one. An existing topic is left as it is (docs/scaling.md)."""
    kafka_replication_factor: int = Field(default=1, gt=0, le=15)
    """Copies of each partition on different brokers, for the topics the services create: 1 on
    one broker, 3 on a cluster of three or more."""
    kafka_min_insync_replicas: int = Field(default=1, gt=0, le=15)
    """Copies that must have a message before the broker acknowledges it (producers send with
    acks=all and idempotence): 2 with a replication factor of 3, so one broker may be down and
    no acknowledged message lives on one broker only."""
    outbox_poll_seconds: float = Field(default=0.5, gt=0)
    """How often the outbox relay looks for unpublished events when no commit has woken it."""

    @property
    def kafka_brokers(self) -> list[str]:
        """The brokers one by one: FastStream hands a string to aiokafka as one address."""
        return [broker.strip() for broker in self.kafka_bootstrap_servers.split(",")]

    @model_validator(mode="after")
    def _replicas_the_cluster_can_hold(self) -> KafkaSettings:
        if self.kafka_min_insync_replicas > self.kafka_replication_factor:
            raise ValueError(
                "BRIDGEWORK_KAFKA_MIN_INSYNC_REPLICAS must not exceed"
                " BRIDGEWORK_KAFKA_REPLICATION_FACTOR: no message could ever be acknowledged"
            )
        return self


class ConsumerSettings(SettingsGroup):
    """Consumers"""

    consumer_batch_max_records: int = Field(default=500, gt=0)
    """Most messages a consumer reads at once and applies in one transaction."""
    consumer_batch_timeout_ms: int = Field(default=20, gt=0)
    """An idle consumer polls again after this long: an upper bound on the latency it adds."""
    consumer_fetch_max_wait_ms: int = Field(default=20, gt=0)
    """How long the broker may hold a fetch with nothing new (Kafka's default, 500 ms, delayed
    events by up to that long: docs/scaling.md)."""
    consumer_fresh_fetch_ms: int = Field(default=5, ge=0)
    """How long a consumer waits for the records that arrived while its last batch was handled, to
    take them into this batch; 0: it does not wait."""
    consumer_stall_seconds: float = Field(default=60.0, gt=0)
    """A partition whose consumer has retried the same messages for longer than this makes the
    service not ready, and /health/ready names it (shared/observability/progress.py)."""


class MatcherSettings(SettingsGroup):
    """Matcher"""

    matcher_role: Literal["all", "events", "rounds"] = "all"
    """What a matcher process does: "all" (consume events and run rounds), "events" (consume only)
    or "rounds" (run rounds only, in a process of their own: docs/scaling.md)."""
    round_quiet_seconds: float = Field(default=1.5, ge=0)
    """A network's matching round runs once its events have been quiet this long."""
    round_max_delay_seconds: float = Field(default=10.0, gt=0)
    """A network's round runs at the latest this long after its first change, however busy its
    events."""
    round_poll_seconds: float = Field(default=0.25, gt=0)
    """How often the matcher looks for networks whose rounds are due."""
    round_duty_cycle: float = Field(default=1.0, gt=0, le=1)
    """The share of the time rounds may take while several are due. Pace them (0.25 in the
    deployments) only with proposals on arrival (docs/scaling.md)."""
    propose_on_arrival: bool = False
    """Propose a mentor to an arriving mentee at once, ahead of the network's round (which may still
    improve on it): milliseconds instead of a round's wait."""
    matching_config_file: Path | None = None
    """JSON file with the matching engine's weights and options (MatchingConfig, docs/matching.md);
    unset: the defaults."""


class MailSettings(SettingsGroup):
    """Mail"""

    smtp_host: str = "127.0.0.1"
    """The SMTP server the notifier sends through."""
    smtp_port: int = 2525
    """Its port."""
    smtp_username: str | None = None
    """SMTP user, when it needs one."""
    smtp_password: SecretStr | None = None
    """SMTP password."""
    smtp_use_tls: bool = False
    """STARTTLS; required with credentials in production."""
    mail_from: str = "Bridgework <matches@bridgework.local>"
    """The From of every email; its domain ends each Message-ID."""
    mail_retry_seconds: float = Field(default=5.0, gt=0)
    """Wait before the first retry of an email the server did not take; doubled after each failure,
    up to 5 minutes."""
    digest_hour: int = Field(default=7, ge=0, le=23)
    """The hour (UK time) from which each day's digest goes to the coordinators who chose one
    email a day instead of one per proposal."""


class WebSettings(SettingsGroup):
    """Web: the profiles service's HTTP API and pages"""

    http_host: str = "127.0.0.1"
    """Address the profiles service listens on."""
    http_port: int = 8000
    """Its port (also /metrics and /health)."""
    public_base_url: str = "http://127.0.0.1:8000"
    """Where people reach the pages: the base of the links in emails. https:// in production."""
    decision_link_max_age_seconds: int = Field(default=14 * 24 * 3600, gt=0)
    """How long the approve/reject links in a proposal email work."""
    self_service_link_max_age_seconds: int = Field(default=7 * 24 * 3600, gt=0)
    """How long a participant's self-service link works."""
    match_life_link_max_age_seconds: int = Field(default=30 * 24 * 3600, gt=0)
    """How long a participant's first-conversation or check-in link works (docs/outcomes.md)."""
    join_link_max_age_seconds: int = Field(default=2 * 24 * 3600, gt=0)
    """How long the link that confirms a volunteer's or applicant's email address works; an
    application still unconfirmed after it is deleted."""
    join_requests_per_address: int = Field(default=3, gt=0)
    """Join forms accepted for one email address within the hour; past it the same answer is
    given and nothing is sent or kept (so nobody's inbox can be flooded)."""
    join_requests_per_client: int = Field(default=10, gt=0)
    """Join forms accepted from one client address within the hour; past it they are refused
    (429) and nothing is kept."""
    trust_sign_in_link_max_age_seconds: int = Field(default=30 * 60, gt=0)
    """How long a trust contact's sign-in link works (it works once)."""
    consent_days: int = Field(default=7, gt=0, le=60)
    """How long a trust has to give or refuse its consent to a secondment; its consent links
    work until then."""
    consent_reminder_days: int = Field(default=2, ge=0, le=30)
    """How many days before a consent's deadline its trust's contacts are reminded (once);
    0: no reminder."""
    consent_deadline_poll_seconds: float = Field(default=60.0, gt=0, le=3600)
    """How often the profiles service looks for consents past their deadline (each expires
    once: the secondment, and its exchange, are not agreed)."""
    max_request_body_bytes: int = Field(default=256 * 1024, gt=0, le=16 * 1024 * 1024)
    """Request bodies over this size are refused with 413 before anything reads them."""


class SignInSettings(SettingsGroup):
    """Sign-in: coordinators' and administrators' sessions, passwords and single sign-on"""

    password_sign_in: bool = True
    """Whether coordinators and administrators may sign in with a password. Off: only through
    the organisation's identity provider (single sign-on must then be configured)."""
    sign_in_failures_per_account: int = Field(default=5, gt=0)
    """Failed sign-ins for one address, within the window, after which it is refused."""
    sign_in_failures_per_client: int = Field(default=20, gt=0)
    """Failed sign-ins from one client address (whatever the addresses tried), within the
    window, after which that client is refused: one password sprayed over many accounts."""
    sign_in_failure_window_seconds: float = Field(default=15 * 60, gt=0)
    """How long a failed sign-in counts towards those limits."""
    oidc_issuer: str | None = None
    """The OpenID Connect provider for single sign-on (its issuer URL, whose
    /.well-known/openid-configuration is read), e.g. Microsoft Entra ID's
    https://login.microsoftonline.com/<tenant>/v2.0. Unset: no single sign-on."""
    oidc_client_id: str | None = None
    """Bridgework's client id at that provider (the ID token's audience)."""
    oidc_client_secret: SecretStr | None = None
    """Bridgework's client secret at that provider."""
    oidc_email_claim: str = "email"
    """The ID token claim holding the address that names the Bridgework account (Entra ID:
    "email" once configured as an optional claim, or "preferred_username")."""
    oidc_clock_leeway_seconds: int = Field(default=30, ge=0, le=300)
    """Clock difference allowed when checking an ID token's expiry and issue time."""
    oidc_provider_name: str = "your organisation"
    """How the sign-in page names the identity provider ("Sign in with ...")."""

    @property
    def single_sign_on(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id and self.oidc_client_secret)


class ObservabilitySettings(SettingsGroup):
    """Observability: logs, traces, metrics and health"""

    log_level: str = "INFO"
    """Python log level."""
    log_format: Literal["auto", "json", "text"] = "auto"
    """JSON lines or readable text; "auto": JSON in production, text in development."""
    tracing: Literal["off", "console", "otlp"] = "off"
    """OpenTelemetry traces; "off" unless set here or OTEL_EXPORTER_OTLP_ENDPOINT is set."""
    ops_host: str = "127.0.0.1"
    """Address of the matcher's and notifier's operations endpoint (/metrics, /health/*,
    /docs/asyncapi)."""
    ops_port: int | None = None
    """Its port; unset: 8001 for the matcher, 8002 for the notifier, 8003 for the profiles
    service, which serves them on its HTTP port too except in production."""
    health_timeout_seconds: float = Field(default=2.0, gt=0)
    """Time allowed to each readiness check (and to the health requests of `bridgework status`)."""
    metrics_sample_seconds: float = Field(default=10.0, gt=0)
    """How often a service samples its consumer lag and outbox backlog for /metrics."""


GROUPS: tuple[type[SettingsGroup], ...] = (
    DeploymentSettings,
    KafkaSettings,
    ConsumerSettings,
    MatcherSettings,
    MailSettings,
    WebSettings,
    SignInSettings,
    ObservabilitySettings,
)


class Settings(
    ObservabilitySettings,
    SignInSettings,
    WebSettings,
    MailSettings,
    MatcherSettings,
    ConsumerSettings,
    KafkaSettings,
    DeploymentSettings,
):
    """Every setting, read flat; what each process is given."""

    @model_validator(mode="after")
    def _no_development_secret_in_production(self) -> Settings:
        if self.environment != "production":
            return self
        secret = self.secret_key.get_secret_value()
        if secret == DEVELOPMENT_SECRET_KEY:
            raise ValueError("BRIDGEWORK_SECRET_KEY must be set in production")
        if PLACEHOLDER_MARK in secret.lower():
            raise ValueError("BRIDGEWORK_SECRET_KEY is still a placeholder (CHANGE-ME)")
        weakness = weak_secret_reason(secret)
        if weakness is not None:
            raise ValueError(f"BRIDGEWORK_SECRET_KEY {weakness} in production")
        if not self.public_base_url.startswith("https://"):
            # Links in emails carry signed tokens: never send them over plain HTTP.
            raise ValueError("BRIDGEWORK_PUBLIC_BASE_URL must be https:// in production")
        if self.smtp_username and not self.smtp_use_tls:
            raise ValueError("SMTP credentials need BRIDGEWORK_SMTP_USE_TLS=true in production")
        if self.oidc_issuer and not self.oidc_issuer.startswith("https://"):
            raise ValueError("BRIDGEWORK_OIDC_ISSUER must be https:// in production")
        return self

    @model_validator(mode="after")
    def _a_way_to_sign_in(self) -> Settings:
        if not self.password_sign_in and not self.single_sign_on:
            raise ValueError(
                "BRIDGEWORK_PASSWORD_SIGN_IN=false needs single sign-on: BRIDGEWORK_OIDC_ISSUER,"
                " BRIDGEWORK_OIDC_CLIENT_ID and BRIDGEWORK_OIDC_CLIENT_SECRET"
            )
        return self
