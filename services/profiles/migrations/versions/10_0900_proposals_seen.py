"""When each coordinator last looked at their network's proposals, so the page can show what
was withdrawn or replaced since.

Revision ID: 0900
Revises: 1700
"""

from alembic import op

from shared.migrations import execute

revision = "0900"
down_revision = "1700"
branch_labels = None
depends_on = None

STATEMENTS = [
    # seen_at moves on with every visit; shown_since (the visit before the latest browsing
    # session) is what "since you last looked" counts from.
    """
    CREATE TABLE proposals_seen (
        email text NOT NULL REFERENCES accounts (email) ON DELETE CASCADE,
        network_id text NOT NULL,
        seen_at timestamptz NOT NULL,
        shown_since timestamptz NOT NULL,
        PRIMARY KEY (email, network_id)
    )
    """,
    "CREATE INDEX proposals_changed ON proposals (network_id, status_changed_at)"
    " WHERE status = 'withdrawn'",
]


def upgrade() -> None:
    execute(STATEMENTS)


def downgrade() -> None:
    op.execute("DROP INDEX proposals_changed")
    op.execute("DROP TABLE proposals_seen")
