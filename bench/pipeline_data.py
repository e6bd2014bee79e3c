"""Events for the pipeline benchmark, in the shapes the services really see.

Trusts come from the real NHS trusts file beside the checkout (``../shared/data``) when it is
there, grouped into one network per integrated care board; otherwise from the demo network's
fictional trusts. People are drawn with the demo network's generator (skills, gaps, working
patterns, goals), so each event is as large and as varied as a real one.
"""

from __future__ import annotations

import csv
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

from devtools.demo_network import NETWORKS, TRUSTS, _mentee, _mentor
from devtools.reference_data import reference_data_dir
from shared.events import (
    AvailabilityChanged,
    Coordinator,
    Event,
    MatchProposed,
    NetworkUpserted,
    PersonProfile,
    PersonUpserted,
    TrustUpserted,
)
from shared.matching import Explanation, MatchKind, ScorePart, SkillCovered
from shared.regions import Region

ROOT = Path(__file__).resolve().parent.parent
TRUSTS_FILE = reference_data_dir() / "nhs_trusts" / "nhs_trusts_england.csv"
# The last availability change of every benchmark person sets this: a person's row carries it
# once the matcher has applied all of that person's events.
MARKER_HOURS = 3.5


@dataclass(frozen=True)
class Population:
    source: str  # where the trusts came from
    networks: tuple[NetworkUpserted, ...]
    trusts: tuple[TrustUpserted, ...]

    def setup_events(self) -> list[Event]:
        return [*self.networks, *self.trusts]

    def network_ids(self) -> list[str]:
        return [n.network_id for n in self.networks]


def _coordinator(network_id: str) -> Coordinator:
    return Coordinator(name="Bench Coordinator", email=f"coordinator@{network_id}.example")


def _real_trusts() -> Population:
    by_board: dict[str, list[dict[str, str]]] = defaultdict(list)
    with TRUSTS_FILE.open(newline="") as file:
        for row in csv.DictReader(file):
            if row["nhs_region_code"] and row["latitude"]:
                by_board[row["icb_ods_code"]].append(row)
    networks = tuple(
        NetworkUpserted(
            entity_key=board,
            network_id=board,
            name=rows[0]["icb_name"],
            coordinators=(_coordinator(board),),
        )
        for board, rows in sorted(by_board.items())
    )
    trusts = tuple(
        TrustUpserted(
            entity_key=row["ods_code"],
            trust_code=row["ods_code"],
            name=row["name"].title(),
            region=Region(row["nhs_region_code"]),
            network_id=board,
            latitude=float(row["latitude"]),
            longitude=float(row["longitude"]),
            is_small=len(rows) <= 2,
        )
        for board, rows in sorted(by_board.items())
        for row in rows
    )
    return Population(f"NHS trusts file ({len(trusts)} trusts)", networks, trusts)


def _demo_trusts() -> Population:
    networks = tuple(
        NetworkUpserted(
            entity_key=network_id,
            network_id=network_id,
            name=spec["name"],
            coordinators=(_coordinator(network_id),),
        )
        for network_id, spec in NETWORKS.items()
    )
    region_by_name = {region.label: region for region in Region}
    trusts = tuple(
        TrustUpserted(
            entity_key=code,
            trust_code=code,
            name=name,
            region=region_by_name[region],
            network_id=network,
            latitude=lat,
            longitude=lon,
            is_small=small,
        )
        for code, (name, region, network, lat, lon, small) in TRUSTS.items()
    )
    return Population("demo trusts (NHS trusts file absent)", networks, trusts)


def load_population() -> Population:
    return _real_trusts() if TRUSTS_FILE.is_file() else _demo_trusts()


class PeopleFactory:
    """Mentors and mentees at the population's trusts, as PersonUpserted events."""

    def __init__(self, population: Population, seed: int = 11) -> None:
        self._rng = random.Random(seed)
        self._trusts = population.trusts
        self._count = 0

    def person(
        self, role: str, trust: TrustUpserted | None = None, **overrides: Any
    ) -> PersonUpserted:
        self._count += 1
        trust = trust or self._rng.choice(self._trusts)
        drawn = (_mentor if role == "mentor" else _mentee)(self._rng, self._count)
        person_id = uuid4()
        fields: dict[str, Any] = drawn | {
            "person_id": person_id,
            "role": role,
            "trust_code": trust.trust_code,
            "network_id": trust.network_id,
            "region": trust.region,
            "working_pattern": drawn.get("working_pattern", "full_time"),
            "sector": drawn.get("sector", "nhs"),
        }
        fields.update(overrides)
        profile = PersonProfile.model_validate(fields)
        return PersonUpserted(entity_key=str(person_id), profile=profile)

    def people(self, count: int, mentor_share: float = 0.2) -> list[PersonUpserted]:
        mentors = round(count * mentor_share)
        return [self.person("mentor") for _ in range(mentors)] + [
            self.person("mentee") for _ in range(count - mentors)
        ]


def availability(person: PersonUpserted, hours: float = MARKER_HOURS) -> AvailabilityChanged:
    return AvailabilityChanged(
        entity_key=person.entity_key,
        person_id=person.profile.person_id,
        paused=False,
        capacity=person.profile.capacity,
        hours_per_month=hours,
    )


def ingest_events(people: list[PersonUpserted]) -> list[Event]:
    """Each person's profile, then an availability change: two events per person, in order on
    the person's partition."""
    return [event for person in people for event in (person, availability(person))]


def proposal(mentor: PersonUpserted, mentee: PersonUpserted) -> MatchProposed:
    match_id = uuid4()
    skills = tuple(
        SkillCovered(
            skill=gap.skill,
            skill_name=gap.skill,
            from_level=gap.current,
            to_level=gap.target,
            provider_level=gap.target,
        )
        for gap in mentee.profile.gaps
    )
    return MatchProposed(
        entity_key=str(match_id),
        match_id=match_id,
        network_id=mentee.profile.network_id,
        kind=MatchKind.MENTORING,
        provider_id=mentor.profile.person_id,
        mentee_id=mentee.profile.person_id,
        score=0.7,
        explanation=Explanation(
            skills_covered=skills,
            region_reason="same region",
            parts=(ScorePart(name="skills", value=0.7, weight=1.0, contribution=0.7),),
        ),
    )
