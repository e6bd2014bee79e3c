"""The matching engine's contract: what it is given, what it returns, and its one entry point.

Pure data: no Kafka, SQL or HTTP. The matcher service builds a ``MatchingInput`` from its own
tables, calls an engine, and turns each ``Proposal`` into a match-proposed event.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from shared.matching import Explanation, MatchKind
from shared.people import (
    MAX_CAPACITY,
    MAX_RANKED_MENTORS,
    AspiredRole,
    MentorPreferences,
    Mode,
    Sector,
    SkillGap,
    SkillLevel,
    WorkingPattern,
)
from shared.regions import Region

# Bounds the engine serves (docs/matching.md, "What the engine accepts"). Each mentor place and
# placement place becomes a solver column, so an absurd capacity is refused, not expanded.
# The capacity bound is shared/people.py's, which the profiles API and the events refuse above.
MAX_MENTOR_CAPACITY = float(MAX_CAPACITY)
MAX_PLACEMENT_PLACES = 100
MAX_HOURS_PER_MONTH = 744.0  # every hour of a 31-day month

# Frozen, and NaN or infinite numbers refused: a NaN score or capacity would poison a solve.
_INPUT = ConfigDict(frozen=True, allow_inf_nan=False)


class TrustInfo(BaseModel):
    model_config = _INPUT

    code: str
    name: str
    region: Region
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    is_small: bool = False
    # Set when one input holds several networks (proposals on arrival solve a batch's networks
    # in one call): people whose trusts are in different networks are never paired.
    network_id: str | None = None


class MentorInput(BaseModel):
    model_config = _INPUT

    id: str
    trust_code: str
    region: Region
    skills: tuple[SkillLevel, ...]
    capacity: float = Field(
        ge=0,
        le=MAX_MENTOR_CAPACITY,
        description="mentees at once; fractional for part-time mentors",
    )
    hours_per_month: float = Field(ge=0, le=MAX_HOURS_PER_MONTH)
    mode: Mode
    bio: str = ""
    # Whom the mentor would rather help (stable mode: their own order; optimal: a score part).
    prefers: MentorPreferences = MentorPreferences()


class MenteeInput(BaseModel):
    model_config = _INPUT

    id: str
    trust_code: str
    region: Region
    gaps: tuple[SkillGap, ...]
    working_pattern: WorkingPattern
    sector: Sector
    mode: Mode
    goals: str = ""
    open_to_secondment: bool = False
    # False once the mentee has an approved mentor: they may still seek a secondment.
    seeking_mentoring: bool = True
    # Mentor ids the mentee has seen, best first (stable mode: their own order; optimal: a
    # score part), and mentor ids they refuse (a hard rule: no edge). Unknown ids are ignored.
    ranked_mentors: tuple[str, ...] = Field(default=(), max_length=MAX_RANKED_MENTORS)
    excluded_mentors: frozenset[str] = Field(default=frozenset(), max_length=MAX_RANKED_MENTORS)
    aspires_to: AspiredRole | None = None

    # Field validators, not a model validator: pydantic runs a model's "after" validator again
    # each time an instance is put in another model (every MenteeInput, every round, when the
    # round's MatchingInput is built from the kept ones: pydantic issue 12085); a field
    # validator runs once, when the mentee is built.
    @field_validator("ranked_mentors")
    @classmethod
    def _ranked_once(cls, ranked: tuple[str, ...]) -> tuple[str, ...]:
        if repeated := _repeated(ranked):
            raise ValueError(f"mentor(s) ranked twice: {', '.join(map(repr, repeated))}")
        return ranked

    @field_validator("excluded_mentors")
    @classmethod
    def _not_ranked_too(cls, excluded: frozenset[str], info: ValidationInfo) -> frozenset[str]:
        # ranked_mentors comes first: validated already, absent from info.data if it failed.
        if both := sorted(excluded.intersection(info.data.get("ranked_mentors", ()))):
            raise ValueError(f"mentor(s) both ranked and excluded: {', '.join(map(repr, both))}")
        return excluded

    def seeks(self, kind: MatchKind) -> bool:
        """Whether this round should look for a match of this kind for the mentee."""
        wants = self.seeking_mentoring if kind is MatchKind.MENTORING else self.open_to_secondment
        return bool(self.gaps) and wants


class PlacementInput(BaseModel):
    model_config = _INPUT

    id: str
    host_trust_code: str
    region: Region
    role: str
    skills_developed: tuple[SkillLevel, ...]
    places: int = Field(ge=0, le=MAX_PLACEMENT_PLACES)
    months: int = Field(ge=1)
    fte: float = Field(gt=0, le=1)
    # The host trust offers it without asking for anyone back: it may start a chain
    # (A <- B <- C), proposed and decided like an exchange.
    asks_nothing_back: bool = False


class PendingProposal(BaseModel):
    """A proposal already sent and not yet answered; re-solves keep it unless clearly beaten."""

    model_config = _INPUT

    kind: MatchKind
    provider_id: str
    mentee_id: str
    exchange_id: str | None = None


class MatchingInput(BaseModel):
    """Everything one network's matching round knows. Erased people are simply absent."""

    model_config = _INPUT

    mentors: tuple[MentorInput, ...] = ()
    mentees: tuple[MenteeInput, ...] = ()
    placements: tuple[PlacementInput, ...] = ()
    trusts: tuple[TrustInfo, ...] = ()
    # (provider id, mentee id) pairs a coordinator rejected: never proposed again.
    rejected_pairs: frozenset[tuple[str, str]] = frozenset()
    # Proposals awaiting an answer: kept unless a new one beats them by the configured margin.
    pending: tuple[PendingProposal, ...] = ()

    @model_validator(mode="after")
    def _ids_are_unique(self) -> MatchingInput:
        """Two people (or placements, or trusts) with one id cannot both be served: refuse."""
        for what, ids in (
            ("mentor", (m.id for m in self.mentors)),
            ("mentee", (m.id for m in self.mentees)),
            ("placement", (p.id for p in self.placements)),
            ("trust", (t.code for t in self.trusts)),
        ):
            if repeated := _repeated(ids):
                raise ValueError(f"duplicate {what} id(s): {', '.join(map(repr, repeated))}")
        return self


