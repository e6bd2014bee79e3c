"""What the report, the learner and the exports read of a network: its proposals with each
mentee's groups, and its matches' life events. The figures themselves are pure (report.py,
learner.py)."""

from __future__ import annotations

import csv
import io
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Any

import asyncpg

from services.profiles.coordination.dashboard import spreadsheet_cell
from services.profiles.outcomes.learner import Example, Pending
from services.profiles.outcomes.life import LifeEvent, MatchLife, life_of
from services.profiles.outcomes.report import ProposalFact
from services.profiles.outcomes.store import life_events
from shared.events import MatchOutcome

FACTS_SQL = """
SELECT p.match_id, p.kind, p.status, p.score, p.explanation, p.proposed_at, p.reason,
       CASE WHEN p.status IN ('approved', 'rejected', 'closed') THEN p.status_changed_at END
         AS decided_at,
       p.mentee_id, p.provider_id, mentee.created_at AS mentee_joined_at,
       mentee.details AS mentee, mentor.details AS mentor,
       coalesce(mentee.details->>'working_pattern' = 'part_time', false) AS part_time,
       coalesce(mentee.details->>'sector' = 'social_care', false) AS social_care,
       coalesce(t.is_small, false) AS small_trust
FROM proposals p
LEFT JOIN people mentee ON mentee.id = p.mentee_id
LEFT JOIN people mentor ON mentor.id = p.provider_id
LEFT JOIN trusts t ON t.code = mentee.trust_code
WHERE p.network_id = $1
ORDER BY p.proposed_at, p.match_id
"""


def snapshot(conn: asyncpg.Connection) -> AbstractAsyncContextManager[object]:
    """One consistent read of the proposals and their events: a read-only repeatable-read
    transaction, or the caller's own when it reads inside one (applying weights, which
    locks the network and writes)."""
    if conn.is_in_transaction():
        return nullcontext()
    transaction: AbstractAsyncContextManager[object] = conn.transaction(
        isolation="repeatable_read", readonly=True
    )
    return transaction


def _groups(row: asyncpg.Record) -> frozenset[str]:
    return frozenset(g for g in ("part_time", "social_care", "small_trust") if row[g])


async def _rows(conn: asyncpg.Connection, network_id: str) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(FACTS_SQL, network_id)
    return rows


def _fact(row: asyncpg.Record) -> ProposalFact:
    return ProposalFact(
        match_id=row["match_id"],
        mentee=str(row["mentee_id"]),
        groups=_groups(row),
        proposed_at=row["proposed_at"],
        status=row["status"],
        decided_at=row["decided_at"],
        reason=row["reason"],
        mentee_joined_at=row["mentee_joined_at"] or row["proposed_at"],
        covered={s["skill"]: int(s["from_level"]) for s in row["explanation"]["skills_covered"]},
    )


async def network_history(
    conn: asyncpg.Connection, network_id: str
) -> tuple[list[ProposalFact], list[LifeEvent]]:
    """Every proposal of the network and every life event of its matches, in one snapshot."""
    async with snapshot(conn):
        rows = await _rows(conn, network_id)
        events = await life_events(conn, [row["match_id"] for row in rows])
    return [_fact(row) for row in rows], events


def _parts(explanation: dict[str, Any]) -> dict[str, float]:
    return {str(p["name"]): float(p["value"]) for p in explanation["parts"]}


def turned_out_badly(life: MatchLife) -> bool:
    ended_early = life.closed is not None and life.closed.outcome is MatchOutcome.ENDED_EARLY
    return ended_early or any(c.usefulness <= 2 for c in life.check_ins)


