"""Trusts name a contact for secondment introductions.

Revision ID: 0100
Revises: 0002
"""

from shared.migrations import execute

revision = "0100"
down_revision = "0002"
branch_labels = None
depends_on = None

STATEMENTS = [
    "ALTER TABLE trusts ADD COLUMN contact_email text",
]


def upgrade() -> None:
    execute(STATEMENTS)
