"""Each service's migration files sort in the order Alembic applies them (docs/migrations.md):
a file is named <position>_<revision id>_<slug>.py, its position its place in the chain."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

SERVICES = Path(__file__).resolve().parents[2] / "services"
SERVICE_NAMES = sorted(p.parent.name for p in SERVICES.glob("*/migrations"))
FILE_NAME = re.compile(r"(?P<position>\d{2})_(?P<revision>\w+?)_(?P<slug>[a-z0-9_]+)\.py")


def revision_chain(service: str) -> list[tuple[str, str]]:
    """(revision id, file name) from the first migration to the head, as Alembic links them."""
    config = Config()
    config.set_main_option("script_location", str(SERVICES / service / "migrations"))
    scripts = ScriptDirectory.from_config(config)
    assert len(scripts.get_heads()) == 1, f"{service}: more than one head {scripts.get_heads()}"
    newest_first = [(s.revision, Path(s.path).name) for s in scripts.walk_revisions()]
    return newest_first[::-1]


def test_every_service_with_migrations_is_checked() -> None:
    assert SERVICE_NAMES == ["matcher", "notifier", "profiles"]


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_file_names_sort_in_apply_order(service: str) -> None:
    files = sorted(p.name for p in (SERVICES / service / "migrations" / "versions").glob("*.py"))
    chain = revision_chain(service)
    assert files == [name for _, name in chain]
    for position, (revision, name) in enumerate(chain, start=1):
        parts = FILE_NAME.fullmatch(name)
        assert parts, f"{service}: {name} is not <position>_<revision>_<slug>.py"
        assert int(parts["position"]) == position, f"{service}: {name} is applied #{position}"
        assert parts["revision"] == revision, f"{service}: {name} holds revision {revision}"
