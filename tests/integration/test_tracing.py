"""One profile change yields one trace across the services' code paths: the HTTP request, the
profiles outbox relay's publish, the matcher's consumer and round, the proposal's publish, the
notifier's consumer and the email, linked through W3C traceparent headers on the real broker.
The three services run in this process (one in-memory span exporter sees them all)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from email.message import EmailMessage
from uuid import uuid4

import asyncpg
import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from devtools.stack import free_port
from services.matcher.bootstrap import create_app as create_matcher
from services.notifier.bootstrap import create_app as create_notifier
from services.profiles.app import create_app as create_profiles
from shared.observability.context import CORRELATION_ATTRIBUTE
from shared.settings import Settings
from tests.support.api import bearer_headers
from tests.support.mail import Inbox

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()


@pytest.fixture
async def services(
    settings: Settings, smtp_inbox: Inbox, spans: InMemorySpanExporter
) -> AsyncIterator[httpx.AsyncClient]:
    fast = settings.model_copy(update={"round_quiet_seconds": 0.2, "smtp_port": smtp_inbox.port})
    profiles = create_profiles(fast)
    async with AsyncExitStack() as stack:
        for create in (create_matcher, create_notifier):
            app = create(fast.model_copy(update={"ops_port": free_port()}))
            await stack.enter_async_context(app)
        await stack.enter_async_context(profiles.router.lifespan_context(profiles))
        transport = httpx.ASGITransport(app=profiles)
        headers = await bearer_headers(profiles.state.pool)
        yield await stack.enter_async_context(
            httpx.AsyncClient(transport=transport, base_url="http://profiles", headers=headers)
        )


async def wait_for_span(
    exporter: InMemorySpanExporter, name: str, trace_id: int, timeout: float = 30
) -> ReadableSpan:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for span in exporter.get_finished_spans():
            if span.name == name and span.context.trace_id == trace_id:
                return span
        await asyncio.sleep(0.1)
    seen = sorted({s.name for s in exporter.get_finished_spans()})
    raise AssertionError(f"no span {name!r} in the change's trace within {timeout}s: {seen}")


async def settled(pool: asyncpg.Pool, network: str, timeout: float = 60) -> None:
    """The matcher has applied the network's setup and run its round: the next change to the
    network is the one its next round follows (the matcher may be catching up on other tests'
    events, in any order across partitions)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with pool.acquire() as conn:
            done = await conn.fetchval(
                """
                SELECT (SELECT count(*) FROM trusts WHERE network_id = $1) = 2
                   AND (SELECT count(*) FROM people WHERE network_id = $1) = 1
                   AND NOT EXISTS (SELECT 1 FROM dirty_networks WHERE network_id = $1)
                """,
                network,
            )
        if done:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the matcher did not settle network {network} within {timeout}s")


async def propose_a_pair(
    http: httpx.AsyncClient, matcher_pool: asyncpg.Pool, tag: str, correlation_id: str
) -> None:
    """A network with a mentor, then (under ``correlation_id``) a mentee the matcher proposes
    to them."""
    coordinators = [{"name": "Tess", "email": f"tess.{tag}@example.org"}]
    assert (
        await http.put(f"/networks/t-{tag}", json={"name": "T", "coordinators": coordinators})
    ).status_code == 204
    for code in (f"A{tag}", f"B{tag}"):
        trust = {"name": f"Trust {code}", "region": "London", "network_id": f"t-{tag}"}
        assert (await http.put(f"/trusts/{code}", json=trust)).status_code == 204
    mentor = {
        "name": "Mira Mentor",
        "email": f"mira.{tag}@example.org",
        "job_title": "CIO",
        "trust_code": f"A{tag}",
        "skills": [{"skill": "board-influence", "level": 7}],
        "capacity": 1,
        "hours_per_month": 4,
    }
    assert (await http.post("/mentors", json=mentor)).status_code == 201
    await settled(matcher_pool, f"t-{tag}")
    mentee = {
        "name": "Noor Mentee",
        "email": f"noor.{tag}@example.org",
        "job_title": "Informatics Lead",
        "trust_code": f"B{tag}",
        "gaps": [{"skill": "board-influence", "current": 2, "target": 5}],
    }
    response = await http.post(
        "/mentees", json=mentee, headers={"X-Correlation-ID": correlation_id}
    )
    assert response.status_code == 201


def chain_of(spans: InMemorySpanExporter, last: ReadableSpan) -> list[str]:
    """The names of ``last`` and its ancestors, up to the trace's root."""
    by_id = {s.context.span_id: s for s in spans.get_finished_spans()}
    chain = []
    current: ReadableSpan | None = last
    while current is not None:
        chain.append(current.name)
        current = by_id.get(current.parent.span_id) if current.parent else None
    return chain


