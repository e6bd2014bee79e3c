"""Value types that describe people, trusts and placements; shared by events and the engine."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from shared.regions import Region
from shared.skills import DEFAULT_TAXONOMY, MAX_LEVEL, MIN_LEVEL

# The limits of a profile and a placement: the one definition that the HTTP API's schemas
# (services/profiles/api/schemas.py) and the events (shared/events.py) both use, so an event
# cannot carry what the API refuses (tests/unit/test_event_limits.py).
MAX_CAPACITY = 50  # mentees at once: what the matching engine serves (engine/contract.py)
MAX_HOURS_PER_MONTH = 160
MAX_SKILLS = 30  # skills a mentor lists, gaps a mentee lists, skills a placement develops
MAX_PLACEMENT_MONTHS = 24
MAX_PLACEMENT_PLACES = 50

Capacity = Annotated[
    float,
    Field(
        ge=0,
        le=MAX_CAPACITY,
        allow_inf_nan=False,
        description=f"mentees at once, at most {MAX_CAPACITY}; 0.5 for a half share",
    ),
]
HoursPerMonth = Annotated[float, Field(ge=0, le=MAX_HOURS_PER_MONTH, allow_inf_nan=False)]
PlacementMonths = Annotated[int, Field(ge=1, le=MAX_PLACEMENT_MONTHS)]
FullTimeShare = Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]
PlacementPlaces = Annotated[int, Field(ge=1, le=MAX_PLACEMENT_PLACES)]
# England's trusts, with a margin: a coordinate outside is a typing error, not a trust.
Latitude = Annotated[float, Field(ge=49.0, le=61.0)]
Longitude = Annotated[float, Field(ge=-8.0, le=2.0)]


def refuse_repeated_skills(codes: Sequence[str]) -> None:
    """A skill listed twice (two levels, two gaps) has no one meaning: refused."""
    repeated = sorted({code for code in codes if codes.count(code) > 1})
    if repeated:
        raise ValueError(f"each skill may appear once; repeated: {', '.join(repeated)}")


def refuse_window_out_of_order(start_from: date | None, start_to: date | None) -> None:
    if start_from and start_to and start_to < start_from:
        raise ValueError("start_to must not be before start_from")


class Role(StrEnum):
    MENTOR = "mentor"
    MENTEE = "mentee"


class Mode(StrEnum):
    IN_PERSON = "in_person"
    REMOTE = "remote"
    EITHER = "either"


class WorkingPattern(StrEnum):
    FULL_TIME = "full_time"
    PART_TIME = "part_time"


class Weekday(StrEnum):
    """The days a part-time participant works (and can meet)."""

    MONDAY = "monday"
    TUESDAY = "tuesday"
    WEDNESDAY = "wednesday"
    THURSDAY = "thursday"
    FRIDAY = "friday"


class Sector(StrEnum):
    NHS = "nhs"
    SOCIAL_CARE = "social_care"


# Built once: every skill in every event is checked against it.
_KNOWN_SKILLS = DEFAULT_TAXONOMY.codes()


def _known_skill(code: str) -> str:
    if code not in _KNOWN_SKILLS:
        known = ", ".join(sorted(DEFAULT_TAXONOMY.codes()))
        raise ValueError(f"unknown skill {code!r}; known skills: {known}")
    return code


SkillCode = Annotated[str, AfterValidator(_known_skill)]
Level = Annotated[int, Field(ge=MIN_LEVEL, le=MAX_LEVEL)]


class SkillLevel(BaseModel):
    """A skill someone has (or a placement develops) at a level on the 1-7 scale."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    skill: SkillCode
    level: Level


class SkillGap(BaseModel):
    """A skill a mentee wants to grow, from their current level to a target level."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    skill: SkillCode
    current: int = Field(ge=0, le=MAX_LEVEL - 1, description="0 when they have none yet")
    target: Level
    priority: float = Field(default=1.0, gt=0, le=5, description="relative importance")

    @model_validator(mode="after")
    def _target_above_current(self) -> SkillGap:
        if self.target <= self.current:
            raise ValueError(
                f"target level {self.target} must be above current level {self.current}"
            )
        return self

    @property
    def size(self) -> int:
        return self.target - self.current


# --- two-sided preferences (docs/matching.md, "Stated preferences") ---

MAX_RANKED_MENTORS = 20  # mentors a mentee ranks, and mentors a mentee excludes


class AspiredRole(StrEnum):
    """A senior digital role a mentee is working towards; mentors may prefer to help them."""

    CIO = "cio"  # chief information officer
    CCIO = "ccio"  # chief clinical information officer
    CNIO = "cnio"  # chief nursing information officer
    CDO = "cdo"  # chief digital officer
    CTO = "cto"  # chief technology officer


class MentorPreferences(BaseModel):
    """Whom a mentor would rather help: mentees meeting more of these come first for them.

    Each list left empty states nothing. A mentee meets a list when its value is in it; the
    preference's value for a pair is the share of the stated lists the mentee meets.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    sectors: tuple[Sector, ...] = Field(default=(), max_length=len(Sector))
    regions: tuple[Region, ...] = Field(default=(), max_length=len(Region))
    aspirations: tuple[AspiredRole, ...] = Field(default=(), max_length=len(AspiredRole))

    @property
    def stated(self) -> bool:
        return bool(self.sectors or self.regions or self.aspirations)
