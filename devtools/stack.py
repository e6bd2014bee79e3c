"""Starts Bridgework's three services (and optionally the SMTP catcher) as local processes.

Used by ``make demo`` and by the end-to-end tests: the services run exactly as in production,
as separate processes talking to the real Kafka broker, PostgreSQL and SMTP server.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import asyncpg
import httpx

from devtools import ROOT
from shared.db import database_name, database_named

SERVICES = ("profiles", "matcher", "notifier")


@dataclass(frozen=True)
class StackConfig:
    database_url: str
    kafka_bootstrap_servers: str = "127.0.0.1:19092"
    smtp_port: int = 2525
    http_port: int = 8000
    log_dir: Path = ROOT / ".local" / "logs"
    round_quiet_seconds: float = 1.5
    extra_environment: tuple[tuple[str, str], ...] = ()  # more BRIDGEWORK_* settings
    api_token: str | None = None  # an administrator's, for the JSON API (with_api_token)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def api_headers(self) -> dict[str, str]:
        """What a client of the JSON API sends (nothing without a token: refused with 401)."""
        return {"Authorization": f"Bearer {self.api_token}"} if self.api_token else {}

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            BRIDGEWORK_DATABASE_URL=self.database_url,
            BRIDGEWORK_KAFKA_BOOTSTRAP_SERVERS=self.kafka_bootstrap_servers,
            BRIDGEWORK_SMTP_HOST="127.0.0.1",
            BRIDGEWORK_SMTP_PORT=str(self.smtp_port),
            BRIDGEWORK_HTTP_PORT=str(self.http_port),
            BRIDGEWORK_PUBLIC_BASE_URL=self.base_url,
            BRIDGEWORK_ROUND_QUIET_SECONDS=str(self.round_quiet_seconds),
            BRIDGEWORK_MAIL_RETRY_SECONDS="1",
        )
        env.update(self.extra_environment)
        return env


async def fresh_database(server_url: str, name: str) -> str:
    """Drop and create the database ``name`` on the server of ``server_url``; returns its URL."""
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return database_named(server_url, name)


async def drop_database(server_url: str, url: str) -> None:
    """Drop the database ``url`` names, from the server of ``server_url`` (connections and
    all): what ``fresh_database`` made, once its user is done with it."""
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{database_name(url)}" WITH (FORCE)')
    finally:
        await conn.close()


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A port free now and never handed out before by this process: the kernel may offer a
    port again as soon as its probe socket closes, and two services on one port would let the
    one that lost the race look ready through the other."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


class ServiceProcess:
    def __init__(
        self,
        name: str,
        args: list[str],
        config: StackConfig,
        ops_port: int | None = None,
        service: str | None = None,
    ) -> None:
        config.log_dir.mkdir(parents=True, exist_ok=True)
        self.name = name  # also its log's name: "matcher", or "matcher-2" for a second replica
        self.service = service or name
        self.log_path = config.log_dir / f"{name}.log"
        # Where /metrics and /health/* answer (the profiles API serves them on its own port).
        self.ops_url = f"http://127.0.0.1:{ops_port or config.http_port}"
        env = config.environment()
        if ops_port is not None:
            env["BRIDGEWORK_OPS_PORT"] = str(ops_port)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        if not self.alive():
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, as in a crash."""
        self.process.kill()
        self.process.wait()


def with_api_token(config: StackConfig, name: str = "stack") -> StackConfig:
    """The config with a new administrator's API token for its database, made as an
    administrator makes one (``bridgework accounts create-api-token``, which also brings the
    profiles schema up to date, so it may run before the services start)."""
    unique = f"{name}-{os.getpid()}-{time.time_ns()}"
    args = [sys.executable, "-m", "services.cli", "accounts", "create-api-token", "--name", unique]
    made = subprocess.run(
        args, cwd=ROOT, env=config.environment(), capture_output=True, text=True, check=False
    )
    if made.returncode != 0:
        raise RuntimeError(f"could not make an API token: {made.stderr[-2000:]}")
    return replace(config, api_token=made.stdout.strip())


def start_service(name: str, config: StackConfig) -> ServiceProcess:
    """The service ``name`` ("matcher"), or a further replica of it ("matcher-2": its own log,
    and for the profiles service its own HTTP port)."""
    service, _, replica = name.partition("-")
    if replica and service == "profiles":
        config = replace(config, http_port=free_port())
    # A free operations port each, so stacks of several checkouts never collide.
    ops_port = None if service == "profiles" else free_port()
    args = [sys.executable, "-m", f"services.{service}"]
    return ServiceProcess(name, args, config, ops_port, service=service)


def replica_names(replicas: int) -> list[str]:
    """Every service's processes when each runs ``replicas`` times: "matcher", "matcher-2"..."""
    return [
        name if replica == 1 else f"{name}-{replica}"
        for name in SERVICES
        for replica in range(1, replicas + 1)
    ]


def start_smtp_catcher(config: StackConfig, maildir: Path) -> ServiceProcess:
    script = str(ROOT / "devtools" / "smtp_catcher.py")
    args = [sys.executable, script, "--port", str(config.smtp_port), "--maildir", str(maildir)]
    return ServiceProcess("smtp", args, config)


def wait_until_ready(
    config: StackConfig, processes: list[ServiceProcess], timeout: float = 90
) -> None:
    """Wait for every service to answer ready; fail early (with the log) if one dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in processes:
            if not process.alive():
                tail = process.log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{process.name} exited during start-up:\n{tail}")
        services = [p for p in processes if p.service in SERVICES]
        if all(_ready(p.service, p.ops_url) for p in services):
            return
        time.sleep(0.3)
    raise TimeoutError(f"the services did not all become ready within {timeout:.0f}s")


def _ready(service: str, base_url: str) -> bool:
    """Ready, and it is ``service`` that says so (not another process on that port)."""
    try:
        response = httpx.get(f"{base_url}/health/ready", timeout=2)
    except httpx.HTTPError:
        return False
    if response.status_code != 200:
        return False
    answered_by = response.json().get("service")
    if answered_by != service:
        raise RuntimeError(f"{base_url} is answered by {answered_by!r}, not the {service}")
    return True


@contextmanager
def running_stack(
    config: StackConfig, maildir: Path | None = None, replicas: int = 1
) -> Iterator[dict[str, ServiceProcess]]:
    """The three services, each ``replicas`` times (``replica_names``), and an SMTP catcher
    when ``maildir`` is given; stopped on exit."""
    processes: dict[str, ServiceProcess] = {}
    try:
        if maildir is not None:
            processes["smtp"] = start_smtp_catcher(config, maildir)
        for name in replica_names(replicas):
            processes[name] = start_service(name, config)
        # Every process imports and migrates at once: more of them take longer on few cores.
        wait_until_ready(config, list(processes.values()), timeout=90 * replicas)
        yield processes
    finally:
        for process in reversed(list(processes.values())):
            process.stop()
