"""The pipeline benchmark's arithmetic: percentiles, windows and the spread over repeated runs.

A figure a user can plan on is one that holds on every run, so each repeated scenario reports
the min, median and max of its runs' figures (never the best run alone), and the sustained
window reports its p99 minute by minute as well as over the whole window.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

Key = TypeVar("Key")


def percentiles(values: Sequence[float]) -> dict[str, float | None]:
    """p50, p95 and p99 in ms (inclusive method: a percentile lies between observed values)."""
    if len(values) < 2:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {
        "p50_ms": round(cuts[49], 1),
        "p95_ms": round(cuts[94], 1),
        "p99_ms": round(cuts[98], 1),
    }


def spread(values: Sequence[float | None]) -> dict[str, float | None]:
    """Min, median and max of the runs' figures; a run without the figure makes them None
    (a run that proposed nothing must not vanish from the spread)."""
    if not values or any(v is None for v in values):
        return {"min": None, "median": None, "max": None, "runs": len(values)}
    numbers = [float(v) for v in values if v is not None]
    return {
        "min": round(min(numbers), 3),
        "median": round(statistics.median(numbers), 3),
        "max": round(max(numbers), 3),
        "runs": len(numbers),
    }


def p99_by_window(
    published: Mapping[Key, float],
    received: Mapping[Key, float],
    window_seconds: float,
    run_seconds: float | None = None,
) -> list[dict[str, Any]]:
    """Each window's p99 (by when the event was published) and how many were proposed of how
    many published in it: a sustained run must hold in every window, not only on average.

    With ``run_seconds``, the events a paced publisher sends just after the run's nominal end
    count in its last window: a window of the three stragglers of a 300 s run is no minute."""
    if not published:
        return []
    start = min(published.values())
    last = None if run_seconds is None else max(math.ceil(run_seconds / window_seconds) - 1, 0)
    windows: dict[int, list[float]] = {}
    sent: dict[int, int] = {}
    for key, at in published.items():
        index = int((at - start) // window_seconds)
        if last is not None:
            index = min(index, last)
        sent[index] = sent.get(index, 0) + 1
        if key in received:
            windows.setdefault(index, []).append((received[key] - at) * 1000)
    return [
        {
            "window": index,
            "published": sent[index],
            "proposed": len(windows.get(index, [])),
            "p99_ms": percentiles(sorted(windows.get(index, [])))["p99_ms"],
        }
        for index in range(max(sent) + 1)
        if index in sent
    ]


def worst_window(windows: Sequence[Mapping[str, Any]]) -> float | None:
    """The worst window's p99; None when a window has none (nothing proposed in it), so that a
    run with an empty minute cannot meet a target."""
    p99s = [window["p99_ms"] for window in windows]
    if not p99s or any(p99 is None for p99 in p99s):
        return None
    return float(max(p99s))


def summarise_runs(runs: Sequence[Mapping[str, Any]], figures: Sequence[str]) -> dict[str, Any]:
    """The runs of one scenario, kept whole, with the spread of each named figure."""
    return {
        "runs": list(runs),
        "spread": {name: spread([run.get(name) for run in runs]) for name in figures},
    }
