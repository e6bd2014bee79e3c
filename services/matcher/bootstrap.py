"""The matcher service's wiring: its engine, its event handlers, its rounds and arrivals, on the
shared start-up path (shared/service.py). It consumes network, people, placement and decision
events (shared/topology.py), keeps its own state, runs matching rounds and publishes proposals
through its outbox."""

from __future__ import annotations

from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from faststream import FastStream

from services.matcher.arrivals import OnArrival, WaitingArrivals, mentor_networks
from services.matcher.engine import MatchingConfig, MatchingEngine, build_engine
from services.matcher.engine.config import FairnessOptions
from services.matcher.handlers import handle_events
from services.matcher.network_weights import load_matching_config
from services.matcher.repository import MatcherRepository
from services.matcher.rounds import RoundScheduler
from shared.consuming import Contexts
from shared.events import Event
from shared.outbox import OutboxRelay
from shared.service import ServiceSpec, create_consumer_app
from shared.settings import Settings


async def apply_events(
    conn: asyncpg.Connection, events: Sequence[Event], contexts: Contexts | None = None
) -> None:
    """The matcher's handlers (handlers.py) on the batch's transaction."""
    await handle_events(MatcherRepository(conn), events, contexts)


async def apply_event(conn: asyncpg.Connection, event: Event) -> None:
    await apply_events(conn, [event])


def arrivals_config(config: MatchingConfig) -> MatchingConfig:
    """The rounds' configuration without fairness targets, for proposals on arrival.

    Targets are shares of a network's whole match rate: a round's business. A batch of arrivals
    spans networks and holds a few newcomers, so targets over it would mean nothing, and every
    batch would pay the targets' repeated solves (on-arrival p99 rose from 0.45 to 23 s)."""
    return config.model_copy(update={"fairness": FairnessOptions.none()})


def duties(settings: Settings) -> dict[str, bool]:
    """What this matcher process does, by its role (``BRIDGEWORK_MATCHER_ROLE``). Every process
    relays its own outbox."""
    role = settings.matcher_role
    return {
        "consume events": role != "rounds",
        "run rounds": role != "events",
        "retry waiting arrivals": settings.propose_on_arrival and role != "rounds",
    }


def create_app(
    settings: Settings | None = None, engine: MatchingEngine | None = None
) -> FastStream:
    settings = settings or Settings()
    config = load_matching_config(settings.matching_config_file)
    chosen_engine = engine or build_engine(config)
    on_arrival = OnArrival(engine or build_engine(arrivals_config(config)))
    waiting: WaitingArrivals | None = None
    does = duties(settings)

    def background(
        pool: asyncpg.Pool, producer: AIOKafkaProducer
    ) -> list[Coroutine[Any, Any, None]]:
        relay = OutboxRelay(pool, producer, settings.outbox_poll_seconds)
        work = [relay.run()]
        if does["run rounds"]:
            rounds = RoundScheduler(
                pool,
                chosen_engine,
                settings.round_quiet_seconds,
                settings.round_max_delay_seconds,
                settings.round_poll_seconds,
                settings.round_duty_cycle,
            )
            work.append(rounds.run())
        if does["retry waiting arrivals"]:
            nonlocal waiting
            waiting = WaitingArrivals(pool, on_arrival)
            work.append(waiting.run())
        return work

    async def apply_many(
        conn: asyncpg.Connection, events: Sequence[Event], contexts: Contexts
    ) -> None:
        await apply_events(conn, events, contexts)
        if settings.propose_on_arrival:
            outcome = await on_arrival.propose_on_arrival(conn, events, contexts)
            if waiting is not None:
                waiting.add(outcome.waiting)
                waiting.prepare(mentor_networks(events))

    spec = ServiceSpec(
        name="matcher",
        migrations=Path(__file__).parent / "migrations",
        # A rounds-only process consumes nothing: the state it solves is the consumers'.
        consumes=does["consume events"],
        apply=apply_event,
        apply_many=apply_many,
        background=background,
    )
    return create_consumer_app(spec, settings)
