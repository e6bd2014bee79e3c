"""The engine's configuration: the service's (defaults, or ``BRIDGEWORK_MATCHING_CONFIG_FILE``),
and a network's own score weights (``network.weights_applied``, docs/outcomes.md) on top of it.
Rounds and a coordinator's match by hand (by_hand.py) score with the same configuration."""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from pathlib import Path

from services.matcher.engine import MatchingConfig, MatchingEngine, build_engine
from services.matcher.engine.config import ComponentWeights

log = logging.getLogger(__name__)


def load_matching_config(path: Path | None) -> MatchingConfig:
    """The engine's weights and options: defaults, or a JSON file (validated, so a typo or an
    out-of-range weight stops the service at start-up with the field named)."""
    if path is None:
        return MatchingConfig()
    return MatchingConfig.model_validate_json(path.read_text())


def with_weights(config: MatchingConfig, weights: Mapping[str, float] | None) -> MatchingConfig:
    """``config`` with the network's weights, or as it is when the network has none."""
    if weights is None:
        return config
    return config.model_copy(update={"weights": ComponentWeights(**weights)})


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
    return build_engine(with_weights(config, dict(weights)))
