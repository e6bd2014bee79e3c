"""Database URLs as operators write them: percent-encoded passwords, options, socket hosts.

A URL is the operator's; the services only ever change which database it names (tests and the
benchmark make databases of their own) and hand it to Alembic and asyncpg as it was given."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

from shared.db import database_name, database_named, migration_config, sqlalchemy_url

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "matcher" / "migrations"

URLS = [
    "postgresql://bridgework@127.0.0.1:55432/bridgework",
    "postgresql://app:p%40ss%25w0rd@db.internal:5432/bridgework?sslmode=require",
    "postgresql://bridgework@/bridgework?host=/var/run/postgresql&port=5432",
    "postgresql://bridgework@%2Ftmp%2Fpg:55432/bridgework",
]

names = st.from_regex(r"[a-z_][a-z0-9_]{0,40}", fullmatch=True)
passwords = st.text(min_size=1, max_size=30).filter(lambda p: "\x00" not in p)


@given(st.sampled_from(URLS), names)
def test_only_the_database_changes(url: str, name: str) -> None:
    renamed = database_named(url, name)
    assert database_name(renamed) == name
    before, after = url.partition("?"), renamed.partition("?")
    assert after[1:] == before[1:], "the options stay as they were"
    assert after[0].rsplit("/", 1)[0] == before[0].rsplit("/", 1)[0], "user, host, port stay"


@given(passwords, names)
def test_a_percent_encoded_password_reaches_alembic_as_written(password: str, name: str) -> None:
    """Alembic's main options are ConfigParser values, where ``%`` interpolates: a password
    such as ``p%40ss`` made every migration fail with "invalid interpolation syntax"."""
    url = f"postgresql://app:{quote(password, safe='')}@db:5432/{name}"
    config = migration_config(url, "matcher", MIGRATIONS)
    assert config.attributes["database_url"] == sqlalchemy_url(url)
    assert database_name(url) == name


def test_the_database_name_is_decoded() -> None:
    assert database_name("postgresql://u@h/caf%C3%A9?sslmode=require") == "café"
