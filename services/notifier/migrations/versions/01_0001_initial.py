"""The notifier's directory of coordinators and people, proposals to announce, and its mail queue.

Revision ID: 0001
Revises:
"""

from shared.migrations import PROCESSED_EVENTS, execute

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

STATEMENTS = [
    *PROCESSED_EVENTS,
    """
    CREATE TABLE networks (
        id text PRIMARY KEY,
        name text NOT NULL,
        coordinators jsonb NOT NULL
    )
    """,
    "CREATE TABLE trusts (code text PRIMARY KEY, name text NOT NULL)",
    """
    CREATE TABLE people (
        id uuid PRIMARY KEY,
        role text NOT NULL,
        name text NOT NULL,
        email text NOT NULL,
        job_title text NOT NULL,
        trust_code text NOT NULL
    )
    """,
    """
    CREATE TABLE placements (
        id uuid PRIMARY KEY,
        role text NOT NULL,
        host_trust_code text NOT NULL
    )
    """,
    """
    CREATE TABLE proposals (
        match_id uuid PRIMARY KEY,
        network_id text NOT NULL,
        event jsonb NOT NULL,
        announced boolean NOT NULL DEFAULT false
    )
    """,
    # One row per email to send; the dedupe key makes the same email impossible to queue twice.
    """
    CREATE TABLE emails (
        id bigserial PRIMARY KEY,
        dedupe_key text NOT NULL UNIQUE,
        purpose text NOT NULL,
        match_id uuid NOT NULL,
        recipient_name text NOT NULL,
        recipient_email text NOT NULL,
        status text NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'sent', 'cancelled')),
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        last_error text,
        created_at timestamptz NOT NULL DEFAULT now(),
        sent_at timestamptz
    )
    """,
    "CREATE INDEX emails_due ON emails (next_attempt_at) WHERE status = 'pending'",
]


def upgrade() -> None:
    execute(STATEMENTS)