def server_span(spans: InMemorySpanExporter, name: str, status: int) -> ReadableSpan:
    return next(
        s
        for s in spans.get_finished_spans()
        if s.kind is SpanKind.SERVER
        and s.name == name
        and s.attributes is not None
        and s.attributes.get("http.status_code") == status
    )


async def test_one_profile_change_is_one_trace_across_the_services(
    services: httpx.AsyncClient, spans: InMemorySpanExporter, matcher_pool: asyncpg.Pool
) -> None:
    tag = uuid4().hex[:6]
    correlation_id = f"trace-{tag}"
    await propose_a_pair(services, matcher_pool, tag, correlation_id)

    server = server_span(spans, "POST /mentees", 201)
    trace_id = server.context.trace_id
    published = await wait_for_span(spans, "bridgework.people.v1 publish", trace_id)
    assert published.kind is SpanKind.PRODUCER
    assert published.attributes is not None
    assert published.attributes[CORRELATION_ATTRIBUTE] == correlation_id
    round_span = await wait_for_span(spans, "matching round", trace_id)
    proposal = await wait_for_span(spans, "bridgework.proposals.v1 publish", trace_id)
    email = await wait_for_span(spans, "send email", trace_id)
    consumers = [
        s
        for s in spans.get_finished_spans()
        if s.context.trace_id == trace_id and s.kind is SpanKind.CONSUMER
    ]
    for span in (round_span, proposal, email):
        assert span.attributes is not None
        assert span.attributes[CORRELATION_ATTRIBUTE] == correlation_id
    # Each hop is a child of the one before: the spans form one tree rooted at the request.
    assert chain_of(spans, email) == [
        "send email",  # notifier
        "bridgework.proposals.v1 process",  # notifier's consumer (FastStream)
        "bridgework.proposals.v1 publish",  # matcher's outbox relay
        "matching round",  # matcher
        "bridgework.people.v1 process",  # matcher's consumer (FastStream)
        "bridgework.people.v1 publish",  # profiles' outbox relay
        "POST /mentees",  # profiles' HTTP server
    ]
    assert len(consumers) >= 3, [c.name for c in consumers]  # notifier reads people.v1 too


async def test_a_decision_is_one_trace_to_its_introduction_emails(
    services: httpx.AsyncClient,
    spans: InMemorySpanExporter,
    matcher_pool: asyncpg.Pool,
    smtp_inbox: Inbox,
) -> None:
    """The notifier introduces an approved match from its mail queue's loop, outside the
    decision event's context: the introductions still continue the decision's trace."""
    tag = uuid4().hex[:6]
    await propose_a_pair(services, matcher_pool, tag, f"propose-{tag}")
    proposal = await wait_for_message(smtp_inbox, f"tess.{tag}@example.org")
    body = proposal.get_body(preferencelist=("plain",))
    assert body is not None
    [approve, _] = re.findall(r"(/links/decision/\S+)", body.get_content())
    correlation_id = f"decide-{tag}"
    response = await services.post(approve, headers={"X-Correlation-ID": correlation_id})
    assert response.status_code == 303  # then the thank-you page (post-redirect-get)

    trace_id = server_span(spans, "POST /links/decision/{token}", 303).context.trace_id
    for address in (f"noor.{tag}@example.org", f"mira.{tag}@example.org"):
        introduction = await wait_for_message(smtp_inbox, address)
        assert introduction["X-Correlation-ID"] == correlation_id
    deadline = time.monotonic() + 10
    while len(emails := spans_named(spans, "send email", trace_id)) < 2:
        assert time.monotonic() < deadline, "the introductions' spans did not end"
        await asyncio.sleep(0.1)
    assert len(emails) == 2  # the mentor's and the mentee's introductions
    for email in emails:
        assert email.attributes is not None
        assert email.attributes[CORRELATION_ATTRIBUTE] == correlation_id
        assert chain_of(spans, email) == [
            "send email",  # notifier, from its mail queue
            "bridgework.decisions.v1 process",  # notifier's consumer: the decision is recorded
            "bridgework.decisions.v1 publish",  # profiles' outbox relay
            "POST /links/decision/{token}",  # profiles: the coordinator's decision link
        ]


def spans_named(spans: InMemorySpanExporter, name: str, trace_id: int) -> list[ReadableSpan]:
    return [
        s for s in spans.get_finished_spans() if s.name == name and s.context.trace_id == trace_id
    ]


async def wait_for_message(inbox: Inbox, address: str, timeout: float = 30) -> EmailMessage:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in inbox.messages:
            if address in str(message["To"]):
                return message
        await asyncio.sleep(0.1)
    raise AssertionError(f"no email to {address} within {timeout}s")
