"""How a proposed match explains itself; carried in match-proposed events and shown to people."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class MatchKind(StrEnum):
    MENTORING = "mentoring"
    SECONDMENT = "secondment"


# Why a round withdraws a proposal it found a better match for (the coordinators' pages show
# such proposals as replaced, not merely withdrawn).
REPLACED_BY_A_BETTER_MATCH = "replaced by a better match"


class SkillCovered(BaseModel):
    """One of the mentee's gaps that the mentor or placement covers."""

    model_config = ConfigDict(frozen=True)

    skill: str
    skill_name: str
    from_level: int
    to_level: int
    provider_level: int = Field(description="the mentor's (or placement's) level in the skill")


class ScorePart(BaseModel):
    """One component of a score: its raw value in [0, 1], its weight and its share of the total."""

    model_config = ConfigDict(frozen=True)

    name: str
    value: float
    weight: float
    contribution: float


class Explanation(BaseModel):
    model_config = ConfigDict(frozen=True)

    skills_covered: tuple[SkillCovered, ...]
    region_reason: str
    parts: tuple[ScorePart, ...]

    def summary(self) -> str:
        skills = ", ".join(
            f"{s.skill_name} {s.from_level}→{s.to_level}" for s in self.skills_covered
        )
        return f"covers {skills or 'no listed gap'}; {self.region_reason}"
