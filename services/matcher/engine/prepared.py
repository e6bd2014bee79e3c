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
and newcomers, component by component, with one difference: the text model. A round fits
TF-IDF (LSA at scale) on all its texts, mentors', mentees' and placements'. Here it is fitted
on the network's mentors' bios alone, when the network's side is prepared, and a newcomer's
goals are transformed by it: the mentors' vectors are exactly what ``fit_text_vectors`` gives
for those bios; a newcomer's words that no bio uses are left out of their vector (and so of its
length), and the inverse document frequencies are the bios'. The text similarity is still a
cosine floored at 0 and weighted like a round's (tests/unit/engine/test_prepared.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from threadpoolctl import threadpool_limits

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
    REMOTE_CAPABLE,
    SAMPLE_STRIDE,
    FloatArray,
    Provider,
    ScoreTables,
    ScoringContext,
    SparseCoverage,
    _exclusions,
    _gap_credit_matrix,
    _GapTable,
    _rankings,
    _rejected,
    _words,
    mentee_attributes,
    mode_value,
    preference_lists,
    provider_from_mentor,
    region_matrix,
)
from shared.matching import MatchKind
from shared.people import Mode, WorkingPattern
from shared.regions import Region
from shared.skills import DEFAULT_TAXONOMY, MAX_LEVEL, Taxonomy


class TextModel:
    """TF-IDF fitted once (LSA at scale, as ``fit_text_vectors``), then applied to new texts."""

    def __init__(
        self, vectorizer: TfidfVectorizer | None, svd: TruncatedSVD | None, dims: int
    ) -> None:
        self._vectorizer = vectorizer
        self._svd = svd
        self.dims = dims

    @classmethod
    def fit(cls, texts: Sequence[str], config: MatchingConfig, seed: int = 0) -> TextModel:
        """Fitted as ``fit_text_vectors`` fits its model on ``texts``."""
        opts = config.text
        if config.weights.text <= 0 or not texts:
            return cls(None, None, 1)
        n = len(texts)
        rng = np.random.default_rng(seed)
        sample = (
            np.sort(rng.choice(n, size=opts.fit_sample, replace=False))
            if n > opts.fit_sample
            else None
        )
        fitted = list(texts) if sample is None else [texts[i] for i in sample]
        vectorizer = TfidfVectorizer(
            analyzer=_words, max_features=opts.max_features, sublinear_tf=True
        )
        try:
            vectorizer.fit(fitted)
        except ValueError:  # no words at all (every text empty or stop words)
            return cls(None, None, 1)
        width = len(vectorizer.vocabulary_)
        if width <= opts.dims or n < opts.lsa_min_texts:
            return cls(vectorizer, None, width)
        svd = TruncatedSVD(n_components=opts.dims, random_state=seed)
        with threadpool_limits(1, user_api="blas"):
            svd.fit(vectorizer.transform(fitted))
        return cls(vectorizer, svd, opts.dims)

    def vectors(self, texts: Sequence[str]) -> FloatArray:
        """Unit-length rows (zero for a text with none of the model's words)."""
        if self._vectorizer is None or not texts:
            return np.zeros((len(texts), self.dims), dtype=np.float32)
        distinct, of_text = np.unique(
            np.asarray(texts, dtype=object).astype(str), return_inverse=True
        )
        tfidf = self._vectorizer.transform(distinct)
        if self._svd is None:
            dense = np.asarray(tfidf.toarray(), dtype=np.float32)
        else:
            with threadpool_limits(1, user_api="blas"):
                dense = np.asarray(self._svd.transform(tfidf), dtype=np.float32)
        dense = dense[of_text.ravel()]
        norms = np.linalg.norm(dense, axis=1, keepdims=True)
        unit: FloatArray = np.divide(dense, norms, out=np.zeros_like(dense), where=norms > 0)
        return unit