async def learning_history(
    conn: asyncpg.Connection, network_id: str
) -> tuple[list[Example], list[Pending]]:
    """The decided proposals as the learner's examples, and the pending ones."""
    async with snapshot(conn):
        rows = await _rows(conn, network_id)
        events = await life_events(conn, [row["match_id"] for row in rows])
    by_match: dict[object, list[LifeEvent]] = {}
    for event in events:
        by_match.setdefault(event.match_id, []).append(event)
    examples, pending = [], []
    for row in rows:
        if row["kind"] != "mentoring":
            continue
        parts = _parts(row["explanation"])
        if row["status"] == "pending":
            pending.append(Pending(row["match_id"], str(row["mentee_id"]), parts))
        elif row["status"] in ("approved", "rejected", "closed"):
            life = life_of(row["match_id"], row["decided_at"], by_match.get(row["match_id"], []))
            good = row["status"] != "rejected" and not turned_out_badly(life)
            examples.append(Example(parts, good, str(row["mentee_id"]), _groups(row)))
    return examples, pending


# --- exports --------------------------------------------------------------------------------

OUTCOME_COLUMNS = (
    "match_id",
    "kind",
    "status",
    "proposed_at",
    "decided_at",
    "met_at",
    "closed_at",
    "outcome",
    "check_ins",
    "mean_usefulness",
    "skills",
    "levels_before",
    "levels_after",
    "part_time",
    "social_care",
    "small_trust",
)
NAMED_COLUMNS = ("mentor_or_placement", "mentee", "mentee_email", "rejection_reason", "notes")


async def outcome_rows(
    conn: asyncpg.Connection, network_id: str, *, anonymised: bool
) -> list[dict[str, object]]:
    """One row per decided proposal. Anonymised: no names, email addresses or free text, and a
    row number instead of the match id (ids stay in the coordinators' own export)."""
    async with snapshot(conn):
        rows = [r for r in await _rows(conn, network_id) if r["decided_at"] is not None]
        events = await life_events(conn, [row["match_id"] for row in rows])
    rows_out = []
    for number, row in enumerate(rows, start=1):
        life = life_of(
            row["match_id"], row["decided_at"], [e for e in events if e.match_id == row["match_id"]]
        )
        covered = row["explanation"]["skills_covered"]
        after = {s.skill: s.level for s in life.closed.levels} if life.closed else {}
        ratings = [c.usefulness for c in life.check_ins]
        out: dict[str, object] = {
            "match_id": number if anonymised else row["match_id"],
            "kind": row["kind"],
            "status": row["status"],
            "proposed_at": row["proposed_at"].date().isoformat(),
            "decided_at": row["decided_at"].date().isoformat(),
            "met_at": life.met_at.date().isoformat() if life.met_at else "",
            "closed_at": life.closed.occurred_at.date().isoformat() if life.closed else "",
            "outcome": life.closed.outcome.value if life.closed else "",
            "check_ins": len(ratings),
            "mean_usefulness": f"{sum(ratings) / len(ratings):.2f}" if ratings else "",
            "skills": ";".join(s["skill"] for s in covered),
            "levels_before": ";".join(str(s["from_level"]) for s in covered),
            "levels_after": ";".join(str(after.get(s["skill"], "")) for s in covered),
            "part_time": row["part_time"],
            "social_care": row["social_care"],
            "small_trust": row["small_trust"],
        }
        if not anonymised:
            out |= {
                "mentor_or_placement": (row["mentor"] or {}).get("name", ""),
                "mentee": (row["mentee"] or {}).get("name", ""),
                "mentee_email": (row["mentee"] or {}).get("email", ""),
                "rejection_reason": row["reason"] if row["status"] == "rejected" else "",
                "notes": " | ".join(c.note for c in life.check_ins if c.note),
            }
        rows_out.append(out)
    return rows_out


def rows_csv(rows: list[dict[str, object]], anonymised: bool) -> str:
    """UTF-8 with a BOM, for spreadsheets (which would run a cell that looks like a formula:
    ``spreadsheet_cell`` makes it text)."""
    columns = OUTCOME_COLUMNS if anonymised else (*OUTCOME_COLUMNS, *NAMED_COLUMNS)
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([spreadsheet_cell(row.get(c, "")) for c in columns])
    return out.getvalue()
