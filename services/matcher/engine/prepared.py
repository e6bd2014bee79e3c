"""Mentors prepared once, scored against a few newcomers at a time (proposals on arrival).

A round scores a whole network afresh. Proposals on arrival score a batch's few newcomers,
batch after batch, against the same mentors, so the mentor side of the scoring is prepared
once per network (``PreparedMentors``): each mentor's provider, skill one-hot and coverage
levels, mode values, preference lists, and a text model fitted on the network's mentors' bios
with each bio's vector. A batch then vectorises only its newcomers' goals and scores them
against the prepared columns of the mentors who have room now (``Offer``): a few rows times
those mentors, one matrix product for all the batch's networks.

What a batch still gives: which mentors have room, with their capacity left and hours (read
under the network's lock; they change the availability value and whether a mentor is active,
so they are never prepared), the newcomers, the trusts and the rejected pairs.

Scores are those of the engine's own vectorised path (``ScoreTables``) for the same mentors
and newcomers, component by component, text included: both fit the text model on the mentors'
bios alone (``TextModel``) and take a newcomer's goals as a vector in it, here when the
network's side is prepared, in a round for the round's mentors
(tests/unit/engine/test_prepared.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from services.matcher.engine.candidates import Explainer, edges_from_tables
from services.matcher.engine.config import MatchingConfig
from services.matcher.engine.contract import (
    MatchingInput,
    MatchingResult,
    MenteeInput,
    MentorInput,
    TrustInfo,
)
from services.matcher.engine.optimal import BridgeworkEngine, with_mentee_loads
from services.matcher.engine.scoring import (
    BLAS,
    REMOTE_CAPABLE,
    SAMPLE_STRIDE,
    FloatArray,
    Provider,
    ScoreTables,
    ScoringContext,
    SparseCoverage,
    TextModel,
    _exclusions,
    _gap_credit_matrix,
    _GapTable,
    _rankings,
    _rejected,
    mentee_attributes,
    mode_value,
    preference_lists,
    provider_from_mentor,
    region_matrix,
    shared_cells,
)
from shared.matching import MatchKind
from shared.people import Mode, WorkingPattern
from shared.regions import Region
from shared.skills import DEFAULT_TAXONOMY, MAX_LEVEL, Taxonomy


@dataclass(frozen=True)
class PreparedMentors:
    """One network's mentors as scoring sees them, capacity and hours aside: built once and
    kept between batches, rebuilt when a mentor's profile changes or a mentor is added."""

    mentors: tuple[MentorInput, ...]  # as prepared; capacity and hours come with each offer
    providers: tuple[Provider, ...]
    index: Mapping[str, int]  # mentor id -> column
    trusts: tuple[str, ...]  # the mentors' trust codes, each once
    trust_of: npt.NDArray[np.int64]  # per mentor, its trust's position in ``trusts``
    locations: tuple[tuple[str, Region], ...]  # the mentors' (trust, region), each once
    location_of: npt.NDArray[np.int64]
    skill_codes: tuple[str, ...]
    level_onehot: FloatArray  # (skills*levels) x mentors
    levels: npt.NDArray[np.int8]  # mentors x (skills + 1 padding): coverage levels
    remote: npt.NDArray[np.bool_]
    mode_values: Mapping[Mode, npt.NDArray[np.float64]]  # mentee mode -> value per mentor
    preferences: FloatArray | None  # attributes x mentors, when some mentor stated any
    text_model: TextModel
    text: FloatArray  # mentors x text dims, unit rows

    @classmethod
    def build(
        cls,
        mentors: Sequence[MentorInput],
        config: MatchingConfig,
        taxonomy: Taxonomy = DEFAULT_TAXONOMY,
    ) -> PreparedMentors:
        providers = tuple(provider_from_mentor(m) for m in mentors)
        codes = tuple(sorted(taxonomy.codes() | {c for p in providers for c in p.levels}))
        skill_index = {code: i for i, code in enumerate(codes)}
        onehot = np.zeros((len(codes) * MAX_LEVEL, len(providers)), dtype=np.float32)
        levels = np.zeros((len(providers), len(codes) + 1), dtype=np.int8)
        for j, provider in enumerate(providers):
            for code, level in provider.levels.items():
                onehot[skill_index[code] * MAX_LEVEL + level - 1, j] = 1.0
                levels[j, skill_index[code]] = level
        stated = any(p.prefers.stated for p in providers)
        model = TextModel.fit([p.text for p in providers], config)
        trusts: dict[str, int] = {}
        locations: dict[tuple[str, Region], int] = {}
        return cls(
            mentors=tuple(mentors),
            providers=providers,
            index={p.id: j for j, p in enumerate(providers)},
            trust_of=np.array(
                [trusts.setdefault(p.trust_code, len(trusts)) for p in providers], dtype=np.int64
            ),
            trusts=tuple(trusts),
            location_of=np.array(
                [locations.setdefault((p.trust_code, p.region), len(locations)) for p in providers],
                dtype=np.int64,
            ),
            locations=tuple(locations),
            skill_codes=codes,
            level_onehot=onehot,
            levels=levels,
            remote=np.array([p.mode in REMOTE_CAPABLE for p in providers], dtype=bool),
            mode_values={
                mode: np.array([mode_value(mode, p.mode, config) for p in providers])
                for mode in Mode
            },
            preferences=preference_lists(providers) if stated else None,
            text_model=model,
            text=model.vectors([p.text for p in providers]),
        )

    def in_skills(self, codes: Sequence[str]) -> tuple[FloatArray, npt.NDArray[np.int8]]:
        """The one-hot and coverage levels over a batch's skill codes (a superset of its own)."""
        if tuple(codes) == self.skill_codes:
            return self.level_onehot, self.levels
        position = {code: i for i, code in enumerate(codes)}
        rows = np.array([position[c] for c in self.skill_codes], dtype=np.int64)
        onehot = np.zeros((len(codes) * MAX_LEVEL, len(self.providers)), dtype=np.float32)
        within = (rows[:, None] * MAX_LEVEL + np.arange(MAX_LEVEL)).ravel()
        onehot[within] = self.level_onehot
        levels = np.zeros((len(self.providers), len(codes) + 1), dtype=np.int8)
        levels[:, rows] = self.levels[:, :-1]
        return onehot, levels


