"""Tests share code through tests/support, never by importing a conftest or a test module."""

from __future__ import annotations

import ast
from pathlib import Path

from devtools import ROOT


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules.add(node.module)
        elif isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
    return modules


def test_no_module_imports_a_conftest_or_a_test_module() -> None:
    offending = {
        f"{path.relative_to(ROOT)} imports {module}"
        for folder in ("tests", "bench", "devtools")
        for path in (ROOT / folder).rglob("*.py")
        for module in _imported_modules(path)
        if module.startswith("tests.")
        and any(part == "conftest" or part.startswith("test_") for part in module.split("."))
    }
    assert not offending, "move the shared code to tests/support: " + "; ".join(sorted(offending))
