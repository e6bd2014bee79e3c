"""Events the tests build again and again, with only what a test cares about to say."""

from __future__ import annotations

from uuid import UUID, uuid4

from shared.events import MatchProposed, PersonProfile
from shared.matching import Explanation, MatchKind, ScorePart, SkillCovered
from shared.people import Mode, Role, Sector, SkillGap, WorkingPattern
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
        kind=MatchKind.MENTORING,
        provider_id=provider_id or uuid4(),
        mentee_id=mentee_id or uuid4(),
        score=score,
        explanation=Explanation(skills_covered=skills, region_reason=region_reason, parts=parts),
    )


def mentee_profile(person_id: UUID | None = None, network_id: str = "north") -> PersonProfile:
    """A part-time social-care mentee who wants to grow in data analytics."""
    return PersonProfile(
        person_id=person_id or uuid4(),
        role=Role.MENTEE,
        name="Ben",
        email="ben@example.org",
        job_title="Analyst",
        trust_code="T2",
        network_id=network_id,
        region=Region.MIDLANDS,
        mode=Mode.REMOTE,
        working_pattern=WorkingPattern.PART_TIME,
        sector=Sector.SOCIAL_CARE,
        gaps=(SkillGap(skill="data-analytics", current=1, target=4),),
    )
