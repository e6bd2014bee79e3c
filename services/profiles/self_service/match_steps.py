"""What a participant can do about their introduced matches from their /me page: confirm the
first conversation, answer a check-in that is due and (the mentee) end the match with their
re-assessed levels. Each step is offered as a fresh single-use signed link to the same page the
reminder emails link to (outcomes/pages.py), so /me and the emails take a step one way."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from services.profiles.directory.networks import life_settings
from services.profiles.outcomes.life import LifeEvent, Step, due_steps, life_of
from services.profiles.outcomes.store import life_events
from services.profiles.self_service.standing import Match
from shared.events import LifeActor
from shared.links import sign_match_life_link
from shared.settings import Settings


@dataclass(frozen=True)
class StepLink:
    step: Step
    url: str


@dataclass(frozen=True)
class MatchSteps:
    other: str  # whom the participant was introduced to
    stage: str  # introduced, met
    links: tuple[StepLink, ...]


async def match_steps(
    conn: asyncpg.Connection,
    settings: Settings,
    person_id: UUID,
    matches: Sequence[Match],
    now: datetime,
) -> list[MatchSteps]:
    """Each open introduced match among ``matches`` with the steps this participant can take."""
    introduced = [m for m in matches if m.match_id is not None and m.introduced_at is not None]
    by_match: dict[UUID, list[LifeEvent]] = defaultdict(list)
    for event in await life_events(conn, [m.match_id for m in introduced if m.match_id]):
        by_match[event.match_id].append(event)
    found = []
    for match in introduced:
        assert match.match_id is not None
        life = life_of(match.match_id, match.introduced_at, by_match[match.match_id])
        side = LifeActor.MENTEE if match.as_mentee else LifeActor.MENTOR
        days = (await life_settings(conn, match.network_id)).check_in_days
        links = tuple(
            StepLink(step, _url(settings, match.match_id, person_id, side, step))
            for step in due_steps(life, side, days, now)
        )
        found.append(MatchSteps(match.other or "", life.stage, links))
    return found


def _url(settings: Settings, match_id: UUID, person_id: UUID, side: LifeActor, step: Step) -> str:
    token = sign_match_life_link(
        settings.secret_key.get_secret_value(),
        match_id=match_id,
        person_id=person_id,
        side="mentee" if side is LifeActor.MENTEE else "mentor",
        step=step.step,
        day=step.day,
    )
    return f"/links/match/{token}"
