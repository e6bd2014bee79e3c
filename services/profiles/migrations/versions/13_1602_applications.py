"""Volunteers and applicants before they are people: an application waits for its email address
to be confirmed, then for a coordinator; join requests are counted (by a keyed hash of the
address and of the client, never the address itself) to limit how often the forms are used.

Revision ID: 1602
Revises: 1601
"""

from alembic import op

from shared.migrations import execute

revision = "1602"
down_revision = "1601"
branch_labels = None
depends_on = None

STATEMENTS = [
    """
    CREATE TABLE applications (
        id uuid PRIMARY KEY,
        network_id text NOT NULL,
        role text NOT NULL CHECK (role IN ('mentor', 'mentee')),
        email text NOT NULL,
        details jsonb NOT NULL,
        token_id uuid NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        confirmed_at timestamptz
    )
    """,
    # One application per address, role and network: applying again replaces it.
    "CREATE UNIQUE INDEX applications_once ON applications (network_id, role, lower(email))",
    "CREATE INDEX applications_waiting ON applications (network_id, confirmed_at)",
    "CREATE TABLE join_requests (key text NOT NULL, at timestamptz NOT NULL DEFAULT now())",
    "CREATE INDEX join_requests_by_key ON join_requests (key, at)",
]


def upgrade() -> None:
    execute(STATEMENTS)


def downgrade() -> None:
    op.execute("DROP TABLE join_requests")
    op.execute("DROP TABLE applications")
