"""What a coordinator's pages show, as plain data: proposals with their reasons, filters, the
state of the network, the CSV export and the bars of the charts. Pure functions; the SQL lives in
queries.py."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.profiles.coordination.charts import Bar, percent
from shared.events import FairnessFigures
from shared.matching import Explanation, MatchKind
from shared.regions import Region

Status = Literal["pending", "withdrawn", "approved", "rejected", "closed"]


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

    def waiting_days(self, now: datetime) -> int:
        return max(0, (now - self.proposed_at).days)


ERASED = "(no longer in Bridgework)"


def _name_and_detail(details: Mapping[str, Any] | None, trust_name: str | None) -> tuple[str, str]:
    if details is None:
        return ERASED, ""
    parts = [str(details.get("job_title", "")), trust_name or ""]
    return str(details.get("name", "")), ", ".join(p for p in parts if p)


def proposal_view(row: Mapping[str, Any]) -> ProposalView:
    """One row of queries.proposal_rows as the page shows it."""
    mentee_name, mentee_detail = _name_and_detail(row["mentee"], row["mentee_trust_name"])
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
        explanation=Explanation.model_validate(row["explanation"]),
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
    )


class ProposalFilter(BaseModel):
    """The filters on the proposals page; empty form fields mean "any"."""

    model_config = ConfigDict(frozen=True)

    kind: MatchKind | None = None
    region: str | None = None
    older_than_days: int | None = Field(default=None, ge=0, le=3650)

    @field_validator("kind", "region", "older_than_days", mode="before")
    @classmethod
    def _blank_is_any(cls, value: object) -> object:
        return None if value == "" else value

    def accepts(self, view: ProposalView, now: datetime) -> bool:
        return (
            (self.kind is None or view.kind == self.kind)
            and (self.region is None or view.mentee_region == self.region)
            and (self.older_than_days is None or view.waiting_days(now) >= self.older_than_days)
        )


def apply_filter(
    views: Iterable[ProposalView], chosen: ProposalFilter, now: datetime
) -> list[ProposalView]:
    return [v for v in views if chosen.accepts(v, now)]


def exchange_groups(views: Iterable[ProposalView]) -> dict[str, int]:
    """How many proposals each exchange cycle has (they are decided together)."""
    sizes: dict[str, int] = {}
    for view in views:
        if view.exchange_id:
            sizes[view.exchange_id] = sizes.get(view.exchange_id, 0) + 1
    return sizes


# --- the state of the network ---------------------------------------------------------------


class MentorLoad(BaseModel):
    name: str
    capacity: float
    approved: int
    pending: int
    paused: bool

    @property
    def used_share(self) -> float:
        return 1.0 if self.capacity <= 0 else min(1.0, self.approved / self.capacity)


class WaitingMentee(BaseModel):
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


def matches_csv(views: Sequence[ProposalView]) -> str:
    out = io.StringIO()
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
    """The round's fairness targets (those set), each with the share of the overall rate it
    asked for and the share the group reached."""
    if fairness is None or fairness.price is None:
        return []
    return [
        TargetRow(
            group=_TARGET_GROUPS.get(t.group, t.group),
            target=f"at least {t.target_share:.2f}",
            achieved="no mentee" if t.rate_to_overall is None else f"{t.rate_to_overall:.2f}",
            met=t.met,
        )
        for t in fairness.price.targets
        if t.target_share > 0
    ]
