"""axe-core (the npm package, `make axe`) run inside the browser tests: a page's serious and
critical violations. Pages under test are opened with ``bypass_csp=True``: their CSP forbids the
injected script."""

from __future__ import annotations

import os
from typing import Any

import pytest
from playwright.async_api import Page

from devtools import ROOT

AXE = ROOT / "devtools" / "axe" / "node_modules" / "axe-core" / "axe.min.js"


def require_axe() -> None:
    """Skip locally without axe-core; fail under CI."""
    if AXE.is_file():
        return
    message = "axe-core is not installed: run `make axe`"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


async def serious_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    await page.add_script_tag(path=str(AXE))
    results: dict[str, Any] = await page.evaluate("async () => await axe.run(document)")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]
