"""An index of the emails not settled yet, so that the mail-queue gauge and `bridgework status`
count them without reading every email ever sent.

Revision ID: 0702
Revises: 0701
"""

from shared.migrations import execute

revision = "0702"
down_revision = "0701"
branch_labels = None
depends_on = None

STATEMENTS = [
    "CREATE INDEX emails_unsettled ON emails (status)"
    " WHERE status IN ('pending', 'sending', 'uncertain', 'failed')",
]


def upgrade() -> None:
    execute(STATEMENTS)
