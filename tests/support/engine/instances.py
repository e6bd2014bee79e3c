"""Synthetic instances for the engine's randomised tests and the matching benchmark."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import numpy.typing as npt

from devtools.reference_data import reference_data_dir
from services.matcher.engine.contract import (
    CandidateEdges,
    MatchingInput,
    MenteeInput,
    MentorInput,
    PlacementInput,
    TrustInfo,
)
from shared.people import (
    AspiredRole,
    MentorPreferences,
    Mode,
    Sector,
    SkillGap,
    SkillLevel,
    WorkingPattern,
)
from shared.regions import Region
from shared.skills import DEFAULT_TAXONOMY


def random_candidate_edges(
    rng: np.random.Generator,
    n_providers: int,
    n_mentees: int,
    per_mentee: int,
    *,
    capacities: tuple[float, ...] = (1.0, 2.0, 3.0),
    part_time_share: float = 0.0,
    part_time_load: float = 0.5,
    score_levels: int = 0,
) -> CandidateEdges:
    """Random sparse scored pairs: each mentee gets up to ``per_mentee`` distinct providers.

    ``score_levels`` > 0 rounds scores onto that many levels, to exercise ties.
    """
    per_mentee = min(per_mentee, n_providers)
    mentee = np.repeat(np.arange(n_mentees), per_mentee)
    provider = (
        np.concatenate(
            [rng.choice(n_providers, per_mentee, replace=False) for _ in range(n_mentees)]
        )
        if n_mentees
        else np.zeros(0, dtype=np.int64)
    )
    score = rng.random(mentee.size)
    if score_levels:
        score = np.ceil(score * score_levels) / score_levels
    load = np.where(rng.random(n_mentees) < part_time_share, part_time_load, 1.0)
    return CandidateEdges(
        provider_ids=tuple(f"p{i}" for i in range(n_providers)),
        mentee_ids=tuple(f"m{j}" for j in range(n_mentees)),
        provider_capacity=rng.choice(np.asarray(capacities, dtype=np.float64), n_providers),
        mentee_index=mentee.astype(np.int32),
        provider_index=provider.astype(np.int32),
        score=score,
        mentee_load=load if part_time_share > 0 else None,
    )


# --- realistic instances: real NHS trusts, the default taxonomy, plausible people ---

# The reference data beside the checkout; absent in a user's clone.
TRUSTS_CSV = reference_data_dir() / "nhs_trusts" / "nhs_trusts_england.csv"

_GOAL_PHRASES = (
    "lead an electronic patient record rollout",
    "build a data platform for population health",
    "win board support for digital investment",
    "run a cyber incident exercise",
    "move our infrastructure to the cloud",
    "bring clinicians into service design",
    "negotiate a better supplier contract",
    "grow a product team",
    "join up care records",
    "become a chief information officer",
    "improve our DSPT position",
    "lead change well",
)


def load_trusts(path: Path = TRUSTS_CSV, rng: np.random.Generator | None = None) -> list[TrustInfo]:
    """England's trusts with regions and coordinates; generated ones when the file is absent."""
    if not path.exists():
        return _generated_trusts(rng or np.random.default_rng(0))
    trusts = []
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if not row["nhs_region_code"]:
                continue  # the Welsh trusts have no NHS England region
            trusts.append(
                TrustInfo(
                    code=row["ods_code"],
                    name=row["name"].title(),
                    region=Region(row["nhs_region_code"]),
                    latitude=float(row["latitude"]) if row["latitude"] else None,
                    longitude=float(row["longitude"]) if row["longitude"] else None,
                )
            )
    return _mark_small(trusts, rng or np.random.default_rng(0))


