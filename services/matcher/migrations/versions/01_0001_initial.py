"""The matcher's own view of the network, its proposals, and its outbox.

Revision ID: 0001
Revises:
"""

from shared.migrations import OUTBOX, PROCESSED_EVENTS, execute

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

STATEMENTS = [
    *PROCESSED_EVENTS,
    """
    CREATE TABLE trusts (
        code text PRIMARY KEY,
        network_id text NOT NULL,
        name text NOT NULL,
        region text NOT NULL,
        latitude double precision,
        longitude double precision,
        is_small boolean NOT NULL DEFAULT false
    )
    """,
    """
    CREATE TABLE people (
        id uuid PRIMARY KEY,
        role text NOT NULL,
        network_id text NOT NULL,
        profile jsonb NOT NULL,
        paused boolean NOT NULL DEFAULT false,
        capacity double precision NOT NULL DEFAULT 0,
        hours_per_month double precision NOT NULL DEFAULT 0
    )
    """,
    "CREATE INDEX people_network ON people (network_id)",
    """
    CREATE TABLE placements (
        id uuid PRIMARY KEY,
        network_id text NOT NULL,
        profile jsonb NOT NULL
    )
    """,
    """
    CREATE TABLE proposals (
        match_id uuid PRIMARY KEY,
        network_id text NOT NULL,
        kind text NOT NULL,
        provider_id uuid NOT NULL,
        mentee_id uuid NOT NULL,
        score double precision NOT NULL,
        explanation jsonb NOT NULL,
        status text NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'approved', 'rejected', 'withdrawn')),
        created_at timestamptz NOT NULL DEFAULT now(),
        decided_at timestamptz
    )
    """,
    "CREATE INDEX proposals_network_status ON proposals (network_id, status)",
    # A pair is live at most once.
    """
    CREATE UNIQUE INDEX proposals_live_pair ON proposals (provider_id, mentee_id)
        WHERE status IN ('pending', 'approved')
    """,
    """
    CREATE TABLE dirty_networks (
        network_id text PRIMARY KEY,
        first_change_at timestamptz NOT NULL DEFAULT now(),
        last_change_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    *OUTBOX,
]


def upgrade() -> None:
    execute(STATEMENTS)
