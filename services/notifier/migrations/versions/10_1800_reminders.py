"""Reminders (docs/outcomes.md): each a row with a unique key and the time it is due, queued as
email once (the mail queue turns due rows into emails and marks them in one transaction), so a
reminder is neither sent twice nor missed across a restart. Networks keep their follow-up
settings (when check-ins and reminders fall).

Revision ID: 1800
Revises: 1701
"""

from alembic import op

from shared.migrations import execute

revision = "1800"
down_revision = "1701"
branch_labels = None
depends_on = None

STATEMENTS = [
    """
    CREATE TABLE reminders (
        key text PRIMARY KEY,
        purpose text NOT NULL,
        due_at timestamptz NOT NULL,
        match_id uuid,
        person_id uuid,
        network_id text,
        context jsonb NOT NULL DEFAULT '{}'::jsonb,
        status text NOT NULL DEFAULT 'scheduled'
            CHECK (status IN ('scheduled', 'queued', 'cancelled')),
        queued_at timestamptz
    )
    """,
    "CREATE INDEX reminders_due ON reminders (due_at) WHERE status = 'scheduled'",
    "CREATE INDEX reminders_by_match ON reminders (match_id) WHERE match_id IS NOT NULL",
    "CREATE INDEX reminders_by_person ON reminders (person_id) WHERE person_id IS NOT NULL",
    "ALTER TABLE networks ADD COLUMN life jsonb NOT NULL DEFAULT '{}'::jsonb",
]


def upgrade() -> None:
    execute(STATEMENTS)


def downgrade() -> None:
    op.execute("DROP TABLE reminders")
    op.execute("ALTER TABLE networks DROP COLUMN life")
