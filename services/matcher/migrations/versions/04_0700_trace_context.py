"""Correlation id and trace context: on outbox rows (sent as Kafka headers), and on a dirty
network (the change that asked for its next round, which the round's proposals carry on).

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
    "ALTER TABLE dirty_networks ADD COLUMN trace_context jsonb NOT NULL DEFAULT '{}'",
]


def upgrade() -> None:
    execute(STATEMENTS)
