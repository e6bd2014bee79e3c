from __future__ import annotations

from services.matcher.engine.baseline import GreedyBaselineEngine
from services.matcher.engine.contract import MatchingInput, MenteeInput, MentorInput
from shared.people import Mode, Sector, SkillGap, SkillLevel, WorkingPattern
from shared.regions import Region


def mentor(
    id: str,
    trust: str = "A",
    region: Region = Region.LONDON,
    level: int = 6,
    capacity: float = 1,
    mode: Mode = Mode.EITHER,
) -> MentorInput:
    return MentorInput(
        id=id,
        trust_code=trust,
        region=region,
        capacity=capacity,
        hours_per_month=4,
        mode=mode,
        skills=(SkillLevel(skill="board-influence", level=level),),
    )


def mentee(
    id: str, trust: str = "B", region: Region = Region.LONDON, mode: Mode = Mode.EITHER
) -> MenteeInput:
    return MenteeInput(
        id=id,
        trust_code=trust,
        region=region,
        mode=mode,
        working_pattern=WorkingPattern.PART_TIME,
        sector=Sector.NHS,
        gaps=(SkillGap(skill="board-influence", current=2, target=5),),
    )


def pairs(data: MatchingInput) -> set[tuple[str, str]]:
    return {(p.provider_id, p.mentee_id) for p in GreedyBaselineEngine().propose(data).proposals}


def test_pairs_a_covering_mentor_with_a_mentee_and_explains_why() -> None:
    [proposal] = (
        GreedyBaselineEngine()
        .propose(MatchingInput(mentors=(mentor("m1"),), mentees=(mentee("e1"),)))
        .proposals
    )
    assert (proposal.provider_id, proposal.mentee_id) == ("m1", "e1")
    assert proposal.score == 1.0
    [covered] = proposal.explanation.skills_covered
    assert (covered.skill_name, covered.from_level, covered.to_level, covered.provider_level) == (
        "Board influence",
        2,
        5,
        6,
    )
    assert proposal.explanation.region_reason == "same region (London)"
    assert sum(p.contribution for p in proposal.explanation.parts) == proposal.score


def test_hard_rules_same_trust_rejected_pair_no_coverage_in_person_far_away() -> None:
    assert (
        pairs(MatchingInput(mentors=(mentor("m1", trust="B"),), mentees=(mentee("e1"),))) == set()
    )
    assert (
        pairs(
            MatchingInput(
                mentors=(mentor("m1"),),
                mentees=(mentee("e1"),),
                rejected_pairs=frozenset({("m1", "e1")}),
            )
        )
        == set()
    )
    assert pairs(MatchingInput(mentors=(mentor("m1", level=4),), mentees=(mentee("e1"),))) == set()
    far = mentor("m1", region=Region.NORTH_WEST, mode=Mode.IN_PERSON)
    assert pairs(MatchingInput(mentors=(far,), mentees=(mentee("e1"),))) == set()


def test_capacity_is_respected_and_the_nearer_mentor_wins() -> None:
    data = MatchingInput(
        mentors=(mentor("near", capacity=1), mentor("far", region=Region.NORTH_WEST, capacity=1)),
        mentees=(mentee("e1"), mentee("e2"), mentee("e3")),
    )
    chosen = pairs(data)
    assert len(chosen) == 2
    assert {provider for provider, _ in chosen} == {"near", "far"}
