"""What every service's migrations share: running their statements, and the tables of the
mechanisms in shared/ (the outbox of shared/outbox.py, the processed events of
shared/consuming.py) as they were first created.

These statements are part of migrations already applied to databases in use: never edit them.
A later change to the outbox or processed_events is a new migration in each service that has
the table (as the trace_context column was).
"""

from __future__ import annotations

from collections.abc import Iterable

from alembic import op

PROCESSED_EVENTS = (
    """
    CREATE TABLE processed_events (
        consumer text NOT NULL,
        event_id uuid NOT NULL,
        processed_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (consumer, event_id)
    )
    """,
)

OUTBOX = (
    """
    CREATE TABLE outbox (
        id bigserial PRIMARY KEY,
        event_id uuid NOT NULL UNIQUE,
        topic text NOT NULL,
        message_key text NOT NULL,
        payload jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        published_at timestamptz
    )
    """,
    "CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL",
)


def execute(statements: Iterable[str]) -> None:
    """Run each statement in turn: asyncpg runs one statement per call."""
    for statement in statements:
        op.execute(statement)
