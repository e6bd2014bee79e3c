"""A network's own score weights (``network.weights_applied``, docs/outcomes.md): its rounds
use the service's engine configuration with the weights its coordinator applied."""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping

from services.matcher.engine import MatchingConfig, MatchingEngine, build_engine
from services.matcher.engine.config import ComponentWeights

log = logging.getLogger(__name__)


def weighted(engine: MatchingEngine, weights: Mapping[str, float] | None) -> MatchingEngine:
    """``engine`` with the network's weights, or as it is when the network has none (or the
    engine is not configurable: a test's stand-in)."""
    if weights is None:
        return engine
    if not isinstance(getattr(engine, "config", None), MatchingConfig):
        log.warning("the engine takes no configuration: the network's weights are not used")
        return engine
    config: MatchingConfig = engine.config  # type: ignore[attr-defined]
    return _with_weights(config, tuple(sorted(weights.items())))


@functools.lru_cache(maxsize=64)
def _with_weights(config: MatchingConfig, weights: tuple[tuple[str, float], ...]) -> MatchingEngine:
    """One engine per configuration and weights: a round reuses it."""
    return build_engine(config.model_copy(update={"weights": ComponentWeights(**dict(weights))}))
