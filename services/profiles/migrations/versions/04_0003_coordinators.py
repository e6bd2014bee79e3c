"""Coordinators' side: sign-in accounts, the read model of proposals and decisions (consumed
from Kafka), and the matcher's fairness figures per round. (A trust's contact email came with
0100, which the imports and introductions needed first.)

Revision ID: 0003
Revises: 0100
"""

from alembic import op

from shared.migrations import PROCESSED_EVENTS, execute

revision = "0003"
down_revision = "0100"
branch_labels = None
depends_on = None


STATEMENTS = [
    # An administrator manages networks and coordinators; a coordinator belongs to one network.
    """
    CREATE TABLE accounts (
        email text PRIMARY KEY CHECK (email = lower(email)),
        name text NOT NULL,
        role text NOT NULL CHECK (role IN ('administrator', 'coordinator')),
        network_id text REFERENCES networks (id),
        password_hash text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        CHECK ((role = 'administrator') = (network_id IS NULL))
    )
    """,
    # The profiles service now consumes events too: each one takes effect once.
    *PROCESSED_EVENTS,
    # The proposals as the matcher published them, and what became of them.
    """
    CREATE TABLE proposals (
        match_id uuid PRIMARY KEY,
        network_id text NOT NULL,
        kind text NOT NULL,
        provider_id uuid NOT NULL,
        mentee_id uuid NOT NULL,
        score double precision NOT NULL,
        explanation jsonb NOT NULL,
        exchange_id text,
        status text NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'withdrawn', 'approved', 'rejected')),
        proposed_at timestamptz NOT NULL,
        status_changed_at timestamptz,
        decided_by text,
        reason text NOT NULL DEFAULT ''
    )
    """,
    "CREATE INDEX proposals_by_network ON proposals (network_id, status, proposed_at)",
    "CREATE INDEX proposals_by_exchange ON proposals (exchange_id) WHERE exchange_id IS NOT NULL",
    """
    CREATE TABLE fairness_reports (
        id bigserial PRIMARY KEY,
        network_id text NOT NULL,
        recorded_at timestamptz NOT NULL,
        report jsonb NOT NULL
    )
    """,
    "CREATE INDEX fairness_reports_latest ON fairness_reports (network_id, recorded_at DESC)",
]


def upgrade() -> None:
    execute(STATEMENTS)


def downgrade() -> None:
    op.execute("DROP TABLE fairness_reports")
    op.execute("DROP TABLE proposals")
    op.execute("DROP TABLE processed_events")
    op.execute("DROP TABLE accounts")