@dataclass(frozen=True)
class Offer:
    """The mentors of one prepared network who have room now (columns of its side), with their
    capacity left and hours a month (read in the batch's transaction)."""

    side: PreparedMentors
    columns: npt.NDArray[np.int64]
    capacity: npt.NDArray[np.float64]
    hours: npt.NDArray[np.float64]

    @classmethod
    def of(
        cls,
        side: PreparedMentors,
        mentor_ids: Sequence[str],
        capacity: Sequence[float],
        hours: Sequence[float],
    ) -> Offer:
        return cls(
            side,
            np.array([side.index[m] for m in mentor_ids], dtype=np.int64),
            np.asarray(capacity, dtype=np.float64),
            np.asarray(hours, dtype=np.float64),
        )

    @property
    def mentor_ids(self) -> tuple[str, ...]:
        return tuple(self.side.providers[j].id for j in self.columns.tolist())


def propose_to_newcomers(
    engine: BridgeworkEngine,
    offers: Sequence[Offer],
    mentees: Sequence[MenteeInput],
    trusts: Sequence[TrustInfo],
    rejected_pairs: frozenset[tuple[str, str]] = frozenset(),
) -> MatchingResult:
    """Mentoring proposals for ``mentees`` among the offered mentors, as ``engine.propose``
    would make them on the same people (text model aside, see the module's docstring). Each
    offer is one network's; its trusts carry their network (``TrustInfo.network_id``), and no
    pair crosses networks."""
    config = engine.config
    offers = [o for o in offers if o.columns.size]
    data = MatchingInput(
        mentees=tuple(mentees), trusts=tuple(trusts), rejected_pairs=rejected_pairs
    )
    if not offers or not mentees:
        return MatchingResult(proposals=())
    if config.mode != "optimal":  # stable orders read the mentors' own inputs: the full path
        return engine.propose(data.model_copy(update={"mentors": _mentor_inputs(offers)}))
    context = ScoringContext(
        data=data,
        config=config,
        taxonomy=engine.taxonomy,
        trusts={t.code: t for t in trusts},
        mentors=(),
        placements=(),
        text_vectors={},
    )
    full = sum(o.columns.size for o in offers) * len(mentees) <= config.full_candidates_up_to_pairs
    # A batch's products are a few newcomers by a few thousand mentors: BLAS threads only wait
    # on each other there, and on a busy machine for a core (more than half of a batch's CPU
    # time, measured; docs/scaling.md).
    with BLAS.limit(limits=1, user_api="blas"):
        batch = _Batch.of(offers, context)
        edges = edges_from_tables(batch.tables(context), config, full=full)
    candidates = with_mentee_loads(edges, data, config)
    chosen, fairness = engine.assign_mentoring(candidates, data, context, full)
    explainer = Explainer(batch.explaining(context, {p for p, _, _, _ in chosen}))
    proposals = [engine.proposal(explainer, MatchKind.MENTORING, c, set()) for c in chosen]
    proposals.sort(key=lambda p: (p.kind, p.exchange_id or "", p.mentee_id))
    return MatchingResult(proposals=tuple(proposals), fairness=fairness)


