"""Correlation id and trace context of the proposal an email announces, for the email's log
line, its X-Correlation-ID header and its span.

Revision ID: 0700
Revises: 0002
"""

from shared.migrations import execute

revision = "0700"
down_revision = "0002"
branch_labels = None
depends_on = None

STATEMENTS = [
    "ALTER TABLE proposals ADD COLUMN trace_context jsonb NOT NULL DEFAULT '{}'",
    "ALTER TABLE emails ADD COLUMN trace_context jsonb NOT NULL DEFAULT '{}'",
]


def upgrade() -> None:
    execute(STATEMENTS)
