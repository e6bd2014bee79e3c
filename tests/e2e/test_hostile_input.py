"""Bad input at every door, against the three services running as processes.

The HTTP API is fuzzed from its own OpenAPI schema; bodies over the limit and injection strings
go into every text field; poison messages are written straight to every topic with a plain
Kafka client. Nothing crashes, every refusal is clear, each consumer parks what it cannot read
and carries on, and the logs of the whole run hold no name or email address."""

from __future__ import annotations

import email
import email.policy
import itertools
import json
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
import schemathesis
from aiokafka import AIOKafkaProducer
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.result import Ok

from devtools.stack import StackConfig, running_stack
from shared.events import PersonErased
from shared.kafka import (
    DEAD_LETTER_CONSUMER,
    DEAD_LETTER_KIND,
    DEAD_LETTER_OFFSET,
    DEAD_LETTER_PARTITION,
    DEAD_LETTER_SOURCE,
)
from shared.topics import Topic
from shared.topology import subscriptions
from tests.support.kafka import read_topic
from tests.support.stack import e2e_config, personal_data_in_logs

pytestmark = pytest.mark.e2e

TAG = uuid4().hex[:6]
# Every name and email address this module sends: none may appear in any service's log.
PERSONAL_DATA: set[str] = set()

INJECTIONS = [
    "Robert'); DROP TABLE people;--",
    "<script>alert('x')</script>",
    "<img src=x onerror=alert(1)>",
    "{{ 7*7 }} ${7*7}",
    "Eve\r\nBcc: victim@example.org",
    "Ünïcødé 名前 \u202e mirrored",
    "𝔘" * 150,
    "𝔘" * 5000,
    "nul \x00 byte",
]
# Which services consume each topic, from the one list the AsyncAPI document is made from.
READ_BY: dict[Topic, tuple[str, ...]] = {
    topic: tuple(service for service, topics in subscriptions().items() if topic in topics)
    for topic in Topic
    if topic is not Topic.DEAD_LETTERS
}


@pytest.fixture(scope="module")
def stack(
    database_url: str, kafka: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StackConfig]:
    folder = tmp_path_factory.mktemp("hostile")
    config = e2e_config(database_url, kafka, folder)
    with running_stack(config, maildir=folder / "mail"):
        yield config


@pytest.fixture(scope="module")
def http(stack: StackConfig) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.base_url, headers=stack.api_headers, timeout=15) as client:
        yield client


def fresh_network(http: httpx.Client, label: str) -> tuple[str, str, str]:
    """A network of its own with two trusts: (network id, trust A, trust B)."""
    network_id = f"{label}-{TAG}"
    coordinator = f"{label}.coordinator.{TAG}@network.example"
    PERSONAL_DATA.add(coordinator)
    body = {"name": label, "coordinators": [{"name": f"{label} Coord", "email": coordinator}]}
    assert http.put(f"/networks/{network_id}", json=body).status_code == 204
    trusts = (f"A{label[:6]}{TAG}", f"B{label[:6]}{TAG}")
    for code in trusts:
        trust = {"name": f"Trust {code}", "region": "London", "network_id": network_id}
        assert http.put(f"/trusts/{code}", json=trust).status_code == 204
    return network_id, *trusts


@pytest.fixture(scope="module")
def network(http: httpx.Client) -> tuple[str, str, str]:
    return fresh_network(http, "hostile")


def person(role: str, trust: str, name: str, **more: Any) -> dict[str, Any]:
    address = f"{role}.{uuid4().hex[:8]}@hostile.example"
    PERSONAL_DATA.update({address, name})
    body: dict[str, Any] = {
        "name": name,
        "email": address,
        "job_title": "Lead",
        "trust_code": trust,
    }
    if role == "mentor":
        body |= {"skills": [{"skill": "data-analytics", "level": 6}], "capacity": 1}
        body |= {"hours_per_month": 4}
    else:
        body |= {"gaps": [{"skill": "data-analytics", "current": 1, "target": 5}]}
    return body | more


def wait_for_mail(stack: StackConfig, contains: str, timeout: float = 60) -> EmailMessage:
    """The first email whose subject or decoded text or HTML contains ``contains``."""
    maildir = Path(stack.log_dir).parent / "mail"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted(maildir.glob("*.eml")):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            if contains in message_text(message):
                return message
        time.sleep(0.3)
    raise AssertionError(f"no email containing {contains!r} within {timeout}s")


