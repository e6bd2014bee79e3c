"""A consent request is emailed by the mail loop once its trust's contacts are known (the
trust's events travel on another topic and may arrive after the request): it remembers that.

Revision ID: 1701
Revises: 0704
"""

from alembic import op

from shared.migrations import execute

revision = "1701"
down_revision = "0704"
branch_labels = None
depends_on = None

STATEMENTS = [
    "ALTER TABLE consent_requests ADD COLUMN asked boolean NOT NULL DEFAULT false",
    # Requests kept before this change were emailed when they arrived.
    "UPDATE consent_requests SET asked = true",
    "CREATE INDEX consent_requests_to_ask ON consent_requests (match_id) WHERE NOT asked",
]


def upgrade() -> None:
    execute(STATEMENTS)


def downgrade() -> None:
    op.execute("ALTER TABLE consent_requests DROP COLUMN asked")
