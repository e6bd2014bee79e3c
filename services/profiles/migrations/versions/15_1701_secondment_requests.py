"""A member of staff's own request to be considered for secondment: it waits for their home
trust's contact to agree (they become a secondment candidate) or decline (with a reason).

Revision ID: 1701
Revises: 1800
"""

from alembic import op

from shared.migrations import execute

revision = "1701"
down_revision = "1800"
branch_labels = None
depends_on = None

STATEMENTS = [
    # One row per person: their latest request (asking again after a decline replaces it).
    """
    CREATE TABLE secondment_requests (
        person_id uuid PRIMARY KEY REFERENCES people (id) ON DELETE CASCADE,
        status text NOT NULL CHECK (status IN ('waiting', 'agreed', 'declined')),
        reason text NOT NULL DEFAULT '',
        requested_at timestamptz NOT NULL DEFAULT now(),
        decided_by text,
        decided_at timestamptz
    )
    """,
    "CREATE INDEX secondment_requests_waiting ON secondment_requests (requested_at)"
    " WHERE status = 'waiting'",
]


def upgrade() -> None:
    execute(STATEMENTS)


def downgrade() -> None:
    op.execute("DROP TABLE secondment_requests")
