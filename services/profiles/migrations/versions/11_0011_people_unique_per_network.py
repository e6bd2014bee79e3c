"""People are unique per network: the same address may be a mentor (or a mentee) in two
networks, so what one network's token is told never depends on another network's people.

A person's network is their trust's, kept on the row so that a unique constraint can hold it:
the composite foreign key (trust_code, network_id) follows a trust that moves to another network
(ON UPDATE CASCADE), and the move is refused if it would give that network one address twice.

Revision ID: 0011
Revises: 0900
"""

from shared.migrations import execute

revision = "0011"
down_revision = "0900"
branch_labels = None
depends_on = None


STATEMENTS: list[str] = [
    "ALTER TABLE trusts ADD CONSTRAINT trusts_code_network_id_key UNIQUE (code, network_id)",
    "ALTER TABLE people ADD COLUMN network_id text",
    "UPDATE people p SET network_id = t.network_id FROM trusts t WHERE t.code = p.trust_code",
    "ALTER TABLE people ALTER COLUMN network_id SET NOT NULL",
    """
    ALTER TABLE people ADD CONSTRAINT people_trust_in_its_network
      FOREIGN KEY (trust_code, network_id) REFERENCES trusts (code, network_id)
      ON UPDATE CASCADE
    """,
    "ALTER TABLE people DROP CONSTRAINT people_role_email_key",
    "ALTER TABLE people ADD CONSTRAINT people_network_id_role_email_key"
    " UNIQUE (network_id, role, email)",
]


def upgrade() -> None:
    execute(STATEMENTS)
