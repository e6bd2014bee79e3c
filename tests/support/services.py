"""Whether the servers a test needs are running: skip locally, fail in CI."""

from __future__ import annotations

import os
import socket

import pytest


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def require_service(name: str, host: str, port: int) -> None:
    """Skip locally when a server is not running; in CI a missing server is a failure."""
    if port_open(host, port):
        return
    message = f"{name} is not reachable at {host}:{port}: start it with `make infra-up`"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)
