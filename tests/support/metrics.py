"""Reading this process's Prometheus metrics."""

from __future__ import annotations

from prometheus_client import REGISTRY


def metric(name: str, **labels: str) -> float:
    """One sample of this process's Prometheus registry, 0 before its series exists (tests
    compare values before and after: the registry is the process's, shared by all tests)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0
