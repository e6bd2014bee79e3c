"""The benchmark's CPU window (bench/cpu_use.py): a named process's CPU is counted under its
name, also when it ends inside the window."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench import cpu_use
from bench.cpu_use import CpuWindow

pytestmark = pytest.mark.skipif(
    not Path("/proc/stat").exists(), reason="the CPU window reads Linux's /proc"
)

BURN = "import time\nend = time.process_time() + {seconds}\nwhile time.process_time() < end: pass"


def _burner(seconds: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", BURN.format(seconds=seconds)])


def test_a_process_that_ends_inside_the_window_counts_under_its_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cpu_use, "SAMPLE_SECONDS", 0.05)
    window = CpuWindow()
    window.start()
    burner = _burner(1.0)
    window.own[burner.pid] = "burner"
    burner.wait()
    time.sleep(0.2)
    used = window.stop()
    # Counted up to its last reading, an interval before it ended on a quiet machine (the
    # wide bound leaves room for a sampler held up by a loaded one).
    assert 0.3 <= used["cpu_seconds"]["burner"] <= 1.2
    assert used["seconds"] >= 1.0
    assert 0 < used["cores_busy"] <= (os.cpu_count() or 1) + 0.1
    assert 0 <= used["steal_share"] < 1


def test_a_window_never_started_records_nothing() -> None:
    assert CpuWindow().stop() == {}
