"""The networks the matcher knows (from their NetworkUpserted): only a known network is marked
dirty, solved in a round or proposed to on arrival. Events for a network that does not exist
(yet) are kept and wait for it (docs/events.md).

A database already in use takes every network its tables name as known, so that upgrading
stops no network's matching.

Revision ID: 0007
Revises: 0005
"""

from alembic import op

from shared.migrations import execute

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None

STATEMENTS = [
    "CREATE TABLE networks (id text PRIMARY KEY, known_since timestamptz NOT NULL DEFAULT now())",
    """
    INSERT INTO networks (id)
    SELECT network_id FROM trusts UNION SELECT network_id FROM people
    UNION SELECT network_id FROM placements UNION SELECT network_id FROM proposals
    UNION SELECT network_id FROM dirty_networks
    """,
]


def upgrade() -> None:
    execute(STATEMENTS)


def downgrade() -> None:
    op.execute("DROP TABLE networks")
