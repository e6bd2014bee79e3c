"""Scoring of mentor-mentee and placement-candidate pairs, per pair and vectorised.

A score is a weighted sum of five components, each in [0, 1]:

- skills: how much of the mentee's skill gaps the provider covers, weighted by gap size and
  priority (a gap is covered when the provider's level reaches the target; part-cover earns
  partial credit);
- region: same region, neighbouring region, or remote, less a little for distance;
- availability: mentor hours per mentee (or placement FTE) against the mentee's working pattern;
- preferences: meeting-mode compatibility;
- text: similarity of the mentee's goals and the mentor's bio (or placement role), a minor signal.

Two paths compute the same numbers: ``score_pair``/``explain_pair`` work on one pair in plain
Python (clear, and used to explain proposals); ``ScoreTables.score_block`` scores a block of
mentees against every provider with numpy (used to build candidate edges at scale). Tests check
that they agree. Hard rules (same trust, rejected pair, no capacity, unreachable region, no
coverage) make a pair inadmissible: ``None`` per pair, a value at or below the floor in a block.
"""

from __future__ import annotations

import functools
import math
import os
from collections import Counter
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import IntEnum
from typing import TypeVar

import numpy as np
import numpy.typing as npt
from scipy import sparse
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from threadpoolctl import ThreadpoolController

from services.matcher.engine.config import FairnessGroup, MatchingConfig, RegionOptions
from services.matcher.engine.contract import (
    MatchingInput,
    MenteeInput,
    MentorInput,
    PlacementInput,
    TrustInfo,
)
from shared.gc_tuning import collector_paused as collector_paused  # the consumers' pause too
from shared.matching import Explanation, MatchKind, ScorePart, SkillCovered
from shared.people import AspiredRole, MentorPreferences, Mode, Sector, SkillGap, WorkingPattern
from shared.regions import NEIGHBOURS, Region, distance_km
from shared.skills import DEFAULT_TAXONOMY, MAX_LEVEL, Taxonomy

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int32]

# The process's thread pools, found once at import: ``threadpool_limits`` reads every loaded
# library again on each call, a fixed cost that showed in every round's profile.
BLAS = ThreadpoolController()


def _no_huge_pages_unless_chosen() -> None:
    """Turn off numpy's ``madvise(MADV_HUGEPAGE)`` on its large arrays, unless the operator
    chose with ``NUMPY_MADVISE_HUGEPAGE`` (numpy's documented "global state" switch).

    A round allocates most of its arrays afresh (blocks, lists, edges), and the first touch of
    a huge page costs more than of small ones: on this project's machine (a virtual machine;
    the kernel reported no compaction stalls) a fresh process's round at L was about a third
    slower with the advice and far more variable, and a running matcher's round was no faster
    with it. The figures: docs/matching.md, "Huge pages".
    """
    if "NUMPY_MADVISE_HUGEPAGE" not in os.environ:  # numpy reads it only at its own import
        np._core.multiarray._set_madvise_hugepage(False)  # type: ignore[attr-defined]


_no_huge_pages_unless_chosen()


EARTH_RADIUS_KM = 6371.0  # as in shared.regions.distance_km
COMPONENTS = ("skills", "region", "availability", "preferences", "text")
REMOTE_CAPABLE = frozenset({Mode.REMOTE, Mode.EITHER})


class Relation(IntEnum):
    SAME = 0
    NEIGHBOURING = 1
    DISTANT = 2


def region_relation(a: Region, b: Region) -> Relation:
    if a == b:
        return Relation.SAME
    return Relation.NEIGHBOURING if b in NEIGHBOURS[a] else Relation.DISTANT


# ---------------------------------------------------------------------------------------------
# Providers: mentors and placements seen the same way
# ---------------------------------------------------------------------------------------------


NO_PREFERENCES = MentorPreferences()


@dataclass(frozen=True)
class Provider:
    """A mentor or a placement, reduced to what scoring needs."""

    id: str
    kind: MatchKind
    trust_code: str
    region: Region
    levels: Mapping[str, int]
    capacity: float
    mode: Mode
    text: str
    hours_per_month: float = 0.0  # mentors only
    fte: float = 1.0  # placements only
    prefers: MentorPreferences = NO_PREFERENCES  # mentors only

    @property
    def active(self) -> bool:
        if self.kind is MatchKind.MENTORING:
            # A paused mentor has no capacity or no hours; either way, no new mentees.
            return self.capacity > 0 and self.hours_per_month > 0
        return self.capacity > 0


def _max_levels(pairs: Iterable[tuple[str, int]]) -> dict[str, int]:
    levels: dict[str, int] = {}
    for code, level in pairs:
        levels[code] = max(level, levels.get(code, 0))
    return levels


# Proposals on arrival read the same open mentors batch after batch (the matcher's own inputs
# are cached per stored profile, round_input.py), so their providers are built once, not in
# every batch. An equal input (capacity included) gives an equal provider.
@functools.lru_cache(maxsize=50_000)
def provider_from_mentor(mentor: MentorInput) -> Provider:
    return Provider(
        id=mentor.id,
        kind=MatchKind.MENTORING,
        trust_code=mentor.trust_code,
        region=mentor.region,
        levels=_max_levels((s.skill, s.level) for s in mentor.skills),
        capacity=mentor.capacity,
        mode=mentor.mode,
        text=mentor.bio,
        hours_per_month=mentor.hours_per_month,
        prefers=mentor.prefers,
    )


def provider_from_placement(placement: PlacementInput) -> Provider:
    # A secondment is worked on site, usually hybrid: treat it as flexible about mode.
    return Provider(
        id=placement.id,
        kind=MatchKind.SECONDMENT,
        trust_code=placement.host_trust_code,
        region=placement.region,
        levels=_max_levels((s.skill, s.level) for s in placement.skills_developed),
        capacity=float(placement.places),
        mode=Mode.EITHER,
        text=placement.role,
        fte=placement.fte,
    )


# ---------------------------------------------------------------------------------------------
# Components, one pair at a time
# ---------------------------------------------------------------------------------------------


def gap_credit(provider_level: int, gap: SkillGap, partial_credit: float) -> float:
    """1 when the provider reaches the target; a discounted share of the gap when part-way."""
    if provider_level >= gap.target:
        return 1.0
    if provider_level <= gap.current:
        return 0.0
    return partial_credit * (provider_level - gap.current) / gap.size


def gap_weight(gap: SkillGap) -> float:
    return gap.size * gap.priority


def skill_coverage(
    levels: Mapping[str, int], gaps: Sequence[SkillGap], partial_credit: float, taxonomy: Taxonomy
) -> tuple[float, tuple[SkillCovered, ...]]:
    total = sum(gap_weight(g) for g in gaps)
    if total <= 0:
        return 0.0, ()
    earned = 0.0
    covered: list[SkillCovered] = []
    for gap in gaps:
        level = levels.get(gap.skill, 0)
        credit = gap_credit(level, gap, partial_credit)
        if credit <= 0:
            continue
        earned += gap_weight(gap) * credit
        covered.append(
            SkillCovered(
                skill=gap.skill,
                skill_name=taxonomy.name_of(gap.skill),
                from_level=gap.current,
                to_level=gap.target,
                provider_level=level,
            )
        )
    # Fully covered gaps first, then the biggest.
    covered.sort(key=lambda s: (s.provider_level < s.to_level, s.from_level - s.to_level))
    return earned / total, tuple(covered)


