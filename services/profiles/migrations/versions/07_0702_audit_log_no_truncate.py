"""The audit log refuses TRUNCATE too: 0002's trigger is per row, and TRUNCATE fires no row
triggers, so one statement could have emptied it.

Revision ID: 0702
Revises: 0701
"""

from alembic import op

from shared.migrations import execute

revision = "0702"
down_revision = "0701"
branch_labels = None
depends_on = None

STATEMENTS = [
    """
    CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only()
    """,
]


def upgrade() -> None:
    execute(STATEMENTS)


def downgrade() -> None:
    op.execute("DROP TRIGGER audit_log_no_truncate ON audit_log")
