"""The pipeline benchmark's arithmetic (bench/spread.py) and its reading of Kafka's own
performance tools (bench/broker_reference.py): what the published figures are made of."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.broker_reference import ToolFailed, parse_consumer, parse_producer
from bench.machine_speed import machine_speed, speed_range
from bench.spread import p99_by_window, percentiles, spread, summarise_runs, worst_window

figures = st.floats(min_value=0, max_value=1e6, allow_nan=False)


@given(st.lists(figures, min_size=1, max_size=30))
def test_the_spread_brackets_every_run_and_its_median(values: list[float]) -> None:
    result = spread(values)
    assert result["runs"] == len(values)
    assert result["min"] == round(min(values), 3)
    assert result["max"] == round(max(values), 3)
    assert result["median"] == round(statistics.median(values), 3)


def test_a_run_without_the_figure_leaves_the_spread_unknown_not_better() -> None:
    # A run that proposed nothing has no p99: dropping it would report the good runs only.
    assert spread([120.0, None, 150.0]) == {"min": None, "median": None, "max": None, "runs": 3}


def test_each_scenario_keeps_every_run_beside_its_spread() -> None:
    runs = [{"p99_ms": 180.0, "p50_ms": 60.0}, {"p99_ms": 240.0, "p50_ms": 70.0}]
    summary = summarise_runs(runs, ("p99_ms",))
    assert summary["runs"] == runs
    assert summary["spread"]["p99_ms"] == {"min": 180.0, "median": 210.0, "max": 240.0, "runs": 2}


@given(
    st.dictionaries(
        st.integers(0, 10_000),
        st.tuples(st.floats(0, 600), st.none() | st.floats(0, 5)),
        min_size=1,
        max_size=300,
    )
)
def test_windows_count_every_published_event_once(
    events: dict[int, tuple[float, float | None]],
) -> None:
    published = {key: at for key, (at, _) in events.items()}
    received = {key: at + delay for key, (at, delay) in events.items() if delay is not None}
    windows = p99_by_window(published, received, 60)
    assert sum(w["published"] for w in windows) == len(published)
    assert sum(w["proposed"] for w in windows) == len(received)
    assert [w["window"] for w in windows] == sorted({w["window"] for w in windows})


def test_a_slow_minute_shows_in_its_own_window() -> None:
    published = {i: float(i) for i in range(180)}  # one event a second for three minutes
    received = {i: i + (2.0 if 60 <= i < 120 else 0.05) for i in range(180)}
    windows = p99_by_window(published, received, 60)
    assert [w["p99_ms"] for w in windows] == [50.0, 2000.0, 50.0]
    assert percentiles([(received[i] - published[i]) * 1000 for i in range(180)])["p50_ms"] == 50
    assert worst_window(windows) == 2000.0


def test_a_minute_with_nothing_proposed_has_no_worst_minute_to_meet_a_target() -> None:
    published = {i: float(i) for i in range(180)}
    received = {i: i + 0.05 for i in range(180) if not 60 <= i < 120}  # the second minute lost
    windows = p99_by_window(published, received, 60)
    assert [w["proposed"] for w in windows] == [60, 0, 60]
    assert worst_window(windows) is None
    assert worst_window([]) is None


def test_stragglers_after_the_run_count_in_its_last_minute() -> None:
    """A 120 s run whose paced publisher sent its last three events at 120.0-120.2 s: two
    windows, not a third whose p99 is three events' worst."""
    published = {i: i / 10 for i in range(1200)} | {1200 + i: 120.0 + i / 10 for i in range(3)}
    received = {key: at + (4.0 if key >= 1200 else 0.05) for key, at in published.items()}
    windows = p99_by_window(published, received, 60, run_seconds=120)
    assert [(w["window"], w["published"]) for w in windows] == [(0, 600), (1, 603)]
    assert windows[1]["p99_ms"] == pytest.approx(50)
    assert len(p99_by_window(published, received, 60)) == 3  # without the run's length


PRODUCER_OUTPUT = """\
104857 records sent, 20967.2 records/sec (11.80 MB/sec), 1403.2 ms avg latency, 2024.0 ms max latency.
200000 records sent, 24721.6 records/sec (13.91 MB/sec), 1154.11 ms avg latency, 2024.00 ms max latency, 1115 ms 50th, 1818 ms 95th, 1990 ms 99th, 2018 ms 99.9th.
"""  # noqa: E501  (the tool's own lines)