def _repeated(ids: Iterable[str]) -> list[str]:
    return sorted(i for i, n in Counter(ids).items() if n > 1)


class Proposal(BaseModel):
    """A proposed pair: a mentor (or placement) as provider and a mentee as recipient."""

    model_config = _INPUT

    kind: MatchKind
    provider_id: str
    mentee_id: str
    score: float
    # None for a pending proposal the engine kept: it was explained when it was proposed, and
    # explaining every kept pair was a third of a round's time.
    explanation: Explanation | None
    # Secondments that are part of one trust exchange cycle share an id: accept all or none.
    exchange_id: str | None = None


class GroupOutcome(BaseModel):
    """How one fairness group fared against its target in a round."""

    model_config = ConfigDict(frozen=True)

    group: str
    target_share: float = Field(description="required share of the reference rate (0 = none)")
    mentees: int
    matched: int
    rate_to_overall: float | None = Field(description="group rate / overall rate")
    reference: Literal["overall", "others"] = Field(
        default="overall", description="the rate the target is a share of: overall, or others'"
    )
    rate_to_reference: float | None = Field(
        default=None, description="group rate / the reference rate (what the target asks of)"
    )
    met: bool


class FairnessOutcome(BaseModel):
    """The price of a round's fairness targets: what meeting them cost in total score.

    ``price`` is the optimum without targets minus the chosen total. The chosen total is within
    ``bound_gap`` of the true constrained optimum (a certified bound; 0 when no target binds).
    """

    model_config = ConfigDict(frozen=True)

    total_score: float
    free_total_score: float
    price: float
    price_pct: float
    bound_gap: float
    overall_rate: float | None
    groups: tuple[GroupOutcome, ...]
    solves: int = Field(description="assignment solves the target search took")


class MatchingResult(BaseModel):
    proposals: tuple[Proposal, ...]
    # Mentoring in optimal mode: the fairness targets' outcome and price (None when no round
    # of that kind ran). For the matcher to store beside the fairness report.
    fairness: FairnessOutcome | None = None


class MatchingEngine(Protocol):
    def propose(self, data: MatchingInput) -> MatchingResult: ...


@dataclass(frozen=True)
class CandidateEdges:
    """Scored, admissible pairs for one kind of match, in sparse form: the solvers' input.

    Edge ``e`` pairs mentee ``mentee_ids[mentee_index[e]]`` with provider
    ``provider_ids[provider_index[e]]`` at ``score[e]`` (higher is better). Pairs that break a
    hard rule (same trust, rejected, erased, no capacity) are simply not edges.
    """

    provider_ids: tuple[str, ...]
    mentee_ids: tuple[str, ...]
    provider_capacity: npt.NDArray[np.float64]
    mentee_index: npt.NDArray[np.int32]
    provider_index: npt.NDArray[np.int32]
    score: npt.NDArray[np.float64]
    # Share of a provider's capacity each mentee takes (by mentee position): 1.0 = a whole
    # place, a part-timer's 0.5 fits a fractional place. None means every mentee takes 1.0.
    mentee_load: npt.NDArray[np.float64] | None = None

    @property
    def edge_count(self) -> int:
        return int(self.score.shape[0])