@dataclass(frozen=True)
class PreparedMentors:
    """One network's mentors as scoring sees them, capacity and hours aside: built once and
    kept between batches, rebuilt when a mentor's profile changes or a mentor is added."""

    mentors: tuple[MentorInput, ...]  # as prepared; capacity and hours come with each offer
    providers: tuple[Provider, ...]
    index: Mapping[str, int]  # mentor id -> column
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
        return cls(
            mentors=tuple(mentors),
            providers=providers,
            index={p.id: j for j, p in enumerate(providers)},
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
    """The mentors of one prepared network who have room now, with their capacity left and
    hours a month (read in the batch's transaction)."""

    side: PreparedMentors
    mentor_ids: tuple[str, ...]
    capacity: npt.NDArray[np.float64]
    hours: npt.NDArray[np.float64]

    @property
    def columns(self) -> npt.NDArray[np.int64]:
        return np.array([self.side.index[m] for m in self.mentor_ids], dtype=np.int64)


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
    offers = [o for o in offers if o.mentor_ids]
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
    batch = _Batch.of(offers, context)
    tables = batch.tables(context)
    full = batch.n_mentors * len(mentees) <= config.full_candidates_up_to_pairs
    candidates = with_mentee_loads(edges_from_tables(tables, config, full=full), data, config)
    chosen, fairness = engine.assign_mentoring(candidates, data, context, full)
    explainer = Explainer(batch.explaining(context, {p for p, _, _, _ in chosen}))
    proposals = [engine.proposal(explainer, MatchKind.MENTORING, c, set()) for c in chosen]
    proposals.sort(key=lambda p: (p.kind, p.exchange_id or "", p.mentee_id))
    return MatchingResult(proposals=tuple(proposals), fairness=fairness)


def _mentor_inputs(offers: Sequence[Offer]) -> tuple[MentorInput, ...]:
    return tuple(
        offer.side.mentors[offer.side.index[m]].model_copy(
            update={"capacity": float(c), "hours_per_month": float(h)}
        )
        for offer in offers
        for m, c, h in zip(offer.mentor_ids, offer.capacity, offer.hours, strict=True)
    )


@dataclass(frozen=True)
class _Batch:
    """The offered mentors of all the batch's networks side by side (column j is one mentor),
    and each newcomer's text vector in their network's model."""

    offers: tuple[Offer, ...]
    columns: tuple[npt.NDArray[np.int64], ...]
    start: tuple[int, ...]  # each offer's first column
    n_mentors: int
    offer_of_mentee: tuple[int | None, ...]  # the offer of the newcomer's network
    mentee_text: tuple[FloatArray | None, ...]

    @classmethod
    def of(cls, offers: Sequence[Offer], context: ScoringContext) -> _Batch:
        columns = tuple(o.columns for o in offers)
        sizes = [c.size for c in columns]
        start = tuple(int(s) for s in np.cumsum([0, *sizes[:-1]]))
        by_network: dict[str | None, int] = {}
        for i, offer in enumerate(offers):
            if offer.side.providers:
                network = context.network_of(offer.side.providers[0].trust_code)
                by_network.setdefault(network, i)
        mentees = context.data.mentees
        offer_of = tuple(by_network.get(context.network_of(m.trust_code)) for m in mentees)
        text: list[FloatArray | None] = [None] * len(mentees)
        for i, offer in enumerate(offers):
            mine = [k for k, o in enumerate(offer_of) if o == i]
            vectors = offer.side.text_model.vectors([mentees[k].goals for k in mine])
            for k, vector in zip(mine, vectors, strict=True):
                text[k] = vector
        return cls(tuple(offers), columns, start, sum(sizes), offer_of, tuple(text))

    def providers(self) -> list[Provider]:
        return [
            replace(o.side.providers[j], capacity=float(c), hours_per_month=float(h))
            for o, cols in zip(self.offers, self.columns, strict=True)
            for j, c, h in zip(cols.tolist(), o.capacity, o.hours, strict=True)
        ]

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
            np.hstack([s[0][:, c] for s, c in zip(sides, self.columns, strict=True)])
        )
        levels = np.vstack([s[1][c] for s, c in zip(sides, self.columns, strict=True)])
        gaps = _GapTable.build(mentees, skill_index)
        skill_credit = np.float32(weights["skills"]) * _gap_credit_matrix(
            gaps, skill_index, config.skills.partial_credit
        )
        mentee_parts, provider_parts = [skill_credit], [level_onehot]
        if any(o.side.preferences is not None for o in self.offers):
            mentee_parts.append(
                np.float32(config.stated.mentor_preference) * mentee_attributes(mentees)
            )
            provider_parts.append(self._preferences())
        ids = tuple(o.mentor_ids[k] for o in self.offers for k in range(len(o.mentor_ids)))
        provider_index = {p: j for j, p in enumerate(ids)}
        mentee_index = {m.id: i for i, m in enumerate(mentees)}
        coverage = SparseCoverage.build(
            gaps, (), skill_index, config.skills.partial_credit, config.skills.min_coverage
        )
        return ScoreTables(
            kind=MatchKind.MENTORING,
            provider_ids=ids,
            mentee_ids=tuple(m.id for m in mentees),
            capacity=np.concatenate([o.capacity for o in self.offers]).astype(np.float64),
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
        for offer, columns in zip(self.offers, self.columns, strict=True):
            prefs = offer.side.preferences
            if prefs is None:  # nobody in this network stated any: zero columns
                width = len(offer.side.providers)
                prefs = np.zeros((preference_lists(()).shape[0], width), dtype=np.float32)
            parts.append(prefs[:, columns])
        return np.hstack(parts)

    def _static(self, context: ScoringContext, weights: Mapping[str, float]) -> FloatArray:
        """Weighted region + preferences + availability (+ text) per (newcomer, mentor), -inf
        where a hard rule excludes the pair: ``_static_values``'s arithmetic, a row each."""
        config, mentees = context.config, context.data.mentees
        providers = [
            o.side.providers[j] for o, c in zip(self.offers, self.columns, strict=True) for j in c
        ]
        locations: dict[tuple[str, Region], int] = {}
        provider_location = np.array(
            [locations.setdefault((p.trust_code, p.region), len(locations)) for p in providers],
            dtype=np.int64,
        )
        mentee_locations: dict[tuple[str, Region], int] = {}
        mentee_location = np.array(
            [
                mentee_locations.setdefault((m.trust_code, m.region), len(mentee_locations))
                for m in mentees
            ],
            dtype=np.int64,
        )
        alone, together = (
            region_matrix(context, list(mentee_locations), list(locations), both_remote)[
                np.ix_(mentee_location, provider_location)
            ]
            for both_remote in (False, True)
        )
        remote = np.concatenate(
            [o.side.remote[c] for o, c in zip(self.offers, self.columns, strict=True)]
        )
        capacity = np.concatenate([o.capacity for o in self.offers]).astype(np.float64)
        hours = np.concatenate([o.hours for o in self.offers]).astype(np.float64)
        opts = config.availability
        per_mentee = hours / np.maximum(capacity, 1.0)
        availability = {
            WorkingPattern.FULL_TIME: np.minimum(1.0, per_mentee / opts.hours_needed_full_time),
            WorkingPattern.PART_TIME: np.minimum(1.0, per_mentee / opts.hours_needed_part_time),
        }
        modes = {
            mode: np.concatenate(
                [
                    o.side.mode_values[mode][c]
                    for o, c in zip(self.offers, self.columns, strict=True)
                ]
            )
            for mode in Mode
        }
        inactive = ~((capacity > 0) & (hours > 0))
        trust_ids: dict[str, int] = {}
        provider_trust = np.array(
            [trust_ids.setdefault(p.trust_code, len(trust_ids)) for p in providers]
        )
        # Networks as integers, None (a trust of no known network) included, as a round has.
        network_ids: dict[str | None, int] = {}
        provider_network = np.array(
            [
                network_ids.setdefault(context.network_of(p.trust_code), len(network_ids))
                for p in providers
            ]
        )
        exclude_same_trust = not config.allow_same_trust_mentoring
        table = np.full((len(mentees), self.n_mentors), -np.inf, dtype=np.float32)
        for i, mentee in enumerate(mentees):
            offer = self.offer_of_mentee[i]
            if offer is None or not mentee.seeks(MatchKind.MENTORING):
                continue
            region = (
                np.where(remote, together[i], alone[i])
                if mentee.mode in REMOTE_CAPABLE
                else alone[i]
            )
            values = (
                weights["region"] * region
                + weights["preferences"] * modes[mentee.mode]
                + weights["availability"] * availability[mentee.working_pattern]
            )
            values[inactive] = -np.inf
            if exclude_same_trust and mentee.trust_code in trust_ids:
                values[provider_trust == trust_ids[mentee.trust_code]] = -np.inf
            network = network_ids.get(context.network_of(mentee.trust_code), -1)
            values[provider_network != network] = -np.inf
            # Only the mentors of the newcomer's own network's offer: its text model is theirs.
            row = np.full(self.n_mentors, -np.inf, dtype=np.float32)
            span = slice(self.start[offer], self.start[offer] + self.columns[offer].size)
            row[span] = values[span]
            text = self.mentee_text[i]
            if weights["text"] > 0 and text is not None:
                side = self.offers[offer].side
                similarity = side.text[self.columns[offer]] @ text
                row[span] += np.float32(weights["text"]) * np.maximum(similarity, 0)
            table[i] = row
        return table

    def explaining(self, context: ScoringContext, mentor_ids: set[str]) -> ScoringContext:
        """The context that explains the chosen pairs: their mentors, and the text vectors of
        their mentors and newcomers in the newcomers' network's model."""
        providers = [p for p in self.providers() if p.id in mentor_ids]
        vectors = {}
        for offer, columns in zip(self.offers, self.columns, strict=True):
            for k, j in enumerate(columns.tolist()):
                if offer.mentor_ids[k] in mentor_ids:
                    vectors[("mentor", offer.mentor_ids[k])] = offer.side.text[j]
        for mentee, text in zip(context.data.mentees, self.mentee_text, strict=True):
            if text is not None:
                vectors[("mentee", mentee.id)] = text
        return replace(context, mentors=tuple(providers), text_vectors=vectors)
