"""Introductions on approval, self-service links, trust contacts, and a 'sending' state that
keeps a crash between SMTP and the database from sending an email twice.

Revision ID: 0002
Revises: 0001
"""

from shared.migrations import execute

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

STATEMENTS = [
    "ALTER TABLE trusts ADD COLUMN contact_email text",
    "ALTER TABLE trusts ADD COLUMN network_id text",
    # Approved or rejected; introductions are queued from approved ones once their proposal
    # and people are known (decisions travel on another topic and may arrive first).
    """
    CREATE TABLE decisions (
        match_id uuid PRIMARY KEY,
        approved boolean NOT NULL,
        decided_at timestamptz NOT NULL,
        introduced boolean NOT NULL DEFAULT false
    )
    """,
    "CREATE INDEX decisions_to_introduce ON decisions (match_id) WHERE NOT introduced",
    # Emails that are not about one match (a self-service link) have no match.
    "ALTER TABLE emails ALTER COLUMN match_id DROP NOT NULL",
    # The participant the email is addressed to, when it is one: erasure finds their emails.
    "ALTER TABLE emails ADD COLUMN person_id uuid",
    # What the email is for, beyond its purpose (which side of a match it introduces, ...).
    "ALTER TABLE emails ADD COLUMN context jsonb NOT NULL DEFAULT '{}'::jsonb",
    "ALTER TABLE emails ADD COLUMN attempt_id uuid",
    "ALTER TABLE emails ADD COLUMN sending_since timestamptz",
    "ALTER TABLE emails DROP CONSTRAINT emails_status_check",
    # 'sending': handed to the SMTP server (DATA started), not yet recorded as accepted.
    # 'uncertain': the notifier died in that window; perhaps delivered, so never sent again.
    # 'failed': the server refused the recipient for good (5xx).
    """
    ALTER TABLE emails ADD CONSTRAINT emails_status_check
        CHECK (status IN ('pending', 'sending', 'sent', 'uncertain', 'failed', 'cancelled'))
    """,
    "CREATE INDEX emails_sending ON emails (id) WHERE status = 'sending'",
    "CREATE INDEX emails_person ON emails (person_id) WHERE person_id IS NOT NULL",
]


def upgrade() -> None:
    execute(STATEMENTS)
