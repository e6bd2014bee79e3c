"""Matching benchmark: Bridgework's engine against its peers on the same synthetic instances.

    python -m bench.bench_matching [--sizes S,M,L] [--out bench/results/matching.json]

Every measurement runs in a fresh subprocess, so each peak memory figure (``ru_maxrss``) is
that method's own, input included. Bridgework's figures cover scoring plus solving from the
``MatchingInput``: optimal mode scores and solves in one process; stable mode solves the edges
that run scored, and its time adds that scoring time (its peak memory is the larger of the
two). The peers start from the same saved edges (the same top-k preference lists), so their
times exclude scoring. Writes one JSON object per size and prints a table.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from services.matcher.engine.assignment import Assignment, IntArray, solve_assignment
from services.matcher.engine.candidates import build_candidates
from services.matcher.engine.config import MatchingConfig
from services.matcher.engine.contract import CandidateEdges
from services.matcher.engine.optimal import build_engine, with_mentee_loads
from services.matcher.engine.stable import blocking_pairs, solve_stable
from tests.support.engine.instances import synthetic_input

SIZES: dict[str, tuple[int, int]] = {
    "S": (200, 1_000),
    "M": (2_000, 10_000),
    "L": (10_000, 50_000),
    "XL": (20_000, 100_000),  # a national scheme
}
PEERS_BY_SIZE: dict[str, tuple[str, ...]] = {
    "S": ("ortools_min_cost_flow", "matching_package", "networkx_max_weight_matching", "greedy"),
    "M": ("ortools_min_cost_flow", "matching_package", "greedy"),
    "L": ("ortools_min_cost_flow", "greedy"),
}
TARGETS = {
    "M_seconds": 2.0,
    "M_gap_pct": 0.1,
    "M_stable_speedup": 20.0,
    "L_seconds": 20.0,
    "L_peak_mb": 4096.0,
}
WORKER_TIMEOUT_S = 900
FULL_SET_SIZES = ("S", "M")  # L's full set (about 185 million pairs) does not fit
DEFAULT_OUT = Path(__file__).parent / "results" / "matching.json"
Metrics = dict[str, Any]
_T = TypeVar("_T")


# --- workers: each runs in its own process and prints one JSON object ---


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _bench_config() -> MatchingConfig:
    # Everyone works on the same top-k lists, so the engine is told not to keep all pairs.
    return MatchingConfig(full_candidates_up_to_pairs=0)


def _instance(size: str, seed: int):  # type: ignore[no-untyped-def]
    n_mentors, n_mentees = SIZES[size]
    return synthetic_input(np.random.default_rng(seed), n_mentors, n_mentees)


def _outcome(candidates: CandidateEdges, chosen: IntArray) -> Metrics:
    return {
        "total_score": float(candidates.score[chosen].sum()),
        "matched": int(chosen.size),
        "blocking_pairs": int(blocking_pairs(candidates, chosen).size),
    }


def _timed_round(
    data: Any, config: MatchingConfig
) -> tuple[CandidateEdges, Assignment, float, float]:
    """One whole round from the input: the candidates scored and the optimal solve, with the
    seconds of each."""
    start = time.perf_counter()
    candidates = with_mentee_loads(build_candidates(data, config), data, config)
    scored = time.perf_counter()
    result = solve_assignment(candidates)
    return candidates, result, scored - start, time.perf_counter() - scored


def engine_worker(size: str, seed: int, edges_path: str) -> Metrics:
    """Bridgework from people to pairs: scoring plus the optimal solve, timed together.

    The scored edges are saved for every other method, stable mode included, so all of them
    solve exactly the same lists.
    """
    data = _instance(size, seed)
    config = _bench_config()
    before_mb = _peak_mb()
    candidates, result, scoring_seconds, solve_seconds = _timed_round(data, config)
    metrics = {
        "seconds": scoring_seconds + solve_seconds,
        "scoring_seconds": scoring_seconds,
        "solve_seconds": solve_seconds,
        "peak_mb": _peak_mb(),
        "input_mb": before_mb,
        "edges": candidates.edge_count,
        **_outcome(candidates, result.edges),
    }
    np.save(_chosen_path(edges_path, "bridgework_optimal"), result.edges)
    _save_edges(candidates, edges_path)
    if size != "L":  # end to end with explanations, measured after the figures above
        start = time.perf_counter()
        build_engine(config).propose(data)
        metrics["propose_with_explanations_seconds"] = time.perf_counter() - start
    return metrics


def full_set_worker(size: str, seed: int) -> Metrics:
    """The optimum over every admissible pair, to show what pruning costs.

    Also the optimum with mentee-side pruning alone (each mentee's top k, no provider lists),
    to show what the providers' best lists add.
    """
    data = _instance(size, seed)
    config = _bench_config()
    full = with_mentee_loads(build_candidates(data, config, full=True), data, config)
    start = time.perf_counter()
    optimum = solve_assignment(full).total_score
    seconds = time.perf_counter() - start
    mentee_top = _top_per_group(full.mentee_index, full.score, config.top_k)
    return {
        "edges": full.edge_count,
        "total_score": optimum,
        "solve_seconds": seconds,
        "peak_mb": _peak_mb(),
        f"mentee_top_{config.top_k}_only": {
            "edges": int(mentee_top.sum()),
            "total_score": solve_assignment(_subset(full, mentee_top)).total_score,
        },
    }


def _top_per_group(group: np.ndarray, score: np.ndarray, k: int) -> np.ndarray:
    """Mask of each group's k best-scoring edges."""
    order = np.lexsort((-score, group))
    ordered = group[order]
    rank = np.arange(ordered.size) - np.searchsorted(ordered, ordered)
    mask = np.zeros(group.size, dtype=bool)
    mask[order[rank < k]] = True
    return mask


def _subset(candidates: CandidateEdges, mask: np.ndarray) -> CandidateEdges:
    return replace(
        candidates,
        mentee_index=candidates.mentee_index[mask],
        provider_index=candidates.provider_index[mask],
        score=candidates.score[mask],
    )


def peer_worker(name: str, edges_path: str) -> Metrics:
    from tests.support.engine import peers, reference

    solvers: dict[str, Callable[[CandidateEdges], IntArray]] = {
        "ortools_min_cost_flow": reference.flow_optimum,
        "matching_package": peers.matching_package_stable,
        "networkx_max_weight_matching": peers.networkx_matching,
        "greedy": peers.greedy,
        "bridgework_stable": lambda c: solve_stable(c).edges,
    }
    candidates = _load_edges(edges_path)
    chosen, seconds = _with_deep_stack(lambda: _timed(solvers[name], candidates))
    np.save(_chosen_path(edges_path, name), chosen)
    return {"seconds": seconds, "peak_mb": _peak_mb(), **_outcome(candidates, chosen)}


def _chosen_path(edges_path: str, method: str) -> str:
    return edges_path.replace(".npz", f"-{method}.npy")


def _timed(
    solver: Callable[[CandidateEdges], IntArray], candidates: CandidateEdges
) -> tuple[IntArray, float]:
    start = time.perf_counter()
    chosen = solver(candidates)
    return chosen, time.perf_counter() - start


def _with_deep_stack(run: Callable[[], _T]) -> _T:
    """The `matching` package deep-copies its linked players recursively: give it room."""
    sys.setrecursionlimit(1_000_000)
    threading.stack_size(1 << 29)
    box: list[_T] = []
    thread = threading.Thread(target=lambda: box.append(run()))
    thread.start()
    thread.join()
    if not box:
        raise RuntimeError("the solver failed in its thread")
    return box[0]


def _save_edges(candidates: CandidateEdges, path: str) -> None:
    np.savez(
        path,
        provider_ids=np.array(candidates.provider_ids),
        mentee_ids=np.array(candidates.mentee_ids),
        provider_capacity=candidates.provider_capacity,
        mentee_index=candidates.mentee_index,
        provider_index=candidates.provider_index,
        score=candidates.score,
        mentee_load=np.ones(0) if candidates.mentee_load is None else candidates.mentee_load,
    )


def _load_edges(path: str) -> CandidateEdges:
    saved = np.load(path)
    load = saved["mentee_load"]
    return CandidateEdges(
        provider_ids=tuple(saved["provider_ids"].tolist()),
        mentee_ids=tuple(saved["mentee_ids"].tolist()),
        provider_capacity=saved["provider_capacity"],
        mentee_index=saved["mentee_index"],
        provider_index=saved["provider_index"],
        score=saved["score"],
        mentee_load=load if load.size else None,
    )


# --- scale rows (issue 15 items 4 and 6): whole rounds at M, L, XL against the machine's limit ---

SCALE_TARGETS = {  # on a quiet 2-core machine
    "M_round_s": 0.6,
    "L_round_s": 5.0,
    "L_peak_mb": 2048.0,
    "XL_round_s": 12.0,
    "solve_to_or_tools": 1.3,
    "fairness_group_ratio": 0.9,
    "fairness_price_pct": 1.0,
}


def scale_worker(size: str, seed: int) -> Metrics:
    """One whole round (scoring + optimal solve) with its peak RSS, the ceiling and the reference.

    In the same process, after the round's figures are taken: OR-tools' min-cost flow on the
    same edges (the solver target is a ratio to it), and numpy/BLAS's own rate on a product of
    the same shapes as the scoring's (mentees x features times features x providers, in the
    same blocks on the same two threads): the ceiling the scoring is measured against. Then
    the round once more, as a matcher that has been running pays for it
    (``_round_in_a_running_process``).
    """
    from services.matcher.engine.scoring import ScoreTables, ScoringContext
    from shared.matching import MatchKind

    data = _instance(size, seed)
    config = _bench_config()
    input_mb = _peak_mb()
    candidates, result, scoring_seconds, first_solve_seconds = _timed_round(data, config)
    peak_mb = _peak_mb()
    solve_seconds, reference_seconds, reference = _solver_against_reference(candidates)
    tables = ScoreTables.build(ScoringContext.build(data, config), MatchKind.MENTORING)
    features = tables.mentee_features.shape[1]
    flops = 2.0 * tables.n_mentees * features * tables.n_providers
    ceiling = {dtype: _matmul_seconds(tables, config, dtype) for dtype in ("float32", "float64")}
    running = _round_in_a_running_process(data, config)
    return {
        **running,
        "seconds": scoring_seconds + first_solve_seconds,
        "scoring_seconds": scoring_seconds,
        "solve_seconds": first_solve_seconds,
        "solve_seconds_alternated": solve_seconds,
        "or_tools_seconds": reference_seconds,
        "solve_to_or_tools": solve_seconds / reference_seconds,
        "first_solve_to_or_tools": first_solve_seconds / reference_seconds,
        "total_score": result.total_score,
        "or_tools_total_score": float(candidates.score[reference].sum()),
        "edges": candidates.edge_count,
        "peak_mb": peak_mb,
        "input_mb": input_mb,
        "features": features,
        "product_gflop": flops / 1e9,
        "scoring_gflops": flops / 1e9 / scoring_seconds,
        "matmul_seconds_float32": ceiling["float32"],
        "matmul_gflops_float32": flops / 1e9 / ceiling["float32"],
        "matmul_gflops_float64": flops / 1e9 / ceiling["float64"],
        "scoring_to_matmul": scoring_seconds / ceiling["float32"],
    }


def _round_in_a_running_process(data: Any, config: MatchingConfig) -> Metrics:
    """The same round again, in the process that has run one: what a matcher that has been
    running pays for a round, without the first round's one-off costs (thread pools started,
    libraries' first calls, memory first touched). The caches keyed by content (words of each
    text, providers of each mentor) are emptied first, so nothing of the first round's
    results is reused."""
    import gc

    from services.matcher.engine import scoring

    scoring._words.cache_clear()
    scoring.provider_from_mentor.cache_clear()
    gc.collect()
    _, _, scoring_seconds, solve_seconds = _timed_round(data, config)
    return {
        "running_seconds": scoring_seconds + solve_seconds,
        "running_scoring_seconds": scoring_seconds,
        "running_solve_seconds": solve_seconds,
    }


def _solver_against_reference(candidates: CandidateEdges) -> tuple[float, float, IntArray]:
    """The engine's solve and OR-tools' on the same edges, each timed twice in the order
    engine, OR-tools, OR-tools, engine, and averaged: whichever runs first after the scoring pays
    for cold caches and fresh memory (the first solve at M took 1.2 times its later ones), so
    timing each once in a fixed order measured the order as much as the solvers. Returns each
    one's mean seconds and OR-tools' edges."""
    from tests.support.engine.reference import flow_optimum

    seconds = {"engine": 0.0, "or-tools": 0.0}
    reference = np.zeros(0, dtype=np.int64)
    for solver in ("engine", "or-tools", "or-tools", "engine"):
        start = time.perf_counter()
        if solver == "engine":
            solve_assignment(candidates)
        else:
            reference = flow_optimum(candidates)
        seconds[solver] += time.perf_counter() - start
    return seconds["engine"] / 2, seconds["or-tools"] / 2, reference


def _matmul_seconds(tables: Any, config: MatchingConfig, dtype: str) -> float:
    """numpy's own time for the scoring's product, block by block on the scoring's threads."""
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    left = tables.mentee_features.astype(dtype)
    right = tables.provider_features.astype(dtype)
    starts = list(range(0, left.shape[0], config.chunk_size))

    def run(worker: int) -> None:
        out = np.empty((config.chunk_size, right.shape[1]), dtype=dtype)
        for b in starts[worker :: config.workers]:
            rows = left[b : b + config.chunk_size]
            np.matmul(rows, right, out=out[: rows.shape[0]])

    begin = time.perf_counter()
    with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(config.workers) as pool:
        list(pool.map(run, range(config.workers)))
    return time.perf_counter() - begin


def fairness_worker(size: str, seed: int, share: float = 0.9) -> Metrics:
    """Fairness targets (every group at ``share`` of the overall rate): ratios and the price."""
    from services.matcher.engine.config import FairnessOptions
    from services.matcher.engine.fairness import fairness_report
    from services.matcher.engine.optimal import BridgeworkEngine

    data = _instance(size, seed) if size in SIZES else _real_network(seed)
    targets = FairnessOptions(part_time=share, social_care=share, small_trust=share)
    config = MatchingConfig(fairness=targets)
    start = time.perf_counter()
    result = BridgeworkEngine(config).propose(data)
    seconds = time.perf_counter() - start
    outcome = result.fairness
    assert outcome is not None
    report = fairness_report(data, result.proposals)
    return {
        "seconds": seconds,
        "mentors": len(data.mentors),
        "mentees": len(data.mentees),
        "price_pct": outcome.price_pct,
        "price": outcome.price,
        "bound_gap": outcome.bound_gap,
        "solves": outcome.solves,
        "overall_rate": outcome.overall_rate,
        "groups": {g.group: g.rate_to_overall for g in outcome.groups},
        "mean_scores": {
            c.group.value: (c.members.mean_score, c.others.mean_score) for c in report.comparisons
        },
    }


def _real_network(seed: int) -> Any:
    """A network on the real reference data: England's trusts and the DDaT skills framework."""
    from tests.support.engine.instances import ddat_network

    return ddat_network(np.random.default_rng(seed))


def run_scale_rows(
    sizes: list[str], fairness: list[str], seed: int, repeats: int, say: Callable[[str], None]
) -> Metrics:
    """Whole rounds ``repeats`` times per size (spread: min / median / worst) and fairness rows."""
    rows: Metrics = {"load_average": _load_average(), "scale": {}, "fairness": {}}
    for size in sizes:
        runs = []
        for run in range(repeats):
            say(f"{size}: whole round, run {run + 1} of {repeats}")
            runs.append(_run_worker({"kind": "scale", "size": size, "seed": seed}))
        rows["scale"][size] = {"runs": runs, "load_average_after": _load_average()}
    for name in fairness:  # "real" or a size, optionally "@share" (default 0.9)
        size, _, share = name.partition("@")
        for run_seed in (seed, seed + 1, seed + 2) if size == "real" else (seed,):
            say(f"{name}: fairness targets, seed {run_seed}")
            rows["fairness"][f"{name} seed {run_seed}"] = _run_worker(
                {"kind": "fairness", "size": size, "seed": run_seed, "share": float(share or 0.9)}
            )
    return rows


# The issue-15 rows (bench/matching_rows.py): two-sided stable mode at M against the `matching`
# package, stable mode over every pair against the pruned lists at M, 1,000 incremental
# changes at L, the time fairness targets add to a round (at the
# default 0.9, and at parity on the real-data network, where a target binds), and
# exchanges and chains at 160 placements over 50 trusts and 200 over 60 against CP-SAT; and
# (issue 19) a round under a steady stream, where pending proposals hold the places, as the
# network grows from 250 to 16,000 mentees.
ISSUE_ROWS = (
    "two_sided@M",
    "stable_everywhere@M",
    "incremental@Lx1000",
    "fairness_cost@M",
    "fairness_cost@real",
    "fairness_cost@real:1.0",
    "exchanges@160x50",
    "exchanges@200x60",
    "steady_round@79x250",
    "steady_round@79x1000",
    "steady_round@79x4000",
    "steady_round@79x16000",
)
EXCHANGE_PEOPLE = {160: (400, 1_600), 200: (500, 2_000)}  # placements -> (mentors, mentees)


def issue_row_task(name: str, seed: int) -> dict[str, Any]:
    """The worker task of one issue-15 row name (see ``ISSUE_ROWS``)."""
    kind, _, arg = name.partition("@")
    if kind == "two_sided":
        return {"kind": kind, "size": arg.upper(), "seed": seed}
    if kind == "stable_everywhere":
        return {"kind": kind, "size": arg.upper(), "seed": seed, "repeats": 3}
    if kind == "incremental":
        size, _, changes = arg.partition("x")
        n = int(changes or 1000)
        return {
            "kind": kind,
            "size": size.upper(),
            "seed": seed,
            "changes": n,
            "check_every": max(n // 10, 1),
        }
    if kind == "fairness_cost":
        size, _, share = arg.partition(":")
        size = size if size == "real" else size.upper()
        return {"kind": kind, "size": size, "seed": seed, "share": float(share or 0.9)}
    if kind == "exchanges":
        placements, _, trusts = arg.partition("x")
        mentors, mentees = EXCHANGE_PEOPLE.get(
            int(placements), (2 * int(placements), 10 * int(placements))
        )
        return {
            "kind": kind,
            "mentors": mentors,
            "mentees": mentees,
            "placements": int(placements),
            "trusts": int(trusts),
            "chains": 0.1,
            "seed": seed,
        }
    if kind == "steady_round":
        n_mentors, _, n_mentees = arg.partition("x")
        return {
            "kind": kind,
            "mentors": int(n_mentors),
            "mentees": int(n_mentees),
            "seed": seed,
            "repeats": 7,
        }
    raise ValueError(f"unknown row {name!r}")


def run_issue_rows(names: list[str], seed: int, say: Callable[[str], None]) -> Metrics:
    rows: Metrics = {"load_average": _load_average()}
    for name in names:
        say(f"{name}")
        task = issue_row_task(name, seed)
        # The exchange rows run the engine's search (minutes at 200 x 60) and CP-SAT (at most
        # EXCHANGE_REFERENCE_SECONDS) one after the other.
        timeout = 3 * WORKER_TIMEOUT_S if task["kind"] == "exchanges" else WORKER_TIMEOUT_S
        rows[name] = _run_worker(task, timeout) | {"load_average_after": _load_average()}
    return rows


def _load_average() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def print_scale_table(rows: Metrics) -> None:
    from rich.console import Console
    from rich.table import Table

    def spread(runs: list[Metrics], key: str) -> str:
        values = sorted(r[key] for r in runs if key in r)
        if not values:
            return "n/a"
        return f"{values[0]:.2f} / {values[len(values) // 2]:.2f} / {values[-1]:.2f}"

    table = Table(title=f"Whole rounds, min / median / worst (load {rows['load_average']})")
    for column in (
        "size",
        "round s",
        "round s, running",
        "scoring s",
        "solve s",
        "OR-tools s",
        "solve / OR-tools",
        "first solve / OR-tools",
        "peak MB",
        "scoring GFLOP/s",
        "matmul GFLOP/s f32",
        "scoring / matmul",
    ):
        table.add_column(column, justify="left" if column == "size" else "right")
    for size, row in rows["scale"].items():
        runs = [r for r in row["runs"] if "error" not in r]
        if not runs:
            table.add_row(size, row["runs"][0]["error"][:40], *[""] * 10)
            continue
        table.add_row(
            size,
            spread(runs, "seconds"),
            spread(runs, "running_seconds"),
            spread(runs, "scoring_seconds"),
            spread(runs, "solve_seconds"),
            spread(runs, "or_tools_seconds"),
            spread(runs, "solve_to_or_tools"),
            spread(runs, "first_solve_to_or_tools"),
            spread(runs, "peak_mb"),
            spread(runs, "scoring_gflops"),
            spread(runs, "matmul_gflops_float32"),
            spread(runs, "scoring_to_matmul"),
        )
    console = Console(width=170)
    console.print(table)
    for name, row in rows["fairness"].items():
        console.print(f"fairness {name}: {json.dumps(row, default=str)}")


def _run_worker(task: dict[str, Any], timeout: float = WORKER_TIMEOUT_S) -> Metrics:
    """Run one task in a fresh interpreter; a crash or timeout becomes an error entry."""
    command = [sys.executable, "-m", "bench.bench_matching", "--worker", json.dumps(task)]
    try:
        done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr else "failed"}
    metrics: Metrics = json.loads(done.stdout.strip().splitlines()[-1])
    return metrics


def _worker_main(task: dict[str, Any]) -> None:
    kind = task.pop("kind")
    from bench import matching_rows

    workers: dict[str, Callable[..., Metrics]] = {
        "engine": engine_worker,
        "full": full_set_worker,
        "peer": peer_worker,
        "scale": scale_worker,
        "fairness": fairness_worker,
        "two_sided": matching_rows.two_sided_worker,
        "stable_everywhere": matching_rows.stable_everywhere_worker,
        "incremental": matching_rows.incremental_worker,
        "fairness_cost": matching_rows.fairness_cost_worker,
        "exchanges": matching_rows.exchanges_worker,
        "steady_round": matching_rows.steady_round_worker,
    }
    print(json.dumps(workers[kind](**task)))


# --- the parent: runs the workers, adds comparisons, writes JSON, prints the table ---


def bench_size(size: str, seed: int, workdir: Path, say: Callable[[str], None]) -> Metrics:
    edges_path = str(workdir / f"edges-{size}.npz")
    methods: dict[str, Metrics] = {}
    say(f"{size}: Bridgework optimal (scoring + solving)")
    methods["bridgework_optimal"] = optimal = _run_worker(
        {"kind": "engine", "size": size, "seed": seed, "edges_path": edges_path}
    )
    say(f"{size}: Bridgework stable (solving the same scored edges)")
    methods["bridgework_stable"] = _with_scoring(
        optimal,
        _run_worker({"kind": "peer", "name": "bridgework_stable", "edges_path": edges_path}),
    )
    for peer in PEERS_BY_SIZE[size]:
        say(f"{size}: {peer}")
        methods[peer] = _run_worker({"kind": "peer", "name": peer, "edges_path": edges_path})
    n_mentors, n_mentees = SIZES[size]
    config = _bench_config()
    result: Metrics = {
        "size": size,
        "mentors": n_mentors,
        "mentees": n_mentees,
        "top_k": config.top_k,
        "provider_top_k": config.provider_top_k,
        "seed": seed,
        "methods": methods,
    }
    if size in FULL_SET_SIZES:
        say(f"{size}: optimum over every admissible pair (no pruning)")
        result["full_candidate_set"] = _run_worker({"kind": "full", "size": size, "seed": seed})
    _add_comparisons(result)
    _compare_pairs(result, edges_path)
    return result


def _with_scoring(optimal: Metrics, stable: Metrics) -> Metrics:
    """Stable mode's figures from scoring to pairs: the (identical) scoring is the optimal run's."""
    if "error" in optimal or "error" in stable:
        return stable
    return {
        **stable,
        "seconds": optimal["scoring_seconds"] + stable["seconds"],
        "scoring_seconds": optimal["scoring_seconds"],
        "solve_seconds": stable["seconds"],
        "peak_mb": max(optimal["peak_mb"], stable["peak_mb"]),
        "edges": optimal["edges"],
    }


def _add_comparisons(result: Metrics) -> None:
    methods = result["methods"]
    reference = methods.get("ortools_min_cost_flow", {}).get("total_score")
    for metrics in methods.values():
        if reference and "total_score" in metrics:
            metrics["gap_to_reference_pct"] = 100 * (reference - metrics["total_score"]) / reference
    ours, theirs = methods["bridgework_stable"], methods.get("matching_package", {})
    if "edges" in ours and "total_score" in theirs:
        result["stable_speedup_vs_matching_package"] = theirs["seconds"] / ours["solve_seconds"]
    _check_targets(result)
    full = result.get("full_candidate_set", {})
    if "total_score" in full:
        result["top_k_gap_to_full_set_pct"] = (
            100
            * (full["total_score"] - methods["bridgework_optimal"]["total_score"])
            / full["total_score"]
        )
        mentee_only = next(v for k, v in full.items() if k.startswith("mentee_top_"))
        result["mentee_only_top_k_gap_to_full_set_pct"] = (
            100 * (full["total_score"] - mentee_only["total_score"]) / full["total_score"]
        )


def _compare_pairs(result: Metrics, edges_path: str) -> None:
    """Whether two methods chose exactly the same pairs (not just the same total)."""

    def chosen(method: str) -> IntArray | None:
        path = Path(_chosen_path(edges_path, method))
        return np.load(path) if path.exists() else None

    stable, package = chosen("bridgework_stable"), chosen("matching_package")
    if stable is not None and package is not None:
        result["stable_identical_to_matching_package"] = bool(np.array_equal(stable, package))
    greedy = chosen("greedy")
    if stable is not None and greedy is not None:
        result["stable_identical_to_greedy"] = bool(np.array_equal(stable, greedy))
    if "targets_met" in result and result["size"] == "M":
        result["targets_met"]["stable_identical"] = bool(
            result.get("stable_identical_to_matching_package")
        )


def _check_targets(result: Metrics) -> None:
    ours = result["methods"]["bridgework_optimal"]
    if "error" in ours:
        return
    if result["size"] == "M":
        result["targets_met"] = {
            "under_2_s": ours["seconds"] < TARGETS["M_seconds"],
            "within_0.1_pct": ours.get("gap_to_reference_pct", 100.0) <= TARGETS["M_gap_pct"],
            "stable_identical": bool(result.get("stable_identical_to_matching_package")),
            "stable_20x": result.get("stable_speedup_vs_matching_package", 0.0)
            >= TARGETS["M_stable_speedup"],
        }
    if result["size"] == "L":
        result["targets_met"] = {
            "under_20_s": ours["seconds"] < TARGETS["L_seconds"],
            "under_4_gb": max(
                m.get("peak_mb", 0.0)
                for name, m in result["methods"].items()
                if name.startswith("bridgework")
            )
            < TARGETS["L_peak_mb"],
        }


def _pct(value: float | None) -> str:
    if value is None:
        return "n/a"
    # OR-tools works on scores rounded to 1e-6, so an exact float optimum can beat it by a hair.
    return f"{0.0 if abs(value) < 5e-5 else value:.4f}"


def print_table(results: list[Metrics]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Matching benchmark (Bridgework times include scoring; peers' do not)")
    labels = {
        "bridgework_optimal": "Bridgework optimal",
        "bridgework_stable": "Bridgework stable",
        "ortools_min_cost_flow": "OR-tools min-cost flow",
        "matching_package": "matching (HR, resident-opt.)",
        "networkx_max_weight_matching": "networkx max_weight_matching",
        "greedy": "greedy",
    }
    for column in (
        "size",
        "method",
        "seconds",
        "peak MB",
        "total score",
        "matched",
        "gap to OR-tools %",
        "blocking pairs",
    ):
        table.add_column(column, justify="right" if column not in ("size", "method") else "left")
    for result in results:
        for name, m in result["methods"].items():
            if "error" in m:
                table.add_row(result["size"], labels[name], m["error"][:40], "", "", "", "", "")
                continue
            table.add_row(
                result["size"],
                labels[name],
                f"{m['seconds']:.3f}",
                f"{m['peak_mb']:.0f}",
                f"{m['total_score']:.3f}",
                str(m["matched"]),
                _pct(m.get("gap_to_reference_pct")),
                str(m["blocking_pairs"]),
            )
    console = Console(width=150)
    console.print(table)
    for result in results:
        notes = {
            k: v
            for k, v in result.items()
            if k.startswith(("stable_", "top_k_gap", "mentee_only", "targets"))
            or k == "full_candidate_set"
        }
        console.print(f"{result['size']}: {json.dumps(notes, default=str)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="S,M,L")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--scale-sizes", default="M,L,XL", help="whole-round rows ('' = none)")
    parser.add_argument(
        "--fairness", default="real,real@1.0,M", help="fairness rows: real (DDaT) or a size[@share]"
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs per whole-round row")
    parser.add_argument(
        "--rows",
        default=",".join(ISSUE_ROWS),
        help=f"issue-15 rows ('' = none), any of: {', '.join(ISSUE_ROWS)} (names:"
        " two_sided@SIZE, incremental@SIZE[xCHANGES], fairness_cost@SIZE|real[:SHARE],"
        " exchanges@PLACEMENTSxTRUSTS, steady_round@MENTORSxMENTEES)",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker_main(json.loads(args.worker))
        return
    from rich.console import Console

    console = Console()
    results = []
    with tempfile.TemporaryDirectory() as workdir, console.status("starting") as status:

        def say(message: str) -> None:
            status.update(message)
            console.log(message)

        for size in filter(None, args.sizes.split(",")):
            results.append(bench_size(size.strip().upper(), args.seed, Path(workdir), say))
        scale = run_scale_rows(
            [s.strip().upper() for s in args.scale_sizes.split(",") if s.strip()],
            [s.strip() for s in args.fairness.split(",") if s.strip()],
            args.seed,
            args.repeats,
            say,
        )
        issue_rows = run_issue_rows(
            [r.strip() for r in args.rows.split(",") if r.strip()], args.seed, say
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    by_size: Metrics = {result["size"]: result for result in results}
    by_size["whole_rounds"] = scale
    by_size["issue_rows"] = issue_rows
    args.out.write_text(json.dumps(by_size, indent=2) + "\n")
    print_table(results)
    print_scale_table(scale)
    for name, row in issue_rows.items():
        console.print(f"{name}: {json.dumps(row, default=str)}")
    console.print(f"written to {args.out}")


if __name__ == "__main__":
    main()