def region_component(
    mentee_region: Region,
    provider_region: Region,
    distance: float | None,
    both_remote: bool,
    options: RegionOptions,
) -> tuple[float, str] | None:
    """Region value and a readable reason, or None when the pair cannot meet at all."""
    relation = region_relation(mentee_region, provider_region)
    pair = f"{mentee_region.label} / {provider_region.label}"
    if relation is Relation.SAME:
        base, reason = options.same_region, f"same region ({mentee_region.label})"
    elif relation is Relation.NEIGHBOURING:
        base, reason = options.neighbouring, f"neighbouring regions ({pair})"
    elif both_remote:
        return options.remote, f"remote — different regions ({pair})"
    elif options.distant_in_person is not None:
        base, reason = options.distant_in_person, f"distant regions, in person ({pair})"
    else:
        return None
    if distance is None:
        return base, reason
    return base * distance_factor(distance, options), f"{reason}, {distance:.0f} km"


def distance_factor(distance: float, options: RegionOptions) -> float:
    return 1.0 - options.distance_penalty * min(distance, options.distance_scale_km) / (
        options.distance_scale_km
    )


def availability_value(
    provider: Provider, pattern: WorkingPattern, config: MatchingConfig
) -> float:
    opts = config.availability
    if provider.kind is MatchKind.SECONDMENT:
        if pattern is WorkingPattern.FULL_TIME:
            return 1.0
        return min(1.0, opts.part_time_max_fte / provider.fte)
    needed = (
        opts.hours_needed_full_time
        if pattern is WorkingPattern.FULL_TIME
        else opts.hours_needed_part_time
    )
    # Fractional capacity (0.5) still means one mentee's worth of hours, not double.
    hours_per_mentee = provider.hours_per_month / max(provider.capacity, 1.0)
    return min(1.0, hours_per_mentee / needed)


def mode_value(mentee_mode: Mode, provider_mode: Mode, config: MatchingConfig) -> float:
    opts = config.modes
    if mentee_mode == provider_mode:
        return opts.same
    if Mode.EITHER in (mentee_mode, provider_mode):
        return opts.flexible
    return opts.mismatch


def ranking_value(provider: Provider, mentee: MenteeInput) -> float | None:
    """The mentee's own ranking of a mentor: 1 for their first, (R - r) / R for the r-th of R
    (from 0), 0 for a mentor they did not rank; None when they ranked nobody (no part)."""
    ranked = mentee.ranked_mentors
    if provider.kind is not MatchKind.MENTORING or not ranked:
        return None
    if provider.id not in ranked:
        return 0.0
    return (len(ranked) - ranked.index(provider.id)) / len(ranked)


def preference_value(provider: Provider, mentee: MenteeInput) -> float | None:
    """Share of the mentor's stated preference lists the mentee meets; None when none."""
    prefers = provider.prefers
    if provider.kind is not MatchKind.MENTORING or not prefers.stated:
        return None
    lists = [
        (prefers.sectors, mentee.sector),
        (prefers.regions, mentee.region),
        (prefers.aspirations, mentee.aspires_to),
    ]
    stated = [(values, own) for values, own in lists if values]
    return sum(own in values for values, own in stated) / len(stated)


def fairness_groups(
    mentee: MenteeInput, trusts: Mapping[str, TrustInfo]
) -> frozenset[FairnessGroup]:
    groups: set[FairnessGroup] = set()
    if mentee.working_pattern is WorkingPattern.PART_TIME:
        groups.add(FairnessGroup.PART_TIME)
    if mentee.sector is Sector.SOCIAL_CARE:
        groups.add(FairnessGroup.SOCIAL_CARE)
    trust = trusts.get(mentee.trust_code)
    if trust is not None and trust.is_small:
        groups.add(FairnessGroup.SMALL_TRUST)
    return frozenset(groups)


# ---------------------------------------------------------------------------------------------
# Text similarity
# ---------------------------------------------------------------------------------------------


# English words without stop words, built once: a vectorizer given this callable skips
# rebuilding its analyzer and re-checking its stop words on every call, which cost more than
# the fit itself for the few texts of a mentee's proposal on arrival.
_ANALYZE = TfidfVectorizer(stop_words="english").build_analyzer()


@functools.lru_cache(maxsize=50_000)
def _words(text: str) -> tuple[str, ...]:
    """A text's words, split once: every batch of arrivals fits its vectorizer on the same
    mentors' bios again, and splitting them is the costly part of the fit."""
    return tuple(_ANALYZE(text))


class TextModel:
    """TF-IDF (sublinear term frequency, rows of unit length) fitted on the providers' texts,
    reduced by LSA (truncated SVD) when they are many (``text.lsa_min_texts``) and their
    vocabulary is larger than ``text.dims``, so that scoring at scale is a small dense product.
    Fewer texts keep the exact cosines.

    Fitted on one kind of provider's texts only (mentors' bios, or placements' roles), never on
    the mentees': a mentee's goals are vectors in their providers' model, so a pair's text
    score depends on that pair and the providers alone, not on who else is in the round, and a
    round scores a pair as proposals on arrival do (prepared.py) whenever the mentors are the
    same. A mentee's words that no provider uses are left out of their vector."""

    def __init__(
        self,
        vocabulary: Mapping[str, int],
        idf: npt.NDArray[np.float64],
        components: npt.NDArray[np.float64] | None,
    ) -> None:
        self._vocabulary = vocabulary
        self._idf = idf
        self._components = components
        self.dims = max(len(vocabulary), 1) if components is None else components.shape[0]

    @classmethod
    def fit(cls, texts: Sequence[str], config: MatchingConfig, seed: int = 0) -> TextModel:
        opts = config.text
        none = cls({}, np.zeros(0), None)
        if config.weights.text <= 0 or not texts:
            return none
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
            return none
        vocabulary = dict(vectorizer.vocabulary_)
        idf = np.asarray(vectorizer.idf_, dtype=np.float64)
        if len(vocabulary) <= opts.dims or n < opts.lsa_min_texts:
            return cls(vocabulary, idf, None)
        svd = TruncatedSVD(n_components=opts.dims, random_state=seed)
        # The SVD's matrices are small: threaded BLAS only adds spin-waiting (3 s instead of
        # 0.2 s at 12,000 texts when another process shares the two cores).
        with BLAS.limit(limits=1, user_api="blas"):
            svd.fit(vectorizer.transform(fitted))
        return cls(vocabulary, idf, np.asarray(svd.components_, dtype=np.float64))

    def vectors(self, texts: Sequence[str]) -> FloatArray:
        """Unit-length rows (zero for a text with none of the model's words).

        sklearn's transform written out: its fixed cost a call outweighed the few newcomers a
        batch of arrivals has per network (docs/scaling.md). Each distinct text once (generated
        and templated texts repeat a lot); a round's thousands of goals go through a sparse
        matrix, so they never stand as a dense texts x vocabulary array before the LSA."""
        if not self._vocabulary or not texts:  # no text weight, no words, or no texts
            return np.zeros((len(texts), self.dims), dtype=np.float32)
        position: dict[str, int] = {}
        of_text = np.fromiter(
            (position.setdefault(t, len(position)) for t in texts), dtype=np.intp, count=len(texts)
        )
        indptr, columns, weights = [0], [], []
        for text in position:
            row = [
                (column, (math.log(count) + 1.0) * float(self._idf[column]))
                for word, count in Counter(_words(text)).items()
                if (column := self._vocabulary.get(word)) is not None
            ]
            length = math.sqrt(sum(w * w for _, w in row)) or 1.0
            columns += [column for column, _ in row]
            weights += [w / length for _, w in row]
            indptr.append(len(columns))
        shape = (len(position), len(self._vocabulary))
        if shape[0] * shape[1] <= DENSE_TEXT_CELLS:
            tfidf = np.zeros(shape)
            tfidf[np.repeat(np.arange(shape[0]), np.diff(indptr)), columns] = weights
            reduced = tfidf if self._components is None else tfidf @ self._components.T
        else:
            matrix = sparse.csr_matrix((weights, columns, indptr), shape=shape)
            reduced = matrix.toarray() if self._components is None else matrix @ self._components.T
        dense = np.asarray(reduced, dtype=np.float64)
        norms = np.linalg.norm(dense, axis=1, keepdims=True)
        # A text outside the LSA subspace projects to rounding noise (1e-16), not a direction:
        # it stays zero, as sklearn's normalize leaves norms below ten machine epsilons.
        real = norms >= 10 * np.finfo(np.float64).eps
        unit = np.divide(dense, norms, out=np.zeros_like(dense), where=real)
        vectors: FloatArray = unit.astype(np.float32)[of_text]
        return vectors


