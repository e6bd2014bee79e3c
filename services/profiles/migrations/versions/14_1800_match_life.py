"""A match's life after the introduction (docs/outcomes.md): its events (first conversation,
check-ins, close) as the decisions topic carries them, a proposal's ``closed`` status, and each
network's follow-up settings (``MatchLifeSettings``), and the versions of learned score weights
its coordinators applied.

Revision ID: 1800
Revises: 1602
"""

from alembic import op

from shared.migrations import execute

revision = "1800"
down_revision = "1602"
branch_labels = None
depends_on = None

STATEMENTS = [
    "ALTER TABLE proposals DROP CONSTRAINT proposals_status_check",
    """
    ALTER TABLE proposals ADD CONSTRAINT proposals_status_check
        CHECK (status IN ('pending', 'withdrawn', 'approved', 'rejected', 'closed'))
    """,
    """
    CREATE TABLE match_life (
        event_id uuid PRIMARY KEY,
        match_id uuid NOT NULL,
        network_id text NOT NULL,
        event_type text NOT NULL,
        occurred_at timestamptz NOT NULL,
        event jsonb NOT NULL
    )
    """,
    "CREATE INDEX match_life_by_match ON match_life (match_id, occurred_at)",
    "CREATE INDEX match_life_by_network ON match_life (network_id, occurred_at)",
    "ALTER TABLE networks ADD COLUMN life_settings jsonb NOT NULL DEFAULT '{}'",
    # Learned weights a coordinator applied, each version with the evidence it rested on.
    """
    CREATE TABLE matching_weights (
        network_id text NOT NULL REFERENCES networks (id),
        version integer NOT NULL,
        weights jsonb NOT NULL,
        evidence jsonb NOT NULL,
        applied_by text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (network_id, version)
    )
    """,
]


def upgrade() -> None:
    execute(STATEMENTS)


def downgrade() -> None:
    op.execute("DROP TABLE matching_weights")
    op.execute("DROP TABLE match_life")
    op.execute("ALTER TABLE networks DROP COLUMN life_settings")
    op.execute("UPDATE proposals SET status = 'approved' WHERE status = 'closed'")