def _generated_trusts(rng: np.random.Generator, per_region: int = 30) -> list[TrustInfo]:
    centres = {
        Region.LONDON: (51.5, -0.12),
        Region.SOUTH_WEST: (50.9, -3.3),
        Region.SOUTH_EAST: (51.2, -0.8),
        Region.MIDLANDS: (52.6, -1.6),
        Region.EAST_OF_ENGLAND: (52.2, 0.5),
        Region.NORTH_WEST: (53.6, -2.6),
        Region.NORTH_EAST_AND_YORKSHIRE: (54.2, -1.4),
    }
    trusts = [
        TrustInfo(
            code=f"G{r.value}{i:02d}",
            name=f"{r.label} trust {i}",
            region=r,
            latitude=lat + float(rng.normal(0, 0.4)),
            longitude=lon + float(rng.normal(0, 0.5)),
        )
        for r, (lat, lon) in centres.items()
        for i in range(per_region)
    ]
    return _mark_small(trusts, rng)


def _mark_small(trusts: list[TrustInfo], rng: np.random.Generator) -> list[TrustInfo]:
    small = rng.random(len(trusts)) < 0.3
    return [t.model_copy(update={"is_small": bool(s)}) for t, s in zip(trusts, small, strict=True)]


def synthetic_input(
    rng: np.random.Generator,
    n_mentors: int,
    n_mentees: int,
    *,
    n_placements: int = 0,
    trusts: list[TrustInfo] | None = None,
    capacities: tuple[float, ...] = (1.0, 2.0, 3.0),
) -> MatchingInput:
    """A plausible network: senior mentors, mentees with 1-3 gaps, trusts across England.

    Built with ``model_construct`` (values are valid by construction) so that generating
    60,000 people does not dominate the benchmark's set-up time.
    """
    trusts = trusts or load_trusts(rng=rng)
    codes = [s.code for s in DEFAULT_TAXONOMY.skills]
    # Some skills are much more in demand than others, as in real networks.
    demand = rng.dirichlet(np.full(len(codes), 0.8))
    mentors = tuple(_mentor(rng, i, trusts, codes, capacities) for i in range(n_mentors))
    mentees = tuple(_mentee(rng, j, trusts, codes, demand) for j in range(n_mentees))
    placements = tuple(_placement(rng, i, trusts, codes) for i in range(n_placements))
    return MatchingInput.model_construct(
        mentors=mentors,
        mentees=mentees,
        placements=placements,
        trusts=tuple(trusts),
        rejected_pairs=frozenset(),
        pending=(),
    )


def _mentor(
    rng: np.random.Generator,
    i: int,
    trusts: list[TrustInfo],
    codes: list[str],
    capacities: tuple[float, ...],
) -> MentorInput:
    trust = trusts[int(rng.integers(len(trusts)))]
    skills = rng.choice(len(codes), int(rng.integers(3, 7)), replace=False)
    return MentorInput.model_construct(
        id=f"mentor-{i}",
        trust_code=trust.code,
        region=trust.region,
        skills=tuple(
            SkillLevel.model_construct(skill=codes[s], level=int(rng.integers(4, 8)))
            for s in skills
        ),
        capacity=float(rng.choice(capacities)),
        hours_per_month=float(rng.integers(2, 9)),
        mode=_mode(rng),
        bio=" and ".join(codes[s].replace("-", " ") for s in skills[:3]),
    )


def _mentee(
    rng: np.random.Generator,
    j: int,
    trusts: list[TrustInfo],
    codes: list[str],
    demand: npt.NDArray[np.float64],
) -> MenteeInput:
    trust = trusts[int(rng.integers(len(trusts)))]
    gaps = []
    for s in rng.choice(len(codes), int(rng.integers(1, 4)), replace=False, p=demand):
        current = int(rng.integers(0, 5))
        target = min(7, current + int(rng.integers(1, 4)))
        gaps.append(
            SkillGap.model_construct(
                skill=codes[s], current=current, target=target, priority=float(rng.integers(1, 4))
            )
        )
    part_time = rng.random() < 0.25
    return MenteeInput.model_construct(
        id=f"mentee-{j}",
        trust_code=trust.code,
        region=trust.region,
        gaps=tuple(gaps),
        working_pattern=WorkingPattern.PART_TIME if part_time else WorkingPattern.FULL_TIME,
        sector=Sector.SOCIAL_CARE if rng.random() < 0.15 else Sector.NHS,
        mode=_mode(rng),
        goals=str(rng.choice(_GOAL_PHRASES)),
        open_to_secondment=bool(rng.random() < 0.1),
    )