# Texts x vocabulary cells up to which ``TextModel.vectors`` fills a dense array (8 MB): a
# sparse matrix's fixed cost outweighs a few newcomers' own (docs/scaling.md).
DENSE_TEXT_CELLS = 1 << 20


TEXT_KEYS = {MatchKind.MENTORING: "mentor", MatchKind.SECONDMENT: "placement"}
MENTEE_TEXT_KEYS = {MatchKind.MENTORING: "mentee", MatchKind.SECONDMENT: "mentee for a placement"}


class TextVectors(Mapping[tuple[str, str], FloatArray]):
    """Text vectors by (``TEXT_KEYS``/``MENTEE_TEXT_KEYS`` value, person id), kept as one
    matrix per key: a round stacks them for its products as they are, and looks up a pair's
    two rows only to explain it (the index by id is built on the first lookup)."""

    def __init__(self, rows: Mapping[str, tuple[Sequence[str], FloatArray]]) -> None:
        self._rows = rows
        self._index: dict[str, dict[str, int]] = {}

    def people(self, key: str) -> Sequence[str]:
        return self._rows[key][0]

    def matrix(self, key: str) -> FloatArray:
        """The key's vectors, a row per person in the order of ``people``."""
        return self._rows[key][1]

    def __getitem__(self, item: tuple[str, str]) -> FloatArray:
        key, person = item
        if key not in self._index:
            self._index[key] = {p: i for i, p in enumerate(self._rows[key][0])}
        vector: FloatArray = self._rows[key][1][self._index[key][person]]
        return vector

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return ((key, person) for key, (ids, _) in self._rows.items() for person in ids)

    def __len__(self) -> int:
        return sum(len(ids) for ids, _ in self._rows.values())


def _text_vectors(
    kind: MatchKind,
    providers: Sequence[Provider],
    mentees: Sequence[MenteeInput],
    config: MatchingConfig,
) -> dict[str, tuple[Sequence[str], FloatArray]]:
    """One kind's providers and every mentee as vectors of a model fitted on those providers'
    texts alone (a kind without providers: a model without words, every mentee a zero row)."""
    texts = [p.text for p in providers]
    model = TextModel.fit(texts, config)
    return {
        TEXT_KEYS[kind]: (tuple(p.id for p in providers), model.vectors(texts)),
        MENTEE_TEXT_KEYS[kind]: (
            tuple(m.id for m in mentees),
            model.vectors([m.goals for m in mentees]),
        ),
    }


# ---------------------------------------------------------------------------------------------
# Context shared by both paths
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairScore:
    provider_id: str
    mentee_id: str
    score: float
    explanation: Explanation


@dataclass
class ScoringContext:
    """Everything about a round that scoring needs beyond the two people in a pair."""

    data: MatchingInput
    config: MatchingConfig
    taxonomy: Taxonomy
    trusts: dict[str, TrustInfo]
    mentors: tuple[Provider, ...]
    placements: tuple[Provider, ...]
    # (TEXT_KEYS[kind] for a provider, MENTEE_TEXT_KEYS[kind] for a mentee, id): each kind's
    # providers and every mentee in that kind's model (``TextModel``). A round's context holds
    # a ``TextVectors``; a batch's explanations a plain dict (prepared.py).
    text_vectors: Mapping[tuple[str, str], FloatArray]

    @classmethod
    def build(
        cls, data: MatchingInput, config: MatchingConfig, taxonomy: Taxonomy = DEFAULT_TAXONOMY
    ) -> ScoringContext:
        with collector_paused():
            return cls._build(data, config, taxonomy)

    @classmethod
    def _build(
        cls, data: MatchingInput, config: MatchingConfig, taxonomy: Taxonomy
    ) -> ScoringContext:
        mentors = tuple(provider_from_mentor(m) for m in data.mentors)
        placements = tuple(provider_from_placement(p) for p in data.placements)
        vectors: dict[str, tuple[Sequence[str], FloatArray]] = {}
        for kind, providers in ((MatchKind.MENTORING, mentors), (MatchKind.SECONDMENT, placements)):
            vectors |= _text_vectors(kind, providers, data.mentees, config)
        return cls(
            data=data,
            config=config,
            taxonomy=taxonomy,
            trusts={t.code: t for t in data.trusts},
            mentors=mentors,
            placements=placements,
            text_vectors=TextVectors(vectors),
        )

    def text_rows(self, key: str, people: Sequence[str]) -> FloatArray:
        """The vectors of ``people`` under ``key``: this context's own matrix when they are the
        people it was built for, in that order (a round's), else stacked a row at a time."""
        vectors = self.text_vectors
        if isinstance(vectors, TextVectors) and tuple(vectors.people(key)) == tuple(people):
            return vectors.matrix(key)
        return _stack([vectors[(key, p)] for p in people])

    def providers(self, kind: MatchKind) -> tuple[Provider, ...]:
        return self.mentors if kind is MatchKind.MENTORING else self.placements

    def coordinates(self, trust_code: str) -> tuple[float, float] | None:
        trust = self.trusts.get(trust_code)
        if trust is None or trust.latitude is None or trust.longitude is None:
            return None
        return trust.latitude, trust.longitude

    def distance(self, trust_a: str, trust_b: str) -> float | None:
        a, b = self.coordinates(trust_a), self.coordinates(trust_b)
        if a is None or b is None:
            return None
        return distance_km(a[0], a[1], b[0], b[1])

    def text_similarity(self, provider: Provider, mentee: MenteeInput) -> float:
        a = self.text_vectors[(TEXT_KEYS[provider.kind], provider.id)]
        b = self.text_vectors[(MENTEE_TEXT_KEYS[provider.kind], mentee.id)]
        return max(0.0, float(np.dot(a, b)))

    def network_of(self, trust_code: str) -> str | None:
        trust = self.trusts.get(trust_code)
        return trust.network_id if trust is not None else None


