"""Where a participant stands: waiting, a match being considered by the coordinators (nobody is
named until it is approved), or introduced (named: the introduction email went to both)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

import asyncpg

from services.profiles.self_service.actions import Participation


class Stage(StrEnum):
    WAITING = "waiting"
    CONSIDERED = "considered"
    INTRODUCED = "introduced"
    NOT_TAKING_PART = "not taking part"


@dataclass(frozen=True)
class Match:
    status: str  # the read model's: pending, approved, rejected, withdrawn
    other: str | None  # who or what is on the other side; known only once approved
    match_id: UUID | None = None
    network_id: str = ""
    introduced_at: datetime | None = None  # when approved
    as_mentee: bool = False  # the participant is its mentee (or secondment's candidate)


@dataclass(frozen=True)
class Standing:
    stage: Stage
    considered: int  # matches the coordinators are considering
    introduced: tuple[str, ...]  # whom they were introduced to


def where_they_stand(state: Participation, matches: Sequence[Match]) -> Standing:
    introduced = tuple(m.other or "" for m in matches if m.status == "approved")
    considered = sum(m.status == "pending" for m in matches)
    if introduced:
        stage = Stage.INTRODUCED
    elif state is not Participation.TAKING_PART:
        stage = Stage.NOT_TAKING_PART
    else:
        stage = Stage.CONSIDERED if considered else Stage.WAITING
    return Standing(stage, considered if state is Participation.TAKING_PART else 0, introduced)


async def matches_of(conn: asyncpg.Connection, person_id: UUID) -> list[Match]:
    """The person's pending and approved matches; the other side named only when approved."""
    rows = await conn.fetch(
        """
        SELECT p.match_id, p.network_id, p.status, p.status_changed_at,
          p.mentee_id = $1 AS as_mentee, CASE WHEN p.status <> 'approved' THEN NULL
          WHEN p.mentee_id = $1 AND p.kind = 'mentoring' THEN mentor.details->>'name'
          WHEN p.mentee_id = $1 THEN concat(pl.details->>'role', ' at ', host.name)
          ELSE mentee.details->>'name' END AS other
        FROM proposals p
        LEFT JOIN people mentee ON mentee.id = p.mentee_id
        LEFT JOIN people mentor ON mentor.id = p.provider_id AND p.kind = 'mentoring'
        LEFT JOIN placements pl ON pl.id = p.provider_id AND p.kind = 'secondment'
        LEFT JOIN trusts host ON host.code = pl.host_trust_code
        WHERE (p.mentee_id = $1 OR p.provider_id = $1) AND p.status IN ('pending', 'approved')
        ORDER BY p.proposed_at
        """,
        person_id,
    )
    return [
        Match(
            row["status"],
            row["other"],
            row["match_id"],
            row["network_id"],
            row["status_changed_at"] if row["status"] == "approved" else None,
            row["as_mentee"],
        )
        for row in rows
    ]
