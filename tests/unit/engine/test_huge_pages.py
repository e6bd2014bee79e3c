"""The engine turns numpy's huge-page advice off unless the operator chose (scoring.py)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[3]
_REPORT = (
    "import numpy._core.multiarray as m; import services.matcher.engine; "
    "print(m._get_madvise_hugepage())"
)


def _advice_after_import(choice: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    if choice is not None:
        env["NUMPY_MADVISE_HUGEPAGE"] = choice
    done = subprocess.run(
        [sys.executable, "-c", _REPORT],
        env=env,
        cwd=_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_importing_the_engine_turns_huge_page_advice_off() -> None:
    assert _advice_after_import(None) == "False"


@pytest.mark.parametrize(("choice", "advice"), [("1", "True"), ("0", "False")])
def test_an_operators_choice_stands(choice: str, advice: str) -> None:
    assert _advice_after_import(choice) == advice
