"""Places held, counted as proposals change: each provider's live (pending or approved)
proposals, kept in ``places_held`` by triggers on ``proposals``.

Every batch of arrivals reads the room of every mentor in its networks, and counting each
mentor's live proposals from the index was most of a batch's load step (one index descent and
up to a mentor's capacity of entries for each of hundreds of mentors, docs/scaling.md). Now it
is one row a provider. The triggers are statement-level: each statement's changes are summed
per provider and applied in provider order, so two transactions take the rows in one order.
A provider whose count falls to 0 loses its row (absent means 0): an erased person's id does
not stay behind. (No CHECK on ``held``: PostgreSQL checks the row an upsert would insert before
it finds the conflict, so a decrement's candidate row would fail it.)

Revision ID: 1900
Revises: 1800
"""

from alembic import op

from shared.migrations import execute

revision = "1900"
down_revision = "1800"
branch_labels = None
depends_on = None

LIVE = "status IN ('pending', 'approved')"

# Each statement's change of places held, per provider, from its transition tables.
CHANGES = {
    "INSERT": f"SELECT provider_id, count(*) AS change FROM new_rows WHERE {LIVE} GROUP BY 1",
    "DELETE": f"SELECT provider_id, -count(*) AS change FROM old_rows WHERE {LIVE} GROUP BY 1",
    "UPDATE": f"""
        SELECT provider_id, sum(change) AS change FROM (
            SELECT provider_id, 1 AS change FROM new_rows WHERE {LIVE}
            UNION ALL SELECT provider_id, -1 FROM old_rows WHERE {LIVE}
        ) c GROUP BY 1 HAVING sum(change) <> 0""",
}


def _apply(changes: str) -> str:
    """Add a statement's changes to the counts, in provider order; note the providers at 0."""
    return f"""
        WITH summed AS ({changes}), applied AS (
            INSERT INTO places_held AS h (provider_id, held)
            SELECT provider_id, change FROM summed ORDER BY provider_id
            ON CONFLICT (provider_id) DO UPDATE SET held = h.held + excluded.held
            RETURNING h.provider_id, h.held
        )
        SELECT array_agg(provider_id) INTO emptied FROM applied WHERE held = 0;"""


BRANCHES = "\n        ELS".join(
    f"IF TG_OP = '{operation}' THEN {_apply(changes)}" for operation, changes in CHANGES.items()
)

STATEMENTS = [
    """
    CREATE TABLE places_held (
        provider_id uuid PRIMARY KEY,
        held integer NOT NULL
    )
    """,
    f"""
    INSERT INTO places_held (provider_id, held)
    SELECT provider_id, count(*) FROM proposals WHERE {LIVE} GROUP BY provider_id
    """,
    f"""
    CREATE FUNCTION count_places_held() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        emptied uuid[];
    BEGIN
        {BRANCHES}
        END IF;
        -- A separate statement: the upsert's own statement cannot see what it changed. Most
        -- statements empty no provider, and then run nothing more.
        IF emptied IS NOT NULL THEN
            DELETE FROM places_held WHERE provider_id = ANY(emptied) AND held = 0;
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER places_held_on_insert AFTER INSERT ON proposals
        REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION count_places_held()
    """,
    """
    CREATE TRIGGER places_held_on_update AFTER UPDATE ON proposals
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION count_places_held()
    """,
    """
    CREATE TRIGGER places_held_on_delete AFTER DELETE ON proposals
        REFERENCING OLD TABLE AS old_rows
        FOR EACH STATEMENT EXECUTE FUNCTION count_places_held()
    """,
]


def upgrade() -> None:
    execute(STATEMENTS)


def downgrade() -> None:
    for trigger in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER places_held_on_{trigger} ON proposals")
    op.execute("DROP FUNCTION count_places_held()")
    op.execute("DROP TABLE places_held")