# ---------------------------------------------------------------------------------------------
# Per-pair path
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Checked:
    """A pair's hard rules, with the coverage and region they computed on the way: scoring an
    admissible pair reuses them instead of computing each twice."""

    reason: str | None
    coverage: float = 0.0
    covered: tuple[SkillCovered, ...] = ()
    region: tuple[float, str] | None = None


def exclusion_reason(provider: Provider, mentee: MenteeInput, ctx: ScoringContext) -> str | None:
    """Why a pair breaks a hard rule, or None when it may be scored."""
    return _check(provider, mentee, ctx).reason


def _check(provider: Provider, mentee: MenteeInput, ctx: ScoringContext) -> _Checked:
    reason = _rule_broken(provider, mentee, ctx)
    if reason is not None:
        return _Checked(reason)
    region = _region(provider, mentee, ctx)
    if region is None:
        return _Checked("too far apart and not both remote")
    coverage, covered = skill_coverage(
        provider.levels, mentee.gaps, ctx.config.skills.partial_credit, ctx.taxonomy
    )
    if coverage <= ctx.config.skills.min_coverage:
        return _Checked("covers none of the mentee's gaps")
    return _Checked(None, coverage, covered, region)


def _rule_broken(provider: Provider, mentee: MenteeInput, ctx: ScoringContext) -> str | None:
    """The rules that need neither the region nor the skills."""
    if (provider.id, mentee.id) in ctx.data.rejected_pairs:
        return "rejected before"
    if provider.kind is MatchKind.MENTORING and provider.id in mentee.excluded_mentors:
        return "excluded by the mentee"
    if not provider.active:
        return "no capacity"
    if not mentee.gaps:
        return "mentee lists no skill gap"
    if not mentee.seeks(provider.kind):
        if provider.kind is MatchKind.SECONDMENT:
            return "mentee not open to secondment"
        return "mentee already has a mentor"
    if ctx.network_of(provider.trust_code) != ctx.network_of(mentee.trust_code):
        return "different networks"
    if provider.kind is MatchKind.SECONDMENT:
        if provider.trust_code == mentee.trust_code:
            return "secondments are always to another trust"
    elif provider.trust_code == mentee.trust_code and not ctx.config.allow_same_trust_mentoring:
        return "same trust"
    return None


def _region(
    provider: Provider, mentee: MenteeInput, ctx: ScoringContext
) -> tuple[float, str] | None:
    both_remote = mentee.mode in REMOTE_CAPABLE and provider.mode in REMOTE_CAPABLE
    distance = ctx.distance(mentee.trust_code, provider.trust_code)
    return region_component(
        mentee.region, provider.region, distance, both_remote, ctx.config.region
    )


def score_pair(provider: Provider, mentee: MenteeInput, ctx: ScoringContext) -> PairScore | None:
    """Score one pair with its explanation; None when a hard rule excludes it."""
    checked = _check(provider, mentee, ctx)
    if checked.reason is not None or checked.region is None:
        return None
    config = ctx.config
    values = {
        "skills": checked.coverage,
        "region": checked.region[0],
        "availability": availability_value(provider, mentee.working_pattern, config),
        "preferences": mode_value(mentee.mode, provider.mode, config),
        "text": ctx.text_similarity(provider, mentee),
    }
    weights = config.weights.normalised()
    # Built without re-validation: every value is a float this function just computed, and a
    # round explains thousands of pairs (validation was a third of proposing on arrival).
    parts = [
        ScorePart.model_construct(
            name=name,
            value=values[name],
            weight=weights[name],
            contribution=values[name] * weights[name],
        )
        for name in COMPONENTS
    ]
    parts += _stated_parts(provider, mentee, config)
    score = sum(part.contribution for part in parts)
    if score <= config.min_score:
        return None
    explanation = Explanation.model_construct(
        skills_covered=checked.covered, region_reason=checked.region[1], parts=tuple(parts)
    )
    return PairScore(provider.id, mentee.id, score, explanation)


def _stated_parts(
    provider: Provider, mentee: MenteeInput, config: MatchingConfig
) -> list[ScorePart]:
    """The stated-preference parts, on top of the five, where a side stated something."""
    stated = (
        ("mentee_ranking", ranking_value(provider, mentee), config.stated.mentee_ranking),
        ("mentor_preference", preference_value(provider, mentee), config.stated.mentor_preference),
    )
    return [
        ScorePart(name=name, value=value, weight=weight, contribution=value * weight)
        for name, value, weight in stated
        if value is not None and weight > 0
    ]


def explain_pair(provider: Provider, mentee: MenteeInput, ctx: ScoringContext) -> Explanation:
    """The explanation of an admissible pair; raises ValueError naming the rule otherwise."""
    scored = score_pair(provider, mentee, ctx)
    if scored is None:
        reason = exclusion_reason(provider, mentee, ctx) or "score not above the minimum"
        raise ValueError(f"{provider.id} and {mentee.id} cannot be matched: {reason}")
    return scored.explanation


# ---------------------------------------------------------------------------------------------
# Vectorised path
# ---------------------------------------------------------------------------------------------
#
# A block score is   static[key(mentee)] + w_skills * coverage + w_text * text
#
# - ``static`` holds region, preference and availability for every distinct mentee "key"
#   (trust, region, remote-capable, mode, working pattern, eligible) against every provider,
#   with -inf where a hard rule that depends only on those (same trust, unreachable region,
#   paused provider, ineligible mentee) excludes the pair. Real rounds have a few thousand keys
#   at most, so a block row is one memory add.
# - coverage and text are ONE matrix product: mentee features [credit per provider level |
#   text vector] times provider features [level one-hot | text vector]. Element-wise passes
#   over a block cost as much as the product, so the block is touched once more after it (the
#   static rows added), not six times.
# - "no coverage" (the one rule that depends on the product) is not applied to the whole
#   block: the callers keep only the few entries above a threshold, and check coverage for
#   those (``admissible``). Thresholds come from exact values (``exact_sample``,
#   ``penalise``), so nothing admissible is ever cut. When LSA text vectors can be negative
#   (cosine floored at 0) the text product is added separately.

NO_COVERAGE_PENALTY = np.float32(-1e6)
SAMPLE_STRIDE = 8  # exact top-k bounds come from every 8th provider column
GROUPS_PER_K = 8  # top-k bounds come from the maxima of 8k column groups
GROUP_BUFFER = 2048  # group maxima per row kept in BlockBuffers (more: a fresh array)

