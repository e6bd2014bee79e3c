"""The commit-msg hook (`make hooks`) refuses subjects over 72 characters, nothing else."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from devtools import ROOT

HOOK = ROOT / "devtools" / "githooks" / "commit-msg"


def _hook(message: str, tmp_path: Path) -> int:
    path = tmp_path / "COMMIT_EDITMSG"
    path.write_text(message, encoding="utf-8")
    return subprocess.run(["bash", str(HOOK), str(path)], capture_output=True).returncode


@pytest.mark.parametrize(
    ("message", "accepted"),
    [
        ("x" * 72, True),
        ("x" * 73, False),
        ("Short subject\n\n" + "a long body line " * 20, True),
        ("# a comment git strips\n" + "x" * 72, True),
        ("é" * 72, True),  # characters, not bytes
    ],
)
def test_the_hook_limits_only_the_subject(message: str, accepted: bool, tmp_path: Path) -> None:
    assert (_hook(message, tmp_path) == 0) is accepted
