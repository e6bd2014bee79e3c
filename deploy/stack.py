"""Starts Bridgework's three services (and optionally the SMTP catcher) as local processes.

Used by ``make demo`` and by the end-to-end tests: the services run exactly as in production,
as separate processes talking to the real Kafka broker, PostgreSQL and SMTP server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
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

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

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


class ServiceProcess:
    def __init__(self, name: str, args: list[str], config: StackConfig) -> None:
        config.log_dir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.log_path = config.log_dir / f"{name}.log"
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            args, cwd=ROOT, env=config.environment(), stdout=log, stderr=subprocess.STDOUT
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


def start_service(name: str, config: StackConfig) -> ServiceProcess:
    return ServiceProcess(name, [sys.executable, "-m", f"services.{name}"], config)


def start_smtp_catcher(config: StackConfig, maildir: Path) -> ServiceProcess:
    script = str(ROOT / "deploy" / "smtp_catcher.py")
    args = [sys.executable, script, "--port", str(config.smtp_port), "--maildir", str(maildir)]
    return ServiceProcess("smtp", args, config)


def wait_until_ready(
    config: StackConfig, processes: list[ServiceProcess], timeout: float = 90
) -> None:
    """Wait for the HTTP API to answer ready; fail early (with the log) if a service dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in processes:
            if not process.alive():
                tail = process.log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{process.name} exited during start-up:\n{tail}")
        try:
            if httpx.get(f"{config.base_url}/health/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"the profiles API did not become ready within {timeout:.0f}s")


@contextmanager
def running_stack(
    config: StackConfig, maildir: Path | None = None
) -> Iterator[dict[str, ServiceProcess]]:
    """The three services (and an SMTP catcher when ``maildir`` is given), stopped on exit."""
    processes: dict[str, ServiceProcess] = {}
    try:
        if maildir is not None:
            processes["smtp"] = start_smtp_catcher(config, maildir)
        for name in SERVICES:
            processes[name] = start_service(name, config)
        wait_until_ready(config, list(processes.values()))
        yield processes
    finally:
        for process in reversed(list(processes.values())):
            process.stop()