MenteeKey = tuple[str, Region, bool, Mode, WorkingPattern, bool]
_K = TypeVar("_K", bound=Hashable)


def _key_of(mentee: MenteeInput, kind: MatchKind) -> MenteeKey:
    eligible = mentee.seeks(kind)
    return (
        mentee.trust_code,
        mentee.region,
        mentee.mode in REMOTE_CAPABLE,
        mentee.mode,
        mentee.working_pattern,
        eligible,
    )


def _unique_index(keys: Sequence[_K]) -> tuple[list[_K], IntArray]:
    unique: dict[_K, int] = {}
    index = np.fromiter(
        (unique.setdefault(k, len(unique)) for k in keys), dtype=np.int32, count=len(keys)
    )
    return list(unique), index


def _static_values(
    ctx: ScoringContext, kind: MatchKind, keys: Sequence[MenteeKey], providers: Sequence[Provider]
) -> FloatArray:
    """Weighted region + preferences + availability per (mentee key, provider); -inf = excluded."""
    config = ctx.config
    weights = config.weights.normalised()
    provider_locations, provider_location = _unique_index(
        [(p.trust_code, p.region) for p in providers]
    )
    mentee_locations, key_location = _unique_index([(k[0], k[1]) for k in keys])
    alone, together = (
        region_matrix(ctx, mentee_locations, provider_locations, both_remote)[:, provider_location]
        for both_remote in (False, True)
    )
    provider_remote = np.array([p.mode in REMOTE_CAPABLE for p in providers], dtype=bool)
    trust_ids = {trust: i for i, (trust, _) in enumerate(mentee_locations)}
    # Integer ids compare far faster than strings; -1 = a trust no mentee belongs to.
    provider_trust = np.array([trust_ids.get(p.trust_code, -1) for p in providers])
    # Each weighted part once per location, mode or pattern (not once per key): the same
    # float64 products, so a row is the same sum, in the same order, as computed per key.
    # In place: these are locations x providers, the largest temporaries here.
    region_alone = np.multiply(alone, weights["region"], out=alone)
    region_together = np.multiply(together, weights["region"], out=together)
    np.copyto(region_together, region_alone, where=~provider_remote)
    mode_rows = {
        mode: weights["preferences"]
        * np.array([mode_value(mode, p.mode, config) for p in providers])
        for mode in Mode
    }
    # -inf for paused providers: added to finite values, it excludes them without a mask.
    paused = np.where(np.array([p.active for p in providers], dtype=bool), 0.0, -np.inf)
    availability_rows = {
        pattern: weights["availability"]
        * np.array([availability_value(p, pattern, config) for p in providers])
        + paused
        for pattern in WorkingPattern
    }
    exclude_same_trust = kind is MatchKind.SECONDMENT or not config.allow_same_trust_mentoring
    same_trust = {t: np.flatnonzero(provider_trust == i) for t, i in trust_ids.items()}
    # Networks as integers, None (a trust of no known network) included.
    network_ids: dict[str | None, int] = {}
    for code in [p.trust_code for p in providers] + [k[0] for k in keys]:
        network_ids.setdefault(ctx.network_of(code), len(network_ids))
    provider_network = np.array([network_ids[ctx.network_of(p.trust_code)] for p in providers])
    several_networks = len(network_ids) > 1
    table = np.full((len(keys), len(providers)), -np.inf, dtype=np.float32)
    values = np.empty(len(providers))
    for row, (trust, _, remote, mode, pattern, eligible) in enumerate(keys):
        if not eligible:
            continue
        location = key_location[row]
        # The remote value applies only when the provider is remote-capable too.
        region = region_together[location] if remote else region_alone[location]
        np.add(region, mode_rows[mode], out=values)
        np.add(values, availability_rows[pattern], out=values)
        if exclude_same_trust:
            values[same_trust[trust]] = -np.inf
        if several_networks:
            values[provider_network != network_ids[ctx.network_of(trust)]] = -np.inf
        table[row] = values
    return table


_RELATION = np.array([[region_relation(a, b) for b in Region] for a in Region], dtype=np.int8)
_REGION_POSITION = {region: i for i, region in enumerate(Region)}


def region_matrix(
    ctx: ScoringContext,
    mentee_locations: Sequence[tuple[str, Region]],
    provider_locations: Sequence[tuple[str, Region]],
    both_remote: bool,
) -> npt.NDArray[np.float64]:
    """``region_component`` values for every pair of (trust, region) locations; -inf = none."""
    opts = ctx.config.region
    relation = _RELATION[
        np.ix_(
            [_REGION_POSITION[r] for _, r in mentee_locations],
            [_REGION_POSITION[r] for _, r in provider_locations],
        )
    ]
    distant = opts.remote if both_remote else opts.distant_in_person
    base = np.select(
        [relation == Relation.SAME, relation == Relation.NEIGHBOURING],
        [opts.same_region, opts.neighbouring],
        default=-np.inf if distant is None else distant,
    )
    distance = _distance_matrix(ctx, mentee_locations, provider_locations)
    # A remote pair in distant regions does not travel, so distance does not count against it.
    travels = ~np.isnan(distance) & ((relation != Relation.DISTANT) | (not both_remote))
    factor = (
        1.0
        - opts.distance_penalty
        * np.minimum(np.nan_to_num(distance), opts.distance_scale_km)
        / opts.distance_scale_km
    )
    values: npt.NDArray[np.float64] = np.where(travels, base * factor, base)
    return values


def _distance_matrix(
    ctx: ScoringContext,
    mentee_locations: Sequence[tuple[str, Region]],
    provider_locations: Sequence[tuple[str, Region]],
) -> npt.NDArray[np.float64]:
    """Haversine km between the locations' trusts (NaN where either has no coordinates)."""

    def radians(locations: Sequence[tuple[str, Region]]) -> npt.NDArray[np.float64]:
        coords = [ctx.coordinates(trust) or (np.nan, np.nan) for trust, _ in locations]
        return np.radians(np.array(coords, dtype=np.float64).reshape(-1, 2))

    a, b = radians(mentee_locations), radians(provider_locations)
    dphi = b[None, :, 0] - a[:, None, 0]
    dlambda = b[None, :, 1] - a[:, None, 1]
    h = (
        np.sin(dphi / 2) ** 2
        + np.cos(a[:, None, 0]) * np.cos(b[None, :, 0]) * np.sin(dlambda / 2) ** 2
    )
    distance: npt.NDArray[np.float64] = 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(h))
    return distance


class BlockBuffers:
    """Reusable memory for scoring blocks of up to ``rows`` mentees against ``cols`` providers."""

    def __init__(self, rows: int, cols: int) -> None:
        self.score: FloatArray = np.empty((rows, cols), dtype=np.float32)
        self.work: FloatArray = np.empty((rows, cols), dtype=np.float32)
        self.mask: npt.NDArray[np.bool_] = np.empty((rows, cols), dtype=bool)
        self.passing: npt.NDArray[np.bool_] = np.empty((rows, cols), dtype=bool)
        # Group maxima for the top-k bounds (see candidates._group_bound).
        self.group_max: FloatArray = np.empty((rows, min(cols, GROUP_BUFFER)), np.float32)


