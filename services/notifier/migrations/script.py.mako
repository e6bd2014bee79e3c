"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

from shared.migrations import execute

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = None
depends_on = None


STATEMENTS: list[str] = [
    # one statement per entry: asyncpg runs one statement per call
]


def upgrade() -> None:
    execute(STATEMENTS)
