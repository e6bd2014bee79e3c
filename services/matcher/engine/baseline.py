"""A deliberately simple engine: greedy by score, skill coverage and region only.

It keeps the service working end to end while the full engine (optimal assignment, stable
mode, exchanges) is built behind the same ``MatchingEngine`` interface.
"""

from __future__ import annotations

from services.matcher.engine.contract import (
    MatchingInput,
    MatchingResult,
    MenteeInput,
    MentorInput,
    Proposal,
)
from shared.matching import Explanation, MatchKind, ScorePart, SkillCovered
from shared.people import Mode
from shared.regions import are_neighbours
from shared.skills import DEFAULT_TAXONOMY

SKILL_WEIGHT = 0.8
REGION_WEIGHT = 0.2


def _region(mentor: MentorInput, mentee: MenteeInput) -> tuple[float, str] | None:
    if mentor.region == mentee.region:
        return 1.0, f"same region ({mentor.region.label})"
    if are_neighbours(mentor.region, mentee.region):
        return 0.6, f"neighbouring regions ({mentor.region.label} / {mentee.region.label})"
    if Mode.IN_PERSON not in (mentor.mode, mentee.mode):
        return 0.3, f"remote ({mentor.region.label} / {mentee.region.label})"
    return None


def score_pair(mentor: MentorInput, mentee: MenteeInput) -> Proposal | None:
    if mentor.trust_code == mentee.trust_code:
        return None
    region = _region(mentor, mentee)
    levels = {s.skill: s.level for s in mentor.skills}
    covered = [g for g in mentee.gaps if levels.get(g.skill, 0) >= g.target]
    if region is None or not covered:
        return None
    total = sum(g.size * g.priority for g in mentee.gaps)
    skill_value = sum(g.size * g.priority for g in covered) / total
    region_value, region_reason = region
    parts = (
        ScorePart(
            name="skills",
            value=skill_value,
            weight=SKILL_WEIGHT,
            contribution=SKILL_WEIGHT * skill_value,
        ),
        ScorePart(
            name="region",
            value=region_value,
            weight=REGION_WEIGHT,
            contribution=REGION_WEIGHT * region_value,
        ),
    )
    explanation = Explanation(
        skills_covered=tuple(
            SkillCovered(
                skill=g.skill,
                skill_name=DEFAULT_TAXONOMY.name_of(g.skill),
                from_level=g.current,
                to_level=g.target,
                provider_level=levels[g.skill],
            )
            for g in covered
        ),
        region_reason=region_reason,
        parts=parts,
    )
    return Proposal(
        kind=MatchKind.MENTORING,
        provider_id=mentor.id,
        mentee_id=mentee.id,
        score=round(sum(p.contribution for p in parts), 6),
        explanation=explanation,
    )


class GreedyBaselineEngine:
    def propose(self, data: MatchingInput) -> MatchingResult:
        candidates = [
            proposal
            for mentor in data.mentors
            for mentee in data.mentees
            if (mentor.id, mentee.id) not in data.rejected_pairs
            and (proposal := score_pair(mentor, mentee)) is not None
        ]
        candidates.sort(key=lambda p: (-p.score, p.provider_id, p.mentee_id))
        room = {mentor.id: mentor.capacity for mentor in data.mentors}
        matched: set[str] = set()
        chosen: list[Proposal] = []
        for proposal in candidates:
            if proposal.mentee_id in matched or room[proposal.provider_id] < 1:
                continue
            room[proposal.provider_id] -= 1
            matched.add(proposal.mentee_id)
            chosen.append(proposal)
        return MatchingResult(proposals=tuple(chosen))
