"""Six months of generated history for the demo (docs/outcomes.md): a network whose proposals
were decided by coordinators who weighed the score parts in a hidden way, whose matches met,
checked in and closed, so that its report, a match's timeline and a weight suggestion with its
evidence have something to show. ``synthetic_examples`` is the same generator, pure, as the
learner's tests use it."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import asyncpg
from rich.console import Console

from services.profiles.accounts.accounts import NewAccount, create_account, demo_password
from services.profiles.accounts.permissions import AccountRole
from services.profiles.api.schemas import MenteeIn, MentorIn
from services.profiles.coordination.queries import proposals_about
from services.profiles.outcomes.learner import COMPONENTS, GROUPS, Example, Suggestion
from services.profiles.outcomes.queries import network_history
from services.profiles.outcomes.report import EVERYONE, build_report
from services.profiles.outcomes.timelines import match_timelines
from services.profiles.outcomes.weights import suggestion_for
from shared.db import connection
from shared.events import (
    CheckInRecorded,
    Coordinator,
    FirstConversationHeld,
    LifeActor,
    MatchClosed,
    MatchOutcome,
)
from shared.people import SkillLevel

# What the demo network's coordinators weighed, unknown to Bridgework: the learner finds it.
HIDDEN_WEIGHTS = {
    "skills": 0.40,
    "region": 0.10,
    "availability": 0.30,
    "preferences": 0.15,
    "text": 0.05,
}
STEEPNESS = 12.0  # how sharply the hidden score decides approval


def _good(rng: random.Random, parts: Mapping[str, float], weights: Mapping[str, float]) -> bool:
    total = sum(weights.values())
    score = sum(weights.get(c, 0.0) / total * parts[c] for c in COMPONENTS)
    return rng.random() < 1 / (1 + math.exp(-STEEPNESS * (score - 0.5)))


def _groups(rng: random.Random) -> frozenset[str]:
    shares = {"part_time": 0.3, "social_care": 0.2, "small_trust": 0.25}
    return frozenset(g for g in GROUPS if rng.random() < shares[g])


def synthetic_examples(
    weights: Mapping[str, float], proposals: int, seed: int, far_group: str | None = None
) -> list[Example]:
    """``proposals`` decided proposals (four per mentee) whose parts are uniform in [0, 1] and
    whose coordinators approved by ``weights``; the mentees of ``far_group`` live far from
    every mentor (region part at most 0.2)."""
    rng = random.Random(seed)
    examples = []
    mentee, groups = "", frozenset[str]()
    for i in range(proposals):
        if i % 4 == 0:
            mentee, groups = f"mentee-{i // 4}", _groups(rng)
        parts = {c: rng.random() for c in COMPONENTS}
        if far_group is not None and far_group in groups:
            parts["region"] *= 0.2
        examples.append(Example(parts, _good(rng, parts, weights), mentee, groups))
    return examples


# --- the demo network's history in the profiles tables ----------------------------------------

NETWORK = "history-demo"
SKILLS = ("clinical-engagement", "cyber-security", "data-analytics", "board-influence")
REASONS = ("same team already", "mentor too senior for this gap", "mentee asked for remote")


async def add_history(conn: asyncpg.Connection, now: datetime | None = None, seed: int = 18) -> str:
    """The demo network with six months of history (profiles' tables, as its events would have
    left them); returns the network's id. Run on a fresh demo database."""
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    start = now - timedelta(days=182)
    coordinator = Coordinator(name="Hana History", email="hana@history.example")
    await conn.execute(
        "INSERT INTO networks (id, name, coordinators) VALUES ($1, $2, $3)"
        " ON CONFLICT (id) DO NOTHING",
        NETWORK,
        "North West history (generated)",
        [coordinator.model_dump(mode="json")],
    )
    trusts = [(f"HX{i}", f"History Trust {i}", i == 3) for i in range(4)]
    for code, name, small in trusts:
        await conn.execute(
            "INSERT INTO trusts (code, name, region, network_id, is_small) VALUES ($1, $2,"
            " 'Y62', $3, $4) ON CONFLICT (code) DO NOTHING",
            code,
            name,
            NETWORK,
            small,
        )
    mentors = [await _person(conn, rng, "mentor", i, trusts, start) for i in range(30)]
    for i in range(120):
        joined = start + timedelta(days=rng.uniform(0, 150))
        mentee = await _person(conn, rng, "mentee", i, trusts, joined)
        for mentor in rng.sample(mentors, 4):
            await _proposal(conn, rng, mentor, mentee, joined, now)
    return NETWORK


