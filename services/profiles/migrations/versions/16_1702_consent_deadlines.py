"""A consent nobody answered by its deadline expires: recorded as ``expired`` (the secondment,
and its exchange, are then not agreed).

Revision ID: 1702
Revises: 1701
"""

from alembic import op

from shared.migrations import execute

revision = "1702"
down_revision = "1701"
branch_labels = None
depends_on = None

STATEMENTS = [
    "ALTER TABLE consents DROP CONSTRAINT consents_answer_check",
    """
    ALTER TABLE consents ADD CONSTRAINT consents_answer_check
        CHECK (answer IN ('given', 'refused', 'expired'))
    """,
    # The deadline pass looks for unanswered consents past their deadline.
    "CREATE INDEX consents_by_deadline ON consents (deadline) WHERE answer IS NULL",
]


def upgrade() -> None:
    execute(STATEMENTS)


def downgrade() -> None:
    op.execute("DROP INDEX consents_by_deadline")
    op.execute("UPDATE consents SET answer = NULL WHERE answer = 'expired'")
    op.execute("ALTER TABLE consents DROP CONSTRAINT consents_answer_check")
    op.execute(
        "ALTER TABLE consents ADD CONSTRAINT consents_answer_check"
        " CHECK (answer IN ('given', 'refused'))"
    )
