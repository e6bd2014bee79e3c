"""The chaos run's input: the same operations, in the same waves, for the calm and the chaos run.

Pure and seeded: no I/O. Each operation is one HTTP request to the profiles API, so one event.
Decisions (match.decided) are chosen at run time from the proposals a wave produced, by a rule
that depends only on who is proposed to whom (see ``decide``), so both runs decide alike.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Any, Literal

from shared.skills import DEFAULT_TAXONOMY

OpKind = Literal["network", "trust", "mentor", "mentee", "update_mentee", "availability", "erase"]
SKILLS = [skill.code for skill in DEFAULT_TAXONOMY.skills]
REGIONS = ["London", "South East", "Midlands", "North West", "Y63", "Y58"]
FIRST = ["Ada", "Bola", "Cerys", "Dev", "Elin", "Femi", "Gita", "Huw", "Ines", "Jon", "Kemi"]
LAST = ["Okafor", "Price", "Nowak", "Shah", "Evans", "Murphy", "Idris", "Lloyd", "Walsh", "Khan"]
WORDS = [
    "data",
    "platform",
    "clinical",
    "safety",
    "digital",
    "inclusion",
    "procurement",
    "cloud",
    "cyber",
    "analytics",
    "workforce",
    "strategy",
    "interoperability",
    "records",
    "patient",
    "flow",
    "design",
    "research",
    "leadership",
    "board",
    "finance",
    "primary",
    "care",
    "community",
    "mental",
    "health",
    "ambulance",
    "pathology",
    "imaging",
    "pharmacy",
    "estates",
]


@dataclass(frozen=True)
class Op:
    kind: OpKind
    key: str  # stable across runs: a network id, a trust code, or a person's email
    body: dict[str, Any] | None = None


@dataclass
class Workload:
    waves: list[list[Op]] = field(default_factory=list)
    coordinators: dict[str, str] = field(default_factory=dict)  # email -> network id

    @property
    def operations(self) -> int:
        return sum(len(wave) for wave in self.waves)

    def names_and_emails(self) -> set[str]:
        """Every person's name and email address: what must never appear in a log."""
        found: set[str] = set()
        for wave in self.waves:
            for op in wave:
                if op.kind in ("mentor", "mentee") and op.body:
                    found |= {op.body["name"], op.body["email"]}
        return found | set(self.coordinators)


def _text(rng: random.Random) -> str:
    return " ".join(rng.sample(WORDS, 8))


def _person(rng: random.Random, tag: str, index: int, trusts: list[str]) -> dict[str, Any]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    return {
        # Unique (so a log scan or an email check can look for exactly this person).
        "name": f"{first} {last} {tag[:2].upper()}{index}",
        "email": f"{first.lower()}.{last.lower()}.{tag}{index}@chaos.example",
        "job_title": rng.choice(["Analyst", "Digital Lead", "CIO", "Product Manager"]),
        "trust_code": rng.choice(trusts),
        "mode": rng.choice(["in_person", "remote", "either"]),
        "working_pattern": rng.choice(["full_time", "part_time"]),
    }


def _mentor(rng: random.Random, index: int, trusts: list[str]) -> dict[str, Any]:
    return _person(rng, "mentor", index, trusts) | {
        "skills": [{"skill": s, "level": rng.randint(4, 7)} for s in rng.sample(SKILLS, 4)],
        "capacity": rng.choice([1, 1.5, 2, 3]),
        "hours_per_month": rng.choice([2, 4, 6, 8]),
        "bio": _text(rng),
    }


def _gaps(rng: random.Random) -> list[dict[str, Any]]:
    gaps = []
    for skill in rng.sample(SKILLS, rng.randint(1, 3)):
        current = rng.randint(0, 3)
        target = rng.randint(current + 1, 6)
        gaps.append({"skill": skill, "current": current, "target": target, "priority": 1.0})
    return gaps


def _mentee(rng: random.Random, index: int, trusts: list[str]) -> dict[str, Any]:
    return _person(rng, "mentee", index, trusts) | {"gaps": _gaps(rng), "goals": _text(rng)}


def build_workload(events: int, seed: int = 7, networks: int = 3, waves: int = 3) -> Workload:
    """About ``events`` operations in ``waves`` waves: people join; then availability changes,
    profile updates, erasures and newcomers, wave after wave."""
    rng = random.Random(seed)
    workload = Workload()
    setup: list[Op] = []
    trusts_of: dict[str, list[str]] = {}
    for n in range(networks):
        network = f"chaos-n{n}"
        coordinator = f"coordinator.{n}@chaos.example"
        workload.coordinators[coordinator] = network
        body: dict[str, Any] = {
            "name": f"Chaos network {n}",
            "coordinators": [{"name": "Coordinator", "email": coordinator}],
        }
        setup.append(Op("network", network, body))
        trusts_of[network] = []
        for t in range(4):
            code = f"CH{n}{t}"
            trusts_of[network].append(code)
            body = {
                "name": f"Chaos Trust {n}{t}",
                "region": REGIONS[(n * 4 + t) % len(REGIONS)],
                "network_id": network,
                "latitude": 50.5 + rng.random() * 3,
                "longitude": -3.0 + rng.random() * 3,
                "is_small": t == 0,
            }
            setup.append(Op("trust", code, body))
    all_trusts = [code for codes in trusts_of.values() for code in codes]

    budget = max(events - len(setup), 60)
    mentors = [_mentor(rng, i, all_trusts) for i in range(budget // 6)]
    mentees = [_mentee(rng, i, all_trusts) for i in range(budget * 2 // 6)]
    first = setup + [Op("mentor", m["email"], m) for m in mentors]
    first += [Op("mentee", m["email"], m) for m in mentees]
    workload.waves.append(first)

    alive_mentors = [m["email"] for m in mentors]
    alive_mentees = [m["email"] for m in mentees]
    per_wave = (budget - len(mentors) - len(mentees)) // max(waves - 1, 1)
    next_index = len(mentees)
    for _ in range(waves - 1):
        wave: list[Op] = []
        for _ in range(per_wave):
            roll = rng.random()
            if roll < 0.45:
                paused = rng.random() < 0.3
                change: dict[str, Any] = {"paused": paused, "capacity": rng.choice([1, 2, 3])}
                wave.append(Op("availability", rng.choice(alive_mentors), change))
            elif roll < 0.65:
                wave.append(Op("update_mentee", rng.choice(alive_mentees), {"gaps": _gaps(rng)}))
            elif roll < 0.75 and len(alive_mentees) > 10:
                victim = alive_mentees.pop(rng.randrange(len(alive_mentees)))
                wave.append(Op("erase", victim))
            elif roll < 0.8 and len(alive_mentors) > 10:
                victim = alive_mentors.pop(rng.randrange(len(alive_mentors)))
                wave.append(Op("erase", victim))
            else:
                mentee = _mentee(rng, next_index, all_trusts)
                next_index += 1
                alive_mentees.append(mentee["email"])
                wave.append(Op("mentee", mentee["email"], mentee))
        workload.waves.append(wave)
    return workload


def decide(provider: str, mentee: str) -> bool | None:
    """The coordinators' decision on a proposed pair: approve, reject, or leave it pending.
    A hash of the pair (emails), so the calm and the chaos run decide the same pairs alike."""
    digest = hashlib.sha256(f"{provider}|{mentee}".encode()).digest()[0] % 4
    return {0: True, 1: False}.get(digest)
