"""Configuration of the matching engine: score weights, scoring options and hard-rule switches.

One pydantic model, ``MatchingConfig``, validated at the boundary so a bad deployment setting
fails at start-up with a readable message rather than producing odd matches. Defaults are the
ones the product documents in docs/matching.md.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ComponentWeights(_Frozen):
    """Relative weights of the score components; normalised to sum to 1 when scoring."""

    skills: float = Field(default=0.55, ge=0)
    region: float = Field(default=0.20, ge=0)
    availability: float = Field(default=0.10, ge=0)
    preferences: float = Field(default=0.10, ge=0)
    text: float = Field(default=0.05, ge=0)

    @model_validator(mode="after")
    def _some_weight(self) -> ComponentWeights:
        if self.skills <= 0:
            # Skills are what a match is for; a config that ignores them is a mistake.
            raise ValueError("the skills weight must be positive")
        return self

    def normalised(self) -> dict[str, float]:
        raw = self.model_dump()
        total = sum(raw.values())
        return {name: value / total for name, value in raw.items()}


class SkillOptions(_Frozen):
    partial_credit: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description=(
            "credit for a gap the provider only part-covers (current < provider level < target),"
            " as a fraction of the share of the gap they can take the mentee through"
        ),
    )
    min_coverage: float = Field(
        default=0.0, ge=0, lt=1, description="pairs whose coverage is not above this get no edge"
    )


class RegionOptions(_Frozen):
    same_region: float = Field(default=1.0, ge=0, le=1)
    neighbouring: float = Field(default=0.7, ge=0, le=1)
    remote: float = Field(
        default=0.5, ge=0, le=1, description="different, non-neighbouring regions; both remote"
    )
    distant_in_person: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="value for far-apart pairs that are not both remote-capable; None = no edge",
    )
    distance_penalty: float = Field(
        default=0.3, ge=0, le=1, description="largest share of the region value lost to distance"
    )
    distance_scale_km: float = Field(
        default=300.0, gt=0, description="distance at which the full penalty applies"
    )


class AvailabilityOptions(_Frozen):
    hours_needed_full_time: float = Field(default=4.0, gt=0, description="per mentee per month")
    hours_needed_part_time: float = Field(default=2.0, gt=0, description="per mentee per month")
    part_time_max_fte: float = Field(
        default=0.6, gt=0, le=1, description="largest placement FTE that suits a part-timer fully"
    )


class ModeOptions(_Frozen):
    """Value of the meeting-mode preference: same mode, one side flexible, or a clash."""

    same: float = Field(default=1.0, ge=0, le=1)
    flexible: float = Field(default=0.9, ge=0, le=1)
    mismatch: float = Field(default=0.0, ge=0, le=1)


class TextOptions(_Frozen):
    max_features: int = Field(default=2000, ge=1, description="TF-IDF vocabulary cap")
    dims: int = Field(
        default=64, ge=1, description="LSA dimensions used when the vocabulary is larger"
    )
    lsa_min_texts: int = Field(
        default=2000, ge=1, description="smaller rounds keep exact TF-IDF cosines (no LSA)"
    )
    fit_sample: int = Field(
        default=5000, ge=10, description="documents sampled to fit the text model at scale"
    )


class FairnessGroup(StrEnum):
    PART_TIME = "part_time"
    SOCIAL_CARE = "social_care"
    SMALL_TRUST = "small_trust"


class FairnessOptions(_Frozen):
    """Fairness targets: each group's match rate at least this share of the overall rate, and
    small trusts' staff's at least this share of large trusts' staff's rate (issue 17: the bar
    is relative to large trusts, which a share of the overall rate does not guarantee when
    small trusts are many).

    0 turns a group's target off. Optimal mode meets them exactly as constraints (see
    ``targets.py``) and reports their price; the defaults are justified in docs/matching.md.
    """

    part_time: float = Field(default=0.9, ge=0, le=1)
    social_care: float = Field(default=0.9, ge=0, le=1)
    small_trust: float = Field(default=0.9, ge=0, le=1, description="of large trusts' rate")

    def target(self, group: FairnessGroup) -> float:
        share: float = getattr(self, group.value)
        return share

    @staticmethod
    def against_others(group: FairnessGroup) -> bool:
        """Whether the group's target is a share of the others' rate (not the overall)."""
        return group is FairnessGroup.SMALL_TRUST

    @classmethod
    def none(cls) -> FairnessOptions:
        """No targets: for solves whose mentees are not a network's population (arrivals)."""
        return cls(part_time=0, social_care=0, small_trust=0)


