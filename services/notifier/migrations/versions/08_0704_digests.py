"""Daily digests: the proposals waiting for each coordinator's next digest email (those who
chose one email a day), and which digest listed them.

Revision ID: 0704
Revises: 1700
"""

from alembic import op

from shared.migrations import execute

revision = "0704"
down_revision = "1700"
branch_labels = None
depends_on = None

STATEMENTS = [
    """
    CREATE TABLE digest_items (
        network_id text NOT NULL,
        recipient_email text NOT NULL,
        recipient_name text NOT NULL,
        match_id uuid NOT NULL,
        added_at timestamptz NOT NULL DEFAULT now(),
        digest_key text,
        PRIMARY KEY (recipient_email, match_id)
    )
    """,
    "CREATE INDEX digest_items_waiting ON digest_items (network_id, recipient_email)"
    " WHERE digest_key IS NULL",
    "CREATE INDEX digest_items_by_digest ON digest_items (digest_key)",
]


def upgrade() -> None:
    execute(STATEMENTS)


def downgrade() -> None:
    op.execute("DROP TABLE digest_items")
