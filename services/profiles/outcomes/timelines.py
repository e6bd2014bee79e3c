"""Each introduced match of a person, with its timeline, for the coordinators' person page:
built from the proposals' read model and the match's life events (life.py), never recounted
in a template."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from services.profiles.coordination.dashboard import ProposalView
from services.profiles.outcomes.life import LifeEvent, life_of, timeline
from services.profiles.outcomes.store import life_events

INTRODUCED = ("approved", "closed")


@dataclass(frozen=True)
class MatchTimeline:
    match: ProposalView
    stage: str  # introduced, met, closed: completed...
    lines: list[tuple[datetime, str]]


def match_timeline(view: ProposalView, events: Sequence[LifeEvent]) -> MatchTimeline:
    """One introduced match's timeline: its proposal, approval and life events."""
    life = life_of(view.match_id, view.decided_at, events)
    lines = timeline(
        life,
        proposed_at=view.proposed_at,
        approved_by=view.decided_by,
        covered=view.explanation.skills_covered,
        by_hand=view.by_hand,
    )
    return MatchTimeline(view, life.stage, lines)


async def match_timelines(
    conn: asyncpg.Connection, proposals: Sequence[ProposalView]
) -> list[MatchTimeline]:
    """The timelines of the introduced matches among ``proposals``, in their order."""
    introduced = [v for v in proposals if v.status in INTRODUCED]
    by_match: dict[UUID, list[LifeEvent]] = defaultdict(list)
    for event in await life_events(conn, [v.match_id for v in introduced]):
        by_match[event.match_id].append(event)
    return [match_timeline(v, by_match[v.match_id]) for v in introduced]
