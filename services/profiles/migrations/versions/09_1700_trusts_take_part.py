"""Trusts take part: their contacts sign in (accounts of role trust_contact), consent to the
secondments that concern them, and follow each secondment's life; placements can be paused.

Revision ID: 1700
Revises: 0800
"""

from alembic import op

from shared.migrations import execute

revision = "1700"
down_revision = "0800"
branch_labels = None
depends_on = None

STATEMENTS = [
    # A trust's contact is an account of its trust (no network of its own, no password: they
    # sign in through a single-use link sent by email).
    "ALTER TABLE accounts ADD COLUMN trust_code text REFERENCES trusts (code)",
    "ALTER TABLE accounts DROP CONSTRAINT accounts_role_check",
    "ALTER TABLE accounts DROP CONSTRAINT accounts_check",
    """
    ALTER TABLE accounts ADD CONSTRAINT accounts_role_check
        CHECK (role IN ('administrator', 'coordinator', 'trust_contact'))
    """,
    """
    ALTER TABLE accounts ADD CONSTRAINT accounts_scope CHECK (
        (role = 'administrator' AND network_id IS NULL AND trust_code IS NULL)
        OR (role = 'coordinator' AND network_id IS NOT NULL AND trust_code IS NULL)
        OR (role = 'trust_contact' AND network_id IS NULL AND trust_code IS NOT NULL))
    """,
    "CREATE INDEX accounts_by_trust ON accounts (trust_code) WHERE trust_code IS NOT NULL",
    # A paused placement is out of matching (withdrawn from the matcher) but kept.
    "ALTER TABLE placements ADD COLUMN paused_at timestamptz",
    # A secondment from the coordinator's approval on: waiting for the trusts' consents, then
    # agreed (or not), started, ended.
    """
    CREATE TABLE secondments (
        match_id uuid PRIMARY KEY REFERENCES proposals (match_id),
        network_id text NOT NULL,
        exchange_id text,
        host_trust_code text NOT NULL,
        home_trust_code text NOT NULL,
        status text NOT NULL CHECK (status IN ('awaiting_consent', 'agreed', 'refused',
            'not_agreed', 'started', 'ended', 'ended_early')),
        start_date date,
        end_date date,
        reason text NOT NULL DEFAULT '',
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX secondments_by_exchange ON secondments (exchange_id)"
    " WHERE exchange_id IS NOT NULL",
    "CREATE INDEX secondments_by_host ON secondments (host_trust_code)",
    "CREATE INDEX secondments_by_home ON secondments (home_trust_code)",
    # Each trust's consent to one secondment: asked with a deadline, answered once.
    """
    CREATE TABLE consents (
        match_id uuid NOT NULL REFERENCES secondments (match_id),
        party text NOT NULL CHECK (party IN ('host', 'home')),
        trust_code text NOT NULL,
        deadline timestamptz NOT NULL,
        answer text CHECK (answer IN ('given', 'refused')),
        reason text NOT NULL DEFAULT '',
        answered_by text,
        answered_at timestamptz,
        PRIMARY KEY (match_id, party)
    )
    """,
    "CREATE INDEX consents_waiting ON consents (trust_code) WHERE answer IS NULL",
]


def upgrade() -> None:
    execute(STATEMENTS)


def downgrade() -> None:
    op.execute("DROP TABLE consents")
    op.execute("DROP TABLE secondments")
    op.execute("ALTER TABLE placements DROP COLUMN paused_at")
    op.execute("DELETE FROM accounts WHERE role = 'trust_contact'")
    op.execute("ALTER TABLE accounts DROP CONSTRAINT accounts_scope")
    op.execute("ALTER TABLE accounts DROP CONSTRAINT accounts_role_check")
    op.execute("ALTER TABLE accounts DROP COLUMN trust_code")
    op.execute(
        "ALTER TABLE accounts ADD CONSTRAINT accounts_role_check"
        " CHECK (role IN ('administrator', 'coordinator'))"
    )
    op.execute(
        "ALTER TABLE accounts ADD CONSTRAINT accounts_check"
        " CHECK ((role = 'administrator') = (network_id IS NULL))"
    )
