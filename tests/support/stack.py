"""The three services and an SMTP catcher as processes, as the end-to-end tests start them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from devtools.browser import chromium_present
from devtools.stack import StackConfig, free_port, running_stack, with_api_token


def e2e_config(database_url: str, kafka: str, folder: Path) -> StackConfig:
    """The stack on free ports with quick rounds, its logs kept in ``folder``, and an
    administrator's API token (``config.api_headers``)."""
    config = StackConfig(
        database_url=database_url,
        kafka_bootstrap_servers=kafka,
        smtp_port=free_port(),
        http_port=free_port(),
        log_dir=folder / "logs",
        round_quiet_seconds=0.5,
    )
    return with_api_token(config, "e2e")


@contextmanager
def e2e_stack(database_url: str, kafka: str, folder: Path) -> Iterator[tuple[StackConfig, Path]]:
    """The running stack (``e2e_config``), its mail kept in ``folder``/mail."""
    config = e2e_config(database_url, kafka, folder)
    with running_stack(config, maildir=folder / "mail"):
        yield config, folder / "mail"


def personal_data_in_logs(log_dir: Path, needles: set[str]) -> int:
    """How many (log file, name or email) pairs occur: every service's log, crashes included."""
    hits = 0
    for path in log_dir.glob("*.log"):
        text = path.read_text(errors="replace").lower()
        hits += sum(1 for needle in needles if needle.lower() in text)
    return hits


def require_chromium() -> None:
    """Browser tests skip locally without Debian's Chromium (`make browser`); fail under CI."""
    if chromium_present():
        return
    message = "Chromium is not installed at /usr/bin/chromium: run `make browser`"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)
