"""Mentors prepared once (proposals on arrival): the same scores as the engine's own path for
the same people, component by component. The one stated difference is the text model: it is
fitted on the network's mentors' bios when their side is prepared (a round fits it on all of
its texts), so with text weighted the scores are checked against ``score_pair`` given the
prepared model's vectors, and without text against ``engine.propose`` itself."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.matcher.engine.candidates import edges_from_tables
from services.matcher.engine.config import MatchingConfig
from services.matcher.engine.contract import MatchingInput, MentorInput
from services.matcher.engine.optimal import BridgeworkEngine
from services.matcher.engine.prepared import (
    Offer,
    PreparedMentors,
    _Batch,
    propose_to_newcomers,
)
from services.matcher.engine.scoring import (
    ScoringContext,
    fit_text_vectors,
    provider_from_mentor,
    score_pair,
)
from shared.skills import DEFAULT_TAXONOMY, Skill, Taxonomy
from tests.support.engine.scored_instances import CONFIGS, in_networks, random_instance

NETWORKS = 3


def offers_of(data: MatchingInput, config: MatchingConfig) -> list[Offer]:
    """One prepared side per network, every mentor offered at their input's capacity."""
    network = {t.code: t.network_id for t in data.trusts}
    by_network: dict[str | None, list[MentorInput]] = {}
    for mentor in data.mentors:
        by_network.setdefault(network[mentor.trust_code], []).append(mentor)
    return [
        Offer.of(
            PreparedMentors.build(mentors, config),
            [m.id for m in mentors],
            [m.capacity for m in mentors],
            [m.hours_per_month for m in mentors],
        )
        for _, mentors in sorted(by_network.items(), key=lambda kv: str(kv[0]))
    ]


def in_offer_order(data: MatchingInput, offers: list[Offer]) -> MatchingInput:
    """The input with its mentors in the offers' order and no placements: the engine's columns
    are then the prepared path's, and ties fall the same way."""
    mentors = {m.id: m for m in data.mentors}
    ordered = tuple(mentors[m] for offer in offers for m in offer.mentor_ids)
    return data.model_copy(update={"mentors": ordered, "placements": ()})


def without_text(config: MatchingConfig) -> MatchingConfig:
    return config.model_copy(update={"weights": config.weights.model_copy(update={"text": 0.0})})


@given(st.integers(0, 10_000), st.sampled_from(sorted(CONFIGS)))
def test_without_text_the_proposals_are_the_engines(seed: int, name: str) -> None:
    config = without_text(CONFIGS[name])
    data = in_networks(random_instance(seed), NETWORKS)
    offers = offers_of(data, config)
    data = in_offer_order(data, offers)
    engine = BridgeworkEngine(config)
    expected = engine.propose(data).proposals
    got = propose_to_newcomers(engine, offers, data.mentees, data.trusts, data.rejected_pairs)
    assert [(p.provider_id, p.mentee_id) for p in got.proposals] == [
        (p.provider_id, p.mentee_id) for p in expected if p.kind.value == "mentoring"
    ]
    for mine, theirs in zip(got.proposals, expected, strict=False):
        assert mine.score == pytest.approx(theirs.score, abs=2e-6)
        assert mine.explanation == theirs.explanation


@given(st.integers(0, 10_000), st.sampled_from(sorted(CONFIGS)))
def test_every_pair_scores_as_score_pair_with_the_prepared_text_model(seed: int, name: str) -> None:
    config = CONFIGS[name]
    data = in_networks(random_instance(seed), NETWORKS)
    offers = offers_of(data, config)
    data = in_offer_order(data, offers)
    context = ScoringContext.build(data, config)
    batch = _Batch.of(offers, context)
    edges = edges_from_tables(batch.tables(context), config, full=True)
    got = {
        (edges.provider_ids[p], edges.mentee_ids[m]): float(s)
        for m, p, s in zip(edges.mentee_index, edges.provider_index, edges.score, strict=True)
    }
    # The round's own context, its text vectors replaced by the prepared model's.
    prepared = batch.explaining(context, {m.id for m in data.mentors})
    expected = {}
    for provider in prepared.mentors:
        for mentee in data.mentees:
            scored = score_pair(provider, mentee, prepared)
            if scored is not None:
                expected[(provider.id, mentee.id)] = scored.score
    assert got.keys() == expected.keys()
    for pair, score in expected.items():
        assert got[pair] == pytest.approx(score, abs=2e-6), pair


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_the_mentors_text_vectors_are_those_of_a_fit_on_their_bios(name: str) -> None:
    config = CONFIGS[name]
    mentors = random_instance(7, n_mentors=40).mentors
    side = PreparedMentors.build(mentors, config)
    expected = fit_text_vectors([m.bio for m in mentors], config)
    assert side.text.shape == expected.shape
    assert np.allclose(side.text, expected, atol=1e-6)


def test_a_side_reads_a_batchs_wider_skill_list() -> None:
    mentors = random_instance(3).mentors
    side = PreparedMentors.build(mentors, MatchingConfig())
    codes = sorted([*side.skill_codes, "zz-not-a-skill", "aa-not-either"])
    onehot, levels = side.in_skills(codes)
    extra = tuple(Skill(code=c, name=c) for c in ("zz-not-a-skill", "aa-not-either"))
    wider_taxonomy = Taxonomy(name="wider", skills=DEFAULT_TAXONOMY.skills + extra)
    wider = PreparedMentors.build(mentors, MatchingConfig(), taxonomy=wider_taxonomy)
    assert wider.skill_codes == tuple(codes)
    assert np.array_equal(onehot, wider.level_onehot)
    assert np.array_equal(levels, wider.levels)
    assert [provider_from_mentor(m) for m in mentors] == list(side.providers)
