"""Matches a coordinator made by hand (issue 16, item 3): kept as approved proposals, marked so
the person and match pages say so.

Revision ID: 1603
Revises: 1702
"""

from alembic import op

from shared.migrations import execute

revision = "1603"
down_revision = "1702"
branch_labels = None
depends_on = None

STATEMENTS = ["ALTER TABLE proposals ADD COLUMN by_hand boolean NOT NULL DEFAULT false"]


def upgrade() -> None:
    execute(STATEMENTS)


def downgrade() -> None:
    op.execute("ALTER TABLE proposals DROP COLUMN by_hand")