def _mentor_inputs(offers: Sequence[Offer]) -> tuple[MentorInput, ...]:
    return tuple(
        offer.side.mentors[j].model_copy(update={"capacity": float(c), "hours_per_month": float(h)})
        for offer in offers
        for j, c, h in zip(offer.columns.tolist(), offer.capacity, offer.hours, strict=True)
    )


@dataclass(frozen=True)
class _Batch:
    """The offered mentors of all the batch's networks side by side (offer k's mentors are
    columns ``start[k]`` on), and each newcomer's text vector in their network's model."""

    offers: tuple[Offer, ...]
    start: tuple[int, ...]
    n_mentors: int
    offer_of_mentee: tuple[int | None, ...]  # the offer of the newcomer's network
    mentee_text: tuple[FloatArray | None, ...]

    @classmethod
    def of(cls, offers: Sequence[Offer], context: ScoringContext) -> _Batch:
        sizes = [o.columns.size for o in offers]
        start = tuple(int(s) for s in np.cumsum([0, *sizes[:-1]]))
        by_network: dict[str | None, int] = {}
        for i, offer in enumerate(offers):
            if offer.side.trusts:
                by_network.setdefault(context.network_of(offer.side.trusts[0]), i)
        mentees = context.data.mentees
        offer_of = tuple(by_network.get(context.network_of(m.trust_code)) for m in mentees)
        text: list[FloatArray | None] = [None] * len(mentees)
        for i, offer in enumerate(offers):
            mine = [k for k, o in enumerate(offer_of) if o == i]
            vectors = offer.side.text_model.vectors([mentees[k].goals for k in mine])
            for k, vector in zip(mine, vectors, strict=True):
                text[k] = vector
        return cls(tuple(offers), start, sum(sizes), offer_of, tuple(text))

    def tables(self, context: ScoringContext) -> ScoreTables:
        """``ScoreTables`` over the offered mentors, with a static row per newcomer that also
        holds the text similarity (mentors of other networks: excluded)."""
        config, mentees = context.config, context.data.mentees
        weights = config.weights.normalised()
        codes = sorted(
            set().union(*(o.side.skill_codes for o in self.offers))
            | {g.skill for m in mentees for g in m.gaps}
        )
        skill_index = {code: i for i, code in enumerate(codes)}
        sides = [o.side.in_skills(codes) for o in self.offers]
        level_onehot = np.ascontiguousarray(
            np.hstack([s[0][:, o.columns] for s, o in zip(sides, self.offers, strict=True)])
        )
        levels = np.vstack([s[1][o.columns] for s, o in zip(sides, self.offers, strict=True)])
        gaps = _GapTable.build(mentees, skill_index)
        skill_credit, level_onehot = shared_cells(
            np.float32(weights["skills"])
            * _gap_credit_matrix(gaps, skill_index, config.skills.partial_credit),
            level_onehot,
        )
        mentee_parts, provider_parts = [skill_credit], [level_onehot]
        if any(o.side.preferences is not None for o in self.offers):
            mentee_parts.append(
                np.float32(config.stated.mentor_preference) * mentee_attributes(mentees)
            )
            provider_parts.append(self._preferences())
        ids = tuple(i for o in self.offers for i in o.mentor_ids)
        provider_index = {p: j for j, p in enumerate(ids)}
        mentee_index = {m.id: i for i, m in enumerate(mentees)}
        coverage = SparseCoverage.build(
            gaps, (), skill_index, config.skills.partial_credit, config.skills.min_coverage
        )
        return ScoreTables(
            kind=MatchKind.MENTORING,
            provider_ids=ids,
            mentee_ids=tuple(m.id for m in mentees),
            capacity=np.concatenate([o.capacity for o in self.offers]),
            weights=weights,
            static=self._static(context, weights),
            mentee_key=np.arange(len(mentees), dtype=np.int32),
            skill_credit=skill_credit,
            level_onehot=level_onehot,
            level_onehot_sample=np.ascontiguousarray(level_onehot[:, ::SAMPLE_STRIDE]),
            mentee_features=np.ascontiguousarray(np.hstack(mentee_parts), dtype=np.float32),
            provider_features=np.ascontiguousarray(np.vstack(provider_parts), dtype=np.float32),
            # The text is in the static rows: nothing of it is left for the product.
            mentee_text=np.zeros((len(mentees), 1), dtype=np.float32),
            provider_text=np.zeros((1, len(ids)), dtype=np.float32),
            text_may_be_negative=False,
            rejected=_rejected(
                list(context.data.rejected_pairs) + _exclusions(mentees, MatchKind.MENTORING),
                provider_index,
                mentee_index,
            ),
            ranked=_rankings(
                mentees, MatchKind.MENTORING, provider_index, config.stated.mentee_ranking
            ),
            coverage=replace(coverage, level=levels),
            skills_floor=np.float32(weights["skills"]) * np.float32(config.skills.min_coverage),
            floor=config.min_score,
        )

    def _preferences(self) -> FloatArray:
        parts = []
        for offer in self.offers:
            prefs = offer.side.preferences
            if prefs is None:  # nobody in this network stated any: zero columns
                width = len(offer.side.providers)
                prefs = np.zeros((preference_lists(()).shape[0], width), dtype=np.float32)
            parts.append(prefs[:, offer.columns])
        return np.hstack(parts)

    def _static(self, context: ScoringContext, weights: Mapping[str, float]) -> FloatArray:
        """Weighted region + preferences + availability + text per (newcomer, mentor), -inf
        where a hard rule excludes the pair: ``_static_values``'s arithmetic, a row per
        newcomer, and only over their own network's offer (every other column is -inf)."""
        config, mentees = context.config, context.data.mentees
        # Every offer's locations in one list (offer k's from location_start[k]).
        locations = [loc for o in self.offers for loc in o.side.locations]
        location_start = np.cumsum([0, *[len(o.side.locations) for o in self.offers]])
        mentee_locations: dict[tuple[str, Region], int] = {}
        mentee_location = [
            mentee_locations.setdefault((m.trust_code, m.region), len(mentee_locations))
            for m in mentees
        ]
        alone, together = (
            region_matrix(context, list(mentee_locations), locations, both_remote)
            for both_remote in (False, True)
        )
        opts = config.availability
        needed = {
            WorkingPattern.FULL_TIME: opts.hours_needed_full_time,
            WorkingPattern.PART_TIME: opts.hours_needed_part_time,
        }
        exclude_same_trust = not config.allow_same_trust_mentoring
        table = np.full((len(mentees), self.n_mentors), -np.inf, dtype=np.float32)
        for k, offer in enumerate(self.offers):
            rows = [
                i
                for i, o in enumerate(self.offer_of_mentee)
                if o == k and mentees[i].seeks(MatchKind.MENTORING)
            ]
            if not rows:
                continue
            side, columns = offer.side, offer.columns
            where = location_start[k] + side.location_of[columns]
            per_mentee = offer.hours / np.maximum(offer.capacity, 1.0)
            inactive = ~((offer.capacity > 0) & (offer.hours > 0))
            # A mentor whose trust is of another network (or none) than the newcomer's: none.
            network = np.array([context.network_of(t) for t in side.trusts], dtype=object)
            trust_of = side.trust_of[columns]
            span = slice(self.start[k], self.start[k] + columns.size)
            text, remote = side.text[columns], side.remote[columns]
            for i in rows:
                mentee, location = mentees[i], mentee_location[i]
                region = alone[location, where]
                if mentee.mode in REMOTE_CAPABLE:
                    region = np.where(remote, together[location, where], region)
                values = (
                    weights["region"] * region
                    + weights["preferences"] * side.mode_values[mentee.mode][columns]
                    + weights["availability"]
                    * np.minimum(1.0, per_mentee / needed[mentee.working_pattern])
                )
                values[inactive] = -np.inf
                if exclude_same_trust and mentee.trust_code in side.trusts:
                    values[trust_of == side.trusts.index(mentee.trust_code)] = -np.inf
                values[(network != context.network_of(mentee.trust_code))[trust_of]] = -np.inf
                row = values.astype(np.float32)
                vector = self.mentee_text[i]
                if weights["text"] > 0 and vector is not None:
                    row += np.float32(weights["text"]) * np.maximum(text @ vector, 0)
                table[i, span] = row
        return table

    def explaining(self, context: ScoringContext, mentor_ids: set[str]) -> ScoringContext:
        """The context that explains pairs of these mentors: them at this batch's capacity
        and hours, and the text vectors of them and the newcomers in their network's model."""
        providers = []
        vectors = {}
        for offer in self.offers:
            side = offer.side
            for j, c, h in zip(offer.columns.tolist(), offer.capacity, offer.hours, strict=True):
                provider = side.providers[j]
                if provider.id in mentor_ids:
                    providers.append(replace(provider, capacity=float(c), hours_per_month=float(h)))
                    vectors[("mentor", provider.id)] = side.text[j]
        for mentee, text in zip(context.data.mentees, self.mentee_text, strict=True):
            if text is not None:
                vectors[("mentee", mentee.id)] = text
        return replace(context, mentors=tuple(providers), text_vectors=vectors)
