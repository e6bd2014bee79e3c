"""An independent exchange program for the benchmark: the same problem (cycles and chains of at
most three trusts, each mentee once, placements within their places) with its own cycle
enumeration, solved by OR-tools CP-SAT instead of the engine's HiGHS relaxation and branch and
bound."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from ortools.sat.python import cp_model

from services.matcher.engine.contract import CandidateEdges

CHAIN_START = "\x00altruist"  # the virtual host of placements that ask nothing back
SCALE = 1_000_000  # CP-SAT takes integer objectives: scores to 1e-6


@dataclass(frozen=True)
class Reference:
    total: float | None  # None: no solution within the time limit
    bound: float | None
    proven: bool
    status: str


def short_cycles(arcs: set[tuple[str, str]]) -> list[tuple[str, ...]]:
    """Every directed cycle of two or three nodes, once each, starting at its smallest node."""
    out: dict[str, set[str]] = {}
    for a, b in arcs:
        out.setdefault(a, set()).add(b)
    cycles: list[tuple[str, ...]] = []
    for a in sorted(out):
        for b in sorted(out[a]):
            if b <= a:
                continue
            if a in out.get(b, ()):
                cycles.append((a, b))
            for c in sorted(out.get(b, ())):
                if c > a and c != b and a in out.get(c, ()):
                    cycles.append((a, b, c))
    return cycles


def cp_sat_exchanges(
    candidates: CandidateEdges,
    releasing: list[str],
    hosting: list[str],
    asks_nothing_back: list[bool],
    seconds: float = 600.0,
) -> Reference:
    """The best total of exchanges and chains, with CP-SAT's bound (within ``seconds``)."""
    best: dict[tuple[int, int], tuple[float, int]] = {}
    for e in np.flatnonzero(candidates.score > 0).tolist():
        m, p = int(candidates.mentee_index[e]), int(candidates.provider_index[e])
        if float(candidates.score[e]) > best.get((m, p), (0.0, -1))[0]:
            best[(m, p)] = (float(candidates.score[e]), e)
    host = [CHAIN_START if free else h for h, free in zip(hosting, asks_nothing_back, strict=True)]
    secondments = [
        (m, p, score, (releasing[m], host[p]))
        for (m, p), (score, _) in sorted(best.items())
        if releasing[m] != host[p]
    ]
    arcs = {arc for *_, arc in secondments}
    homes = {home for home, _ in arcs}
    free_arcs = {(CHAIN_START, home) for home in homes} if any(asks_nothing_back) else set()
    cycles = short_cycles(arcs | free_arcs)
    model = cp_model.CpModel()
    on_arc: dict[tuple[str, str], list[Any]] = {}
    by_mentee: dict[int, list[Any]] = {}
    by_placement: dict[int, list[Any]] = {}
    objective = []
    used_arcs = {(c[i], c[(i + 1) % len(c)]) for c in cycles for i in range(len(c))}
    for m, p, score, arc in secondments:
        if arc not in used_arcs:
            continue
        x = model.new_bool_var(f"x{m}_{p}")
        on_arc.setdefault(arc, []).append(x)
        by_mentee.setdefault(m, []).append(x)
        by_placement.setdefault(p, []).append(x)
        objective.append(round(score * SCALE) * x)
    through: dict[tuple[str, str], list[Any]] = {}
    for i, cycle in enumerate(cycles):
        paid = [(cycle[j], cycle[(j + 1) % len(cycle)]) for j in range(len(cycle))]
        paid = [arc for arc in paid if arc[0] != CHAIN_START]
        most = min(len(on_arc.get(arc, [])) for arc in paid)
        y = model.new_int_var(0, most, f"y{i}")
        for arc in paid:
            through.setdefault(arc, []).append(y)
    for arc in set(on_arc) | set(through):
        model.add(sum(on_arc.get(arc, [])) == sum(through.get(arc, [])))
    for xs in by_mentee.values():
        model.add_at_most_one(xs)
    places = np.floor(candidates.provider_capacity + 1e-9).astype(int)
    for p, xs in by_placement.items():
        model.add(sum(xs) <= int(places[p]))
    model.maximize(sum(objective))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = seconds
    solver.parameters.num_workers = 2
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return Reference(None, None, proven=False, status=solver.status_name(status))
    return Reference(
        total=solver.objective_value / SCALE,
        bound=solver.best_objective_bound / SCALE,
        proven=status == cp_model.OPTIMAL,
        status=solver.status_name(status),
    )
