"""Events the tests build again and again, with only what a test cares about to say."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from shared.events import (
    Coordinator,
    Event,
    MatchProposed,
    NetworkUpserted,
    PersonProfile,
    PersonUpserted,
    TrustUpserted,
)
from shared.matching import Explanation, MatchKind, ScorePart, SkillCovered
from shared.people import Mode, Role, Sector, SkillGap, SkillLevel, WorkingPattern
from shared.regions import Region


def covered(skill: str, name: str, from_level: int, to_level: int, provider: int) -> SkillCovered:
    return SkillCovered(
        skill=skill,
        skill_name=name,
        from_level=from_level,
        to_level=to_level,
        provider_level=provider,
    )


def match_proposed(
    *,
    network_id: str = "north",
    provider_id: UUID | None = None,
    mentee_id: UUID | None = None,
    score: float = 0.8,
    kind: MatchKind = MatchKind.MENTORING,
    skills: tuple[SkillCovered, ...] = (),
    region_reason: str = "same region (London)",
    parts: tuple[ScorePart, ...] = (
        ScorePart(name="skills", value=1, weight=0.8, contribution=0.8),
    ),
) -> MatchProposed:
    match_id = uuid4()
    return MatchProposed(
        entity_key=str(match_id),
        match_id=match_id,
        network_id=network_id,
        kind=kind,
        provider_id=provider_id or uuid4(),
        mentee_id=mentee_id or uuid4(),
        score=score,
        explanation=Explanation(skills_covered=skills, region_reason=region_reason, parts=parts),
    )


def person(role: Role, network: str, trust: str) -> PersonUpserted:
    """A mentor (cyber security at 6) or a mentee (a gap in it, 2 to 5) in the North West."""
    person_id = uuid4()
    common = dict(
        person_id=person_id,
        role=role,
        name=f"{role} person",
        email=f"{person_id}@example.org",
        job_title="Lead",
        trust_code=trust,
        network_id=network,
        region=Region.NORTH_WEST,
        mode=Mode.EITHER,
        working_pattern=WorkingPattern.FULL_TIME,
        sector=Sector.NHS,
    )
    if role is Role.MENTOR:
        profile = PersonProfile(
            **common,
            skills=(SkillLevel(skill="cyber-security", level=6),),
            capacity=1,
            hours_per_month=4,
        )
    else:
        profile = PersonProfile(
            **common, gaps=(SkillGap(skill="cyber-security", current=2, target=5),)
        )
    return PersonUpserted(entity_key=str(person_id), profile=profile)


def network_events() -> tuple[list[Event], MatchProposed]:
    """A new network, its trust, a mentor and a mentee, and the proposal that pairs them."""
    network = f"net-{uuid4().hex[:6]}"
    coordinator = Coordinator(name="Cora Ordinator", email=f"cora.{network}@example.org")
    mentor_id, mentee_id = uuid4(), uuid4()
    common = dict(
        network_id=network,
        region=Region.LONDON,
        mode=Mode.EITHER,
        working_pattern=WorkingPattern.FULL_TIME,
        sector=Sector.NHS,
    )
    events: list[Event] = [
        NetworkUpserted(
            entity_key=network,
            network_id=network,
            name="London Digital",
            coordinators=(coordinator,),
        ),
        TrustUpserted(
            entity_key="TA",
            trust_code="TA",
            name="Trust Alpha",
            region=Region.LONDON,
            network_id=network,
        ),
        PersonUpserted(
            entity_key=str(mentor_id),
            profile=PersonProfile(
                person_id=mentor_id,
                role=Role.MENTOR,
                name="Mina Mentor",
                email="mina@example.org",
                job_title="CIO",
                trust_code="TA",
                skills=(SkillLevel(skill="procurement", level=6),),
                capacity=1,
                hours_per_month=2,
                **common,
            ),
        ),
        PersonUpserted(
            entity_key=str(mentee_id),
            profile=PersonProfile(
                person_id=mentee_id,
                role=Role.MENTEE,
                name="Theo Mentee",
                email="theo@example.org",
                job_title="Analyst",
                trust_code="TA",
                gaps=(SkillGap(skill="procurement", current=1, target=4),),
                **common,
            ),
        ),
    ]
    proposal = match_proposed(
        network_id=network,
        provider_id=mentor_id,
        mentee_id=mentee_id,
        score=0.9,
        skills=(covered("procurement", "Procurement and commercial", 1, 4, 6),),
    )
    return events, proposal


def person_profile(
    network: str = "north", role: Role = Role.MENTOR, trust_code: str = "T1", **fields: Any
) -> PersonProfile:
    """A profile with only what a test says about it (a mentor by default), and the one skill
    (or gap) its role must list unless the test names them."""
    person_id = uuid4()
    listed = (
        {
            "skills": (SkillLevel(skill="cyber-security", level=6),),
            "capacity": 1,
            "hours_per_month": 4,
        }
        if role is Role.MENTOR
        else {"gaps": (SkillGap(skill="cyber-security", current=2, target=5),)}
    )
    return PersonProfile(
        person_id=person_id,
        role=role,
        name="A Person",
        email=f"{person_id.hex}@example.org",
        job_title="Lead",
        trust_code=trust_code,
        network_id=network,
        region=Region.NORTH_WEST,
        mode=Mode.EITHER,
        working_pattern=WorkingPattern.FULL_TIME,
        sector=Sector.NHS,
        **(listed | fields),
    )
