"""Each round's fairness price: what meeting the fairness targets cost in total score.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

from shared.migrations import execute

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

STATEMENTS = [
    # The engine's FairnessOutcome as JSON; NULL for rounds before this and stable-mode rounds.
    "ALTER TABLE rounds ADD COLUMN fairness_price jsonb",
]


def upgrade() -> None:
    execute(STATEMENTS)


def downgrade() -> None:
    op.execute("ALTER TABLE rounds DROP COLUMN fairness_price")
