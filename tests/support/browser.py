"""What the browser tests share: Debian's Chromium, or a clear skip (a failure under CI)."""

from __future__ import annotations

import os

import pytest

from devtools.browser import chromium_present


def require_chromium() -> None:
    if chromium_present():
        return
    message = "Chromium is not installed at /usr/bin/chromium: run `make browser`"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)