CONSUMER_OUTPUT = """\
start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
2026-12-03 11:40:01:123, 2026-12-03 11:40:04:456, 112.5000, 33.7500, 200000, 60006.0006, 3050, 283, 397.5265, 706713.7809
"""  # noqa: E501


def test_the_producer_tool_s_total_line_is_read_not_a_window_line() -> None:
    assert parse_producer(PRODUCER_OUTPUT) == {
        "records": 200000,
        "per_second": 24722,
        "mb_per_second": 13.91,
        "avg_latency_ms": 1154.11,
        "max_latency_ms": 2024.0,
    }


def test_the_consumer_tool_s_columns_are_read_by_name() -> None:
    assert parse_consumer(CONSUMER_OUTPUT) == {
        "records": 200000,
        "per_second": 60006,
        "fetch_per_second": 706714,
    }


@pytest.mark.parametrize("parse", [parse_producer, parse_consumer])
def test_output_without_figures_is_an_error_not_a_zero(
    parse: Callable[[str], dict[str, Any]],
) -> None:
    with pytest.raises(ToolFailed):
        parse("Exception in thread main: org.apache.kafka.common.errors.TimeoutException")


def test_the_machine_reference_is_two_positive_rates() -> None:
    speed = machine_speed()
    assert set(speed) == {"events_per_second", "matmul_gflops"}
    assert all(value > 0 for value in speed.values())


def test_the_machine_reference_spans_the_runs_that_recorded_it() -> None:
    runs: list[dict[str, Any]] = [
        {"machine_speed": {"events_per_second": 40_000, "matmul_gflops": 80.0}},
        {"p99_ms": 150.0},  # measured before the reference was recorded
        {"machine_speed": {"events_per_second": 20_000, "matmul_gflops": 95.5}},
    ]
    assert speed_range(runs, "events_per_second") == (20_000, 40_000)
    assert speed_range(runs, "matmul_gflops") == (80.0, 95.5)
    assert speed_range(runs[1:2], "matmul_gflops") is None


def test_the_table_shows_the_machine_reference_beside_the_targets() -> None:
    from bench.bench_pipeline import verdicts

    notifier = {
        "emails_per_second": 120.0,
        "machine_speed": {"events_per_second": 31_000, "matmul_gflops": 77.0},
    }
    rows = {measure: value for measure, value, _, _ in verdicts({"notifier": notifier})}
    reference = next(value for measure, value in rows.items() if measure.startswith("machine"))
    assert reference == "31,000 - 31,000; 77.0 - 77.0"


def test_cpu_per_message_divides_each_group_and_sums_them() -> None:
    from bench.bench_pipeline import cpu_per_message

    used = {"cpu_seconds": {"kafka": 1.5, "matchers": 0.5}}
    assert cpu_per_message(used, 100_000) == {"kafka": 15.0, "matchers": 5.0, "all": 20.0}
    assert cpu_per_message({}, 100_000) == {}  # no /proc: nothing, not zeros


def test_the_table_gives_the_median_cpu_per_message_of_each_pipeline() -> None:
    from bench.bench_pipeline import cpu_rows

    runs = [{"cpu_us_per_event": {"matchers": m, "all": m + 40}} for m in (30.0, 50.0, 35.0)]
    rows = {measure: value for measure, value, _, _ in cpu_rows({"ingest": {"runs": runs}})}
    assert rows == {"ingest: CPU microseconds per message (median)": "matchers 35.0, all 75.0"}


# --- rounds only: the first round to read a mentee, or a wait for a place -------------------


def test_a_round_passes_a_mentee_over_only_if_it_read_them_and_wrote_before_their_proposal() -> (
    None
):
    from bench.bench_pipeline import rounds_passed_over

    spans = [
        (9.0, 10.5),  # began reading before the mentee was stored: could not see them
        (10.2, 10.6),  # read them, proposed someone else
        (10.7, 11.0),  # read them, proposed someone else
        (11.1, 11.4),  # the round that proposed them (its write at 11.4)
        (11.5, 11.8),  # after
    ]
    assert rounds_passed_over(10.0, 11.4, spans) == 2
    assert rounds_passed_over(10.0, 10.6, spans) == 0  # the first round to read them


