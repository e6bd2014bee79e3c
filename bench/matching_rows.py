"""The matching benchmark's issue-15 rows, each a worker run in a fresh process by
``bench.bench_matching`` (``--rows``): two-sided stable mode against the `matching` package,
incremental changes against full re-solves, fairness targets with their price and time, and
exchanges and chains against an independent formulation solved by a different solver."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import numpy as np

Metrics = dict[str, Any]
EXCHANGE_REFERENCE_SECONDS = 600.0  # CP-SAT's wall-clock limit: the reference, not the engine


def _spread(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {}
    return {
        "min": ordered[0],
        "median": ordered[len(ordered) // 2],
        "p99": ordered[min(len(ordered) - 1, int(np.ceil(0.99 * len(ordered))) - 1)],
        "worst": ordered[-1],
    }


def two_sided_worker(size: str, seed: int) -> Metrics:
    """Stable mode with both sides' own orders vs the `matching` package, on the same edges.

    The instance is the size's synthetic network with preferences stated (30 % of mentees rank
    mentors they have seen, 30 % of mentors prefer a sector, regions or aspired roles). Both
    solve the same candidate edges in the same two orders; the package's input lists are built
    outside its timing. Then the engine's stable mode over every admissible pair (scoring the
    pairs it needs) is timed on its own.
    """
    from matching.games import HospitalResident

    from bench.bench_matching import SIZES, _bench_config, _with_deep_stack
    from services.matcher.engine.candidates import build_candidates
    from services.matcher.engine.optimal import with_mentee_loads
    from services.matcher.engine.scoring import ScoreTables, ScoringContext
    from services.matcher.engine.stable import blocking_pairs, pairs_reaching, solve_stable
    from services.matcher.engine.two_sided import StatedOrders, solve_two_sided_everywhere
    from shared.matching import MatchKind
    from tests.support.engine.instances import synthetic_input, with_stated_preferences
    from tests.support.engine.peers import matching_package_lists, matching_package_result

    rng = np.random.default_rng(seed)
    n_mentors, n_mentees = SIZES[size]
    data = with_stated_preferences(synthetic_input(rng, n_mentors, n_mentees), rng)
    config = _bench_config()
    context = ScoringContext.build(data, config)
    candidates = with_mentee_loads(build_candidates(data, config, context=context), data, config)
    # The package takes whole capacities only: compare on whole places.
    candidates = replace(candidates, provider_capacity=np.floor(candidates.provider_capacity))
    orders = StatedOrders.of(data, candidates)
    keys = orders.edge_keys(candidates)
    start = time.perf_counter()
    ours = solve_stable(candidates, *keys).edges
    ours_seconds = time.perf_counter() - start
    lists = matching_package_lists(candidates, *keys)

    def package() -> tuple[Any, float]:
        start = time.perf_counter()
        game = HospitalResident.create_from_dictionaries(*lists)
        solved = game.solve(optimal="resident")
        return solved, time.perf_counter() - start

    solved, package_seconds = _with_deep_stack(package)
    theirs = matching_package_result(candidates, solved, *keys)
    more = pairs_reaching(ScoreTables.build(context, MatchKind.MENTORING), config.chunk_size)
    start = time.perf_counter()
    everywhere, grown = solve_two_sided_everywhere(candidates, orders, more, config.top_k)
    everywhere_seconds = time.perf_counter() - start
    return {
        "edges": candidates.edge_count,
        "ranking_mentees": sum(bool(m.ranked_mentors) for m in data.mentees),
        "preferring_mentors": sum(m.prefers.stated for m in data.mentors),
        "bridgework_seconds": ours_seconds,
        "matching_package_seconds": package_seconds,
        "speedup": package_seconds / ours_seconds,
        "identical": ours.tolist() == theirs.tolist(),
        "matched": int(ours.size),
        "blocking_pairs": int(blocking_pairs(candidates, ours, *keys).size),
        "everywhere_seconds": everywhere_seconds,
        "everywhere_edges_added": grown.edge_count - candidates.edge_count,
        "everywhere_matched": int(everywhere.edges.size),
    }


def stable_everywhere_worker(size: str, seed: int, repeats: int) -> Metrics:
    """Stable mode over every admissible pair against deferred acceptance on the pruned lists.

    The size's network, its candidate edges (the benchmark's top-k lists) and scoring tables
    are built once; then, ``repeats`` times, alternating: deferred acceptance on the candidates
    alone, and the engine's step over every admissible pair (``solve_stable_everywhere``, which
    scores the pairs it needs). CPU seconds (``time.process_time``): the machine is shared.
    """
    from bench.bench_matching import SIZES, _bench_config
    from services.matcher.engine.candidates import build_candidates
    from services.matcher.engine.optimal import with_mentee_loads
    from services.matcher.engine.scoring import ScoreTables, ScoringContext
    from services.matcher.engine.stable import (
        blocks_reaching,
        solve_stable,
        solve_stable_everywhere,
    )
    from shared.matching import MatchKind
    from tests.support.engine.instances import synthetic_input

    n_mentors, n_mentees = SIZES[size]
    data = synthetic_input(np.random.default_rng(seed), n_mentors, n_mentees)
    config = _bench_config()
    context = ScoringContext.build(data, config)
    candidates = with_mentee_loads(build_candidates(data, config, context=context), data, config)
    more = blocks_reaching(ScoreTables.build(context, MatchKind.MENTORING), config.chunk_size)
    pruned_seconds, everywhere_seconds = [], []
    for _ in range(repeats):
        start = time.process_time()
        pruned = solve_stable(candidates)
        pruned_seconds.append(time.process_time() - start)
        start = time.process_time()
        everywhere, grown = solve_stable_everywhere(candidates, more, config.top_k)
        everywhere_seconds.append(time.process_time() - start)
    return {
        "edges": candidates.edge_count,
        "pruned_cpu_seconds": _spread(pruned_seconds),
        "everywhere_cpu_seconds": _spread(everywhere_seconds),
        "everywhere_to_pruned": float(np.median(everywhere_seconds) / np.median(pruned_seconds)),
        "pairs_scored_on_top": grown.edge_count - candidates.edge_count,
        "pruned_matched": int(pruned.edges.size),
        "pruned_total": pruned.total_score,
        "everywhere_matched": int(everywhere.edges.size),
        "everywhere_total": everywhere.total_score,
    }


def incremental_worker(size: str, seed: int, changes: int, check_every: int) -> Metrics:
    """Random arrivals, availability changes and decisions, each re-solved incrementally.

    The network is the size's synthetic one plus 5 % more mentees, held out to arrive. Every
    change is timed alone (the incremental re-solve, not the arrival's scoring, which is
    timed apart: one mentee against every mentor). Every ``check_every`` changes, and after the
    last, a full re-solve (OR-tools min-cost flow, ``solve_assignment``) of the same edges
    must give the same total.
    """
    from bench.bench_matching import SIZES, _bench_config
    from services.matcher.engine.assignment import solve_assignment
    from services.matcher.engine.candidates import build_candidates
    from services.matcher.engine.dynamic import IncrementalAssignment
    from services.matcher.engine.optimal import with_mentee_loads
    from services.matcher.engine.scoring import ScoreTables, ScoringContext
    from services.matcher.engine.stable import pairs_reaching
    from shared.matching import MatchKind
    from tests.support.engine.changes import held_out, random_change
    from tests.support.engine.instances import synthetic_input

    rng = np.random.default_rng(seed)
    n_mentors, n_mentees = SIZES[size]
    data = synthetic_input(rng, n_mentors, n_mentees + n_mentees // 20)
    config = _bench_config()
    context = ScoringContext.build(data, config)
    full = with_mentee_loads(build_candidates(data, config, context=context), data, config)
    absent = np.zeros(len(data.mentees), dtype=bool)
    absent[n_mentees:] = True
    start_edges = held_out(full, absent)
    begin = time.perf_counter()
    initial = solve_assignment(start_edges)
    solved = time.perf_counter()
    state = IncrementalAssignment.from_solution(start_edges, initial.edges)
    priced = time.perf_counter()
    more = pairs_reaching(ScoreTables.build(context, MatchKind.MENTORING), config.chunk_size)
    row_seconds = []
    for m in range(n_mentees, min(n_mentees + 20, len(data.mentees))):
        start = time.perf_counter()
        more(np.array([m]), np.ones(n_mentors, dtype=bool))
        row_seconds.append(time.perf_counter() - start)
    waiting = list(range(n_mentees, len(data.mentees)))
    seconds: dict[str, list[float]] = {}
    checks = []
    for change in range(1, changes + 1):
        kind, apply = random_change(rng, state, full, waiting)
        start = time.perf_counter()
        apply()
        seconds.setdefault(kind, []).append(time.perf_counter() - start)
        if change % check_every == 0 or change == changes:
            expected = solve_assignment(state.as_candidates()).total_score
            checks.append({"change": change, "total": state.total_score, "full_re_solve": expected})
    every = [s for values in seconds.values() for s in values]
    return {
        "edges": full.edge_count,
        "initial_solve_seconds": solved - begin,
        "initial_prices_seconds": priced - solved,
        "changes": changes,
        "change_ms": {k: v * 1000 for k, v in _spread(every).items()},
        "by_kind_ms": {
            kind: {k: v * 1000 for k, v in _spread(values).items()} | {"count": len(values)}
            for kind, values in seconds.items()
        },
        "arrival_scoring_ms": {k: v * 1000 for k, v in _spread(row_seconds).items()},
        "checks": checks,
        "largest_total_difference": max(abs(c["total"] - c["full_re_solve"]) for c in checks),
    }


def steady_round_worker(mentors: int, mentees: int, seed: int, repeats: int) -> Metrics:
    """A round under a steady stream: the last round's proposals are pending and hold the
    places, and 20 newcomers have arrived since. Timed ``repeats`` times in one process (the
    engine's ``propose``: scoring, the solves, explaining what is new), with how many pairs the
    candidates hold and how many of them the free solve is given (``edges_within_reach``)."""
    from services.matcher.engine.assignment import best_unique_edges, edges_within_reach
    from services.matcher.engine.config import MatchingConfig
    from services.matcher.engine.contract import PendingProposal
    from services.matcher.engine.optimal import BridgeworkEngine
    from services.matcher.engine.scoring import ScoringContext
    from tests.support.engine.instances import synthetic_input

    newcomers = 20
    everyone = synthetic_input(np.random.default_rng(seed), mentors, mentees + newcomers)
    engine = BridgeworkEngine(MatchingConfig())
    before = everyone.model_copy(update={"mentees": everyone.mentees[:mentees]})
    pending = tuple(
        PendingProposal(kind=p.kind, provider_id=p.provider_id, mentee_id=p.mentee_id)
        for p in engine.propose(before).proposals
    )
    data = everyone.model_copy(update={"pending": pending})
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = engine.propose(data)
        seconds.append(time.perf_counter() - start)
    # The pairs propose solved over: every admissible one while the network is small enough.
    context = ScoringContext.build(data, engine.config, engine.taxonomy)
    candidates, _ = engine.mentoring_candidates(data, context)
    unique = best_unique_edges(candidates, candidates.score)
    within = edges_within_reach(candidates, unique, candidates.score[unique])
    held = {(p.provider_id, p.mentee_id) for p in pending}
    return {
        "mentors": mentors,
        "mentees": mentees + newcomers,
        "pending": len(pending),
        "new_proposals": sum((p.provider_id, p.mentee_id) not in held for p in result.proposals),
        "edges": candidates.edge_count,
        "edges_within_reach": int(within.size),
        "round_ms": {k: v * 1000 for k, v in _spread(seconds).items()},
        "repeats": repeats,
    }


def fairness_cost_worker(size: str, seed: int, share: float) -> Metrics:
    """A whole round with fairness targets and without, in one process: the targets' time."""
    from bench.bench_matching import _instance, _real_network
    from services.matcher.engine.config import FairnessOptions, MatchingConfig
    from services.matcher.engine.optimal import BridgeworkEngine

    data = _real_network(seed) if size == "real" else _instance(size, seed)
    targets = FairnessOptions(part_time=share, social_care=share, small_trust=share)
    timings: dict[str, float] = {}
    outcome = None
    for name, options in (("without", FairnessOptions.none()), ("with", targets)):
        config = MatchingConfig(fairness=options, full_candidates_up_to_pairs=0)
        start = time.perf_counter()
        result = BridgeworkEngine(config).propose(data)
        timings[name] = time.perf_counter() - start
        outcome = result.fairness
    assert outcome is not None
    return {
        "round_seconds_without_targets": timings["without"],
        "round_seconds_with_targets": timings["with"],
        "targets_cost_ratio": timings["with"] / timings["without"],
        "solves": outcome.solves,
        "price": outcome.price,
        "price_pct": outcome.price_pct,
        "bound_gap": outcome.bound_gap,
        "groups": {g.group: g.rate_to_overall for g in outcome.groups},
    }


def exchanges_worker(
    mentors: int, mentees: int, placements: int, trusts: int, chains: float, seed: int
) -> Metrics:
    """Exchanges and chains against the same program solved by CP-SAT (a different solver).

    The independent formulation (``tests.support.engine.exchange_reference``) enumerates the
    cycles itself and models each secondment and each cycle run as CP-SAT integers. Its time
    limit (``EXCHANGE_REFERENCE_SECONDS``) is wall clock: it is the reference, not the engine,
    and says whether it proved its total (``cp_sat_proven``, ``cp_sat_status``).
    """
    from bench.bench_matching import _bench_config
    from services.matcher.engine.candidates import build_placement_candidates
    from services.matcher.engine.exchanges import search_exchanges
    from services.matcher.engine.optimal import with_mentee_loads
    from tests.support.engine.exchange_reference import cp_sat_exchanges
    from tests.support.engine.instances import load_trusts, synthetic_input

    rng = np.random.default_rng(seed)
    network = load_trusts(rng=rng)[:trusts]
    data = synthetic_input(rng, mentors, mentees, n_placements=placements, trusts=network)
    data = data.model_copy(
        update={
            "placements": tuple(
                p.model_copy(update={"asks_nothing_back": bool(rng.random() < chains)})
                for p in data.placements
            )
        }
    )
    config = _bench_config()
    candidates = with_mentee_loads(build_placement_candidates(data, config), data, config)
    mentee_trust = {m.id: m.trust_code for m in data.mentees}
    placement_of = {p.id: p for p in data.placements}
    releasing = [mentee_trust[m] for m in candidates.mentee_ids]
    hosting = [placement_of[p].host_trust_code for p in candidates.provider_ids]
    altruist = [placement_of[p].asks_nothing_back for p in candidates.provider_ids]
    start = time.perf_counter()
    cpu_start = time.process_time()
    ours = search_exchanges(
        candidates,
        releasing,
        hosting,
        asks_nothing_back=altruist,
        node_limit=config.exchange_node_limit,
        iteration_limit=config.exchange_iteration_limit,
    )
    ours_seconds = time.perf_counter() - start
    ours_cpu_seconds = time.process_time() - cpu_start
    start = time.perf_counter()
    reference = cp_sat_exchanges(
        candidates, releasing, hosting, altruist, seconds=EXCHANGE_REFERENCE_SECONDS
    )
    reference_seconds = time.perf_counter() - start
    return {
        "candidate_edges": candidates.edge_count,
        "bridgework_seconds": ours_seconds,
        "bridgework_cpu_seconds": ours_cpu_seconds,
        "bridgework_nodes": ours.nodes,
        "bridgework_simplex_iterations": ours.iterations,
        "bridgework_total": ours.total_score,
        "bridgework_bound": ours.bound,
        "bridgework_proven": ours.optimal,
        "exchanges": sum(x.id.startswith("exchange") for x in ours.exchanges),
        "chains": sum(x.id.startswith("chain") for x in ours.exchanges),
        "secondments": sum(len(x.edges) for x in ours.exchanges),
        "cp_sat_seconds": reference_seconds,
        "cp_sat_total": reference.total,
        "cp_sat_proven": reference.proven,
        "cp_sat_bound": reference.bound,
        "cp_sat_status": reference.status,
    }
