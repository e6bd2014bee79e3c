"""A match's life after the introduction (docs/outcomes.md): an approved match is ``closed``
when it ends, with its outcome. Its mentor's capacity (or its placement's place) comes back;
the pair is never proposed again; after ``ended_early`` the mentee is matched again. And the
score weights a coordinator applied to a network's rounds.

Revision ID: 1800
Revises: 0008
"""

from alembic import op

from shared.migrations import execute

revision = "1800"
down_revision = "0008"
branch_labels = None
depends_on = None

STATEMENTS = [
    "ALTER TABLE proposals DROP CONSTRAINT proposals_status_check",
    """
    ALTER TABLE proposals ADD CONSTRAINT proposals_status_check
        CHECK (status IN ('pending', 'approved', 'rejected', 'withdrawn', 'closed'))
    """,
    "ALTER TABLE proposals ADD COLUMN outcome text, ADD COLUMN closed_at timestamptz",
    # Weights a coordinator applied to the network's rounds (network.weights_applied).
    "ALTER TABLE networks ADD COLUMN weights jsonb, ADD COLUMN weights_version integer",
]


def upgrade() -> None:
    execute(STATEMENTS)


def downgrade() -> None:
    op.execute("UPDATE proposals SET status = 'approved' WHERE status = 'closed'")
    op.execute("ALTER TABLE proposals DROP COLUMN outcome, DROP COLUMN closed_at")
    op.execute("ALTER TABLE networks DROP COLUMN weights, DROP COLUMN weights_version")
