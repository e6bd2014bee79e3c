"""Bearer tokens for the JSON API's clients (a trust's HR system, a network's registration
form). Only a token's SHA-256 is stored; a revoked token stays, for the audit trail.

Revision ID: 0701
Revises: 0700
"""

from alembic import op

from shared.migrations import execute

revision = "0701"
down_revision = "0700"
branch_labels = None
depends_on = None

STATEMENTS = [
    # network_id NULL: an administrator's token (every network, and the networks themselves).
    """
    CREATE TABLE api_tokens (
        id bigserial PRIMARY KEY,
        name text NOT NULL CHECK (name <> ''),
        token_hash text NOT NULL UNIQUE,
        network_id text REFERENCES networks (id),
        created_at timestamptz NOT NULL DEFAULT now(),
        created_by text NOT NULL,
        revoked_at timestamptz,
        revoked_by text
    )
    """,
    # A name says which client acted (audit records name it): one live token per name.
    "CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name) WHERE revoked_at IS NULL",
]


def upgrade() -> None:
    execute(STATEMENTS)


def downgrade() -> None:
    op.execute("DROP TABLE api_tokens")
