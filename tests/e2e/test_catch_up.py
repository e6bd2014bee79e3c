"""Catch-up after a crash: events published while the matcher and the notifier were killed
(SIGKILL, no clean shutdown) are processed when they restart, and the email is sent once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import httpx
import pytest

from devtools.stack import (
    ServiceProcess,
    StackConfig,
    free_port,
    running_stack,
    start_service,
    with_api_token,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(
    database_url: str, kafka: str, tmp_path: Path
) -> Iterator[tuple[StackConfig, Path, dict[str, ServiceProcess]]]:
    config = StackConfig(
        database_url=database_url,
        kafka_bootstrap_servers=kafka,
        smtp_port=free_port(),
        http_port=free_port(),
        log_dir=tmp_path / "logs",
        round_quiet_seconds=0.5,
    )
    config = with_api_token(config, "catch-up")
    with running_stack(config, maildir=tmp_path / "mail") as processes:
        yield config, tmp_path / "mail", processes


def mails_to(maildir: Path, address: str) -> list[bytes]:
    return [
        p.read_bytes() for p in sorted(maildir.glob("*.eml")) if address.encode() in p.read_bytes()
    ]


def test_services_killed_mid_stream_catch_up_and_send_once(
    stack: tuple[StackConfig, Path, dict[str, ServiceProcess]],
) -> None:
    config, maildir, processes = stack
    for name in ("matcher", "notifier"):
        processes[name].kill()

    tag = uuid4().hex[:6]
    coordinator = f"catch.up.{tag}@network.example"
    with httpx.Client(base_url=config.base_url, headers=config.api_headers, timeout=10) as http:
        http.put(
            f"/networks/cu-{tag}",
            json={
                "name": "Catch-up network",
                "coordinators": [{"name": "Cat", "email": coordinator}],
            },
        ).raise_for_status()
        for code in (f"X{tag}", f"Y{tag}"):
            http.put(
                f"/trusts/{code}",
                json={
                    "name": f"Trust {code}",
                    "region": "London",
                    "network_id": f"cu-{tag}",
                },
            ).raise_for_status()
        http.post(
            "/mentors",
            json={
                "name": "Mo Mentor",
                "email": f"mo.{tag}@example.org",
                "job_title": "CIO",
                "trust_code": f"X{tag}",
                "skills": [{"skill": "data-analytics", "level": 6}],
                "capacity": 1,
                "hours_per_month": 4,
            },
        ).raise_for_status()
        http.post(
            "/mentees",
            json={
                "name": "Mia Mentee",
                "email": f"mia.{tag}@example.org",
                "job_title": "Analyst",
                "trust_code": f"Y{tag}",
                "gaps": [{"skill": "data-analytics", "current": 2, "target": 5}],
            },
        ).raise_for_status()

    time.sleep(2)
    assert mails_to(maildir, coordinator) == []  # nobody was there to match or send

    for name in ("matcher", "notifier"):
        processes[name] = start_service(name, config)
    deadline = time.monotonic() + 60
    while not mails_to(maildir, coordinator) and time.monotonic() < deadline:
        time.sleep(0.3)
    time.sleep(3)  # long enough for a duplicate to show up, were there one
    [mail] = mails_to(maildir, coordinator)
    assert b"Mia Mentee" in mail
