"""A network's decided history in the profiles tables, from the learner's examples: each
example one proposal (approved when good, else rejected) with its score parts, each mentee in
the groups the example names. What the learner, the weights page and applying read."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import asyncpg

from services.profiles.accounts.accounts import NewAccount, create_account
from services.profiles.accounts.permissions import AccountRole
from services.profiles.api.schemas import MenteeIn, MentorIn
from services.profiles.outcomes.learner import COMPONENTS, Example
from services.profiles.outcomes.weights import DEFAULTS
from tests.support.pages import PASSWORD

SKILL = {
    "skill": "cyber-security",
    "skill_name": "Cyber security",
    "from_level": 2,
    "to_level": 5,
    "provider_level": 6,
}


async def seed_history(
    conn: asyncpg.Connection, network_id: str, examples: Sequence[Example]
) -> str:
    """The network, its trusts (one small), a mentor, the examples' mentees and proposals, and
    a coordinator account (password ``tests.support.pages.PASSWORD``); returns its email."""
    coordinator = f"cora.{network_id}@network.example"
    await conn.execute(
        "INSERT INTO networks (id, name, coordinators) VALUES ($1, $2, $3)",
        network_id,
        f"History {network_id}",
        [{"name": "Cora", "email": coordinator}],
    )
    trusts = {small: f"{network_id[-6:]}{'S' if small else 'L'}" for small in (False, True)}
    for small, code in trusts.items():
        await conn.execute(
            "INSERT INTO trusts (code, name, region, network_id, is_small)"
            " VALUES ($1, $2, 'Y62', $3, $4)",
            code,
            f"Trust {code}",
            network_id,
            small,
        )
    mentor = await _person(conn, network_id, "mentor", trusts[False], frozenset())
    mentees: dict[str, UUID] = {}
    start = datetime.now(UTC) - timedelta(days=180)
    rows = []
    for i, example in enumerate(examples):
        if example.mentee not in mentees:
            trust = trusts["small_trust" in example.groups]
            mentees[example.mentee] = await _person(
                conn, network_id, "mentee", trust, example.groups
            )
        at = start + timedelta(hours=i)
        rows.append(_proposal(network_id, mentor, mentees[example.mentee], example, at))
    await conn.executemany(
        """
        INSERT INTO proposals (match_id, network_id, kind, provider_id, mentee_id, score,
          explanation, status, proposed_at, status_changed_at, decided_by, reason)
        VALUES ($1, $2, 'mentoring', $3, $4, $5, $6, $7, $8, $9, $10, $11)
        """,
        rows,
    )
    account = NewAccount(
        email=coordinator,
        name="Cora",
        role=AccountRole.COORDINATOR,
        network_id=network_id,
        password=PASSWORD,
    )
    await create_account(conn, account, actor="test")
    return coordinator


async def _person(
    conn: asyncpg.Connection, network_id: str, role: str, trust: str, groups: frozenset[str]
) -> UUID:
    person_id = uuid4()
    details: dict[str, object] = {
        "name": f"{role.title()} {person_id.hex[:6]}",
        "email": f"{person_id.hex[:12]}@history.example",
        "job_title": "Lead",
        "trust_code": trust,
        "working_pattern": "part_time" if "part_time" in groups else "full_time",
        "sector": "social_care" if "social_care" in groups else "nhs",
    }
    if role == "mentor":
        details |= {"skills": [{"skill": "cyber-security", "level": 6}], "capacity": 3}
        details |= {"hours_per_month": 4}
        details = MentorIn.model_validate(details).model_dump(mode="json")
    else:
        details |= {"gaps": [{"skill": "cyber-security", "current": 2, "target": 5}]}
        details = MenteeIn.model_validate(details).model_dump(mode="json")
    await conn.execute(
        "INSERT INTO people (id, role, email, trust_code, details, network_id)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        person_id,
        role,
        details["email"],
        trust,
        details,
        network_id,
    )
    return person_id


def _proposal(
    network_id: str, mentor: UUID, mentee: UUID, example: Example, at: datetime
) -> tuple[object, ...]:
    parts = [
        {
            "name": c,
            "value": example.parts[c],
            "weight": DEFAULTS[c],
            "contribution": DEFAULTS[c] * example.parts[c],
        }
        for c in COMPONENTS
    ]
    explanation = {"skills_covered": [SKILL], "region_reason": "same region", "parts": parts}
    score = sum(DEFAULTS[c] * example.parts[c] for c in COMPONENTS)
    status = "approved" if example.good else "rejected"
    return (
        uuid4(),
        network_id,
        mentor,
        mentee,
        score,
        explanation,
        status,
        at,
        at + timedelta(days=2),
        f"cora.{network_id}@network.example",
        "" if example.good else "not a good fit",
    )
