"""A real OpenID provider for the single sign-on tests: devtools/oidc/provider.mjs (the certified
`oidc-provider` package from npm, installed by `make oidc-provider`), run as a process of its own.

Nothing here imitates the provider: the tests talk to it as a browser would (its sign-in page,
its redirects), and Bridgework talks to it as to any organisation's identity provider."""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from devtools.stack import free_port

PROVIDER_DIR = Path(__file__).resolve().parents[2] / "devtools" / "oidc"
START_TIMEOUT_SECONDS = 30
START_ATTEMPTS = 2


@dataclass(frozen=True)
class RegisteredClient:
    """A relying party as an administrator registers it at the provider."""

    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...] = ()

    def as_json(self) -> dict[str, object]:
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "redirect_uris": list(self.redirect_uris),
            "post_logout_redirect_uris": list(self.post_logout_redirect_uris),
        }


@dataclass(frozen=True)
class RunningProvider:
    issuer: str
    clients: tuple[RegisteredClient, ...] = field(default=())


@contextlib.contextmanager
def running_provider(
    clients: list[RegisteredClient],
    *,
    id_token_clock_offset_seconds: int = 0,
    id_token_ttl_seconds: int = 300,
) -> Iterator[RunningProvider]:
    """The provider, listening until the block ends. ``id_token_clock_offset_seconds`` signs
    its ID tokens by a clock that far off (negative: tokens that have already expired)."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js 20 or later is needed for the single sign-on tests")
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        pytest.fail(f"no OpenID provider in {PROVIDER_DIR}: run `make oidc-provider`")
    settings = {
        "OIDC_CLIENTS": json.dumps([client.as_json() for client in clients]),
        "OIDC_ID_TOKEN_CLOCK_OFFSET_SECONDS": str(id_token_clock_offset_seconds),
        "OIDC_ID_TOKEN_TTL_SECONDS": str(id_token_ttl_seconds),
    }
    # A CI run once saw the provider print nothing for minutes in five tests in a row, while
    # by hand it started at once: a start now has a deadline and says what the provider
    # printed, and one that missed it is tried once more on another port.
    failures: list[str] = []
    for _ in range(START_ATTEMPTS):
        with tempfile.TemporaryFile("w+") as stderr:
            process = subprocess.Popen(
                [node, "provider.mjs"],
                cwd=PROVIDER_DIR,
                env=os.environ | settings | {"OIDC_PORT": str(free_port())},
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
            try:
                line = _first_line(process, START_TIMEOUT_SECONDS)
                if line:
                    yield RunningProvider(issuer=json.loads(line)["issuer"], clients=tuple(clients))
                    return
                stderr.seek(0)
                failures.append(_start_failure(process, stderr.read()))
            finally:
                _stop(process)
    pytest.fail("the OpenID provider did not start:\n" + "\n".join(failures))


def _first_line(process: subprocess.Popen[str], timeout: float) -> str:
    """The provider's first line of output: one JSON line once it listens; empty if it exited
    or said nothing within ``timeout`` seconds."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            return ""
    return process.stdout.readline()


def _start_failure(process: subprocess.Popen[str], stderr: str) -> str:
    code = process.poll()
    state = f"exited with {code}" if code is not None else "still silent"
    return f"after {START_TIMEOUT_SECONDS} s, {state}; its stderr: {stderr.strip() or '(nothing)'}"


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
