"""Where the reference data lives: the public NHS trusts and DDaT files that sit beside the
checkout as ``../shared/data`` (in CI and the team's machines), never copied into the repo.

``BRIDGEWORK_REFERENCE_DATA`` points elsewhere (a git worktree has no ``../shared`` of its own).
Tests skip with ``reason()`` when the data is absent; the benchmarks fall back to made-up data.
"""

from __future__ import annotations

import os
from pathlib import Path

from devtools import ROOT

ENVIRONMENT_VARIABLE = "BRIDGEWORK_REFERENCE_DATA"


def reference_data_dir() -> Path:
    """The folder the reference data is expected in, whether or not it is there."""
    configured = os.environ.get(ENVIRONMENT_VARIABLE)
    return Path(configured) if configured else ROOT.parent / "shared" / "data"


def reason(*parts: str) -> str:
    """Why a test that needs ``parts`` of the reference data skips."""
    return (
        f"reference data absent: {reference_data_dir().joinpath(*parts)} (it sits beside the"
        f" checkout as ../shared/data, or set {ENVIRONMENT_VARIABLE})"
    )