class StatedWeights(_Frozen):
    """Weights of the two stated-preference parts, added on top of the five components.

    A pair neither side stated anything about scores as before (in [0, 1]); a mentee's
    top-ranked mentor gains up to ``mentee_ranking``, a mentee meeting all a mentor's stated
    preferences ``mentor_preference``. Stable mode uses each side's own order instead.
    """

    mentee_ranking: float = Field(default=0.10, ge=0, le=1)
    mentor_preference: float = Field(default=0.05, ge=0, le=1)


class MatchingConfig(_Frozen):
    weights: ComponentWeights = ComponentWeights()
    stated: StatedWeights = StatedWeights()
    skills: SkillOptions = SkillOptions()
    region: RegionOptions = RegionOptions()
    availability: AvailabilityOptions = AvailabilityOptions()
    modes: ModeOptions = ModeOptions()
    text: TextOptions = TextOptions()
    fairness: FairnessOptions = FairnessOptions()
    allow_same_trust_mentoring: bool = Field(
        default=False, description="mentoring inside the mentee's own trust (line management)"
    )
    min_score: float = Field(default=0.0, ge=0, description="edges must score above this")
    top_k: int = Field(default=25, ge=1, description="candidate providers kept per mentee")
    provider_top_k: int = Field(
        default=50,
        ge=0,
        description=(
            "also keep each provider's best this many mentees (0 = mentee side only): when"
            " mentors are scarce, mentee-side lists alone crowd onto popular mentors"
        ),
    )
    chunk_size: int = Field(default=1024, ge=1, description="mentees scored per vectorised block")
    workers: int = Field(default=2, ge=1, le=64, description="threads scoring blocks in parallel")

    # --- solver options (owned by the solver side; add fields below this line) ---
    mode: Literal["optimal", "stable"] = Field(
        default="optimal",
        description="optimal: largest total score; stable: mentee-proposing deferred acceptance",
    )
    part_time_load: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description=(
            "share of a place a part-time mentee takes: they fit a mentor's fractional place"
            " (capacity 0.5 or the .5 of 1.5) when this is at most its size"
        ),
    )
    replace_margin: float = Field(
        default=0.05,
        ge=0,
        description="a pending proposal is replaced only by one scoring at least this much more",
    )
    exchanges: bool = Field(default=True, description="look for secondment exchange cycles")
    max_exchange_trusts: int = Field(
        default=3, ge=2, le=3, description="longest exchange cycle, in trusts"
    )
    exchange_node_limit: int = Field(
        default=2_000,
        ge=1,
        description=(
            "branch-and-price nodes of the exchange search: a limit on work, not time,"
            " so a busy machine gives the same answer; past it the best set found is kept"
        ),
    )
    exchange_iteration_limit: int = Field(
        default=2_000_000,
        ge=1,
        description="simplex iterations of the exchange search, all nodes together",
    )
    one_way_secondments: bool = Field(
        default=True,
        description="after exchanges, fill remaining placement places with one-way secondments",
    )
    full_candidates_up_to_pairs: int = Field(
        default=1_000_000,
        ge=0,
        description=(
            "rounds with at most this many provider x mentee pairs keep every admissible pair"
            " (exact on the full set); larger rounds use each mentee's top_k"
        ),
    )
