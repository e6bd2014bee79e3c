"""Mentors prepared once (proposals on arrival): the same scores as the engine's own path for
the same people, component by component. Both fit the text model on the mentors' bios alone
(``TextModel``), per network here and per round there: for one network's people every pair
scores as in its round, text included; for several networks in one input (each prepared side
has its own model) the scores are checked against ``score_pair`` given the prepared models'
vectors, and without text the proposals against ``engine.propose`` itself."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.matcher.engine.candidates import build_candidates, edges_from_tables
from services.matcher.engine.config import MatchingConfig
from services.matcher.engine.contract import CandidateEdges, MatchingInput, MentorInput
from services.matcher.engine.optimal import BridgeworkEngine
from services.matcher.engine.prepared import (
    Offer,
    PreparedMentors,
    _Batch,
    propose_to_newcomers,
)
from services.matcher.engine.scoring import (
    ScoringContext,
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


@given(st.integers(0, 10_000), st.sampled_from(sorted(CONFIGS)))
def test_in_one_network_a_proposal_scores_as_its_round_scores_it(seed: int, name: str) -> None:
    """A round and a batch of arrivals fit the same model on the same mentors' bios: every pair
    has the score the network's round gives it, text included, and so has every proposal on
    arrival. (Not the same proposals: where fairness targets bind, their price search can go
    another way on LSA's products summed in another order.)"""
    config = CONFIGS[name]
    data = in_networks(random_instance(seed), 1)
    offers = offers_of(data, config)
    data = in_offer_order(data, offers)
    the_round = ScoringContext.build(data, config)
    arriving = edges_from_tables(_Batch.of(offers, the_round).tables(the_round), config, full=True)
    rounds = build_candidates(data, config, full=True, context=the_round)
    on_arrival, in_round = scored_pairs(arriving), scored_pairs(rounds)
    assert on_arrival.keys() == in_round.keys()
    for pair, score in in_round.items():
        assert on_arrival[pair] == pytest.approx(score, abs=2e-6), pair
    engine = BridgeworkEngine(config)
    got = propose_to_newcomers(engine, offers, data.mentees, data.trusts, data.rejected_pairs)
    for proposal in got.proposals:
        pair = (proposal.provider_id, proposal.mentee_id)
        assert proposal.score == pytest.approx(in_round[pair], abs=2e-6)


def scored_pairs(edges: CandidateEdges) -> dict[tuple[str, str], float]:
    return {
        (edges.provider_ids[p], edges.mentee_ids[m]): float(s)
        for m, p, s in zip(edges.mentee_index, edges.provider_index, edges.score, strict=True)
    }


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