def _placement(
    rng: np.random.Generator, i: int, trusts: list[TrustInfo], codes: list[str]
) -> PlacementInput:
    trust = trusts[int(rng.integers(len(trusts)))]
    skills = rng.choice(len(codes), int(rng.integers(2, 4)), replace=False)
    return PlacementInput.model_construct(
        id=f"placement-{i}",
        host_trust_code=trust.code,
        region=trust.region,
        role="digital secondment",
        skills_developed=tuple(
            SkillLevel.model_construct(skill=codes[s], level=int(rng.integers(4, 7)))
            for s in skills
        ),
        places=int(rng.integers(1, 3)),
        months=int(rng.choice([3, 6, 12])),
        fte=float(rng.choice([0.4, 0.6, 0.8, 1.0])),
    )


def _mode(rng: np.random.Generator) -> Mode:
    return Mode(
        rng.choice([Mode.EITHER.value, Mode.REMOTE.value, Mode.IN_PERSON.value], p=[0.5, 0.3, 0.2])
    )


# --- a network on the real reference data: England's trusts and the DDaT skills framework ---

DDAT_ROLES_CSV = reference_data_dir() / "ddat" / "ddat_role_skill_requirements.csv"
# DDaT's four levels on Bridgework's seven (docs/matching.md, "Taxonomies").
DDAT_LEVEL = {"Awareness": 2, "Working": 3, "Practitioner": 5, "Expert": 6}


