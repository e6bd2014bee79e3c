"""Correlation id and trace context of a decision, for its introductions: they are queued by
the mail queue's loop, outside the decision event's context, so the decision keeps its own.

Revision ID: 0701
Revises: 0700
"""

from shared.migrations import execute

revision = "0701"
down_revision = "0700"
branch_labels = None
depends_on = None

STATEMENTS = [
    "ALTER TABLE decisions ADD COLUMN trace_context jsonb NOT NULL DEFAULT '{}'",
]


def upgrade() -> None:
    execute(STATEMENTS)