async def _person(
    conn: asyncpg.Connection,
    rng: random.Random,
    role: str,
    i: int,
    trusts: list[tuple[str, str, bool]],
    joined: datetime,
) -> UUID:
    person_id = uuid4()
    code = rng.choice(trusts)[0]
    skill = rng.choice(SKILLS)
    details: dict[str, object] = {
        "name": f"{role.title()} {i:03d}",
        "email": f"{role}.{i:03d}@history.example",
        "job_title": "CIO" if role == "mentor" else "Digital lead",
        "trust_code": code,
        "working_pattern": "part_time" if rng.random() < 0.3 else "full_time",
        "sector": "social_care" if rng.random() < 0.2 else "nhs",
    }
    if role == "mentor":
        skills = [{"skill": s, "level": 6} for s in SKILLS]
        details |= {"skills": skills, "capacity": 3, "hours_per_month": 4}
    else:
        details |= {"gaps": [{"skill": skill, "current": 2, "target": 5}]}
    # A whole profile, as the API would have stored it: the pages show every field.
    model = MentorIn if role == "mentor" else MenteeIn
    details = model.model_validate(details).model_dump(mode="json")
    await conn.execute(
        "INSERT INTO people (id, role, email, trust_code, details, created_at, network_id)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        person_id,
        role,
        details["email"],
        code,
        details,
        joined,
        NETWORK,
    )
    return person_id


async def _proposal(
    conn: asyncpg.Connection,
    rng: random.Random,
    mentor: UUID,
    mentee: UUID,
    joined: datetime,
    now: datetime,
) -> None:
    match_id = uuid4()
    parts = {c: rng.random() for c in COMPONENTS}
    weights = {"skills": 0.55, "region": 0.2, "availability": 0.1, "preferences": 0.1, "text": 0.05}
    score = sum(weights[c] * parts[c] for c in COMPONENTS)
    skill = await conn.fetchval(
        "SELECT details->'gaps'->0->>'skill' FROM people WHERE id = $1", mentee
    )
    explanation = {
        "skills_covered": [
            {
                "skill": skill,
                "skill_name": skill.replace("-", " ").capitalize(),
                "from_level": 2,
                "to_level": 5,
                "provider_level": 6,
            }
        ],
        "region_reason": "same region (North West)",
        "parts": [
            {
                "name": c,
                "value": parts[c],
                "weight": weights[c],
                "contribution": weights[c] * parts[c],
            }
            for c in COMPONENTS
        ],
    }
    proposed = joined + timedelta(days=rng.uniform(1, 10))
    decided = proposed + timedelta(days=rng.uniform(0.5, 9))
    if decided > now:
        status, decided_at, reason = "pending", None, ""
    elif _good(rng, parts, HIDDEN_WEIGHTS):
        status, decided_at, reason = "approved", decided, ""
    else:
        status, decided_at, reason = "rejected", decided, rng.choice(REASONS)
    await conn.execute(
        """
        INSERT INTO proposals (match_id, network_id, kind, provider_id, mentee_id, score,
          explanation, status, proposed_at, status_changed_at, decided_by, reason)
        VALUES ($1, $2, 'mentoring', $3, $4, $5, $6, $7, $8, $9, $10, $11)
        """,
        match_id,
        NETWORK,
        mentor,
        mentee,
        score,
        explanation,
        status,
        proposed,
        decided_at,
        None if decided_at is None else "hana@history.example",
        reason,
    )
    if status == "approved" and decided_at is not None:
        await _life(conn, rng, match_id, skill, parts, decided_at, now)


