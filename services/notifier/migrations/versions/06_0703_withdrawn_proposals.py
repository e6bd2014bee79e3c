"""A proposal remembers that it was withdrawn: an approval that raced the withdrawal must not
introduce the people (the matcher ignores a decision on a withdrawn proposal).

Revision ID: 0703
Revises: 0702
"""

from alembic import op

from shared.migrations import execute

revision = "0703"
down_revision = "0702"
branch_labels = None
depends_on = None

STATEMENTS = [
    "ALTER TABLE proposals ADD COLUMN withdrawn boolean NOT NULL DEFAULT false",
]


def upgrade() -> None:
    execute(STATEMENTS)


def downgrade() -> None:
    op.execute("ALTER TABLE proposals DROP COLUMN withdrawn")