_Entry = TypeVar("_Entry")


def _entries_between(
    by_mentee: Mapping[int, _Entry], start: int, stop: int
) -> Iterator[tuple[int, _Entry]]:
    """The entries of mentees ``start`` to ``stop - 1``, through whichever is shorter: the
    entries (usually a few) or the rows (a block of hundreds, asked one lookup each)."""
    if len(by_mentee) < stop - start:
        return ((m, e) for m, e in by_mentee.items() if start <= m < stop)
    return ((m, e) for m in range(start, stop) if (e := by_mentee.get(m)) is not None)


def _entries_of(by_mentee: Mapping[int, _Entry], position: Mapping[int, int]) -> dict[int, _Entry]:
    """The entries of the mentees in ``position``, keyed by their position there, through
    whichever is shorter."""
    if len(by_mentee) < len(position):
        return {position[m]: e for m, e in by_mentee.items() if m in position}
    return {i: e for m, i in position.items() if (e := by_mentee.get(m)) is not None}


@dataclass
class ScoreTables:
    """Matrices that let ``score_block`` score many mentees against all providers at once."""

    kind: MatchKind
    provider_ids: tuple[str, ...]
    mentee_ids: tuple[str, ...]
    capacity: npt.NDArray[np.float64]
    weights: dict[str, float]
    static: FloatArray  # mentee keys x providers
    mentee_key: IntArray
    # Products below come out already multiplied by their component weight.
    # Both over the (skill, level) cells that some provider holds and some mentee needs.
    skill_credit: FloatArray  # mentees x cells: w_skills x credit per provider level
    level_onehot: FloatArray  # cells x providers
    level_onehot_sample: FloatArray  # its every SAMPLE_STRIDE-th column, contiguous
    mentee_features: FloatArray  # mentees x K: skill_credit, then w_text x text when fused
    provider_features: FloatArray  # K x providers: level_onehot, then text when fused
    mentee_text: FloatArray  # mentees x text dims, times w_text
    provider_text: FloatArray  # text dims x providers
    text_may_be_negative: bool  # LSA vectors can be; raw TF-IDF ones cannot
    rejected: dict[int, IntArray]  # mentee index -> provider indices (excluded ones too)
    # Mentee index -> (ranked provider indices, their weighted ranking values).
    ranked: dict[int, tuple[IntArray, FloatArray]]
    coverage: SparseCoverage
    skills_floor: np.float32  # w_skills x min_coverage
    floor: float  # block values <= floor are not edges

    @property
    def n_mentees(self) -> int:
        return len(self.mentee_ids)

    @property
    def n_providers(self) -> int:
        return len(self.provider_ids)

    def score_block(self, start: int, stop: int, buffers: BlockBuffers | None = None) -> FloatArray:
        """Scores of mentees[start:stop] x all providers, before the coverage rule.

        Every admissible pair gets its score; a pair that breaks a rule other than coverage is
        -inf; a pair without coverage is NOT marked (see ``admissible``, ``penalise``). With
        ``buffers`` the result is a view into them, valid until their next use: reusing memory
        avoids page-faulting fresh 40 MB arrays for every block, which dominates otherwise.
        """
        n = stop - start
        buffers = buffers or BlockBuffers(n, self.n_providers)
        score = buffers.score[:n]
        rows = slice(start, stop)
        # numpy's matmul releases the GIL while BLAS runs; scipy's sgemm wrapper (beta = 1,
        # which added the static rows in the same call) holds it, so the two workers' blocks
        # took turns (docs/matching.md, "The GIL").
        np.matmul(self.mentee_features[rows], self.provider_features, out=score)
        for i, key in enumerate(self.mentee_key[rows]):
            score[i] += self.static[key]  # row adds beat fancy indexing here
        if self.weights["text"] > 0 and self.text_may_be_negative:
            work = buffers.work[:n]
            np.matmul(self.mentee_text[rows], self.provider_text, out=work)
            np.maximum(work, 0, out=work)
            score += work
        for mentee, providers in _entries_between(self.rejected, start, stop):
            score[mentee - start, providers] = -np.inf
        for mentee, (columns, bonus) in _entries_between(self.ranked, start, stop):
            score[mentee - start, columns] += bonus  # a few per ranking mentee; -inf stays
        return score

    def for_mentees(self, mentees: npt.NDArray[np.int64]) -> ScoreTables:
        """The same tables for some mentees only (row i is mentee ``mentees[i]``)."""
        listed = mentees.tolist()
        position = {m: i for i, m in enumerate(listed)}
        return replace(
            self,
            mentee_ids=tuple(map(self.mentee_ids.__getitem__, listed)),
            mentee_key=self.mentee_key[mentees],
            skill_credit=self.skill_credit[mentees],
            mentee_features=self.mentee_features[mentees],
            mentee_text=self.mentee_text[mentees],
            coverage=replace(
                self.coverage,
                skill=self.coverage.skill[mentees],
                credit=self.coverage.credit[mentees],
            ),
            rejected=_entries_of(self.rejected, position),
            ranked=_entries_of(self.ranked, position),
        )

    def for_providers(self, providers: npt.NDArray[np.int64]) -> ScoreTables:
        """The same tables for some providers only (column j is provider ``providers[j]``)."""
        column = np.full(self.n_providers, -1, dtype=np.int32)
        column[providers] = np.arange(providers.size, dtype=np.int32)

        def columns_of(found: IntArray) -> npt.NDArray[np.bool_]:
            kept: npt.NDArray[np.bool_] = column[found] >= 0
            return kept

        rejected = {m: column[p[columns_of(p)]] for m, p in self.rejected.items()}
        ranked = {
            m: (column[p[columns_of(p)]], value[columns_of(p)])
            for m, (p, value) in self.ranked.items()
        }
        level_onehot = np.ascontiguousarray(self.level_onehot[:, providers])
        # Only the static rows of these tables' mentees: after ``for_mentees`` often a fraction.
        keys, mentee_key = np.unique(self.mentee_key, return_inverse=True)
        return replace(
            self,
            provider_ids=tuple(self.provider_ids[j] for j in providers.tolist()),
            capacity=self.capacity[providers],
            mentee_key=mentee_key.astype(self.mentee_key.dtype),
            # Rows, then columns: twice as fast as one fancy index over both (np.ix_).
            static=np.take(self.static[keys], providers, axis=1),
            level_onehot=level_onehot,
            level_onehot_sample=np.ascontiguousarray(level_onehot[:, ::SAMPLE_STRIDE]),
            provider_features=np.ascontiguousarray(self.provider_features[:, providers]),
            provider_text=np.ascontiguousarray(self.provider_text[:, providers]),
            rejected={m: p for m, p in rejected.items() if p.size},
            ranked={m: r for m, r in ranked.items() if r[0].size},
            coverage=replace(self.coverage, level=self.coverage.level[providers]),
        )

    def penalise(self, start: int, stop: int, block: FloatArray, buffers: BlockBuffers) -> None:
        """Push pairs without coverage far below zero in a whole block: exact values."""
        n = stop - start
        work, no_coverage = buffers.work[:n], buffers.mask[:n]
        np.matmul(self.skill_credit[start:stop], self.level_onehot, out=work)
        np.less_equal(work, self.skills_floor, out=no_coverage)
        # Arithmetic, not a masked assignment (about 15x slower on large arrays).
        np.multiply(no_coverage, NO_COVERAGE_PENALTY, out=work)
        block += work

    def exact_sample(self, mentees: npt.NDArray[np.integer], sampled: FloatArray) -> FloatArray:
        """Exact scores of every SAMPLE_STRIDE-th provider column (no coverage: -inf).

        ``sampled`` is those columns of the mentees' block rows (a copy: it is overwritten).
        """
        coverage = self.skill_credit[mentees] @ self.level_onehot_sample
        np.putmask(sampled, coverage <= self.skills_floor, -np.inf)
        return sampled

    def admissible(
        self, mentees: npt.NDArray[np.integer], providers: npt.NDArray[np.integer]
    ) -> npt.NDArray[np.bool_]:
        """Whether the provider covers enough of the mentee's gaps, per (mentee, provider)."""
        return self.coverage.of(mentees, providers) > self.coverage.min_coverage

    @classmethod
    def build(cls, ctx: ScoringContext, kind: MatchKind) -> ScoreTables:
        providers = ctx.providers(kind)
        mentees = ctx.data.mentees
        config = ctx.config
        skill_codes = sorted(
            ctx.taxonomy.codes()
            | {g.skill for m in mentees for g in m.gaps}
            | {code for p in providers for code in p.levels}
        )
        skill_index = {code: i for i, code in enumerate(skill_codes)}
        keys, mentee_key = _unique_index([_key_of(m, kind) for m in mentees])
        weights = config.weights.normalised()
        mentee_text = np.float32(weights["text"]) * ctx.text_rows(
            MENTEE_TEXT_KEYS[kind], [m.id for m in mentees]
        )
        provider_text = ctx.text_rows(TEXT_KEYS[kind], [p.id for p in providers]).T.copy()
        negative = bool((mentee_text < 0).any() or (provider_text < 0).any())
        gaps = _GapTable.build(mentees, skill_index)
        skill_credit = np.float32(weights["skills"]) * _gap_credit_matrix(
            gaps, skill_index, config.skills.partial_credit
        )
        skill_credit, level_onehot = shared_cells(
            skill_credit, _level_onehot(providers, skill_index)
        )
        fuse_text = weights["text"] > 0 and not negative
        mentee_parts, provider_parts = [skill_credit], [level_onehot]
        if fuse_text:
            mentee_parts.append(mentee_text)
            provider_parts.append(provider_text)
        if kind is MatchKind.MENTORING and any(p.prefers.stated for p in providers):
            # Linear in one-hots, so it rides the same product: no pass of its own.
            mentee_parts.append(
                np.float32(config.stated.mentor_preference) * mentee_attributes(mentees)
            )
            provider_parts.append(preference_lists(providers))
        provider_index = {p.id: j for j, p in enumerate(providers)}
        mentee_index = {m.id: i for i, m in enumerate(mentees)}
        return cls(
            kind=kind,
            provider_ids=tuple(p.id for p in providers),
            mentee_ids=tuple(m.id for m in mentees),
            capacity=np.array([p.capacity for p in providers], dtype=np.float64),
            weights=weights,
            static=_static_values(ctx, kind, keys, providers),
            mentee_key=mentee_key,
            skill_credit=skill_credit,
            level_onehot=level_onehot,
            level_onehot_sample=np.ascontiguousarray(level_onehot[:, ::SAMPLE_STRIDE]),
            mentee_features=np.ascontiguousarray(np.hstack(mentee_parts), dtype=np.float32),
            provider_features=np.ascontiguousarray(np.vstack(provider_parts), dtype=np.float32),
            mentee_text=mentee_text,
            provider_text=provider_text,
            text_may_be_negative=negative,
            rejected=_rejected(
                list(ctx.data.rejected_pairs) + _exclusions(mentees, kind),
                provider_index,
                mentee_index,
            ),
            ranked=_rankings(mentees, kind, provider_index, config.stated.mentee_ranking),
            coverage=SparseCoverage.build(
                gaps,
                providers,
                skill_index,
                config.skills.partial_credit,
                config.skills.min_coverage,
            ),
            skills_floor=np.float32(weights["skills"]) * np.float32(config.skills.min_coverage),
            floor=config.min_score,
        )


