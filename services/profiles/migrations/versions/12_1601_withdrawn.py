"""A participant who withdrew is told apart from a mentor who paused: both have no capacity,
but a withdrawn mentor is shown as withdrawn and a withdrawn mentee is not waiting.

Revision ID: 1601
Revises: 0011
"""

from alembic import op

from shared.migrations import execute

revision = "1601"
down_revision = "0011"
branch_labels = None
depends_on = None

STATEMENTS = [
    "ALTER TABLE people ADD COLUMN withdrawn boolean NOT NULL DEFAULT false",
    # Until now a mentee could only be paused by withdrawing.
    "UPDATE people SET withdrawn = paused WHERE role = 'mentee'",
    # A participant's own page reads their matches.
    "CREATE INDEX IF NOT EXISTS proposals_by_mentee ON proposals (mentee_id)",
    "CREATE INDEX IF NOT EXISTS proposals_by_provider ON proposals (provider_id)",
]


def upgrade() -> None:
    execute(STATEMENTS)


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS proposals_by_provider")
    op.execute("DROP INDEX IF EXISTS proposals_by_mentee")
    op.execute("ALTER TABLE people DROP COLUMN withdrawn")
