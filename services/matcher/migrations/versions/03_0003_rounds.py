"""A record of every matching round, with its fairness report.

Revision ID: 0003
Revises: 0002
"""

from shared.migrations import execute

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


STATEMENTS = [
    """
    CREATE TABLE rounds (
        id bigserial PRIMARY KEY,
        network_id text NOT NULL,
        ran_at timestamptz NOT NULL DEFAULT now(),
        mentors integer NOT NULL,
        mentees integer NOT NULL,
        placements integer NOT NULL,
        new_proposals integer NOT NULL,
        kept_proposals integer NOT NULL,
        replaced_proposals integer NOT NULL,
        seconds double precision NOT NULL,
        fairness jsonb NOT NULL
    )
    """,
    "CREATE INDEX rounds_network ON rounds (network_id, ran_at DESC)",
]


def upgrade() -> None:
    execute(STATEMENTS)
