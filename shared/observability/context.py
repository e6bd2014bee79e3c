"""The correlation id and W3C trace context of the change being handled, and how they travel.

A change gets a correlation id at the front door (the caller's ``X-Correlation-ID`` or a new
one). It is kept in a context variable, stored with each outbox row as a small "carrier" dict
(``x-correlation-id`` plus OpenTelemetry's ``traceparent``/``tracestate``), sent as Kafka
headers, and picked up again by each consumer, so logs and spans downstream name the same
change. The id is opaque and never derived from personal data.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from uuid import uuid4

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

CORRELATION_HEADER = "x-correlation-id"
HTTP_CORRELATION_HEADER = "X-Correlation-ID"
CORRELATION_ATTRIBUTE = "bridgework.correlation_id"  # on spans: find a change's trace by it
# What a caller may send: an id, not free text (anything else could smuggle personal data or
# log-injection into every line; it is replaced by a fresh id).
_ACCEPTABLE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_TRACED_HEADERS = ("traceparent", "tracestate", CORRELATION_HEADER)

_correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)
tracer = trace.get_tracer("bridgework")

Carrier = dict[str, str]


def current_correlation_id() -> str | None:
    return _correlation_id.get()


# A process's ids: a random prefix, then a count. As opaque as a random id (the prefix is
# drawn once per process, from the OS's randomness) and as unique within a process, without a
# system call for each: a consumer mints one for every message that arrives without one.
_ID_PREFIX = uuid4().hex[:16]
_ID_COUNT = itertools.count()


def new_correlation_id() -> str:
    return f"{_ID_PREFIX}{next(_ID_COUNT) & 0xFFFFFFFFFFFFFFFF:016x}"


def acceptable_correlation_id(candidate: str | None) -> str:
    """The caller's id when it looks like one, else a fresh id."""
    if candidate and _ACCEPTABLE_ID.match(candidate):
        return candidate
    return new_correlation_id()


@contextmanager
def correlated(candidate: str | None) -> Iterator[str]:
    """Handle the work inside under this correlation id (a fresh one when missing or odd)."""
    token = _correlation_id.set(acceptable_correlation_id(candidate))
    try:
        yield _correlation_id.get() or ""
    finally:
        _correlation_id.reset(token)


def capture() -> Carrier:
    """The current correlation id and trace context, to store with an outbox row or a task."""
    carrier: Carrier = {}
    propagate.inject(carrier)
    correlation_id = current_correlation_id()
    if correlation_id:
        carrier[CORRELATION_HEADER] = correlation_id
    return carrier


def to_kafka_headers(carrier: Mapping[str, str]) -> list[tuple[str, bytes]]:
    return [(name, value.encode()) for name, value in sorted(carrier.items())]


def from_kafka_headers(headers: Iterable[tuple[str, bytes]] | None) -> Carrier:
    """The tracing headers of a Kafka record (other headers are left alone)."""
    return {
        name: value.decode(errors="replace")
        for name, value in headers or ()
        if name in _TRACED_HEADERS and value is not None
    }


@contextmanager
def continued(
    carrier: Mapping[str, str] | None, span_name: str, kind: SpanKind = SpanKind.INTERNAL
) -> Iterator[None]:
    """Carry on the change a carrier describes: its correlation id, and a span that is a child
    of the span that stored the carrier (in another process, perhaps another day)."""
    carrier = carrier or {}
    parent = propagate.extract(dict(carrier))
    with (
        correlated(carrier.get(CORRELATION_HEADER)) as correlation_id,
        tracer.start_as_current_span(span_name, context=parent, kind=kind) as span,
    ):
        span.set_attribute(CORRELATION_ATTRIBUTE, correlation_id)
        yield


@contextmanager
def attached(carrier: Mapping[str, str]) -> Iterator[None]:
    """Work on behalf of the change a carrier describes, without a span of its own: its
    correlation id is current, and so is its span, so ``capture()`` inside returns the same
    carrier and spans started inside are children of that span."""
    token = otel_context.attach(propagate.extract(dict(carrier)))
    try:
        with correlated(carrier.get(CORRELATION_HEADER)):
            yield
    finally:
        otel_context.detach(token)


def tracing_on() -> bool:
    """Whether this process records spans (``shared.observability.tracing`` installed a
    provider); without one, OpenTelemetry's API records nothing."""
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def untraced_carrier(headers: Mapping[str, str]) -> Carrier:
    """The carrier ``message_span`` gives while ``tracing_on()`` is False, without the span:
    the message's correlation id (a fresh one when missing or odd) and its sender's trace
    context passed on. A consumer takes one per message, and the unrecorded span's start,
    context and end cost nearly as much as decoding the message."""
    carrier: Carrier = {
        CORRELATION_HEADER: acceptable_correlation_id(headers.get(CORRELATION_HEADER))
    }
    if "traceparent" in headers:
        propagate.inject(carrier, context=propagate.extract(dict(headers)))
    return carrier


@contextmanager
def message_span(headers: Mapping[str, str], span_name: str) -> Iterator[Carrier]:
    """A consumer span for one message of a batch, a child of the span that sent it (its
    ``headers``), open until the block ends and marked failed if the block raises. It is not
    made current, since a batch's messages are applied together: the block gets the span's
    carrier (its trace context and the message's correlation id), and work done for this
    message runs inside ``attached(carrier)``."""
    correlation_id = acceptable_correlation_id(headers.get(CORRELATION_HEADER))
    span = tracer.start_span(
        span_name,
        context=propagate.extract(dict(headers)),
        kind=SpanKind.CONSUMER,
        attributes={CORRELATION_ATTRIBUTE: correlation_id},
    )
    carrier: Carrier = {CORRELATION_HEADER: correlation_id}
    propagate.inject(carrier, context=trace.set_span_in_context(span))
    try:
        yield carrier
    except BaseException as error:
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        raise
    finally:
        span.end()
