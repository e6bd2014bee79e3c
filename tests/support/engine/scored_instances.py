"""Random scored instances for the engine's tests: mentors, mentees and placements over a
dozen trusts (half with coordinates), a few skills and words so that pairs overlap often, and
configurations that take each of the scoring paths (same trust allowed, LSA text)."""

from __future__ import annotations

import numpy as np

from services.matcher.engine.config import MatchingConfig
from services.matcher.engine.contract import (
    MatchingInput,
    MenteeInput,
    MentorInput,
    PlacementInput,
    TrustInfo,
)
from shared.people import Mode, Sector, SkillGap, SkillLevel, WorkingPattern
from shared.regions import Region
from shared.skills import DEFAULT_TAXONOMY

SKILLS = sorted(DEFAULT_TAXONOMY.codes())[:6]  # few skills, so pairs overlap often
WORDS = [
    "data",
    "analytics",
    "cyber",
    "board",
    "strategy",
    "clinical",
    "safety",
    "agile",
    "cloud",
    "procurement",
    "coaching",
]


def random_instance(seed: int, n_mentors: int = 30, n_mentees: int = 50) -> MatchingInput:
    rng = np.random.default_rng(seed)
    regions = list(Region)
    # Half the trusts have coordinates (spread over England), half do not.
    trusts = tuple(
        TrustInfo(
            code=f"T{i}",
            name=f"Trust {i}",
            region=regions[i % len(regions)],
            latitude=float(rng.uniform(50.5, 54.5)) if i % 2 else None,
            longitude=float(rng.uniform(-3.0, 0.5)) if i % 2 else None,
            is_small=bool(i % 3 == 0),
        )
        for i in range(12)
    )

    def text() -> str:
        return " ".join(rng.choice(WORDS, size=int(rng.integers(0, 6))))

    mentors = []
    for i in range(n_mentors):
        trust = trusts[int(rng.integers(len(trusts)))]
        chosen = rng.choice(SKILLS, size=int(rng.integers(1, 4)), replace=False)
        mentors.append(
            MentorInput(
                id=f"m{i}",
                trust_code=trust.code,
                region=trust.region,
                skills=tuple(
                    SkillLevel(skill=str(s), level=int(rng.integers(1, 8))) for s in chosen
                ),
                capacity=float(rng.choice([0, 0.5, 1, 2, 3])),
                hours_per_month=float(rng.integers(0, 9)),
                mode=list(Mode)[int(rng.integers(3))],
                bio=text(),
            )
        )
    mentees = []
    for i in range(n_mentees):
        trust = trusts[int(rng.integers(len(trusts)))]
        chosen = rng.choice(SKILLS, size=int(rng.integers(0, 3)), replace=False)
        gaps = []
        for s in chosen:
            current = int(rng.integers(0, 5))
            gaps.append(
                SkillGap(
                    skill=str(s),
                    current=current,
                    target=current + int(rng.integers(1, 3)),
                    priority=float(rng.choice([0.5, 1, 2])),
                )
            )
        mentees.append(
            MenteeInput(
                id=f"e{i}",
                trust_code=trust.code,
                region=trust.region,
                gaps=tuple(gaps),
                working_pattern=list(WorkingPattern)[int(rng.integers(2))],
                sector=list(Sector)[int(rng.integers(2))],
                mode=list(Mode)[int(rng.integers(3))],
                goals=text(),
                open_to_secondment=bool(rng.integers(2)),
            )
        )
    placements = tuple(
        PlacementInput(
            id=f"p{i}",
            host_trust_code=trusts[i % len(trusts)].code,
            region=trusts[i % len(trusts)].region,
            role=text() or "digital lead",
            skills_developed=(SkillLevel(skill=SKILLS[i % len(SKILLS)], level=5),),
            places=int(rng.integers(0, 3)),
            months=6,
            fte=float(rng.choice([0.4, 0.6, 1.0])),
        )
        for i in range(8)
    )
    rejected = frozenset(
        (f"m{int(rng.integers(n_mentors))}", f"e{int(rng.integers(n_mentees))}") for _ in range(20)
    )
    return MatchingInput(
        mentors=tuple(mentors),
        mentees=tuple(mentees),
        placements=placements,
        trusts=trusts,
        rejected_pairs=rejected,
    )


def in_networks(data: MatchingInput, networks: int) -> MatchingInput:
    """The same people, their trusts shared out between ``networks`` networks."""
    trusts = tuple(
        t.model_copy(update={"network_id": f"n{i % networks}"}) for i, t in enumerate(data.trusts)
    )
    return data.model_copy(update={"trusts": trusts})


CONFIGS = {
    "default": MatchingConfig(),
    "same trust allowed, distant in person": MatchingConfig.model_validate(
        {
            "allow_same_trust_mentoring": True,
            "region": {"distant_in_person": 0.2},
            "skills": {"partial_credit": 0, "min_coverage": 0.2},
            "min_score": 0.3,
            "chunk_size": 7,
        }
    ),
    # Three LSA dimensions for an 11-word vocabulary: the reduced-text path, with negative cosines.
    "LSA text, one worker": MatchingConfig.model_validate(
        {
            "text": {"dims": 3, "lsa_min_texts": 10},
            "weights": {"text": 0.3},
            "workers": 1,
            "chunk_size": 16,
        }
    ),
}
