"""A person's stored profile as ``json`` (their text as written), and their trust as a column.

The matcher writes each profile as the JSON text pydantic made, and reads it back whole, as
text, to parse it in Python: nothing looks inside it but for the trust code. ``jsonb`` made
PostgreSQL build its binary form at every write, about a quarter of a profile's upsert
(docs/scaling.md, "Time-ordered event ids, a plain claim, and profiles stored as written"),
and turn it back into text at every read. ``json`` keeps the text as written and checks only
that it is JSON. The trust code, which places a person in their network and finds a moved
trust's members, is a column.

Revision ID: 1901
Revises: 1900
"""

from alembic import op

from shared.migrations import execute

revision = "1901"
down_revision = "1900"
branch_labels = None
depends_on = None

STATEMENTS = [
    "ALTER TABLE people ADD COLUMN trust_code text",
    "UPDATE people SET trust_code = profile->>'trust_code'",
    "ALTER TABLE people ALTER COLUMN trust_code SET NOT NULL",
    "ALTER TABLE people ALTER COLUMN profile TYPE json USING profile::json",
]


def upgrade() -> None:
    execute(STATEMENTS)


def downgrade() -> None:
    op.execute("ALTER TABLE people ALTER COLUMN profile TYPE jsonb USING profile::jsonb")
    op.execute("ALTER TABLE people DROP COLUMN trust_code")