@dataclass(frozen=True)
class SparseCoverage:
    """Skill coverage of chosen (mentee, provider) pairs, without scoring whole blocks.

    Row i, gap g: ``skill[i, g]`` (a padding skill no provider has when i has fewer gaps) and
    ``credit[i, g, level]``, the share of coverage a provider at that level (0 = none) earns.
    """

    skill: IntArray  # mentees x most gaps
    credit: npt.NDArray[np.float64]  # mentees x most gaps x (MAX_LEVEL + 1)
    level: npt.NDArray[np.int8]  # providers x (skills + 1 padding)
    min_coverage: float = 0.0

    def of(
        self, mentees: npt.NDArray[np.integer], providers: npt.NDArray[np.integer]
    ) -> npt.NDArray[np.float64]:
        # Flat indices: one 1-D gather per lookup is several times faster than 2-D/3-D ones.
        most, width = self.skill.shape[1], self.level.shape[1]
        levels, credit = self.level.ravel(), self.credit.ravel()
        provider_base = providers.astype(np.int64) * width
        mentee_base = mentees.astype(np.int64) * most
        total = np.zeros(mentees.shape[0])
        for g in range(most):
            slot = mentee_base + g
            level = levels[provider_base + self.skill.ravel()[slot]]
            total += credit[slot * (MAX_LEVEL + 1) + level]
        return total

    @classmethod
    def build(
        cls,
        gaps: _GapTable,
        providers: Sequence[Provider],
        skill_index: Mapping[str, int],
        partial_credit: float,
        min_coverage: float = 0.0,
    ) -> SparseCoverage:
        padding = len(skill_index)
        most = max(int(np.bincount(gaps.owner).max()) if gaps.owner.size else 0, 1)
        skill = np.full((gaps.n_mentees, most), padding, dtype=np.int32)
        credit = np.zeros((gaps.n_mentees, most, MAX_LEVEL + 1))
        skill[gaps.owner, gaps.position] = gaps.skill
        for level in range(1, MAX_LEVEL + 1):
            credit[gaps.owner, gaps.position, level] = gaps.share * gaps.credit(
                level, partial_credit
            )
        level_of = np.zeros((len(providers), padding + 1), dtype=np.int8)
        for j, provider in enumerate(providers):
            for code, value in provider.levels.items():
                level_of[j, skill_index[code]] = value
        return cls(skill=skill, credit=credit, level=level_of, min_coverage=min_coverage)


