"""What the profiles HTTP API accepts and returns. Unknown fields are refused."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

from shared.addresses import EmailAddress
from shared.events import Coordinator, MatchLifeSettings
from shared.people import (
    MAX_SKILLS,
    Capacity,
    FullTimeShare,
    HoursPerMonth,
    Latitude,
    Longitude,
    Mode,
    PlacementMonths,
    PlacementPlaces,
    Role,
    Sector,
    SkillGap,
    SkillLevel,
    Weekday,
    WorkingPattern,
    refuse_repeated_skills,
    refuse_window_out_of_order,
)
from shared.regions import Region, parse_region
from shared.text import IDENTIFIER_PATTERN, FreeText, Identifier, Name

__all__ = ["IDENTIFIER_PATTERN", "Identifier", "Name"]  # the API's rules, shared with events


Text = FreeText
RegionField = Annotated[
    Region, BeforeValidator(lambda v: parse_region(v) if isinstance(v, str) else v)
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class NetworkIn(Strict):
    name: Name
    coordinators: list[Coordinator] = Field(min_length=1, max_length=20)
    life: MatchLifeSettings = Field(
        default_factory=MatchLifeSettings,
        description="when matches are followed up (check-ins, reminders); the defaults if absent",
    )


class NetworkOut(NetworkIn):
    id: str


class TrustIn(Strict):
    name: Name
    region: RegionField = Field(description="NHS England region code (Y56) or name (London)")
    network_id: Identifier
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    is_small: bool = False
    # Who receives a secondment's introduction for this trust (its workforce or digital lead).
    contact_email: EmailAddress | None = None


class TrustOut(TrustIn):
    code: str


class PersonIn(Strict):
    name: Name
    email: EmailAddress
    job_title: Name
    trust_code: Identifier
    mode: Mode = Mode.EITHER
    working_pattern: WorkingPattern = WorkingPattern.FULL_TIME
    working_days: list[Weekday] = Field(
        default_factory=list, max_length=5, description="part-time: the days they work"
    )
    sector: Sector = Sector.NHS

    @model_validator(mode="after")
    def _days_once_and_only_part_time(self) -> PersonIn:
        if len(set(self.working_days)) < len(self.working_days):
            raise ValueError("each working day may appear once")
        if self.working_days and self.working_pattern is not WorkingPattern.PART_TIME:
            raise ValueError("working days are given for part-time working only")
        return self


class MentorIn(PersonIn):
    skills: list[SkillLevel] = Field(min_length=1, max_length=MAX_SKILLS)
    capacity: Capacity
    hours_per_month: HoursPerMonth
    bio: Text = ""

    @model_validator(mode="after")
    def _one_level_per_skill(self) -> MentorIn:
        refuse_repeated_skills([s.skill for s in self.skills])
        return self


class MenteeIn(PersonIn):
    gaps: list[SkillGap] = Field(min_length=1, max_length=MAX_SKILLS)
    goals: Text = ""
    open_to_secondment: bool = False

    @model_validator(mode="after")
    def _one_gap_per_skill(self) -> MenteeIn:
        refuse_repeated_skills([g.skill for g in self.gaps])
        return self


class PersonOut(BaseModel):
    id: UUID
    role: Role
    paused: bool
    details: MentorIn | MenteeIn


class AvailabilityIn(Strict):
    paused: bool
    capacity: Capacity | None = None
    hours_per_month: HoursPerMonth | None = None
    paused_until: date | None = Field(
        default=None, description="when a pause ends: the mentor is reminded that morning"
    )


class WorkPlace(StrEnum):
    ON_SITE = "on_site"
    REMOTE = "remote"
    HYBRID = "hybrid"


# Agenda for Change bands, as trusts write them.
Band = Annotated[str, Field(pattern=r"^([1-7]|8[a-d]|9)$", description="2 to 9, 8a to 8d")]
BAND_ORDER = ("1", "2", "3", "4", "5", "6", "7", "8a", "8b", "8c", "8d", "9")


class PlacementIn(Strict):
    host_trust_code: Identifier
    role: Name
    skills_developed: list[SkillLevel] = Field(min_length=1, max_length=MAX_SKILLS)
    months: PlacementMonths
    fte: FullTimeShare
    places: PlacementPlaces = 1
    start_from: date | None = None
    start_to: date | None = None
    asks_nothing_back: bool = Field(
        default=False,
        description=(
            "the host trust offers it without asking for anyone back: it may start a chain of"
            " secondments (A <- B <- C), proposed and decided all or none like an exchange"
        ),
    )
    # What a trust's contact states on the trust's page (the matcher needs none of it).
    days_per_week: float | None = Field(default=None, gt=0, le=5)
    work_place: WorkPlace | None = None
    band_from: Band | None = None
    band_to: Band | None = None
    supervisor: Name | None = Field(default=None, description="the host-side supervisor")

    @model_validator(mode="after")
    def _as_the_event_has_it(self) -> PlacementIn:
        refuse_repeated_skills([s.skill for s in self.skills_developed])
        refuse_window_out_of_order(self.start_from, self.start_to)
        bands = self.band_from, self.band_to
        if bands[0] and bands[1] and BAND_ORDER.index(bands[1]) < BAND_ORDER.index(bands[0]):
            raise ValueError("band_to must not be below band_from")
        return self


# The placement's fields that stay in the profiles service (not in placement.upserted).
PLACEMENT_PAGE_FIELDS: set[str] = {
    "days_per_week",
    "work_place",
    "band_from",
    "band_to",
    "supervisor",
}


class PlacementOut(BaseModel):
    id: UUID
    withdrawn: bool
    paused: bool = False
    details: PlacementIn


class Created(BaseModel):
    id: UUID


class FieldError(BaseModel):
    field: str
    message: str


class Refusal(BaseModel):
    """Why a request was refused (422): one message per field; nothing was stored."""

    detail: str
    errors: list[FieldError]


class Problem(BaseModel):
    detail: str
