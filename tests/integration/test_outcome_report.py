"""The network's report against a recount from the events (docs/outcomes.md): matches decided
and lived through the real use cases, their events read back from Kafka and counted here by
hand; the report's totals (from the database) must be the same. And the exports: the
anonymised one holds no name, email address or free text."""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from services.profiles.bootstrap import apply_event
from services.profiles.coordination.decisions import decide
from services.profiles.outcomes.queries import network_history, outcome_rows, rows_csv
from services.profiles.outcomes.report import EVERYONE, build_report
from services.profiles.outcomes.use_cases import (
    close_match,
    confirm_first_conversation,
    record_check_in,
)
from shared.events import (
    CheckInRecorded,
    FirstConversationHeld,
    LifeActor,
    MatchClosed,
    MatchDecided,
    MatchOutcome,
    decode_event,
)
from shared.settings import Settings
from shared.topics import Topic
from tests.support.factories import covered, match_proposed
from tests.support.kafka import read_topic
from tests.support.pages import seed_network

pytestmark = pytest.mark.integration


async def test_the_reports_figures_equal_a_recount_from_the_events(
    app: FastAPI, pool: asyncpg.Pool, settings: Settings
) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://profiles"
    ) as client:
        network = await seed_network(client, pool)
    proposals = [
        match_proposed(
            network_id=network.network_id,
            provider_id=network.mentor_id,
            mentee_id=network.mentee_id,
            skills=(covered("clinical-engagement", "Clinical engagement", 2, 5, 7),),
        )
        for _ in range(5)
    ]
    by = "cora@example.org"
    async with pool.acquire() as conn:
        for proposal in proposals:
            await apply_event(conn, proposal)
        done, early, rejected, other_rejected, _pending = (p.match_id for p in proposals)
        for match_id in (done, early):
            await decide(
                conn,
                network_id=network.network_id,
                match_ids=[match_id],
                approved=True,
                reason="",
                decided_by=by,
            )
        for match_id, reason in ((rejected, "Same team"), (other_rejected, "same team ")):
            await decide(
                conn,
                network_id=network.network_id,
                match_ids=[match_id],
                approved=False,
                reason=reason,
                decided_by=by,
            )
        await confirm_first_conversation(conn, done, by=LifeActor.MENTEE, actor="t")
        for side, rating in ((LifeActor.MENTEE, 4), (LifeActor.MENTOR, 5)):
            await record_check_in(
                conn, done, day=30, by=side, met=True, usefulness=rating, note="fine", actor="t"
            )
        await record_check_in(
            conn, early, day=30, by=LifeActor.MENTEE, met=False, usefulness=1, note="", actor="t"
        )
        await close_match(
            conn,
            done,
            outcome=MatchOutcome.COMPLETED,
            by=LifeActor.COORDINATOR,
            actor=by,
            levels={"clinical-engagement": 4},
        )
        await close_match(
            conn, early, outcome=MatchOutcome.ENDED_EARLY, by=LifeActor.MENTEE, actor="t"
        )
        facts, events = await network_history(conn, network.network_id)
    report = build_report(facts, events, datetime.now(UTC))

    # The recount: the decisions topic as published, counted by hand.
    keys = {str(p.match_id).encode() for p in proposals}
    records = await read_topic(
        settings.kafka_bootstrap_servers, Topic.DECISIONS.value, lambda r: r.key in keys, count=10
    )
    published = [decode_event(r.value) for r in records]
    decided = [e for e in published if isinstance(e, MatchDecided)]
    closings = [e for e in published if isinstance(e, MatchClosed)]
    check_ins = [e for e in published if isinstance(e, CheckInRecorded)]
    met = {e.match_id for e in published if isinstance(e, FirstConversationHeld)} | {
        e.match_id for e in check_ins if e.met
    }
    recount = {
        "proposed": len(proposals),
        "approved": sum(e.approved for e in decided),
        "introduced": sum(e.approved for e in decided),
        "rejected": sum(not e.approved for e in decided),
        "met": len(met),
        "completed": sum(e.outcome is MatchOutcome.COMPLETED for e in closings),
        "ended_early": sum(e.outcome is MatchOutcome.ENDED_EARLY for e in closings),
        "no_longer_needed": sum(e.outcome is MatchOutcome.NO_LONGER_NEEDED for e in closings),
        "active": sum(e.approved for e in decided) - len(closings),
        "check_ins": len(check_ins),
        "mean_usefulness": statistics.fmean(e.usefulness for e in check_ins),
    }
    totals = report.totals[EVERYONE]
    assert {name: totals[name] for name in recount} == pytest.approx(recount)
    assert recount["approved"] == 2
    assert recount["rejected"] == 2
    assert recount["met"] == 1
    assert report.rejected_by_reason[EVERYONE] == Counter(
        e.reason.strip().lower() for e in decided if not e.approved
    )
    assert report.usefulness[EVERYONE] == Counter(e.usefulness for e in check_ins)
    assert report.levels_gained[EVERYONE] == {"clinical-engagement": (2.0, 1)}
    assert totals["median_days_to_match"] is not None

    # The exports: the anonymised one keeps the figures and drops who and what was said.
    async with pool.acquire() as conn:
        named = rows_csv(await outcome_rows(conn, network.network_id, anonymised=False), False)
        anonymised_rows = await outcome_rows(conn, network.network_id, anonymised=True)
    anonymised = rows_csv(anonymised_rows, True)
    assert named.startswith("\ufeff")
    assert "Tariq Mentee" in named
    assert "same team" in named.lower()
    for secret in ("Tariq", "Morag", "@example.org", "same team", "fine", str(done)):
        assert secret.lower() not in anonymised.lower()
    rows = list(csv.DictReader(io.StringIO(anonymised.lstrip("\ufeff"))))
    assert sorted(r["outcome"] for r in rows) == ["", "", "completed", "ended_early"]
    assert [r["levels_after"] for r in rows if r["outcome"] == "completed"] == ["4"]
