"""Networks, trusts, people, placements and the outbox.

Revision ID: 0001
Revises:
"""

from shared.migrations import OUTBOX, execute

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


STATEMENTS = [
    """
    CREATE TABLE networks (
            id text PRIMARY KEY,
            name text NOT NULL,
            coordinators jsonb NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now()
        )
    """,
    """
    CREATE TABLE trusts (
            code text PRIMARY KEY,
            name text NOT NULL,
            region text NOT NULL,
            network_id text NOT NULL REFERENCES networks (id),
            latitude double precision,
            longitude double precision,
            is_small boolean NOT NULL DEFAULT false,
            updated_at timestamptz NOT NULL DEFAULT now()
        )
    """,
    """
    CREATE TABLE people (
            id uuid PRIMARY KEY,
            role text NOT NULL CHECK (role IN ('mentor', 'mentee')),
            email text NOT NULL,
            trust_code text NOT NULL REFERENCES trusts (code),
            paused boolean NOT NULL DEFAULT false,
            details jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            UNIQUE (role, email)
        )
    """,
    """
    CREATE TABLE placements (
            id uuid PRIMARY KEY,
            host_trust_code text NOT NULL REFERENCES trusts (code),
            details jsonb NOT NULL,
            withdrawn_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        )
    """,
    *OUTBOX,
]


def upgrade() -> None:
    execute(STATEMENTS)
