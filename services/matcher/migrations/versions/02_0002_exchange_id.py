"""Proposals remember the exchange cycle they belong to.

Revision ID: 0002
Revises: 0001
"""

from shared.migrations import execute

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


STATEMENTS = ["ALTER TABLE proposals ADD COLUMN exchange_id text"]


def upgrade() -> None:
    execute(STATEMENTS)
