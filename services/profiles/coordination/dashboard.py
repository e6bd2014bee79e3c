"""What a coordinator's pages show, as plain data: proposals with their reasons, filters, the
state of the network, the CSV export and the bars of the charts. Pure functions; the SQL lives in
queries.py."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlencode
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from services.profiles.coordination.charts import Bar, percent
from shared.events import FairnessFigures, GroupTargetFigures
from shared.matching import REPLACED_BY_A_BETTER_MATCH, Explanation, MatchKind
from shared.regions import Region, parse_region
from shared.skills import DEFAULT_TAXONOMY

Status = Literal["pending", "withdrawn", "approved", "rejected", "closed"]


class GapLeft(BaseModel):
    """One of the mentee's gaps that the proposal does not cover."""

    model_config = ConfigDict(frozen=True)

    skill_name: str
    from_level: int
    to_level: int


def gaps_left(gaps: Iterable[Mapping[str, Any]], explanation: Explanation) -> tuple[GapLeft, ...]:
    """The mentee's gaps (as their profile holds them) that no covered skill addresses."""
    covered = {s.skill for s in explanation.skills_covered}
    return tuple(
        GapLeft(
            skill_name=DEFAULT_TAXONOMY.name_of(str(gap["skill"])),
            from_level=int(gap["current"]),
            to_level=int(gap["target"]),
        )
        for gap in gaps
        if gap.get("skill") not in covered
    )


class ProposalView(BaseModel):
    model_config = ConfigDict(frozen=True)

    match_id: UUID
    network_id: str
    kind: MatchKind
    status: Status
    score: float
    explanation: Explanation
    exchange_id: str | None
    proposed_at: datetime
    decided_at: datetime | None = None
    decided_by: str | None = None
    reason: str = ""
    provider_name: str  # the mentor, or the placement's role
    provider_detail: str  # job title and trust, or the host trust
    mentee_name: str
    mentee_detail: str
    mentee_region: str | None  # the region's name, e.g. North West
    home_trust: str | None  # the mentee's trust code
    host_trust: str | None  # the placement's trust code (secondments)
    gaps_uncovered: tuple[GapLeft, ...] = ()
    provider_id: UUID | None = None  # the mentor (a person's page) or the placement
    mentee_id: UUID | None = None
    by_hand: bool = False  # a coordinator's match by hand, not the matcher's proposal

    def waiting_days(self, now: datetime) -> int:
        return max(0, (now - self.proposed_at).days)

    @property
    def replaced(self) -> bool:
        return self.status == "withdrawn" and self.reason == REPLACED_BY_A_BETTER_MATCH


ERASED = "(no longer in Bridgework)"


def _name_and_detail(details: Mapping[str, Any] | None, trust_name: str | None) -> tuple[str, str]:
    if details is None:
        return ERASED, ""
    parts = [str(details.get("job_title", "")), trust_name or ""]
    return str(details.get("name", "")), ", ".join(p for p in parts if p)


def proposal_view(row: Mapping[str, Any]) -> ProposalView:
    """One row of queries.proposal_rows as the page shows it."""
    mentee_name, mentee_detail = _name_and_detail(row["mentee"], row["mentee_trust_name"])
    explanation = Explanation.model_validate(row["explanation"])
    if row["kind"] == MatchKind.SECONDMENT:
        placement = row["placement"]
        provider_name = str(placement["role"]) if placement else ERASED
        provider_detail = row["host_trust_name"] or ""
    else:
        provider_name, provider_detail = _name_and_detail(row["mentor"], row["mentor_trust_name"])
    return ProposalView(
        match_id=row["match_id"],
        network_id=row["network_id"],
        kind=MatchKind(row["kind"]),
        status=row["status"],
        score=row["score"],
        explanation=explanation,
        exchange_id=row["exchange_id"],
        proposed_at=row["proposed_at"],
        decided_at=row["status_changed_at"],
        decided_by=row["decided_by"],
        reason=row["reason"],
        provider_name=provider_name,
        provider_detail=provider_detail,
        mentee_name=mentee_name,
        mentee_detail=mentee_detail,
        mentee_region=Region(row["mentee_region"]).label if row["mentee_region"] else None,
        home_trust=row["mentee_trust"],
        host_trust=row["host_trust_code"],
        gaps_uncovered=gaps_left((row["mentee"] or {}).get("gaps", []), explanation),
        provider_id=row["provider_id"],
        mentee_id=row["mentee_id"],
        by_hand=bool(row.get("by_hand", False)),
    )


SortBy = Literal["waiting", "score"]
PAGE_SIZE = 25
MAX_SEARCH = 100


