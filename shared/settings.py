"""Settings from the environment (prefix ``BRIDGEWORK_``), with local-development defaults."""

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


class Settings(BaseSettings):
    # A refused setting's error must never quote what was given: the input holds the secret
    # key and the SMTP credentials, and the error ends up in the log.
    model_config = SettingsConfigDict(
        env_prefix="BRIDGEWORK_", extra="ignore", populate_by_name=True, hide_input_in_errors=True
    )

    kafka_bootstrap_servers: str = "127.0.0.1:19092"
    database_url: str = Field(
        default="postgresql://bridgework@127.0.0.1:55432/bridgework",
        validation_alias=AliasChoices("BRIDGEWORK_DATABASE_URL", "DATABASE_URL"),
    )
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_use_tls: bool = False
    mail_from: str = "Bridgework <matches@bridgework.local>"

    http_host: str = "127.0.0.1"
    http_port: int = 8000
    public_base_url: str = "http://127.0.0.1:8000"

    # A network's matching round runs once its events have been quiet this long.
    round_quiet_seconds: float = Field(default=1.5, ge=0)
    round_max_delay_seconds: float = Field(default=10.0, gt=0)
    # Consumers read up to this many messages at once and apply them in one transaction; an
    # idle consumer polls again after this many milliseconds (an upper bound on added latency).
    consumer_batch_max_records: int = Field(default=500, gt=0)
    consumer_batch_timeout_ms: int = Field(default=20, gt=0)
    # How long the broker may hold a fetch with nothing new (Kafka's default is 500 ms). A fetch
    # is sent only for partitions with nothing buffered, so while the busy people topic's
    # records were being applied, one covering only the quiet topics held new people events
    # back for up to that long: 400-460 ms gaps at 500 events/s (bench-pipeline, latency).
    consumer_fetch_max_wait_ms: int = Field(default=20, gt=0)
    # How long a consumer waits for the records that arrived while its last batch was handled,
    # to take them into this batch (shared.kafka.take_fresh_records); 0: it does not wait.
    consumer_fresh_fetch_ms: int = Field(default=5, ge=0)
    # A partition whose consumer has retried the same messages for longer than this makes the
    # service not ready, and /health/ready names it (shared/observability/progress.py).
    consumer_stall_seconds: float = Field(default=60.0, gt=0)
    # Shorter garbage-collector pauses (shared/gc_tuning.py): a full collection walks only what
    # was created since the last one. Off: CPython's defaults.
    gc_freeze: bool = True
    # Propose a mentor to an arriving mentee at once, ahead of the network's round (which may
    # still improve on it, beyond replace_margin): milliseconds instead of a round's wait.
    propose_on_arrival: bool = False
    # What a matcher process does: "all" (consume events and run rounds), "events" (consume
    # only) or "rounds" (run rounds only). Rounds are CPU-bound; in a process of their own
    # they no longer hold the GIL that the consumer's event loop needs (docs/scaling.md).
    matcher_role: Literal["all", "events", "rounds"] = "all"
    # How often the matcher looks for networks whose rounds are due.
    round_poll_seconds: float = Field(default=0.25, gt=0)
    # The share of the time rounds may take while several are due (services/matcher/rounds.py).
    # Pace them (0.25 in the deployments) only with proposals on arrival: otherwise the rounds
    # are what proposes, and pacing them slowed every proposal (rounds only at 500 events/s:
    # p50 0.93 s unpaced, 5.1 s at 0.25: bench/results/pipeline.json, pipeline_rounds_paced.json).
    round_duty_cycle: float = Field(default=1.0, gt=0, le=1)
    outbox_poll_seconds: float = Field(default=0.5, gt=0)
    mail_retry_seconds: float = Field(default=5.0, gt=0)
    log_level: str = "INFO"
    # "auto": JSON lines in production, readable text in development.
    log_format: Literal["auto", "json", "text"] = "auto"
    # Tracing is off unless "console"/"otlp" here or OTEL_EXPORTER_OTLP_ENDPOINT is set.
    tracing: Literal["off", "console", "otlp"] = "off"
    # The matcher's and notifier's operations endpoint (/metrics, /health/*, /docs/asyncapi);
    # unset: 8001 for the matcher, 8002 for the notifier. The profiles API serves them itself.
    ops_host: str = "127.0.0.1"
    ops_port: int | None = None
    health_timeout_seconds: float = Field(default=2.0, gt=0)
    # How often a service samples its consumer lag and outbox backlog for /metrics.
    metrics_sample_seconds: float = Field(default=10.0, gt=0)
    # "production" refuses development defaults (the secret key below, a default password).
    environment: Literal["development", "production"] = "development"
    # Signs session cookies and the links in emails. Must be set in production.
    secret_key: SecretStr = SecretStr(DEVELOPMENT_SECRET_KEY)
    decision_link_max_age_seconds: int = Field(default=14 * 24 * 3600, gt=0)
    self_service_link_max_age_seconds: int = Field(default=7 * 24 * 3600, gt=0)
    # Request bodies over this size are refused with 413 before anything reads them.
    max_request_body_bytes: int = Field(default=256 * 1024, gt=0, le=16 * 1024 * 1024)
    # JSON file with the matching engine's weights and options (MatchingConfig); defaults if unset.
    matching_config_file: Path | None = None

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
        return self