def ddat_network(
    rng: np.random.Generator, n_mentors: int = 800, n_mentees: int = 4_000
) -> MatchingInput:
    """Mentors and mentees whose skills are DDaT role requirements, in England's real trusts.

    A mentor holds a role in the senior half of its role's levels, with that level's skills; a
    mentee holds a junior level and aims at the next one: their gaps are the skills the next
    level asks more of (at most three, the largest first). Raises FileNotFoundError when the
    reference data is absent (callers skip).
    """
    ladders = _ddat_ladders(DDAT_ROLES_CSV)
    trusts = load_trusts(rng=rng)
    if not TRUSTS_CSV.exists():
        raise FileNotFoundError(TRUSTS_CSV)
    names = sorted(ladders)
    mentors, mentees = [], []
    for i in range(n_mentors):
        ladder = ladders[names[int(rng.integers(len(names)))]]
        level = ladder[int(rng.integers(len(ladder) // 2, len(ladder)))]
        trust = trusts[int(rng.integers(len(trusts)))]
        mentors.append(
            MentorInput.model_construct(
                id=f"mentor-{i}",
                trust_code=trust.code,
                region=trust.region,
                skills=tuple(
                    SkillLevel.model_construct(skill=s, level=v) for s, v in level.items()
                ),
                capacity=float(rng.choice((1.0, 2.0, 3.0))),
                hours_per_month=float(rng.integers(2, 9)),
                mode=_mode(rng),
                bio="",
            )
        )
    for j in range(n_mentees):
        ladder = ladders[names[int(rng.integers(len(names)))]]
        step = int(rng.integers(len(ladder) - 1))
        now, next_level = ladder[step], ladder[step + 1]
        wanted = sorted(
            ((v - now.get(s, 1), s, v) for s, v in next_level.items() if v > now.get(s, 1)),
            reverse=True,
        )[:3]
        trust = trusts[int(rng.integers(len(trusts)))]
        mentees.append(
            MenteeInput.model_construct(
                id=f"mentee-{j}",
                trust_code=trust.code,
                region=trust.region,
                gaps=tuple(
                    SkillGap.model_construct(
                        skill=s, current=now.get(s, 1), target=v, priority=float(rng.integers(1, 4))
                    )
                    for _, s, v in wanted
                ),
                working_pattern=(
                    WorkingPattern.PART_TIME if rng.random() < 0.25 else WorkingPattern.FULL_TIME
                ),
                sector=Sector.SOCIAL_CARE if rng.random() < 0.15 else Sector.NHS,
                mode=_mode(rng),
                goals="",
                open_to_secondment=False,
            )
        )
    return MatchingInput.model_construct(
        mentors=tuple(mentors),
        mentees=tuple(mentees),
        placements=(),
        trusts=tuple(trusts),
        rejected_pairs=frozenset(),
        pending=(),
    )


def _ddat_ladders(path: Path) -> dict[str, list[dict[str, int]]]:
    """Per DDaT role, its levels' skill requirements (code -> level), junior first."""
    levels: dict[tuple[str, str], dict[str, int]] = {}
    seniority: dict[tuple[str, str], float] = {}
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["skill_level"] not in DDAT_LEVEL:
                continue  # "NOT IN USE" rows of the senior roles
            key = (row["role"], row["role_level"])
            code = "-".join(
                "".join(c if c.isalnum() else " " for c in row["skill"].lower()).split()
            )
            levels.setdefault(key, {})[code] = DDAT_LEVEL[row["skill_level"]]
            seniority[key] = float(row["derived_role_level_mean_skill_num"] or 0)
    ladders: dict[str, list[dict[str, int]]] = {}
    for role, _ in sorted(levels, key=lambda key: (key[0], seniority[key])):
        ladders.setdefault(role, [])
    for key in sorted(levels, key=lambda key: (key[0], seniority[key])):
        ladders[key[0]].append(levels[key])
    return {role: ladder for role, ladder in ladders.items() if len(ladder) >= 2}


def with_stated_preferences(
    data: MatchingInput,
    rng: np.random.Generator,
    *,
    ranking: float = 0.3,
    preferring: float = 0.3,
) -> MatchingInput:
    """The same network with two-sided preferences stated, as people would state them.

    A ``ranking`` share of mentees rank 1-6 mentors of their own region they have seen (and may
    exclude one of them); 40 % aspire to a role. A ``preferring`` share of mentors prefer a
    sector, regions or aspired roles.
    """
    seen_in: dict[Region, list[str]] = {}
    for mentor in data.mentors:
        seen_in.setdefault(mentor.region, []).append(mentor.id)
    roles = list(AspiredRole)
    mentees = []
    for mentee in data.mentees:
        update: dict[str, object] = {
            "aspires_to": roles[int(rng.integers(len(roles)))] if rng.random() < 0.4 else None
        }
        seen = seen_in.get(mentee.region, [])
        if seen and rng.random() < ranking:
            picked = rng.choice(len(seen), min(len(seen), int(rng.integers(1, 7))), replace=False)
            ids = [seen[int(i)] for i in picked]
            excluded = int(rng.integers(0, 2)) if len(ids) > 1 else 0
            update["ranked_mentors"] = tuple(ids[excluded:])
            update["excluded_mentors"] = frozenset(ids[:excluded])
        mentees.append(mentee.model_copy(update=update))
    mentors = [
        m.model_copy(update={"prefers": _preferences(rng)}) if rng.random() < preferring else m
        for m in data.mentors
    ]
    return data.model_copy(update={"mentors": tuple(mentors), "mentees": tuple(mentees)})


def _preferences(rng: np.random.Generator) -> MentorPreferences:
    regions, roles = list(Region), list(AspiredRole)
    while True:
        sectors = (Sector.SOCIAL_CARE,) if rng.random() < 0.4 else ()
        near = rng.choice(len(regions), int(rng.integers(1, 3)), replace=False)
        aspired = rng.choice(len(roles), int(rng.integers(1, 3)), replace=False)
        preferences = MentorPreferences(
            sectors=sectors,
            regions=tuple(regions[int(i)] for i in near) if rng.random() < 0.4 else (),
            aspirations=tuple(roles[int(i)] for i in aspired) if rng.random() < 0.5 else (),
        )
        if preferences.stated:
            return preferences


def random_orders(
    rng: np.random.Generator, candidates: CandidateEdges, tiers: int = 3
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Each side's own order of random edges: a random tier first (with ties), then the score."""
    size = candidates.edge_count
    mentee_tier = rng.integers(0, tiers, size).astype(np.float64)
    provider_tier = rng.integers(0, tiers, size).astype(np.float64)
    return mentee_tier * 10 - candidates.score, provider_tier * 10 - candidates.score
