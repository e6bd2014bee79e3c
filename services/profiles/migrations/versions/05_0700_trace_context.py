"""Each outbox row keeps the correlation id and trace context of the change that wrote it, so
the relay sends them on as Kafka headers.

Revision ID: 0700
Revises: 0003
"""

from shared.migrations import execute

revision = "0700"
down_revision = "0003"
branch_labels = None
depends_on = None

STATEMENTS = [
    "ALTER TABLE outbox ADD COLUMN trace_context jsonb NOT NULL DEFAULT '{}'",
]


def upgrade() -> None:
    execute(STATEMENTS)
