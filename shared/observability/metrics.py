"""Bridgework's Prometheus metrics, defined once (default registry; each service exposes
``/metrics``). FastStream's Prometheus middleware adds its own ``faststream_*`` series for
every message received and published; these add what only Bridgework knows."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram
from prometheus_client import generate_latest as _generate_latest

EVENTS_CONSUMED = Counter(
    "bridgework_events_consumed_total",
    "Messages a consumer handled to the end: applied, recognised as a duplicate, or parked on"
    " the dead-letter topic (Prometheus' job label names the service)",
    ["topic"],
)
EVENTS_FAILED = Counter(
    "bridgework_events_failed_total",
    "Messages a consumer could not apply: dead-lettered (unreadable or rejected), or retried"
    " after a transient failure",
    ["topic", "reason"],
)
DEAD_LETTERED = Counter(
    "bridgework_dead_lettered_total",
    "Messages parked on the dead-letter topic",
    ["source_topic"],
)
CONSUMER_LAG = Gauge(
    "bridgework_consumer_lag",
    "Messages not yet consumed by this service's consumer group (sampled)",
    ["group", "topic"],
)
CONSUMER_STALLED_SECONDS = Gauge(
    "bridgework_consumer_stalled_seconds",
    "Seconds since this partition's consumer last moved on while it keeps trying the same"
    " messages (0: moving, or nothing to do); see BRIDGEWORK_CONSUMER_STALL_SECONDS",
    ["group", "topic", "partition"],
)
CONSUMER_RETRIES = Counter(
    "bridgework_consumer_retries_total",
    "Batches a consumer failed to handle and will be redelivered (a transient error), by partition",
    ["group", "topic", "partition"],
)
CONSUMER_REBALANCES = Counter(
    "bridgework_consumer_rebalances_total",
    "Partition assignments this consumer received from its group: one at start-up, one more"
    " each time a replica joined or left, or a broker's failure moved the group's coordinator",
    ["group"],
)
OUTBOX_BACKLOG = Gauge(
    "bridgework_outbox_backlog",
    "Outbox rows stored but not yet published to Kafka (sampled)",
    ["service"],
)
OUTBOX_PUBLISHED = Counter(
    "bridgework_outbox_published_total", "Outbox rows published to Kafka", ["topic"]
)
PROPOSALS = Counter("bridgework_proposals_total", "Matches proposed by a round", ["kind"])
DECISIONS = Counter(
    "bridgework_decisions_total", "Coordinators' decisions the matcher recorded", ["outcome"]
)
EMAILS_SENT = Counter("bridgework_emails_sent_total", "Emails sent over SMTP", ["purpose"])
EMAILS_FAILED = Counter(
    "bridgework_emails_failed_total", "Email sending attempts that failed (retried)", ["purpose"]
)
EMAILS_UNBUILDABLE = Counter(
    "bridgework_emails_unbuildable_total",
    "Emails that could not be built (a header the mail library refuses, a rendering error):"
    " marked failed at once, never retried, listed by 'bridgework emails failed'",
    ["purpose"],
)
MAIL_QUEUE = Gauge(
    "bridgework_mail_queue_emails",
    "Emails in the notifier's queue not settled yet, by status: pending (to send, or to retry"
    " after a failure), sending, uncertain (perhaps delivered: an operator decides with"
    " 'bridgework emails'), failed (refused for good, or could not be built) (sampled)",
    ["status"],
)
ROUND_SECONDS = Histogram(
    "bridgework_round_solve_seconds",
    "Duration of a network's matching round (load, solve, store)",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
GC_PAUSE_SECONDS = Histogram(
    "bridgework_gc_pause_seconds",
    "How long each garbage collection held the process, by generation (2: a full one)",
    ["generation"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
HTTP_LATENCY = Histogram(
    "bridgework_http_request_duration_seconds",
    "HTTP request latency by route template and status",
    ["method", "route", "status"],
)

CONTENT_TYPE = CONTENT_TYPE_LATEST


def exposition() -> bytes:
    """Every metric of this process, in Prometheus' text format."""
    return _generate_latest(REGISTRY)
