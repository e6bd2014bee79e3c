"""A synthetic demo network: fictional trusts placed at real towns, fictional people.

Everything here is made up by the project (no real person or trust); the shape follows the
brief: senior CIOs/CCIOs as mentors, aspiring informatics staff as mentees (some part-time,
some in social care), and small trusts offering secondment placements.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from shared.skills import DEFAULT_TAXONOMY

NETWORKS: dict[str, dict[str, Any]] = {
    "north": {
        "name": "Northern Digital Leaders Network",
        "coordinators": [{"name": "Nadia Coordinator", "email": "nadia.coordinator@north.example"}],
    },
    "central-south": {
        "name": "Midlands, London and East Digital Leaders Network",
        "coordinators": [{"name": "Owen Coordinator", "email": "owen.coordinator@central.example"}],
    },
}

# code: (name, region, network, latitude, longitude, is_small)
TRUSTS: dict[str, tuple[str, str, str, float, float, bool]] = {
    "DEMO01": (
        "Tyneside Digital Health NHS Foundation Trust",
        "North East and Yorkshire",
        "north",
        54.97,
        -1.61,
        False,
    ),
    "DEMO02": (
        "Wearside and Durham Community NHS Trust",
        "North East and Yorkshire",
        "north",
        54.78,
        -1.57,
        True,
    ),
    "DEMO03": (
        "Leeds Riverside Hospitals NHS Trust",
        "North East and Yorkshire",
        "north",
        53.80,
        -1.55,
        False,
    ),
    "DEMO04": ("Mersey Coast NHS Foundation Trust", "North West", "north", 53.41, -2.98, False),
    "DEMO05": ("Pennine Valleys Care NHS Trust", "North West", "north", 53.75, -2.48, True),
    "DEMO06": ("Cumbria Fells Community NHS Trust", "North West", "north", 54.89, -2.93, True),
    "DEMO07": (
        "Trent Valley Hospitals NHS Trust",
        "Midlands",
        "central-south",
        52.95,
        -1.15,
        False,
    ),
    "DEMO08": (
        "Black Country Partnership NHS Trust",
        "Midlands",
        "central-south",
        52.58,
        -2.08,
        False,
    ),
    "DEMO09": (
        "Peak District Community NHS Trust",
        "Midlands",
        "central-south",
        53.23,
        -1.43,
        True,
    ),
    "DEMO10": (
        "Thames Gateway Hospitals NHS Trust",
        "London",
        "central-south",
        51.51,
        -0.06,
        False,
    ),
    "DEMO11": (
        "North Thames Mental Health NHS Trust",
        "London",
        "central-south",
        51.55,
        -0.13,
        False,
    ),
    "DEMO12": (
        "Fenland Community NHS Trust",
        "East of England",
        "central-south",
        52.57,
        -0.24,
        True,
    ),
}

FIRST_NAMES = [
    "Amira",
    "Ben",
    "Chloe",
    "Dev",
    "Eleanor",
    "Farid",
    "Grace",
    "Hamish",
    "Ifeoma",
    "Jack",
    "Kiran",
    "Laura",
    "Marcus",
    "Niamh",
    "Oluwaseun",
    "Priya",
    "Quentin",
    "Rosa",
    "Sanjay",
    "Tamsin",
    "Usman",
    "Verity",
    "Wei",
    "Xanthe",
    "Yusuf",
    "Zara",
]
LAST_NAMES = [
    "Ashworth",
    "Bhatt",
    "Campbell",
    "Dlamini",
    "Evans",
    "Fraser",
    "Gallagher",
    "Hussain",
    "Iqbal",
    "Jones",
    "Kowalski",
    "Lewis",
    "Mensah",
    "Nowak",
    "Okafor",
    "Patel",
    "Quinn",
    "Robertson",
    "Singh",
    "Thompson",
    "Underwood",
    "Vaughan",
    "Williams",
    "Yilmaz",
]
MENTOR_TITLES = [
    "Chief Information Officer",
    "Chief Clinical Information Officer",
    "Director of Digital",
    "Chief Nursing Information Officer",
    "Chief Data Officer",
]
MENTEE_TITLES = [
    "Clinical Systems Lead",
    "Digital Nurse Specialist",
    "IT Service Manager",
    "Aspiring CCIO (consultant physician)",
    "Social Care Digital Lead",
    "Information Analyst",
    "EPR Programme Manager",
    "Cyber Security Officer",
]
GOALS = [
    "I want to lead our electronic patient record optimisation and bring clinicians with me.",
    "Prepare for a first board-level digital role and learn to influence the executive team.",
    "Grow my understanding of software delivery and what suppliers can offer.",
    "Build a data and analytics function for population health in our care system.",
    "Strengthen cyber security and clinical safety practice in a small trust.",
    "Move from a clinical role into informatics leadership part-time.",
]
BIOS = [
    "Led two EPR deployments and chairs a regional clinical safety group.",
    "Former ICU consultant, now CCIO; passionate about clinical engagement and safety.",
    "Twenty years in NHS IT; built shared care records across health and social care.",
    "Board member with a background in data, analytics and procurement.",
]
SKILLS = sorted(DEFAULT_TAXONOMY.codes())


@dataclass
class DemoNetwork:
    networks: dict[str, dict[str, Any]] = field(default_factory=dict)
    trusts: dict[str, dict[str, Any]] = field(default_factory=dict)
    mentors: list[dict[str, Any]] = field(default_factory=list)
    mentees: list[dict[str, Any]] = field(default_factory=list)
    placements: list[dict[str, Any]] = field(default_factory=list)


def _person(rng: random.Random, index: int, role: str) -> dict[str, Any]:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    return {
        "name": f"{first} {last}",
        "email": f"{first.lower()}.{last.lower()}.{role}{index}@demo.example",
        "trust_code": rng.choice(list(TRUSTS)),
        "mode": rng.choice(["in_person", "remote", "either", "either"]),
    }


def _mentor(rng: random.Random, index: int) -> dict[str, Any]:
    skills = rng.sample(SKILLS, rng.randint(3, 5))
    return _person(rng, index, "mentor") | {
        "job_title": rng.choice(MENTOR_TITLES),
        "working_pattern": "part_time" if rng.random() < 0.2 else "full_time",
        "skills": [{"skill": s, "level": rng.randint(5, 7)} for s in skills],
        "capacity": rng.choice([1, 2, 2, 3]),
        "hours_per_month": rng.choice([2, 4, 6]),
        "bio": rng.choice(BIOS),
    }


def _mentee(rng: random.Random, index: int) -> dict[str, Any]:
    gaps = []
    for skill in rng.sample(SKILLS, rng.randint(1, 3)):
        current = rng.randint(0, 3)
        gaps.append(
            {
                "skill": skill,
                "current": current,
                "target": rng.randint(current + 2, 6),
                "priority": rng.choice([1.0, 1.0, 2.0]),
            }
        )
    social_care = rng.random() < 0.15
    return _person(rng, index, "mentee") | {
        "job_title": "Social Care Digital Lead" if social_care else rng.choice(MENTEE_TITLES),
        "working_pattern": "part_time" if rng.random() < 0.3 else "full_time",
        "sector": "social_care" if social_care else "nhs",
        "gaps": gaps,
        "goals": rng.choice(GOALS),
        "open_to_secondment": rng.random() < 0.25,
    }


# Small trusts host most placements: they are the ones growing talent they cannot promote.
PLACEMENT_HOSTS = ["DEMO02", "DEMO05", "DEMO09", "DEMO12", "DEMO03"]


def _placement(rng: random.Random, host: str) -> dict[str, Any]:
    return {
        "host_trust_code": host,
        "role": rng.choice(
            [
                "Digital transformation lead",
                "Clinical safety officer",
                "Data platform product owner",
                "EPR optimisation lead",
            ]
        ),
        "skills_developed": [
            {"skill": s, "level": rng.randint(5, 6)} for s in rng.sample(SKILLS, 5)
        ],
        "months": rng.choice([3, 6, 12]),
        "fte": rng.choice([0.4, 0.6, 1.0]),
        "places": rng.choice([1, 1, 2]),
    }


def build_demo_network(
    mentors: int = 30, mentees: int = 100, placements: int = 5, seed: int = 7
) -> DemoNetwork:
    rng = random.Random(seed)
    return DemoNetwork(
        networks=NETWORKS,
        trusts={
            code: {
                "name": name,
                "region": region,
                "network_id": network,
                "latitude": lat,
                "longitude": lon,
                "is_small": small,
            }
            for code, (name, region, network, lat, lon, small) in TRUSTS.items()
        },
        mentors=[_mentor(rng, i) for i in range(mentors)],
        mentees=[_mentee(rng, i) for i in range(mentees)],
        placements=[
            _placement(rng, PLACEMENT_HOSTS[i % len(PLACEMENT_HOSTS)]) for i in range(placements)
        ],
    )
