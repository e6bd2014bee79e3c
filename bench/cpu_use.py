"""Where a run's CPU went: seconds per process group over a window, from /proc.

A tail on this 2-core machine is time spent queueing for a core, so a latency figure is read
beside what each process took from the cores in the same window: the broker, PostgreSQL, each
named service process, the benchmark itself, and the rest. Also how busy the cores were and the
share the hypervisor took (steal), which no load average shows. Linux only; elsewhere the
window records nothing.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROC = Path("/proc")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
SAMPLE_SECONDS = 2.0


def _group(pid: int, command: str, own: dict[int, str]) -> str:
    """The group a process's CPU counts under: the name given to it, else by its command."""
    if pid in own:
        return own[pid]
    if pid == os.getpid():
        return "benchmark"
    if "kafka" in command and "java" in command:
        return "kafka"
    if command.startswith("postgres") or "/postgres" in command.split(" ")[0]:
        return "postgresql"
    return "other"


def _process_ticks() -> dict[int, tuple[str, int]]:
    """Each live process's command line and user + system ticks so far."""
    found: dict[int, tuple[str, int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone since the listing
            continue
        fields = stat.rsplit(")", 1)[1].split()
        found[int(entry.name)] = (command or stat.split()[1], int(fields[11]) + int(fields[12]))
    return found


def _machine_ticks() -> list[int]:
    """The first line of /proc/stat: user, nice, system, idle, iowait, irq, softirq, steal..."""
    return [int(value) for value in (PROC / "stat").read_text().split("\n", 1)[0].split()[1:]]


@dataclass
class CpuWindow:
    """CPU seconds per group between ``start()`` and ``stop()``. ``own`` names processes the
    caller started (pid -> group, e.g. "matcher (events)"). A thread reads /proc every
    ``SAMPLE_SECONDS``, so a process that ends inside the window (a pool's connection closed,
    and its PostgreSQL backend with it) counts up to its last sample."""

    own: dict[int, str] = field(default_factory=dict)
    _first: dict[int, tuple[str, int]] = field(default_factory=dict)
    _last: dict[int, tuple[str, int]] = field(default_factory=dict)
    _machine: list[int] = field(default_factory=list)
    _started: float = 0.0
    _done: threading.Event = field(default_factory=threading.Event)
    _sampler: threading.Thread | None = None

    def start(self) -> None:
        if not PROC.joinpath("stat").exists():
            return
        self._first = _process_ticks()
        self._last = dict(self._first)
        self._machine = _machine_ticks()
        self._started = time.monotonic()
        self._sampler = threading.Thread(target=self._sample_until_stopped, daemon=True)
        self._sampler.start()

    def _sample_until_stopped(self) -> None:
        while not self._done.wait(SAMPLE_SECONDS):
            self._last.update(_process_ticks())

    def stop(self) -> dict[str, Any]:
        if not self._machine or self._sampler is None:
            return {}
        self._done.set()
        self._sampler.join()
        self._last.update(_process_ticks())
        seconds = time.monotonic() - self._started
        machine = [b - a for a, b in zip(self._machine, _machine_ticks(), strict=False)]
        idle = machine[3] + machine[4]
        steal = machine[7] if len(machine) > 7 else 0
        by_group: dict[str, float] = {}
        for pid, (command, ticks) in self._last.items():
            before = self._first.get(pid, (command, 0))[1]
            group = _group(pid, command, self.own)
            by_group[group] = by_group.get(group, 0.0) + (ticks - before) / CLOCK_TICKS
        return {
            "seconds": round(seconds, 1),
            "cores_busy": round((sum(machine) - idle) / CLOCK_TICKS / seconds, 2),
            "steal_share": round(steal / max(sum(machine), 1), 4),
            "cpu_seconds": {
                group: round(value, 1)
                for group, value in sorted(by_group.items(), key=lambda item: -item[1])
            },
        }
