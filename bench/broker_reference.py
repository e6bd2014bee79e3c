"""What the broker itself carries: Kafka's own performance tools on the benchmark's broker.

``kafka-producer-perf-test`` and ``kafka-consumer-perf-test`` are the classes
``org.apache.kafka.tools.ProducerPerformance`` and ``ConsumerPerformance`` of the ``kafka-tools``
artifact, fetched with Maven from the same release as the broker (devtools/kafka-perf/pom.xml)
into ``.local/kafka-perf/libs``. They move as many records of the ingest's mean size through a
topic with the people topic's partitions, with the producer settings Bridgework's own producer
uses (acks=all, idempotent, no linger), so the table can show how far the Python client and
Bridgework stand from the JVM client on the same broker in the same run.
"""

from __future__ import annotations

import re
import subprocess
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

from devtools import ROOT

POM = ROOT / "devtools" / "kafka-perf" / "pom.xml"
LIBS = ROOT / ".local" / "kafka-perf" / "libs"
TIMEOUT_SECONDS = 300

# "50000 records sent, 41981.5 records/sec (22.67 MB/sec), 512.3 ms avg latency, ..."
PRODUCER_SUMMARY = re.compile(
    r"(?P<records>\d+) records sent, (?P<rate>[\d.]+) records/sec \((?P<mb>[\d.]+) MB/sec\),"
    r" (?P<avg>[\d.]+) ms avg latency, (?P<max>[\d.]+) ms max latency"
)


class ToolFailed(RuntimeError):
    """A performance tool exited with an error or printed nothing we can read."""


def fetch_tools() -> Path:
    """The tools' jars, fetched once (a marker file says the copy is complete)."""
    complete = LIBS / ".complete"
    if not complete.is_file():
        LIBS.mkdir(parents=True, exist_ok=True)
        _run(
            [
                "mvn", "-q", "-B", "-Dstyle.color=never", "-f", str(POM),
                "dependency:copy-dependencies", f"-DoutputDirectory={LIBS}",
                "-DincludeScope=runtime",
            ]
        )  # fmt: skip
        complete.touch()
    return LIBS


def producer_performance(bootstrap: str, topic: str, records: int, size: int) -> dict[str, Any]:
    """``kafka-producer-perf-test`` at full speed (throughput -1): records/s and latency."""
    output = _java(
        "org.apache.kafka.tools.ProducerPerformance",
        "--topic", topic, "--num-records", str(records), "--record-size", str(size),
        "--throughput", "-1", "--producer-props", f"bootstrap.servers={bootstrap}",
        "acks=all", "enable.idempotence=true", "linger.ms=0",
    )  # fmt: skip
    return parse_producer(output)


def consumer_performance(bootstrap: str, topic: str, records: int) -> dict[str, Any]:
    """``kafka-consumer-perf-test`` reading the records the producer wrote: records/s."""
    output = _java(
        "org.apache.kafka.tools.ConsumerPerformance",
        "--bootstrap-server", bootstrap, "--topic", topic, "--messages", str(records),
        "--group", f"bench-broker-{time.monotonic_ns()}", "--timeout", "60000",
    )  # fmt: skip
    return parse_consumer(output)


def parse_producer(output: str) -> dict[str, Any]:
    """The producer tool's last summary line (it prints one per window, then the total)."""
    found = list(PRODUCER_SUMMARY.finditer(output))
    if not found:
        raise ToolFailed(f"no summary in the producer tool's output: {output[-500:]!r}")
    last = found[-1]
    return {
        "records": int(last["records"]),
        "per_second": round(float(last["rate"])),
        "mb_per_second": float(last["mb"]),
        "avg_latency_ms": float(last["avg"]),
        "max_latency_ms": float(last["max"]),
    }


def parse_consumer(output: str) -> dict[str, Any]:
    """The consumer tool's CSV line: its header names the columns (``nMsg.sec`` is records/s
    over the whole run, ``fetch.nMsg.sec`` the same without the group's join time)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for header, values in pairwise(lines):
        if header.startswith("start.time"):
            row = dict(
                zip(
                    [c.strip() for c in header.split(",")],
                    [v.strip() for v in values.split(",")],
                    strict=False,
                )
            )
            try:
                return {
                    "records": int(row["data.consumed.in.nMsg"]),
                    "per_second": round(float(row["nMsg.sec"])),
                    "fetch_per_second": round(float(row["fetch.nMsg.sec"])),
                }
            except (KeyError, ValueError) as error:
                raise ToolFailed(f"unexpected consumer tool columns: {row}") from error
    raise ToolFailed(f"no CSV in the consumer tool's output: {output[-500:]!r}")


def _java(main_class: str, *args: str) -> str:
    libs = fetch_tools()
    return _run(["java", "-Xmx512m", "-cp", f"{libs}/*", main_class, *args])


def _run(command: list[str]) -> str:
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False
    )
    if done.returncode != 0:
        raise ToolFailed(f"{command[0]} exited with {done.returncode}: {done.stderr[-800:]}")
    return done.stdout
