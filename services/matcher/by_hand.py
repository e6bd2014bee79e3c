"""A mentor and mentee a coordinator chose by hand, judged as a round judges them: the two people
as a round sees them (round_input's ``open_mentor`` and ``open_mentee``: capacity left after
approved matches, a search still open), the engine's hard rules (``exclusion_reason``) and its
score with its explanation (``score_pair``). One place for the rules and the score, whoever
asks: the profiles service shows the verdict before a coordinator confirms, reading the rows
from its own tables.

Pure: no SQL or Kafka. The text part of the score compares the pair's two texts alone (a
round compares them within the whole network's), so it may differ a little from a round's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.matcher.engine.config import MatchingConfig
from services.matcher.engine.contract import MatchingInput
from services.matcher.engine.scoring import ScoringContext, exclusion_reason, score_pair
from services.matcher.round_input import Row, open_mentee, open_mentor, trust_info
from shared.matching import Explanation

# Beyond the engine's own reasons (scoring.exclusion_reason), why a round would not see them.
WITHDRAWN = "mentee withdrawn"
NO_CAPACITY = "no capacity"
HAS_A_MENTOR = "mentee already has a mentor"
SCORE_TOO_LOW = "score not above the minimum"


@dataclass(frozen=True)
class Verdict:
    """The pair's score and explanation, or the hard rule it breaks (``refusal``)."""

    score: float | None = None
    explanation: Explanation | None = None
    refusal: str | None = None


def judge_pair(
    mentor: Row,
    mentee: Row,
    trusts: Sequence[Row],
    config: MatchingConfig,
    *,
    never_again: bool,
) -> Verdict:
    """``mentor`` and ``mentee`` are rows as a round reads them (round_input.PEOPLE_COLUMNS
    and the approved counts); ``never_again``: the pair was rejected, or matched and closed."""
    if mentee["paused"]:
        return Verdict(refusal=WITHDRAWN)
    mentor_input = open_mentor(mentor)
    if mentor_input is None:
        return Verdict(refusal=NO_CAPACITY)
    mentee_input = open_mentee(mentee)
    if mentee_input is None:
        return Verdict(refusal=HAS_A_MENTOR)
    pair = (mentor_input.id, mentee_input.id)
    data = MatchingInput(
        mentors=(mentor_input,),
        mentees=(mentee_input,),
        # One each: the two may work in the same trust.
        trusts=tuple({row["code"]: trust_info(row) for row in trusts}.values()),
        rejected_pairs=frozenset({pair} if never_again else ()),
    )
    context = ScoringContext.build(data, config)
    [provider] = context.mentors
    refusal = exclusion_reason(provider, mentee_input, context)
    if refusal is not None:
        return Verdict(refusal=refusal)
    scored = score_pair(provider, mentee_input, context)
    if scored is None:
        return Verdict(refusal=SCORE_TOO_LOW)
    return Verdict(score=scored.score, explanation=scored.explanation)