@dataclass(frozen=True)
class _GapTable:
    """Every mentee's gaps as flat arrays: the arithmetic of ``gap_credit`` for all at once."""

    owner: IntArray  # mentee index
    position: IntArray  # the gap's place in its mentee's list
    skill: IntArray
    current: npt.NDArray[np.float64]
    target: npt.NDArray[np.float64]
    share: npt.NDArray[np.float64]  # gap weight / the mentee's total gap weight
    n_mentees: int

    @classmethod
    def build(cls, mentees: Sequence[MenteeInput], skill_index: Mapping[str, int]) -> _GapTable:
        rows = [
            (i, g, skill_index[gap.skill], gap.current, gap.target, gap.priority)
            for i, m in enumerate(mentees)
            for g, gap in enumerate(m.gaps)
        ]
        table = np.array(rows, dtype=np.float64).reshape(-1, 6)
        owner = table[:, 0].astype(np.int32)
        current, target = table[:, 3], table[:, 4]
        weight = (target - current) * table[:, 5]
        total = np.bincount(owner, weights=weight, minlength=len(mentees))
        return cls(
            owner=owner,
            position=table[:, 1].astype(np.int32),
            skill=table[:, 2].astype(np.int32),
            current=current,
            target=target,
            share=np.divide(weight, total[owner], out=np.zeros_like(weight), where=weight > 0),
            n_mentees=len(mentees),
        )

    def credit(self, level: int, partial_credit: float) -> npt.NDArray[np.float64]:
        """``gap_credit`` of a provider at ``level`` for every gap."""
        span = np.maximum(self.target - self.current, 1e-12)
        partial = partial_credit * (level - self.current) / span
        return np.where(level >= self.target, 1.0, np.where(level > self.current, partial, 0.0))


def _stack(vectors: Sequence[FloatArray]) -> FloatArray:
    if not vectors:
        return np.zeros((0, 1), dtype=np.float32)
    return np.ascontiguousarray(np.stack(vectors), dtype=np.float32)


def _gap_credit_matrix(
    gaps: _GapTable, skill_index: Mapping[str, int], partial_credit: float
) -> FloatArray:
    """Row m, column (skill*7 + level-1): the coverage a provider at that level adds for m.

    The same arithmetic as ``gap_credit``/``skill_coverage``, for all gaps at once.
    """
    width = len(skill_index) * MAX_LEVEL
    # One bincount over every (gap, level) instead of np.add.at per level (several times
    # slower): the same float64 sums, each cell's terms added in the same (gap) order.
    cells = np.concatenate(
        [
            gaps.owner.astype(np.int64) * width + gaps.skill * MAX_LEVEL + level - 1
            for level in range(1, MAX_LEVEL + 1)
        ]
    )
    credit = np.concatenate(
        [gaps.share * gaps.credit(level, partial_credit) for level in range(1, MAX_LEVEL + 1)]
    )
    matrix = np.bincount(cells, weights=credit, minlength=gaps.n_mentees * width)
    return matrix.astype(np.float32).reshape(gaps.n_mentees, width)


def shared_cells(credit: FloatArray, onehot: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``credit`` and ``onehot`` without the (skill, level) cells one side leaves empty.

    A cell that no provider holds, or that earns no mentee any credit, adds nothing to
    ``credit @ onehot``; dropping it shortens every product of a round (a network's mentors
    hold few of a framework's levels: 64 of 112 cells on the benchmark's instances).
    """
    used = np.flatnonzero(onehot.any(axis=1) & credit.any(axis=0))
    return np.ascontiguousarray(credit[:, used]), np.ascontiguousarray(onehot[used])


def _level_onehot(providers: Sequence[Provider], skill_index: Mapping[str, int]) -> FloatArray:
    matrix = np.zeros((len(skill_index) * MAX_LEVEL, len(providers)), dtype=np.float32)
    for j, provider in enumerate(providers):
        for code, level in provider.levels.items():
            matrix[skill_index[code] * MAX_LEVEL + level - 1, j] = 1.0
    return matrix


# Stated preferences, vectorised: the same values as ``ranking_value``/``preference_value``.
_ATTRIBUTES = (
    [("sector", v) for v in Sector]
    + [("region", v) for v in Region]
    + [("aspiration", v) for v in AspiredRole]
)


def mentee_attributes(mentees: Sequence[MenteeInput]) -> FloatArray:
    """One-hot of each mentee's sector, region and aspired role (mentees x attributes)."""
    column = {attribute: i for i, attribute in enumerate(_ATTRIBUTES)}
    matrix = np.zeros((len(mentees), len(_ATTRIBUTES)), dtype=np.float32)
    for i, m in enumerate(mentees):
        matrix[i, column[("sector", m.sector)]] = 1
        matrix[i, column[("region", m.region)]] = 1
        if m.aspires_to is not None:
            matrix[i, column[("aspiration", m.aspires_to)]] = 1
    return matrix


def preference_lists(providers: Sequence[Provider]) -> FloatArray:
    """Attributes x providers: 1 / (lists stated) for each value a provider's lists name."""
    matrix = np.zeros((len(_ATTRIBUTES), len(providers)), dtype=np.float32)
    for j, provider in enumerate(providers):
        prefers = provider.prefers
        lists = {"sector": prefers.sectors, "region": prefers.regions}
        lists["aspiration"] = prefers.aspirations
        stated = sum(bool(values) for values in lists.values())
        for i, (name, value) in enumerate(_ATTRIBUTES):
            if value in lists[name]:
                matrix[i, j] = 1 / stated
    return matrix


def _exclusions(mentees: Sequence[MenteeInput], kind: MatchKind) -> list[tuple[str, str]]:
    if kind is not MatchKind.MENTORING:
        return []
    return [(mentor, m.id) for m in mentees for mentor in m.excluded_mentors]


def _rankings(
    mentees: Sequence[MenteeInput],
    kind: MatchKind,
    provider_index: Mapping[str, int],
    weight: float,
) -> dict[int, tuple[IntArray, FloatArray]]:
    if kind is not MatchKind.MENTORING or weight <= 0:
        return {}
    found: dict[int, tuple[IntArray, FloatArray]] = {}
    for i, m in enumerate(mentees):
        if not m.ranked_mentors:  # most mentees rank nobody
            continue
        ranked = [
            (provider_index[p], r) for r, p in enumerate(m.ranked_mentors) if p in provider_index
        ]
        if ranked:
            size = len(m.ranked_mentors)
            found[i] = (
                np.array([j for j, _ in ranked], dtype=np.int32),
                np.array([weight * (size - r) / size for _, r in ranked], dtype=np.float32),
            )
    return found


def _rejected(
    pairs: Iterable[tuple[str, str]],
    provider_index: Mapping[str, int],
    mentee_index: Mapping[str, int],
) -> dict[int, IntArray]:
    by_mentee: dict[int, list[int]] = {}
    for provider_id, mentee_id in pairs:
        if provider_id in provider_index and mentee_id in mentee_index:
            by_mentee.setdefault(mentee_index[mentee_id], []).append(provider_index[provider_id])
    return {m: np.array(ps, dtype=np.int32) for m, ps in by_mentee.items()}
