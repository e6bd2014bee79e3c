"""Mentors looked up by network: proposals on arrival read the free capacity of every mentor in
a batch's networks, and without this index PostgreSQL scanned all people (mentees too) for it,
a cost that grew with every mentee who ever arrived (8.5 ms a batch at 10,000 people).

Revision ID: 0005
Revises: 0004
"""

from alembic import op

from shared.migrations import execute

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

STATEMENTS = ["CREATE INDEX people_mentors ON people (network_id) WHERE role = 'mentor'"]


def upgrade() -> None:
    execute(STATEMENTS)


def downgrade() -> None:
    op.execute("DROP INDEX people_mentors")