class ProposalFilter(BaseModel):
    """The proposals page's query: filters, a name to search for, the order and the page.
    Empty form fields mean "any"; the database does the filtering (queries.proposal_page)."""

    model_config = ConfigDict(frozen=True)

    kind: MatchKind | None = None
    region: str | None = None  # the mentee trust's region, by name
    older_than_days: int | None = Field(default=None, ge=0, le=3650)
    search: str | None = Field(default=None, max_length=MAX_SEARCH)
    sort: SortBy = "waiting"
    page: int = Field(default=1, ge=1, le=100_000)

    @field_validator("kind", "region", "older_than_days", "search", "sort", "page", mode="before")
    @classmethod
    def _blank_is_any(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip()
        return None if value == "" else value

    @field_validator("sort", "page", mode="before")
    @classmethod
    def _default_when_blank(cls, value: object, info: ValidationInfo) -> object:
        return cls.model_fields[str(info.field_name)].default if value is None else value

    @property
    def region_code(self) -> str | None:
        """The region as the trusts table stores it; an unknown name matches nothing."""
        if self.region is None:
            return None
        try:
            return parse_region(self.region).value
        except ValueError:
            return "unknown"

    @property
    def is_filtered(self) -> bool:
        return any(
            v is not None for v in (self.kind, self.region, self.older_than_days, self.search)
        )

    def search_pattern(self) -> str | None:
        """The search as an ILIKE pattern matching it anywhere, its wildcards taken literally."""
        if self.search is None:
            return None
        escaped = self.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return f"%{escaped}%"

    def query_string(self, **changes: object) -> str:
        """This query with some fields changed, for the page's links (blank fields left out)."""
        fields = self.model_dump(mode="json") | changes
        return urlencode({k: v for k, v in fields.items() if v is not None and v != ""})


class ProposalPage(BaseModel):
    """One page of the pending proposals that match a filter, and the counts around it."""

    proposals: list[ProposalView]
    matching: int  # pending proposals that match the filters
    pending: int  # pending proposals in the network
    page: int
    page_size: int = PAGE_SIZE

    @property
    def pages(self) -> int:
        return max(1, -(-self.matching // self.page_size))

    @property
    def first_shown(self) -> int:
        return 0 if not self.proposals else (self.page - 1) * self.page_size + 1

    @property
    def last_shown(self) -> int:
        return (self.page - 1) * self.page_size + len(self.proposals)


def parse_filter(fields: Mapping[str, str]) -> ProposalFilter:
    """The page's query from its URL; anything unreadable is left out (shown unfiltered)."""
    known = {k: v for k, v in fields.items() if k in ProposalFilter.model_fields}
    try:
        return ProposalFilter.model_validate(known)
    except ValidationError as error:
        broken = {str(e["loc"][0]) for e in error.errors() if e["loc"]}
        return ProposalFilter.model_validate({k: v for k, v in known.items() if k not in broken})


# --- how to read a proposal ------------------------------------------------------------------

# The 1-7 levels (shared/skills.py: SFIA-style), as the page's key explains them.
LEVELS = (
    (1, "follows: works under close direction"),
    (2, "assists: helps others, with guidance"),
    (3, "applies: does the work on their own"),
    (4, "enables: leads the work and others in it"),
    (5, "ensures and advises: accountable across a service"),
    (6, "initiates and influences: shapes it across an organisation"),
    (7, "sets strategy: leads it across organisations"),
)

# What each part of a score measures (services/matcher/engine/scoring.py's components).
SCORE_PARTS = (
    ("skills", "how much of the mentee's skill gaps the mentor or placement covers"),
    ("region", "how near they are: same region, neighbouring regions, or both happy remote"),
    ("availability", "whether the time on offer suits the mentee's working pattern"),
    ("preferences", "whether their ways of meeting (in person, remote) agree"),
    ("text", "how alike their own words are (goals, bio, job titles)"),
)


def introduction_words(mentor_name: str, mentee_name: str) -> str:
    """What approving a mentoring match does, and who is emailed."""
    return (
        f"{mentor_name} and {mentee_name} are each emailed an introduction with"
        f" an invitation to a first conversation; {mentor_name} has one place fewer."
    )


def what_happens(view: ProposalView) -> tuple[str, str]:
    """In plain words, what approving and what rejecting this proposal does, and who is
    emailed (services/notifier/handlers.py decides the same)."""
    if view.kind is MatchKind.MENTORING:
        approve = introduction_words(view.provider_name, view.mentee_name)
    else:
        approve = (
            f"{view.mentee_name}, the contact at {view.provider_detail or 'the host trust'} and"
            f" the contact at {view.mentee_name}'s own trust are emailed an introduction (if a"
            " trust has no contact, you are emailed instead)."
        )
    if view.exchange_id:
        approve += " The other secondments of its exchange are approved with it."
    reject = "Nobody is emailed; your reason is recorded and this pair is not proposed again."
    return approve, reject


# --- the state of the network ---------------------------------------------------------------


class MentorLoad(BaseModel):
    id: UUID | None = None
    name: str
    capacity: float
    approved: int
    pending: int
    paused: bool
    withdrawn: bool = False  # stopped taking part, not only paused

    @property
    def used_share(self) -> float:
        return 1.0 if self.capacity <= 0 else min(1.0, self.approved / self.capacity)


class WaitingMentee(BaseModel):
    id: UUID | None = None
    name: str
    detail: str
    waiting_since: datetime
    pending: int

    def waiting_days(self, now: datetime) -> int:
        return max(0, (now - self.waiting_since).days)


class OpenPlacement(BaseModel):
    role: str
    host: str
    places: int
    approved: int

    @property
    def open_places(self) -> int:
        return max(0, self.places - self.approved)


class DecisionDay(BaseModel):
    day: date
    approved: int = 0
    rejected: int = 0


def decisions_by_day(
    decisions: Iterable[tuple[datetime, bool]], today: date, days: int = 14
) -> list[DecisionDay]:
    """Approvals and rejections per day for the last ``days`` days, oldest first."""
    first = today - timedelta(days=days - 1)
    buckets = {
        first + timedelta(days=i): DecisionDay(day=first + timedelta(days=i)) for i in range(days)
    }
    for when, approved in decisions:
        bucket = buckets.get(when.date())
        if bucket is None:
            continue
        if approved:
            bucket.approved += 1
        else:
            bucket.rejected += 1
    return list(buckets.values())


# --- CSV export -----------------------------------------------------------------------------

CSV_COLUMNS = (
    "match_id",
    "network_id",
    "kind",
    "status",
    "mentor_or_placement",
    "mentee",
    "score",
    "why",
    "exchange_id",
    "proposed_at",
    "decided_at",
    "decided_by",
    "reason",
)


def spreadsheet_cell(value: object) -> str:
    text = "" if value is None else str(value)
    # A spreadsheet would run a cell starting like a formula: make it plain text.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


# Spreadsheet programs read a CSV as UTF-8 only when it starts with the byte order mark;
# without it Excel shows "ZoÃ«" for "Zoë".
BOM = "\ufeff"


def matches_csv(views: Sequence[ProposalView]) -> str:
    """Every proposal and its outcome, as UTF-8 CSV text starting with the BOM."""
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for v in views:
        row = (
            v.match_id,
            v.network_id,
            v.kind.value,
            v.status,
            v.provider_name,
            v.mentee_name,
            f"{v.score:.3f}",
            v.explanation.summary(),
            v.exchange_id,
            v.proposed_at.isoformat(),
            v.decided_at.isoformat() if v.decided_at and v.status != "pending" else "",
            v.decided_by,
            v.reason,
        )
        writer.writerow([spreadsheet_cell(value) for value in row])
    return out.getvalue()


# --- the pages' bar charts ------------------------------------------------------------------


def decision_bars(days: Iterable[DecisionDay]) -> list[Bar]:
    """Two bars a day, approved and rejected; days without decisions draw none."""
    bars = []
    for day in days:
        label = day.day.strftime("%d %b")
        for count, kind in ((day.approved, "approved"), (day.rejected, "rejected")):
            bars.append(
                Bar(label=f"{label} {kind}", value=count, text=str(count), css_class=f"bar {kind}")
            )
    return [bar for bar in bars if bar.value]


def fairness_bars(fairness: FairnessFigures | None) -> list[Bar]:
    """Each compared group's match rate next to everyone else's."""
    if fairness is None:
        return []
    return [
        Bar(
            label=stats.label,
            value=stats.match_rate,
            text=f"{percent(stats.match_rate)} of {stats.mentees}",
            css_class=f"bar {css}",
        )
        for comparison in fairness.comparisons
        for stats, css in ((comparison.members, "members"), (comparison.others, "others"))
    ]


_TARGET_GROUPS = {
    "part_time": "part-time mentees",
    "social_care": "social care mentees",
    "small_trust": "mentees of small trusts",
}


class TargetRow(BaseModel):
    """One fairness target of the latest round, as the fairness report shows it."""

    model_config = ConfigDict(frozen=True)

    group: str
    target: str
    achieved: str
    met: bool


def target_rows(fairness: FairnessFigures | None) -> list[TargetRow]:
    """The round's fairness targets (those set), each with the share of its reference rate
    (the overall rate, or large trusts' for small trusts) it asked for and what it reached."""
    if fairness is None or fairness.price is None:
        return []
    return [
        TargetRow(
            group=_TARGET_GROUPS.get(t.group, t.group),
            target=f"at least {t.target_share:.2f} of {_reference(t)}",
            achieved="no mentee" if _reached(t) is None else f"{_reached(t):.2f}",
            met=t.met,
        )
        for t in fairness.price.targets
        if t.target_share > 0
    ]


def _reference(target: GroupTargetFigures) -> str:
    if target.reference == "overall":
        return "the overall rate"
    return "large trusts' rate" if target.group == "small_trust" else "the others' rate"


def _reached(target: GroupTargetFigures) -> float | None:
    return target.rate_to_reference if target.reference == "others" else target.rate_to_overall
