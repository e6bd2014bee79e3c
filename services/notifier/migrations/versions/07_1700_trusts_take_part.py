"""Trusts take part: their contacts (who gets sign-in links and consent requests), the consents
asked of them (each reminded once before its deadline), and secondments introduced only once
agreed, with their start and end dates.

Revision ID: 1700
Revises: 0703
"""

from alembic import op

from shared.migrations import execute

revision = "1700"
down_revision = "0703"
branch_labels = None
depends_on = None

STATEMENTS = [
    "ALTER TABLE trusts ADD COLUMN contacts jsonb NOT NULL DEFAULT '[]'::jsonb",
    # A secondment is introduced when the trusts agreed (secondment.changed), not on approval.
    "ALTER TABLE decisions ADD COLUMN agreed boolean NOT NULL DEFAULT false",
    "ALTER TABLE decisions ADD COLUMN start_date date",
    "ALTER TABLE decisions ADD COLUMN end_date date",
    """
    CREATE TABLE consent_requests (
        match_id uuid NOT NULL,
        party text NOT NULL,
        trust_code text NOT NULL,
        network_id text NOT NULL,
        deadline timestamptz NOT NULL,
        answered boolean NOT NULL DEFAULT false,
        reminded boolean NOT NULL DEFAULT false,
        PRIMARY KEY (match_id, party)
    )
    """,
    "CREATE INDEX consent_requests_due ON consent_requests (deadline)"
    " WHERE NOT answered AND NOT reminded",
]


def upgrade() -> None:
    execute(STATEMENTS)


def downgrade() -> None:
    op.execute("DROP TABLE consent_requests")
    op.execute(
        "ALTER TABLE decisions DROP COLUMN agreed, DROP COLUMN start_date, DROP COLUMN end_date"
    )
    op.execute("ALTER TABLE trusts DROP COLUMN contacts")
