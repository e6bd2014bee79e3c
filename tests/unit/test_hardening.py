"""Safe defaults: production refuses development secrets; request bodies have a size limit;
names refuse line breaks (header injection) and text refuses NUL."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from shared.limits import RequestSizeLimit
from shared.settings import (
    DEVELOPMENT_SECRET_KEY,
    MIN_PRODUCTION_SECRET_LENGTH,
    Settings,
    weak_secret_reason,
)
from shared.text import FreeText, SingleLine

ROOT = Path(__file__).resolve().parents[2]
STRONG = "q7Rk2vX9mW4pLs8tNc3yHb6jZf1dGa5e"  # a fixed stand-in for a generated key
PRODUCTION: dict[str, Any] = {
    "environment": "production",
    "secret_key": STRONG,
    "public_base_url": "https://bridgework.example.nhs.uk",
}


@pytest.mark.parametrize(
    ("changes", "refusal"),
    [
        ({"secret_key": DEVELOPMENT_SECRET_KEY}, "SECRET_KEY must be set"),
        ({"secret_key": "short"}, "at least 32 characters"),
        ({"secret_key": "x" * 40 + "Change-Me"}, "placeholder"),
        ({"public_base_url": "http://bridgework.example"}, "must be https"),
        ({"smtp_username": "mailer", "smtp_use_tls": False}, "USE_TLS"),
    ],
)
def test_production_refuses_unsafe_settings(changes: dict[str, Any], refusal: str) -> None:
    with pytest.raises(ValidationError, match=refusal):
        Settings(**(PRODUCTION | changes))


@pytest.mark.parametrize(
    "weak",
    [" " * 32, "k" * 40, "ab" * 20, "0123456" * 6, " " + STRONG, "a" * 31 + "bcdefghi"],
)
def test_production_refuses_weak_secret_keys(weak: str) -> None:
    with pytest.raises(ValidationError, match="SECRET_KEY") as refusal:
        Settings(**(PRODUCTION | {"secret_key": weak}))
    assert [f for f in _fragments(weak.strip()) if f in str(refusal.value)] == []


def test_generated_secret_keys_are_accepted() -> None:
    """The rule refuses patterns, never a key made the way docs/security.md says."""
    keys = [secrets.token_hex(16) for _ in range(2000)]
    keys += [secrets.token_urlsafe(32) for _ in range(2000)]
    assert [key for key in keys if weak_secret_reason(key) is not None] == []


SMTP_PASSWORD = "smtp-Pa55word-nobody-may-read"
LEAKY: list[dict[str, Any]] = [
    {"secret_key": "weak-" + "z" * 40},
    {"public_base_url": "http://bridgework.example"},
    {"smtp_username": "mailer-account-name", "smtp_password": SMTP_PASSWORD},
    {"round_quiet_seconds": -1, "smtp_password": SMTP_PASSWORD},
]


def _fragments(secret: str, size: int = 6) -> set[str]:
    return {secret[i : i + size] for i in range(len(secret) - size + 1)}


@pytest.mark.parametrize("changes", LEAKY)
def test_a_refusal_quotes_no_part_of_a_secret(changes: dict[str, Any]) -> None:
    given = PRODUCTION | changes
    with pytest.raises(ValidationError) as refusal:
        Settings(**given)
    text = str(refusal.value)
    secrets_given = [given["secret_key"], SMTP_PASSWORD, "mailer-account-name"]
    assert [f for s in secrets_given for f in _fragments(s) if f in text] == []


def test_a_service_refusing_its_settings_logs_no_part_of_a_secret() -> None:
    """What an operator's log shows when a production service will not start."""
    secret = "tail-" + "y" * 40
    env = os.environ | {
        "BRIDGEWORK_ENVIRONMENT": "production",
        "BRIDGEWORK_SECRET_KEY": secret,
        "BRIDGEWORK_SMTP_USERNAME": "mailer-account-name",
        "BRIDGEWORK_SMTP_PASSWORD": SMTP_PASSWORD,
        "BRIDGEWORK_SMTP_USE_TLS": "true",
        "BRIDGEWORK_PUBLIC_BASE_URL": "https://bridgework.example.nhs.uk",
    }
    run = subprocess.run(
        [sys.executable, "-m", "services.profiles"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    log = run.stdout + run.stderr
    assert run.returncode != 0
    assert "SECRET_KEY" in log
    leaked = [f for s in (secret, SMTP_PASSWORD) for f in _fragments(s) if f in log]
    assert leaked == []


def test_production_refuses_the_k8s_placeholder_secret_key() -> None:
    manifest = (ROOT / "deploy" / "k8s" / "secrets.yaml").read_text(encoding="utf-8")
    placeholder = re.search(r"BRIDGEWORK_SECRET_KEY: (\S+)", manifest)
    assert placeholder is not None
    # Long enough to pass the length rule: only the placeholder rule refuses it.
    assert len(placeholder[1]) >= MIN_PRODUCTION_SECRET_LENGTH
    with pytest.raises(ValidationError, match="placeholder"):
        Settings(**(PRODUCTION | {"secret_key": placeholder[1]}))


def test_production_accepts_safe_settings_and_development_keeps_its_defaults() -> None:
    assert Settings(**PRODUCTION).environment == "production"
    assert Settings(environment="development").secret_key.get_secret_value() == (
        DEVELOPMENT_SECRET_KEY
    )


def test_secrets_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIDGEWORK_SECRET_KEY", STRONG)
    monkeypatch.setenv("BRIDGEWORK_SMTP_PASSWORD", "from-env")
    settings = Settings()
    assert settings.secret_key.get_secret_value() == STRONG
    assert settings.smtp_password is not None
    assert "from-env" not in repr(settings)  # never printed by accident


async def echo(request: Request) -> JSONResponse:
    return JSONResponse({"size": len(await request.body())})


@pytest.fixture
async def limited() -> AsyncIterator[httpx.AsyncClient]:
    app = RequestSizeLimit(Starlette(routes=[Route("/", echo, methods=["POST"])]), 1000)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://limited") as client:
        yield client


async def test_a_body_at_the_limit_passes_through(limited: httpx.AsyncClient) -> None:
    response = await limited.post("/", content=b"x" * 1000)
    assert response.json() == {"size": 1000}


async def test_a_path_with_a_limit_of_its_own_takes_more_and_only_it() -> None:
    routes = [Route(path, echo, methods=["POST"]) for path in ("/", "/dashboard/n1/imports")]
    app = RequestSizeLimit(
        Starlette(routes=routes), 1000, path_limits=[(r"/dashboard/[^/]+/imports", 5000)]
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://limited") as client:
        assert (await client.post("/dashboard/n1/imports", content=b"x" * 5000)).json() == {
            "size": 5000
        }
        over = await client.post("/dashboard/n1/imports", content=b"x" * 5001)
        assert over.status_code == 413
        assert "larger than 5000 bytes" in over.json()["detail"]
        assert (await client.post("/", content=b"x" * 1001)).status_code == 413
        # The whole path must match: a longer one keeps the general limit.
        assert app.limit_for("/dashboard/n1/imports/x") == 1000


async def test_a_body_over_the_limit_is_refused_before_the_app_sees_it(
    limited: httpx.AsyncClient,
) -> None:
    declared = await limited.post("/", content=b"x" * 1001)
    assert declared.status_code == 413
    assert declared.json()["detail"] == (
        "the request body is larger than 1000 bytes; nothing was stored"
    )

    async def chunked() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"y" * 300

    streamed = await limited.post("/", content=chunked())
    assert streamed.status_code == 413


class Named(BaseModel):
    name: SingleLine
    text: FreeText = ""


@pytest.mark.parametrize(
    "name", ["Eve\r\nBcc: victim@example.org", "Eve\nX", "nul\x00", "bell\x07", ""]
)
def test_a_name_is_one_line_of_text(name: str) -> None:
    with pytest.raises(ValidationError):
        Named(name=name)


def test_free_text_keeps_lines_and_markup_but_refuses_nul() -> None:
    text = "Line one\r\nLine two\t<script>alert(1)</script> ' OR 1=1 --"
    assert Named(name="<b>Ann</b> O'Neil", text=text).text == text
    with pytest.raises(ValidationError, match="control characters"):
        Named(name="Ann", text="a\x00b")
