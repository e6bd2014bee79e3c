"""Small trusts' staff against large trusts' (issue 17): the share of each group's mentees a
round offers a mentoring match, on the demo network and on networks of England's real trusts
(DDaT roles, ``tests/support/engine/instances.ddat_network``), with the engine's default
configuration. The bar: small trusts' rate at least 0.9 times large trusts'.

    .venv/bin/python -m bench.small_trusts [--seeds 3] [--mentees 1500]

Prints one line per network and writes bench/results/small_trusts.json. The engine's own target
(``FairnessOptions.small_trust``, 0.9 by default) is this bar: small trusts' rate at least that
share of large trusts' rate (it was a share of the overall rate, which left the demo's north
network at 0.82); the lines say whether each round met it and what meeting it cost."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from devtools.demo_network import build_demo_network
from devtools.reference_data import reason
from services.matcher.engine.config import FairnessGroup, MatchingConfig
from services.matcher.engine.contract import (
    MatchingInput,
    MenteeInput,
    MentorInput,
    PlacementInput,
    TrustInfo,
)
from services.matcher.engine.fairness import fairness_report
from services.matcher.engine.optimal import build_engine
from shared.people import Mode, Sector, SkillGap, SkillLevel, WorkingPattern
from shared.regions import parse_region
from tests.support.engine.instances import DDAT_ROLES_CSV, TRUSTS_CSV, ddat_network

RESULTS = Path(__file__).parent / "results" / "small_trusts.json"
BAR = 0.9


def demo_inputs() -> dict[str, MatchingInput]:
    """The demo network (devtools/demo_network.py), one engine input per network."""
    demo = build_demo_network()
    trusts = {
        code: TrustInfo(
            code=code,
            name=t["name"],
            region=parse_region(t["region"]),
            latitude=t["latitude"],
            longitude=t["longitude"],
            is_small=t["is_small"],
            network_id=t["network_id"],
        )
        for code, t in demo.trusts.items()
    }
    inputs = {}
    for network_id in demo.networks:
        mine = {c: t for c, t in trusts.items() if t.network_id == network_id}
        inputs[f"demo {network_id}"] = MatchingInput(
            trusts=tuple(mine.values()),
            mentors=tuple(
                _mentor(f"mentor-{i}", m, mine[m["trust_code"]])
                for i, m in enumerate(demo.mentors)
                if m["trust_code"] in mine
            ),
            mentees=tuple(
                _mentee(f"mentee-{i}", m, mine[m["trust_code"]])
                for i, m in enumerate(demo.mentees)
                if m["trust_code"] in mine
            ),
            placements=tuple(
                _placement(f"placement-{i}", p, mine[p["host_trust_code"]])
                for i, p in enumerate(demo.placements)
                if p["host_trust_code"] in mine
            ),
        )
    return inputs


def _mentor(id_: str, m: dict[str, Any], trust: TrustInfo) -> MentorInput:
    return MentorInput(
        id=id_,
        trust_code=trust.code,
        region=trust.region,
        skills=tuple(SkillLevel(**s) for s in m["skills"]),
        capacity=m["capacity"],
        hours_per_month=m["hours_per_month"],
        mode=Mode(m.get("mode", Mode.EITHER)),
        bio=m.get("bio", ""),
    )


def _mentee(id_: str, m: dict[str, Any], trust: TrustInfo) -> MenteeInput:
    return MenteeInput(
        id=id_,
        trust_code=trust.code,
        region=trust.region,
        gaps=tuple(SkillGap(**g) for g in m["gaps"]),
        working_pattern=WorkingPattern(m.get("working_pattern", WorkingPattern.FULL_TIME)),
        sector=Sector(m.get("sector", Sector.NHS)),
        mode=Mode(m.get("mode", Mode.EITHER)),
        goals=m.get("goals", ""),
        open_to_secondment=m.get("open_to_secondment", False),
    )


def _placement(id_: str, p: dict[str, Any], trust: TrustInfo) -> PlacementInput:
    return PlacementInput(
        id=id_,
        host_trust_code=trust.code,
        region=trust.region,
        role=p["role"],
        skills_developed=tuple(SkillLevel(**s) for s in p["skills_developed"]),
        places=p["places"],
        months=p["months"],
        fte=p["fte"],
    )


def small_and_large(name: str, data: MatchingInput, target: float) -> dict[str, Any]:
    """One round with the default configuration (small trusts' target share of large trusts'
    rate set to ``target``): each group's mentees, matched and rate."""
    config = MatchingConfig()
    fairness = config.fairness.model_copy(update={"small_trust": target})
    result = build_engine(config.model_copy(update={"fairness": fairness})).propose(data)
    report = fairness_report(data, result.proposals)
    small = report.comparison(FairnessGroup.SMALL_TRUST)
    s, large = small.members, small.others
    ratio = (
        None if s.match_rate is None or not large.match_rate else s.match_rate / large.match_rate
    )
    to_overall = (
        None
        if s.match_rate is None or not report.overall.match_rate
        else s.match_rate / report.overall.match_rate
    )
    return {
        "network": name,
        "small": {"mentees": s.mentees, "matched": s.matched, "rate": s.match_rate},
        "large": {"mentees": large.mentees, "matched": large.matched, "rate": large.match_rate},
        "overall_rate": report.overall.match_rate,
        "small_to_large": ratio,
        "small_to_overall": to_overall,
        "meets_bar": ratio is not None and ratio >= BAR,
        "small_trust_target": target,
        "price_pct": result.fairness.price_pct if result.fairness else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--mentors", type=int, default=300)
    parser.add_argument("--mentees", type=int, default=1500)
    parser.add_argument(
        "--small-trust-target",
        type=float,
        default=MatchingConfig().fairness.small_trust,
        help="small trusts' target share of large trusts' rate (the engine's default: 0.9)",
    )
    args = parser.parse_args()
    target = args.small_trust_target
    rows = [small_and_large(name, data, target) for name, data in demo_inputs().items()]
    if DDAT_ROLES_CSV.exists() and TRUSTS_CSV.exists():
        for seed in range(1, args.seeds + 1):
            data = ddat_network(np.random.default_rng(seed), args.mentors, args.mentees)
            rows.append(small_and_large(f"real trusts, DDaT roles, seed {seed}", data, target))
    else:
        print(reason("ddat", "ddat_role_skill_requirements.csv"))
    for row in rows:
        s, large = row["small"], row["large"]
        print(
            f"{row['network']}: small {s['matched']}/{s['mentees']}"
            f" = {_pct(s['rate'])}, large {large['matched']}/{large['mentees']}"
            f" = {_pct(large['rate'])}; small/large {_num(row['small_to_large'])},"
            f" small/overall {_num(row['small_to_overall'])};"
            f" {'meets' if row['meets_bar'] else 'MISSES'} the 0.9 bar;"
            f" price of the targets {_num(row['price_pct'])} %"
        )
    runs = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    runs[f"small_trust_target={target}"] = rows
    RESULTS.write_text(json.dumps(runs, indent=2) + "\n")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    main()
