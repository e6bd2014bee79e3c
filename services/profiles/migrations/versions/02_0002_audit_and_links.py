"""Append-only audit log, and the links in emails that have been used (links work once).

Revision ID: 0002
Revises: 0001
"""

from alembic import op

from shared.migrations import execute

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


STATEMENTS = [
    """
    CREATE TABLE audit_log (
        id bigserial PRIMARY KEY,
        recorded_at timestamptz NOT NULL DEFAULT now(),
        actor text NOT NULL,
        action text NOT NULL,
        subject text NOT NULL,
        reason text NOT NULL DEFAULT '',
        details jsonb NOT NULL DEFAULT '{}'::jsonb
    )
    """,
    "CREATE INDEX audit_log_recorded_at ON audit_log (recorded_at DESC)",
    # Append-only: the database itself refuses to change or remove a record.
    """
    CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit_log is append-only';
    END
    $$
    """,
    """
    CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only()
    """,
    """
    CREATE TABLE used_link_tokens (
        token_id uuid PRIMARY KEY,
        purpose text NOT NULL,
        used_at timestamptz NOT NULL DEFAULT now()
    )
    """,
]


def upgrade() -> None:
    execute(STATEMENTS)


def downgrade() -> None:
    op.execute("DROP TABLE used_link_tokens")
    op.execute("DROP TRIGGER audit_log_append_only ON audit_log")
    op.execute("DROP FUNCTION audit_log_is_append_only()")
    op.execute("DROP TABLE audit_log")
