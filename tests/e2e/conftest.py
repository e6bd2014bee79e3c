"""What the end-to-end tests share: the three services and an SMTP catcher, started for a module."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
