"""A network with thousands of pending proposals, for the proposals page's benchmark and its
browser test: written straight into the profiles schema."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg


def person(role: str, number: int, trust: str, network: str) -> dict[str, Any]:
    common = {
        "name": f"{role.title()} {number}",
        "email": f"{role}.{number}.{network}@crowded.example",
        "job_title": "Digital lead",
        "trust_code": trust,
        "mode": "either",
        "working_pattern": "full_time",
        "sector": "nhs",
    }
    if role == "mentor":
        skills = [
            {"skill": "clinical-engagement", "level": 7},
            {"skill": "procurement", "level": 6},
        ]
        return common | {"skills": skills, "capacity": 3, "hours_per_month": 4, "bio": ""}
    gaps = [
        {"skill": "clinical-engagement", "current": 2, "target": 5, "priority": 1},
        {"skill": "procurement", "current": 1, "target": 4, "priority": 1},
        {"skill": "cyber-security", "current": 2, "target": 4, "priority": 1},
    ]
    return common | {"gaps": gaps, "goals": "", "open_to_secondment": False}


def explanation(score: float) -> dict[str, Any]:
    covered = [
        {
            "skill": "clinical-engagement",
            "skill_name": "Clinical engagement",
            "from_level": 2,
            "to_level": 5,
            "provider_level": 7,
        }
    ]
    weights = {"skills": 0.5, "region": 0.2, "availability": 0.1, "preferences": 0.1, "text": 0.1}
    parts = [
        {"name": name, "value": score, "weight": weight, "contribution": score * weight}
        for name, weight in weights.items()
    ]
    return {"skills_covered": covered, "region_reason": "same region (North West)", "parts": parts}


async def seed_crowded_network(
    conn: asyncpg.Connection, network_id: str, proposals: int, coordinator: str = ""
) -> None:
    """A network of 20 trusts, 300 mentors, a mentee for every two proposals and
    ``proposals`` pending proposals, proposed over the last 30 days, written straight into
    the profiles schema (the read model as its consumer would fill it)."""
    rng = random.Random(7)
    tag = network_id.upper().replace("-", "")[:6]
    trusts = [f"{tag}{i:03d}" for i in range(20)]
    coordinators = [{"name": "Cora", "email": coordinator}] if coordinator else []
    await conn.execute(
        "INSERT INTO networks (id, name, coordinators) VALUES ($1, $2, $3)",
        network_id,
        f"Crowded {network_id}",
        coordinators,
    )
    await conn.executemany(
        "INSERT INTO trusts (code, name, region, network_id) VALUES ($1, $2, $3, $4)",
        [
            (code, f"Trust {code}", "Y62" if i % 2 else "Y60", network_id)
            for i, code in enumerate(trusts)
        ],
    )
    people: dict[str, list[UUID]] = {"mentor": [], "mentee": []}
    rows = []
    for role, count in (("mentor", 300), ("mentee", max(1, proposals // 2))):
        for number in range(count):
            person_id = uuid4()
            people[role].append(person_id)
            details = person(role, number, trusts[number % len(trusts)], network_id)
            rows.append((person_id, role, details["email"], details["trust_code"], details))
    await conn.executemany(
        "INSERT INTO people (id, role, email, trust_code, details) VALUES ($1, $2, $3, $4, $5)",
        rows,
    )
    now = datetime.now(UTC)
    await conn.executemany(
        "INSERT INTO proposals (match_id, network_id, kind, provider_id, mentee_id, score,"
        " explanation, proposed_at) VALUES ($1, $2, 'mentoring', $3, $4, $5, $6, $7)",
        [
            (
                uuid4(),
                network_id,
                rng.choice(people["mentor"]),
                people["mentee"][i // 2],
                score,
                explanation(score),
                now - timedelta(minutes=rng.randrange(30 * 24 * 60)),
            )
            for i in range(proposals)
            for score in [round(rng.uniform(0.3, 0.95), 3)]
        ],
    )
    await conn.execute("ANALYZE")
