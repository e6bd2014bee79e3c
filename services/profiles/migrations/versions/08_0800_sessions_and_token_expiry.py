"""Server-side sessions (a cookie names one; sign-out, a password change or the account's
removal ends it), accounts that sign in through the organisation's identity provider only (no
password), and API tokens that expire and say when they were last used.

Revision ID: 0800
Revises: 0702
"""

from alembic import op

from shared.migrations import execute

revision = "0800"
down_revision = "0702"
branch_labels = None
depends_on = None

STATEMENTS = [
    # Only the session id's SHA-256 is stored: a copy of this table opens no session.
    """
    CREATE TABLE sessions (
        id_hash text PRIMARY KEY,
        email text NOT NULL REFERENCES accounts (email) ON DELETE CASCADE,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        id_token text
    )
    """,
    "CREATE INDEX sessions_by_email ON sessions (email)",
    "ALTER TABLE accounts ALTER COLUMN password_hash DROP NOT NULL",
    "ALTER TABLE api_tokens ADD COLUMN expires_at timestamptz, ADD COLUMN last_used_at timestamptz",
    # Tokens made before expiry existed get the longest life a new one may have.
    "UPDATE api_tokens SET expires_at = created_at + interval '365 days'",
    "ALTER TABLE api_tokens ALTER COLUMN expires_at SET NOT NULL",
]


def upgrade() -> None:
    execute(STATEMENTS)


def downgrade() -> None:
    op.execute("ALTER TABLE api_tokens DROP COLUMN expires_at, DROP COLUMN last_used_at")
    op.execute("UPDATE accounts SET password_hash = '' WHERE password_hash IS NULL")
    op.execute("ALTER TABLE accounts ALTER COLUMN password_hash SET NOT NULL")
    op.execute("DROP TABLE sessions")