async def _life(
    conn: asyncpg.Connection,
    rng: random.Random,
    match_id: UUID,
    skill: str,
    parts: Mapping[str, float],
    introduced: datetime,
    now: datetime,
) -> None:
    """First conversation, check-ins and a close, as far as the time since allows; the better
    the availability part, the likelier it works."""
    works = rng.random() < 0.4 + 0.5 * parts["availability"]
    events: list[FirstConversationHeld | CheckInRecorded | MatchClosed] = []
    met_at = introduced + timedelta(days=rng.uniform(3, 20))
    common = {"entity_key": str(match_id), "match_id": match_id, "network_id": NETWORK}
    if rng.random() < 0.85:
        events.append(
            FirstConversationHeld(**common, confirmed_by=LifeActor.MENTEE, occurred_at=met_at)
        )
    for day in (30, 90):
        usefulness = rng.randint(3, 5) if works else rng.randint(1, 3)
        events.append(
            CheckInRecorded(
                **common,
                day=day,
                by=LifeActor.MENTEE,
                met=True,
                usefulness=usefulness,
                occurred_at=introduced + timedelta(days=day + rng.uniform(0, 3)),
            )
        )
    ends = introduced + timedelta(days=rng.uniform(40, 150) if not works else rng.uniform(100, 170))
    outcome = MatchOutcome.COMPLETED if works else MatchOutcome.ENDED_EARLY
    if rng.random() < 0.05:
        outcome = MatchOutcome.NO_LONGER_NEEDED
    level = rng.randint(4, 5) if works else rng.randint(2, 3)
    events.append(
        MatchClosed(
            **common,
            outcome=outcome,
            by=LifeActor.COORDINATOR,
            levels=(SkillLevel(skill=skill, level=level),),
            occurred_at=ends,
        )
    )
    events.sort(key=lambda e: e.occurred_at)
    closing = next(i for i, e in enumerate(events) if isinstance(e, MatchClosed))
    for event in events[: closing + 1]:  # a check-in after the close did not happen
        if event.occurred_at > now:
            break
        await conn.execute(
            "INSERT INTO match_life (event_id, match_id, network_id, event_type, occurred_at,"
            " event) VALUES ($1, $2, $3, $4, $5, $6)",
            event.event_id,
            match_id,
            NETWORK,
            event.event_type,
            event.occurred_at,
            event.model_dump(mode="json"),
        )
        if isinstance(event, MatchClosed):
            await conn.execute(
                "UPDATE proposals SET status = 'closed' WHERE match_id = $1", match_id
            )


async def show_history(
    database_url: str, base_url: str, environment: str
) -> list[tuple[str, str, str, str]]:
    """The demo's one call: the history network, its coordinator's account, and what its pages
    show (the report's totals, a match's timeline, the weight suggestion and its evidence);
    returns the coordinator's sign-in (role, email, password, sign-in page)."""
    console = Console(width=160)
    password = demo_password(environment)
    async with connection(database_url, "profiles") as conn:
        network = await add_history(conn)
        account = NewAccount(
            email="hana@history.example",
            name="Hana History",
            role=AccountRole.COORDINATOR,
            network_id=network,
            password=password,
        )
        await create_account(conn, account, actor="demo")
        facts, events = await network_history(conn, network)
        report = build_report(facts, events, datetime.now(UTC))
        suggestion = await suggestion_for(conn, network)
        closed = await conn.fetchrow(
            "SELECT match_id, mentee_id FROM proposals WHERE network_id = $1"
            " AND status = 'closed' ORDER BY proposed_at LIMIT 1",
            network,
        )
        [story] = [
            t
            for t in await match_timelines(
                conn, await proposals_about(conn, network, closed["mentee_id"])
            )
            if t.match.match_id == closed["match_id"]
        ]
    totals = report.totals[EVERYONE]
    console.rule(f"Six months of generated history: {base_url}/dashboard/{network}/report")
    console.print(
        ", ".join(
            f"{name.replace('_', ' ')} {value:g}"
            for name, value in totals.items()
            if value is not None
        )
    )
    dashboard = f"{base_url}/dashboard/{network}"
    console.print(
        f"A match's timeline: {dashboard}/matches/{closed['match_id']}, and on its mentee's"
        f" page: {dashboard}/people/{closed['mentee_id']}"
    )
    for at, what in story.lines:
        console.print(f"  {at:%d %b %Y}  {what}")
    console.print(f"Learned weights ({dashboard}/weights): {held_out(suggestion)}")
    return [("coordinator", account.email, password, f"{base_url}/sign-in")]


def held_out(suggestion: Suggestion) -> str:
    """The learner's evidence in one line: its history and the held-out ranking quality."""
    current, fitted = suggestion.current_auc_spread, suggestion.suggested_auc_spread
    if current is None or fitted is None:
        return str(suggestion.refused)  # too little history: no figures
    (c_low, c_high), (s_low, s_high) = current, fitted
    weights = suggestion.suggested or {}
    return (
        f"from {suggestion.history} decided proposals ({suggestion.good} good), held-out ROC AUC"
        f" over {suggestion.folds} folds: current {suggestion.current_auc:.3f}"
        f" ({c_low:.3f}-{c_high:.3f}), fitted {suggestion.suggested_auc:.3f}"
        f" ({s_low:.3f}-{s_high:.3f})"
        + (
            f"; suggested {', '.join(f'{c} {w:.2f}' for c, w in weights.items())}"
            if weights
            else ""
        )
        + (f"; {suggestion.refused}" if suggestion.refused else "")
    )
