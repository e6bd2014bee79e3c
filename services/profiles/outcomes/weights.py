"""Learned weights, suggested and applied (docs/outcomes.md). A suggestion is computed afresh
from the network's history (learner.py); a coordinator applies it, which stores a new version
with its evidence, audits it and publishes ``network.weights_applied`` for the matcher, in one
transaction. Nothing changes by itself."""

from __future__ import annotations

import dataclasses
import json

import asyncpg

from services.profiles.accounts.audit import record_audit
from services.profiles.outcomes.learner import COMPONENTS, Suggestion, normalised, suggest
from services.profiles.outcomes.queries import learning_history
from shared.events import MatchingWeightsApplied, ScoreWeights
from shared.outbox import add_to_outbox


class WeightsRefused(ValueError):
    """Nothing to apply; the message says why."""


async def current_weights(conn: asyncpg.Connection, network_id: str) -> dict[str, float]:
    """The weights the network's matching uses now: the latest applied version, else those its
    latest proposal was scored with (the matcher's configuration)."""
    applied = await conn.fetchval(
        "SELECT weights FROM matching_weights WHERE network_id = $1 ORDER BY version DESC LIMIT 1",
        network_id,
    )
    if applied is not None:
        return normalised(applied)
    parts = await conn.fetchval(
        "SELECT explanation->'parts' FROM proposals WHERE network_id = $1"
        " ORDER BY proposed_at DESC LIMIT 1",
        network_id,
    )
    scored = {str(p["name"]): float(p["weight"]) for p in parts or []}
    return normalised(scored) if any(scored.values()) else normalised(DEFAULTS)


# The engine's documented defaults (docs/matching.md), for a network with no proposal yet.
DEFAULTS = {"skills": 0.55, "region": 0.20, "availability": 0.10, "preferences": 0.10, "text": 0.05}


async def suggestion_for(conn: asyncpg.Connection, network_id: str) -> Suggestion:
    examples, pending = await learning_history(conn, network_id)
    return suggest(examples, await current_weights(conn, network_id), pending)


async def apply_suggestion(conn: asyncpg.Connection, network_id: str, actor: str) -> int:
    """Apply the suggestion as it stands now; returns the new version."""
    async with conn.transaction():
        await conn.execute("SELECT 1 FROM networks WHERE id = $1 FOR UPDATE", network_id)
        suggestion = await suggestion_for(conn, network_id)
        if suggestion.suggested is None:
            raise WeightsRefused(suggestion.refused or "nothing is suggested")
        version = 1 + await conn.fetchval(
            "SELECT coalesce(max(version), 0) FROM matching_weights WHERE network_id = $1",
            network_id,
        )
        evidence = dataclasses.asdict(suggestion)
        await conn.execute(
            "INSERT INTO matching_weights (network_id, version, weights, evidence, applied_by)"
            " VALUES ($1, $2, $3, $4::text::jsonb, $5)",
            network_id,
            version,
            suggestion.suggested,
            json.dumps(evidence, default=str),
            actor,
        )
        await record_audit(
            conn,
            actor=actor,
            action="network.weights_applied",
            subject=network_id,
            details={"version": version, "weights": suggestion.suggested},
        )
        weights = ScoreWeights(**{c: round(suggestion.suggested[c], 6) for c in COMPONENTS})
        event = MatchingWeightsApplied(
            entity_key=network_id,
            network_id=network_id,
            version=version,
            weights=weights,
            applied_by=actor,
        )
        await add_to_outbox(conn, [event])
    return int(version)