def test_the_split_counts_each_proposed_mentee_once() -> None:
    from bench.bench_pipeline import passed_over_split

    rounds = {"n1": [(1.1, 1.2), (1.3, 1.4), (1.5, 1.6)], "n2": [(1.1, 1.2)]}
    proposed = [
        (200.0, 1.0, 1.2, "n1"),  # first round
        (600.0, 1.0, 1.6, "n1"),  # two rounds passed over
        (150.0, 1.0, 1.2, "n2"),
        (300.0, 1.0, 1.4, "n1"),  # one
    ]
    split = passed_over_split(proposed, rounds)
    first, later = split["first_round_to_read_them"], split["after_rounds_passed_them_over"]
    assert (first["mentees"], later["mentees"]) == (2, 2)
    assert first["p50_ms"] == 175.0
    assert later["p50_ms"] == 450.0
    assert (later["rounds_passed_over_median"], later["rounds_passed_over_max"]) == (1.5, 2)


# --- the drains: two matchers against one, in the same repetition ---------------------------


def test_each_two_matcher_drain_is_compared_with_its_own_repetitions_one() -> None:
    from bench.bench_pipeline import SPREAD_OF, verdicts, with_ratios

    runs = {
        "backlog_one": [{"events_per_second": 10_000}, {"events_per_second": 12_000}],
        "backlog_two": [{"events_per_second": 17_000}, {"events_per_second": 18_000}],
    }
    two = with_ratios("backlog_two", runs)
    assert [run["ratio_to_one"] for run in two] == [1.7, 1.5]
    results = {
        "backlog_one": summarise_runs(runs["backlog_one"], SPREAD_OF["backlog_one"]),
        "backlog_two": summarise_runs(two, SPREAD_OF["backlog_two"]),
    }
    rows = {measure: (value, met) for measure, value, _, met in verdicts(results)}
    value, met = rows["backlog drain, two matchers / one (same repetition)"]
    assert value == "1.60x (min 1.50, max 1.70)"
    assert met is False  # the median reaches 1.6, one run does not


@pytest.mark.parametrize(
    ("matchers", "label"),
    [(1, "ingest (events/s)"), (2, "ingest, 2 matchers (events/s)")],
)
def test_the_ingest_row_says_how_many_matchers_consumed(matchers: int, label: str) -> None:
    from bench.bench_pipeline import SPREAD_OF, verdicts

    runs = [{"matchers": matchers, "events_per_second": rate} for rate in (20_000, 24_000)]
    results = {"ingest": summarise_runs(runs, SPREAD_OF["ingest"])}
    rows = {measure: value for measure, value, _, _ in verdicts(results)}
    assert set(rows) == {label}


def test_only_the_on_arrival_latencies_are_held_to_the_200_ms_target() -> None:
    from bench.bench_pipeline import SPREAD_OF, verdicts

    slow = [{"p50_ms": 500.0, "p99_ms": p99} for p99 in (2_500.0, 3_300.0)]
    fast = [{"p50_ms": 18.0, "p99_ms": p99} for p99 in (37.0, 250.0)]
    results = {
        "latency": summarise_runs(slow, SPREAD_OF["latency"]),
        "latency_on_arrival": summarise_runs(fast, SPREAD_OF["latency_on_arrival"]),
    }
    rows = {measure: (target, met) for measure, _, target, met in verdicts(results)}
    assert rows["latency, rounds only: p99 over 2 runs (ms)"] == ("- (none set)", None)
    # One run over 200 ms fails the target, though the median is under it.
    assert rows["latency, on arrival: p99 over 2 runs (ms)"] == ("p99 < 200 every run", False)


def test_a_steady_round_row_names_its_network_and_times_every_repeat() -> None:
    from bench.bench_matching import issue_row_task
    from bench.matching_rows import steady_round_worker

    task = issue_row_task("steady_round@12x90", seed=3)
    assert task == {"kind": "steady_round", "mentors": 12, "mentees": 90, "seed": 3, "repeats": 7}
    row = steady_round_worker(mentors=12, mentees=90, seed=3, repeats=3)
    assert row["mentees"] == 110
    assert row["repeats"] == 3
    assert 0 < row["pending"] <= row["mentees"]
    assert 0 < row["edges_within_reach"] <= row["edges"]
    times = row["round_ms"]
    assert 0 < times["min"] <= times["median"] <= times["worst"]