def message_text(message: EmailMessage) -> str:
    parts = [str(message["Subject"])]
    for kind in ("plain", "html"):
        body = message.get_body((kind,))
        if body is not None:
            parts.append(body.get_content())
    return "\n".join(parts)


# --- oversized bodies -----------------------------------------------------------------------


def test_a_body_over_the_limit_is_refused_with_413_and_nothing_stored(
    http: httpx.Client, network: tuple[str, str, str]
) -> None:
    huge = person("mentor", network[1], "Huge Body", bio="x" * 300_000)
    declared = http.post("/mentors", json=huge)
    assert declared.status_code == 413
    assert "larger than" in declared.json()["detail"]
    assert "nothing was stored" in declared.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"name": "'
        for _ in range(40):
            yield b"y" * 10_000
        yield b'"}'

    streamed = http.post("/mentors", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413
    # Nothing was stored: the same email address is still free, and a small body goes through.
    assert http.post("/mentors", json=huge | {"bio": "short"}).status_code == 201


# --- injection strings in every text field --------------------------------------------------


def text_fields(network: tuple[str, str, str]) -> list[tuple[str, str, dict[str, Any], str]]:
    """(method, path, body, field) for every free-text field the API takes."""
    _, trust_a, _ = network
    fields: list[tuple[str, str, dict[str, Any], str]] = []
    for role, extra in (("mentor", "bio"), ("mentee", "goals")):
        for field in ("name", "job_title", extra):
            fields.append(("POST", f"/{role}s", person(role, trust_a, "Inj Ection"), field))
    network_body = {"name": "n", "coordinators": [{"name": "c", "email": "c@hostile.example"}]}
    fields.append(("PUT", f"/networks/inj-{TAG}", network_body, "name"))
    fields.append(("PUT", f"/trusts/INJ{TAG}", {"region": "London", "network_id": "x"}, "name"))
    placement = {
        "host_trust_code": trust_a,
        "skills_developed": [{"skill": "data-analytics", "level": 4}],
        "months": 6,
        "fte": 0.5,
    }
    fields.append(("POST", "/placements", placement, "role"))
    return fields


@pytest.mark.parametrize("injection", INJECTIONS, ids=range(len(INJECTIONS)))
def test_injection_strings_are_stored_verbatim_or_refused_clearly(
    http: httpx.Client, network: tuple[str, str, str], injection: str
) -> None:
    for method, path, template, field in text_fields(network):
        body = dict(template) | {field: injection}
        if "email" in body:
            body["email"] = f"inj.{uuid4().hex[:8]}@hostile.example"
        if path.startswith("/trusts"):
            body["network_id"] = network[0]
        response = http.request(method, path, json=body)
        assert response.status_code in (201, 204, 422), (path, field, response.text)
        if response.status_code == 422:
            [error] = response.json()["errors"]
            assert error["field"] == field
            assert error["message"]
            continue
        read_path = path if method == "PUT" else f"{path}/{response.json()['id']}"
        if path in ("/mentors", "/mentees"):
            read_path = f"/people/{response.json()['id']}"
        stored = http.get(read_path).json()
        stored = stored.get("details", stored)
        assert stored[field] == injection.strip()  # stored exactly (edge spaces trimmed)
    # Not one of them is an email address.
    body = person("mentee", network[1], "Inj Ection") | {"email": injection}
    refused = http.post("/mentees", json=body)
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["email"]


def test_markup_in_a_name_is_refused_with_the_field_named(http: httpx.Client) -> None:
    """Markup is never a name: refused at the door. (Names are still escaped wherever they are
    shown: the web and email tests store markup behind the API's back to prove it.)"""
    _, trust_a, _ = fresh_network(http, "markup")
    body = person("mentor", trust_a, f"<script>alert('{TAG}')</script> Mallory")
    refused = http.post("/mentors", json=body)
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["name"]
    # Nothing was stored: the same person with a plain name is new, not a duplicate (409).
    assert http.post("/mentors", json={**body, "name": "Mallory"}).status_code == 201


# --- the API fuzzed from its OpenAPI schema -------------------------------------------------


def test_the_api_never_answers_with_a_server_error(stack: StackConfig) -> None:
    """Every operation of the OpenAPI schema, with bodies and parameters generated from it."""
    schema = schemathesis.openapi.from_url(f"{stack.base_url}/openapi.json")
    results = list(schema.get_all_operations())
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) == len(results), "the schema has operations it cannot read"
    assert len(operations) >= 15
    failures: list[str] = []
    # Valid inputs (must be stored or refused with 4xx) and invalid ones (must be refused).
    modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    for operation, mode in itertools.product(operations, modes):

        @given(case=operation.as_strategy(mode))
        @settings(
            max_examples=8,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def call(case: Any) -> None:
            # With the token, the fuzzed input reaches the routes (without, all would be 401).
            response = case.call(base_url=stack.base_url, headers=stack.api_headers, timeout=15)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: {response.text[:300]}")

        try:
            call()
        except Unsatisfiable:  # nothing to get wrong (no parameters, no body)
            assert mode is GenerationMode.NEGATIVE
    assert failures == []


# --- poison messages straight onto every topic ----------------------------------------------


def poison_messages() -> list[tuple[str, bytes | None]]:
    future = PersonErased(entity_key="x", person_id=uuid4()).model_dump(mode="json")
    return [
        ("malformed", b"\xff\xfe\x00 not json"),
        ("malformed", None),
        ("unknown_type", b'{"event_type": "person.teleported", "entity_key": "x"}'),
        ("unknown_version", json.dumps(future | {"schema_version": 99}).encode()),
        ("invalid", b'{"event_type": "person.erased", "entity_key": "x"}'),
    ]


async def test_poison_on_every_topic_is_parked_by_each_consumer(stack: StackConfig) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap_servers)
    await producer.start()
    sent: dict[bytes, tuple[str, str, bytes | None, int, int]] = {}
    try:
        for topic in READ_BY:
            for index, (kind, payload) in enumerate(poison_messages()):
                key = f"poison-{TAG}-{topic}-{index}".encode()
                meta = await producer.send_and_wait(topic.value, payload, key=key)
                sent[key] = (topic.value, kind, payload, meta.partition, meta.offset)
    finally:
        await producer.stop()

    expected = sum(len(READ_BY[Topic(origin)]) for origin, *_ in sent.values())
    parked = await read_topic(
        stack.kafka_bootstrap_servers,
        Topic.DEAD_LETTERS,
        lambda r: r.key in sent,
        count=expected,
        timeout=60,
    )
    seen = set()
    for record in parked:
        assert record.key is not None
        origin, kind, payload, partition, offset = sent[record.key]
        headers = {name: value.decode() for name, value in record.headers}
        assert record.value == payload  # the original payload, byte for byte
        assert headers[DEAD_LETTER_SOURCE] == origin
        assert headers[DEAD_LETTER_PARTITION] == str(partition)
        assert headers[DEAD_LETTER_OFFSET] == str(offset)
        assert headers[DEAD_LETTER_KIND] == kind
        seen.add((record.key, headers[DEAD_LETTER_CONSUMER]))
    assert seen == {(key, svc) for key, (t, *_) in sent.items() for svc in READ_BY[Topic(t)]}


def test_the_consumers_carry_on_after_the_poison(stack: StackConfig, http: httpx.Client) -> None:
    """Runs after the poison test: a new pair still becomes a coordinator's email."""
    _, trust_a, trust_b = fresh_network(http, "poison")
    http.post("/mentors", json=person("mentor", trust_a, "After Poison")).raise_for_status()
    http.post("/mentees", json=person("mentee", trust_b, "Still Matched")).raise_for_status()
    assert "Still Matched" in message_text(wait_for_mail(stack, "Still Matched"))


# --- last: the logs of everything above -----------------------------------------------------


def test_no_name_or_email_address_in_any_service_log(stack: StackConfig) -> None:
    logs = sorted(Path(stack.log_dir).glob("*.log"))
    assert {p.stem for p in logs} >= {"profiles", "matcher", "notifier"}
    assert sum(p.stat().st_size for p in logs) > 0
    assert len(PERSONAL_DATA) > 10
    assert personal_data_in_logs(Path(stack.log_dir), PERSONAL_DATA) == 0
