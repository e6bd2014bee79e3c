"""The chaos run's input: the same operations, in the same waves, for the calm and the chaos run.

Pure and seeded: no I/O. Each operation is one HTTP request to the profiles API, so one event
(or, for a name no email header can carry, one refusal). Decisions (match.decided) are chosen
at run time from the proposals a wave produced, by a rule that depends only on who is proposed
to whom (see ``decide``), so both runs decide alike. Each wave also brings poison: messages a
broken or hostile producer writes straight to the topics, which every consumer must park on the
dead-letter topic and get past (issue 14).
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from typing import Any, Literal

from shared.skills import DEFAULT_TAXONOMY
from shared.topology import ROUTES

OpKind = Literal[
    "network", "trust", "mentor", "mentee", "update_mentee", "availability", "erase", "refused"
]
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


@dataclass(frozen=True)
class Poison:
    """A message no consumer can apply, written straight to a topic."""

    topic: str
    key: str  # starts with POISON_KEY_PREFIX: how the harness tells its dead letters apart
    kind: str  # what it is, for the report
    value: bytes


POISON_KEY_PREFIX = "chaos-poison-"
# Kafka's default message.max.bytes: the largest message a producer can write.
BROKER_MAX_MESSAGE_BYTES = 1024 * 1024 + 12
# Line breaks to Python's email library: a name holding one cannot go in a Subject or To header.
UNSENDABLE = ("\u2028", "\u2029", "\u0085")


@dataclass
class Workload:
    waves: list[list[Op]] = field(default_factory=list)
    coordinators: dict[str, str] = field(default_factory=dict)  # email -> network id
    poison: list[list[Poison]] = field(default_factory=list)  # sent as each wave starts

    @property
    def operations(self) -> int:
        return sum(len(wave) for wave in self.waves)

    def names_and_emails(self) -> set[str]:
        """Every person's name and email address: what must never appear in a log."""
        found: set[str] = set()
        for wave in self.waves:
            for op in wave:
                if op.kind in ("mentor", "mentee", "refused") and op.body:
                    found |= {op.body["name"], op.body["email"]}
        return found | set(self.coordinators)


def _text(rng: random.Random) -> str:
    return " ".join(rng.sample(WORDS, 8))


def _person(rng: random.Random, tag: str, index: int, trusts: list[str]) -> dict[str, Any]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    return {
        # Unique (so a log scan or an email check can look for exactly this person).
        "name": f"{first} {last} {tag.upper()}{index}",
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


def _refused(rng: random.Random, index: int, trusts: list[str]) -> dict[str, Any]:
    """A mentee whose name holds a line separator: the API refuses it (no email could name it)."""
    mentee = _mentee(rng, index, trusts)
    first, _, rest = mentee["name"].partition(" ")
    return mentee | {
        "name": f"{first}{UNSENDABLE[index % len(UNSENDABLE)]}{rest}",
        "email": mentee["email"].replace("@", ".refused@"),
    }


def _near_the_limit(key: str) -> bytes:
    padding = "x" * (BROKER_MAX_MESSAGE_BYTES - 600)
    return json.dumps({"event_type": "person.erased", "entity_key": key, "pad": padding}).encode()


def _unsendable_name(rng: random.Random, key: str) -> bytes:
    """A person.upserted event whose name the events' rules refuse, as a buggy producer (or one
    that skipped the API) would write it."""
    profile = {
        "person_id": "5c0ffee0-0000-4000-8000-000000000000",
        "role": "mentee",
        "name": f"Eve{rng.choice(UNSENDABLE)}Bcc: victim@chaos.example",
        "email": "eve@chaos.example",
        "job_title": "Analyst",
        "trust_code": "CH00",
        "network_id": "chaos-n0",
        "region": "London",
        "mode": "either",
        "working_pattern": "full_time",
        "sector": "nhs",
    }
    return json.dumps(
        {"event_type": "person.upserted", "entity_key": key, "profile": profile}
    ).encode()


def _the_issue_poison(rng: random.Random, topic: str, key: str) -> list[Poison]:
    """The four messages that stalled a consumer before (issue 14, items 1-4)."""
    return [
        Poison(topic, f"{key}-name", "unsendable name", _unsendable_name(rng, key)),
        Poison(topic, f"{key}-list", "event_type a list", b'{"event_type": ["person.erased"]}'),
        Poison(topic, f"{key}-deep", "5,000 levels deep", b"[" * 5000 + b"]" * 5000),
        Poison(topic, f"{key}-large", "near the size limit", _near_the_limit(key)),
    ]


def _garbage(rng: random.Random, topic: str, key: str) -> list[Poison]:
    """Arbitrary bytes, and JSON with a field of the wrong type."""
    wrong: Any = rng.choice([None, 7, 1.5, True, [], {}, "x" * 300, [[[["deep"]]]]])
    field_name = rng.choice(["event_type", "event_id", "entity_key", "schema_version", "profile"])
    document = {"event_type": "person.upserted", "entity_key": key, field_name: wrong}
    return [
        Poison(topic, f"{key}-bytes", "random bytes", rng.randbytes(rng.randint(0, 300))),
        Poison(
            topic, f"{key}-wrong", f"{field_name} of a wrong type", json.dumps(document).encode()
        ),
    ]


def _poison_wave(rng: random.Random, wave: int) -> list[Poison]:
    """The first wave: the issue's four on every topic a consumer reads; later ones: the four
    on one topic, and garbage on each."""
    topics = [topic.value for topic in ROUTES]
    chosen = topics if wave == 0 else [rng.choice(topics)]
    found: list[Poison] = []
    for topic in topics:
        key = f"{POISON_KEY_PREFIX}{wave}-{topic.split('.')[1]}"
        if topic in chosen:
            found += _the_issue_poison(rng, topic, key)
        found += _garbage(rng, topic, key)
    return found


def build_workload(events: int, seed: int = 7, networks: int = 3, waves: int = 3) -> Workload:
    """About ``events`` operations in ``waves`` waves: people join; then availability changes,
    profile updates, erasures and newcomers, wave after wave. Every wave also brings a few
    people whose names the API must refuse, and poison for the topics."""
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
    refused = 0

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
    for wave in workload.waves:
        for _ in range(3):
            body = _refused(rng, refused, all_trusts)
            refused += 1
            wave.append(Op("refused", body["email"], body))
    workload.poison = [_poison_wave(rng, index) for index in range(len(workload.waves))]
    return workload


def decide(provider: str, mentee: str) -> bool | None:
    """The coordinators' decision on a proposed pair: approve, reject, or leave it pending.
    A hash of the pair (emails), so the calm and the chaos run decide the same pairs alike."""
    digest = hashlib.sha256(f"{provider}|{mentee}".encode()).digest()[0] % 4
    return {0: True, 1: False}.get(digest)
