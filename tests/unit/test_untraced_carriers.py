"""Without a tracer provider a consumer takes each message's carrier without a span
(``untraced_carrier``): the same carrier ``message_span`` gives, whatever the headers, and
correlation ids minted for messages without one are acceptable and never repeat."""

from __future__ import annotations

from unittest.mock import patch

from hypothesis import given
from hypothesis import strategies as st
from opentelemetry import trace

from shared.observability import context
from shared.observability.context import (
    CORRELATION_HEADER,
    acceptable_correlation_id,
    message_span,
    new_correlation_id,
    untraced_carrier,
)

HEX = "0123456789abcdef"
traceparents = st.one_of(
    st.builds(
        lambda t, s, f: f"00-{t}-{s}-{f}",
        st.text(HEX, min_size=32, max_size=32),
        st.text(HEX, min_size=16, max_size=16),
        st.sampled_from(["00", "01"]),
    ),
    st.text(max_size=60),  # anything at all: an invalid one is dropped by both
)
headers = st.fixed_dictionaries(
    {},
    optional={
        "traceparent": traceparents,
        "tracestate": st.sampled_from(["", "a=b", "vendor=x,other=y", "bad state"]),
        CORRELATION_HEADER: st.one_of(st.text(max_size=70), st.from_regex(r"[a-z0-9]{1,20}")),
    },
)


@given(headers)
def test_the_untraced_carrier_is_the_spans_carrier(sent: dict[str, str]) -> None:
    # What message_span does in a process without a tracer provider, even when a test run
    # in this process has installed one (the integration tests' tracing test does).
    with (
        patch.object(context, "tracer", trace.NoOpTracer()),
        message_span(sent, "people process") as spanned,
    ):
        pass
    untraced = untraced_carrier(sent)
    assert untraced.keys() == spanned.keys()
    for name, value in spanned.items():
        if name != CORRELATION_HEADER:
            assert untraced[name] == value
    correlation_id = sent.get(CORRELATION_HEADER)
    if correlation_id and acceptable_correlation_id(correlation_id) == correlation_id:
        assert untraced[CORRELATION_HEADER] == spanned[CORRELATION_HEADER] == correlation_id
    else:  # both minted one
        assert (
            acceptable_correlation_id(untraced[CORRELATION_HEADER]) == untraced[CORRELATION_HEADER]
        )


def test_minted_ids_are_acceptable_and_never_repeat() -> None:
    minted = [new_correlation_id() for _ in range(10_000)]
    assert len(set(minted)) == len(minted)
    assert all(acceptable_correlation_id(i) == i and len(i) == 32 for i in minted)
