"""The lock (requirements/*.txt) pins every package pyproject.toml names, within its range."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _pins(lock: str) -> dict[str, str]:
    text = (ROOT / "requirements" / lock).read_text()
    found = re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)", text, flags=re.MULTILINE)
    return {canonicalize_name(name): version for name, version in found}


RUNTIME = _pins("runtime.txt")
DEV = _pins("dev.txt")


@pytest.mark.parametrize(
    ("declared", "lock"),
    [(entry, RUNTIME) for entry in PROJECT["dependencies"]]
    + [(entry, DEV) for entry in PROJECT["dependencies"]]
    + [(entry, DEV) for entry in PROJECT["optional-dependencies"]["dev"]],
)
def test_the_lock_pins_each_declared_package_within_its_range(
    declared: str, lock: dict[str, str]
) -> None:
    requirement = Requirement(declared)
    name = canonicalize_name(requirement.name)
    assert name in lock, f"{name} is not in the lock: run `make lock`"
    assert requirement.specifier.contains(lock[name], prereleases=True), (
        f"{name}=={lock[name]} is outside {requirement.specifier}: run `make lock`"
    )


def test_the_dev_lock_keeps_the_runtime_versions() -> None:
    assert {name: DEV.get(name) for name in RUNTIME} == RUNTIME


def test_every_pin_carries_a_hash() -> None:
    for lock in ("runtime.txt", "dev.txt"):
        text = (ROOT / "requirements" / lock).read_text()
        assert text.count("==") == len(re.findall(r"==\S+ \\\n\s+--hash=sha256:", text))
