"""A coordinator's match by hand is judged by the matcher's own rules and score
(services/matcher/by_hand.py): a pair a round would propose is admitted with the round's score,
and each hard rule refuses it with its reason. No database: rows as a round reads them."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.matcher import by_hand
from services.matcher.engine import MatchingConfig, MatchingInput, build_engine
from services.matcher.round_input import open_mentee, open_mentor, trust_info
from services.profiles.coordination.by_hand import PLAIN_WORDS, Choice
from shared.events import PersonProfile
from shared.people import Role, SkillGap, SkillLevel
from shared.regions import Region
from tests.support.factories import person_profile

CONFIG = MatchingConfig()
TRUSTS = [
    {
        "code": code,
        "name": f"Trust {code}",
        "region": Region.NORTH_WEST.value,
        "latitude": None,
        "longitude": None,
        "is_small": False,
    }
    for code in ("T1", "T2")
]


def row(profile: PersonProfile, **counts: Any) -> dict[str, Any]:
    return {
        "paused": False,
        "capacity": profile.capacity,
        "hours_per_month": profile.hours_per_month,
        "profile_json": profile.model_dump_json(),
        "approved_as_provider": 0,
        "approved_mentoring": 0,
        "approved_secondment": 0,
        **counts,
    }


def mentor(trust_code: str = "T1", **fields: Any) -> PersonProfile:
    return person_profile(trust_code=trust_code, **fields)


def mentee(**fields: Any) -> PersonProfile:
    return person_profile(role=Role.MENTEE, trust_code="T2", **fields)


def judge(
    mentor_row: dict[str, Any], mentee_row: dict[str, Any], never_again: bool = False
) -> by_hand.Verdict:
    """As the profiles service asks: the mentor's trust and the mentee's, the same one twice
    when they share it."""
    people = (mentor_row, mentee_row)
    codes = [PersonProfile.model_validate_json(r["profile_json"]).trust_code for r in people]
    trusts = [next(t for t in TRUSTS if t["code"] == code) for code in codes]
    return by_hand.judge_pair(mentor_row, mentee_row, trusts, CONFIG, never_again=never_again)


def round_score(mentor_row: dict[str, Any], mentee_row: dict[str, Any]) -> float | None:
    """The score of the pair's proposal in a round of the two of them, if it proposes them."""
    mentors = [m for m in [open_mentor(mentor_row)] if m]
    mentees = [m for m in [open_mentee(mentee_row)] if m]
    data = MatchingInput(
        mentors=tuple(mentors),
        mentees=tuple(mentees),
        trusts=tuple(trust_info(t) for t in TRUSTS),
    )
    proposals = build_engine(CONFIG).propose(data).proposals
    return proposals[0].score if proposals else None


def test_an_admissible_pair_is_shown_with_its_score_and_explanation() -> None:
    verdict = judge(row(mentor()), row(mentee()))
    assert verdict.refusal is None
    assert verdict.score is not None
    assert verdict.score > CONFIG.min_score
    assert verdict.explanation is not None
    [covered] = verdict.explanation.skills_covered
    assert (covered.skill, covered.from_level, covered.to_level) == ("cyber-security", 2, 5)


@pytest.mark.parametrize(
    ("mentor_row", "mentee_row", "never_again", "refusal"),
    [
        (row(mentor(trust_code="T2")), row(mentee()), False, "same trust"),
        (row(mentor()), row(mentee()), True, "rejected before"),
        (row(mentor(), approved_as_provider=1), row(mentee()), False, by_hand.NO_CAPACITY),
        (row(mentor(capacity=0)), row(mentee()), False, by_hand.NO_CAPACITY),
        (row(mentor()), row(mentee(), paused=True), False, by_hand.WITHDRAWN),
        (row(mentor()), row(mentee(), approved_mentoring=1), False, by_hand.HAS_A_MENTOR),
        (
            row(mentor(skills=(SkillLevel(skill="procurement", level=7),))),
            row(mentee()),
            False,
            "covers none of the mentee's gaps",
        ),
    ],
)
def test_each_hard_rule_refuses_the_pair_with_its_reason(
    mentor_row: dict[str, Any], mentee_row: dict[str, Any], never_again: bool, refusal: str
) -> None:
    verdict = judge(mentor_row, mentee_row, never_again)
    assert (verdict.refusal, verdict.score, verdict.explanation) == (refusal, None, None)
    assert refusal in PLAIN_WORDS  # every reason has a coordinator's words


def test_a_mentee_who_refused_the_mentor_is_not_matched_with_them() -> None:
    chosen = mentor()
    refusing = mentee(excluded_mentors=(chosen.person_id,))
    assert judge(row(chosen), row(refusing)).refusal == "excluded by the mentee"


def test_the_refusal_is_told_in_plain_words_with_their_names() -> None:
    verdict = judge(row(mentor(trust_code="T2")), row(mentee()))
    choice = Choice(
        mentor_id=mentor().person_id,
        mentor_name="Morag",
        mentee_id=mentee().person_id,
        mentee_name="Tariq",
        verdict=verdict,
    )
    assert choice.refusal == (
        "Morag and Tariq work in the same trust, and mentors are matched with mentees of other"
        " trusts."
    )


@settings(max_examples=40)
@given(
    level=st.integers(1, 7),
    current=st.integers(1, 6),
    step=st.integers(1, 6),
    same_trust=st.booleans(),
    taken=st.integers(0, 2),
    has_mentor=st.booleans(),
    goals=st.text(alphabet="abc de", max_size=20),
)
def test_a_pair_is_admitted_exactly_when_a_round_would_propose_it_with_the_same_score(
    level: int,
    current: int,
    step: int,
    same_trust: bool,
    taken: int,
    has_mentor: bool,
    goals: str,
) -> None:
    target = min(7, current + step)
    chosen = mentor(
        trust_code="T2" if same_trust else "T1",
        skills=(SkillLevel(skill="data-analytics", level=level),),
        capacity=2,
        bio="data analytics lead",
    )
    seeking = mentee(
        gaps=(SkillGap(skill="data-analytics", current=current, target=target),), goals=goals
    )
    mentor_row = row(chosen, approved_as_provider=taken)
    mentee_row = row(seeking, approved_mentoring=int(has_mentor))
    verdict = judge(mentor_row, mentee_row)
    expected = round_score(mentor_row, mentee_row)
    if expected is None:
        assert verdict.refusal is not None
        assert verdict.score is None
    else:
        assert verdict.refusal is None
        assert verdict.score == pytest.approx(expected)
