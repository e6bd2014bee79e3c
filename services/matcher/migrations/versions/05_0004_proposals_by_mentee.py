"""Proposals looked up by mentee: rounds count each mentee's approved matches, and proposals on
arrival check that a newcomer has nothing pending, without scanning every proposal.

Revision ID: 0004
Revises: 0700
"""

from alembic import op

from shared.migrations import execute

revision = "0004"
down_revision = "0700"
branch_labels = None
depends_on = None

STATEMENTS = ["CREATE INDEX proposals_mentee ON proposals (mentee_id, kind, status)"]


def upgrade() -> None:
    execute(STATEMENTS)


def downgrade() -> None:
    op.execute("DROP INDEX proposals_mentee")
