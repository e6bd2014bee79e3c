"""The operator's journey: one profile change, made over HTTP on the running stack, can be
followed by its correlation id through all three services' logs, the proposal's Kafka headers
and the email; the services' /metrics show it too. No personal data reaches a log."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import re
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
from typer.testing import CliRunner

from devtools.stack import SERVICES, ServiceProcess, StackConfig, running_stack
from services.cli.main import app
from shared.topics import Topic
from tests.support.kafka import read_topic
from tests.support.stack import e2e_config

pytestmark = pytest.mark.e2e

Stack = tuple[StackConfig, Path, dict[str, ServiceProcess]]


@pytest.fixture(scope="module")
def stack(
    database_url: str, kafka: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("journey")
    config = e2e_config(database_url, kafka, folder)
    with running_stack(config, maildir=folder / "mail") as processes:
        yield config, folder / "mail", processes


def wait_for_log(
    process: ServiceProcess, *needles: str, count: int = 1, timeout: float = 30
) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = process.log_path.read_text(errors="replace").splitlines()
        found = [line for line in lines if all(needle in line for needle in needles)]
        if len(found) >= count:
            return found[0]
        time.sleep(0.2)
    raise AssertionError(f"no {count} {process.name} log lines with {needles} in {timeout}s")


def wait_for_mail(maildir: Path, contains: str, timeout: float = 60) -> EmailMessage:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted(maildir.glob("*.eml")):
            raw = path.read_bytes()
            if contains.encode() in raw:
                message = email.message_from_bytes(raw, policy=email.policy.default)
                assert isinstance(message, EmailMessage)
                return message
        time.sleep(0.3)
    raise AssertionError(f"no email mentioning {contains!r} arrived within {timeout}s")


def set_up_network(http: httpx.Client, tag: str, setup_id: str) -> None:
    headers = {"X-Correlation-ID": setup_id}
    coordinators = [{"name": "Jo Coordinator", "email": f"jo.{tag}@network.example"}]
    network = {"name": "Journey Network", "coordinators": coordinators}
    assert http.put(f"/networks/j-{tag}", json=network, headers=headers).status_code == 204
    for code, region in ((f"A{tag}", "London"), (f"B{tag}", "London")):
        trust = {"name": f"Trust {code}", "region": region, "network_id": f"j-{tag}"}
        assert http.put(f"/trusts/{code}", json=trust, headers=headers).status_code == 204
    mentor = {
        "name": f"Maeve Mentor{tag}",
        "email": f"maeve.{tag}@example.org",
        "job_title": "Chief Information Officer",
        "trust_code": f"A{tag}",
        "skills": [{"skill": "board-influence", "level": 7}],
        "capacity": 1,
        "hours_per_month": 4,
    }
    assert http.post("/mentors", json=mentor, headers=headers).status_code == 201


def journey_mentee(tag: str) -> dict[str, Any]:
    """The mentee whose arrival each journey follows (the network's mentor covers her gap)."""
    return {
        "name": f"Niamh Mentee{tag}",
        "email": f"niamh.{tag}@example.org",
        "job_title": "Informatics Lead",
        "trust_code": f"B{tag}",
        "gaps": [{"skill": "board-influence", "current": 2, "target": 5}],
    }


def metric_value(base_url: str, name: str) -> float:
    text = httpx.get(f"{base_url}/metrics", timeout=5).text
    values = [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    ]
    return sum(values)


def test_one_profile_change_is_followed_through_logs_headers_email_and_metrics(
    stack: Stack, kafka: str
) -> None:
    config, maildir, processes = stack
    tag = uuid4().hex[:6]
    setup_id, change_id = f"setup-{tag}", f"journey-{tag}"
    with httpx.Client(base_url=config.base_url, headers=config.api_headers, timeout=10) as http:
        set_up_network(http, tag, setup_id)
        # The network, its trusts and the mentor are in the matcher's tables before the change
        # we follow is made (so the round it asks for is that change's round).
        wait_for_log(processes["matcher"], f"[{setup_id}]", "handled", count=4)
        mentee = journey_mentee(tag)
        response = http.post("/mentees", json=mentee, headers={"X-Correlation-ID": change_id})
    assert response.status_code == 201
    assert response.headers["X-Correlation-ID"] == change_id
    mentee_id = response.json()["id"]

    message = wait_for_mail(maildir, f"Niamh Mentee{tag}")
    assert message["X-Correlation-ID"] == change_id

    proposals = asyncio.run(
        read_topic(
            kafka,
            Topic.PROPOSALS.value,
            lambda r: mentee_of(r.value) == mentee_id,
        )
    )
    assert proposals
    headers = dict(proposals[0].headers)
    assert headers["x-correlation-id"].decode() == change_id

    assert "POST /mentees -> 201" in wait_for_log(processes["profiles"], f"[{change_id}]")
    wait_for_log(processes["matcher"], f"[{change_id}]", "handled bridgework.people.v1")
    wait_for_log(processes["matcher"], f"[{change_id}]", f"round for network j-{tag}")
    wait_for_log(processes["notifier"], f"[{change_id}]", "handled bridgework.proposals.v1")
    wait_for_log(processes["notifier"], f"[{change_id}]", "sent proposal email")

    for process in processes.values():
        log_text = process.log_path.read_text(errors="replace")
        assert f"Mentee{tag}" not in log_text, process.name
        assert f"niamh.{tag}" not in log_text, process.name

    assert (
        metric_value(
            processes["profiles"].ops_url, "bridgework_http_request_duration_seconds_count"
        )
        >= 4
    )
    assert metric_value(processes["matcher"].ops_url, "bridgework_proposals_total") >= 1
    assert metric_value(processes["notifier"].ops_url, "bridgework_emails_sent_total") >= 1
    assert metric_value(processes["matcher"].ops_url, "faststream_received_messages_total") >= 4


def wait_for_mail_to(maildir: Path, address: str, timeout: float = 60) -> EmailMessage:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted(maildir.glob("*.eml")):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            if address in str(message["To"]):
                return message
        time.sleep(0.3)
    raise AssertionError(f"no email to {address} arrived within {timeout}s")


def test_a_decision_is_followed_to_the_introductions_by_its_correlation_id(stack: Stack) -> None:
    """The notifier introduces an approved match from its mail queue, not while handling the
    decision: the introductions still carry the decision's correlation id."""
    config, maildir, processes = stack
    tag = uuid4().hex[:6]
    with httpx.Client(base_url=config.base_url, headers=config.api_headers, timeout=10) as http:
        set_up_network(http, tag, f"setup-{tag}")
        wait_for_log(processes["matcher"], f"[setup-{tag}]", "handled", count=4)
        mentee = journey_mentee(tag)
        assert http.post("/mentees", json=mentee).status_code == 201
        proposal = wait_for_mail_to(maildir, f"jo.{tag}@network.example")
        body = proposal.get_body(preferencelist=("plain",))
        assert body is not None
        [approve] = re.findall(r"Approve: \S+(/links/decision/\S+)", body.get_content())
        decision_id = f"decide-{tag}"
        response = http.post(approve, headers={"X-Correlation-ID": decision_id})
    assert response.status_code == 303
    assert response.headers["X-Correlation-ID"] == decision_id

    for address in (f"maeve.{tag}@example.org", f"niamh.{tag}@example.org"):
        introduction = wait_for_mail_to(maildir, address)
        assert introduction["X-Correlation-ID"] == decision_id
    wait_for_log(processes["notifier"], f"[{decision_id}]", "handled bridgework.decisions.v1")
    wait_for_log(processes["notifier"], f"[{decision_id}]", "sent introduction email", count=2)


def test_every_service_is_live_and_ready_with_its_checks(stack: Stack) -> None:
    _, _, processes = stack
    for name in ("profiles", "matcher", "notifier"):
        base = processes[name].ops_url
        assert httpx.get(f"{base}/health/live", timeout=5).json() == {"status": "ok"}
        ready = httpx.get(f"{base}/health/ready", timeout=5)
        assert ready.status_code == 200, name
        assert ready.json()["checks"] == {"database": "ok", "kafka": "ok", "consumer": "ok"}
        assert ready.json()["service"] == name
        metrics = httpx.get(f"{base}/metrics", timeout=5).text
        if name != "notifier":  # the two services that publish through an outbox
            assert f'bridgework_outbox_backlog{{service="{name}"}}' in metrics
        # Every service consumes: the matcher and notifier their inputs, profiles its read model.
        assert f'bridgework_consumer_lag{{group="bridgework-{name}"' in metrics
        if name == "notifier":
            assert 'bridgework_mail_queue_emails{status="uncertain"}' in metrics
        asyncapi = httpx.get(f"{base}/docs/asyncapi.json", timeout=5).json()
        assert Topic.PROPOSALS.value in json.dumps(asyncapi["channels"])


def test_status_reports_the_running_stack(stack: Stack, database_url: str, kafka: str) -> None:
    _, _, processes = stack
    urls = [f"--service-url={name}={processes[name].ops_url}" for name in SERVICES]
    env = {"BRIDGEWORK_DATABASE_URL": database_url, "BRIDGEWORK_KAFKA_BOOTSTRAP_SERVERS": kafka}
    result = CliRunner().invoke(app, ["status", "--json", *urls], env=env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["services"] == dict.fromkeys(SERVICES, "ready")
    assert set(report["outbox_backlog"]) == {"profiles", "matcher"}
    assert sum(report["pending_proposals"].values()) >= 1  # the journey's proposal
    assert set(report["mail_queue"]) == {"pending", "sending", "uncertain", "failed"}


def mentee_of(value: bytes | None) -> str | None:
    """The mentee of a proposal message; None for anything else on the topic (other tests write
    poison messages there on purpose)."""
    try:
        payload = json.loads(value or b"")
    except (ValueError, RecursionError):  # the poison includes JSON nested 5,000 deep
        return None
    mentee = payload.get("mentee_id") if isinstance(payload, dict) else None
    return str(mentee) if mentee is not None else None
