"""The trusts' consents and each secondment's life, as use cases: each change is stored,
audited and put in the outbox in one transaction (``consent.requested``,
``consent.recorded``, ``secondment.changed``); a consent past its deadline expires
(``expire_overdue``, run by deadlines.py); the rules are in agreement.py."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from uuid import UUID

import asyncpg

from services.profiles.accounts.audit import record_audit
from services.profiles.trusts.agreement import (
    Consent,
    LifeStep,
    StepRefused,
    exchange_outcome,
    next_status,
    no_answer_reason,
    planned_dates,
    stored_status,
)
from shared.events import (
    ConsentParty,
    ConsentRecorded,
    ConsentRequested,
    Event,
    SecondmentChanged,
    SecondmentStatus,
)
from shared.outbox import add_to_outbox
from shared.text import recorded_reason


class ConsentRefused(ValueError):
    """The consent cannot be recorded; the message says why, for the trust's contact."""


async def request_consents(
    conn: asyncpg.Connection, network_id: str, match_ids: Sequence[UUID], deadline: datetime
) -> int:
    """The coordinator approved these matches: for each secondment among them, ask its host
    and home trusts (in the approval's transaction); returns how many secondments."""
    rows = await conn.fetch(
        """
        SELECT p.match_id, p.exchange_id, pl.host_trust_code, mentee.trust_code AS home
        FROM proposals p
        JOIN placements pl ON pl.id = p.provider_id
        JOIN people mentee ON mentee.id = p.mentee_id
        WHERE p.match_id = ANY($1::uuid[]) AND p.kind = 'secondment'
        """,
        list(match_ids),
    )
    events: list[Event] = []
    for row in rows:
        await conn.execute(
            "INSERT INTO secondments (match_id, network_id, exchange_id, host_trust_code,"
            " home_trust_code, status) VALUES ($1, $2, $3, $4, $5, 'awaiting_consent')",
            row["match_id"],
            network_id,
            row["exchange_id"],
            row["host_trust_code"],
            row["home"],
        )
        for party, trust in (
            (ConsentParty.HOST, row["host_trust_code"]),
            (ConsentParty.HOME, row["home"]),
        ):
            await conn.execute(
                "INSERT INTO consents (match_id, party, trust_code, deadline)"
                " VALUES ($1, $2, $3, $4)",
                row["match_id"],
                party.value,
                trust,
                deadline,
            )
            events.append(
                ConsentRequested(
                    entity_key=str(row["match_id"]),
                    match_id=row["match_id"],
                    network_id=network_id,
                    party=party,
                    trust_code=trust,
                    deadline=deadline,
                )
            )
    await add_to_outbox(conn, events)
    return len(rows)


def check_consent_reason(given: bool, reason: str) -> str:
    required = None if given else "Say why the trust refuses: the reason is recorded and shared."
    try:
        return recorded_reason(reason, required)
    except ValueError as error:
        raise ConsentRefused(str(error)) from error


@dataclass(frozen=True)
class Answer:
    match_id: UUID
    party: ConsentParty
    trust_code: str
    given: bool
    reason: str
    answered_by: str
    via: str  # "web" or "email-link"


async def answer_consent(conn: asyncpg.Connection, answer: Answer) -> dict[UUID, SecondmentStatus]:
    """Record one trust's answer; returns what it decided for the exchange (empty while others
    are still to answer). Refused, with a reason the contact reads, when the consent is not
    this trust's, was answered already, or its secondment is no longer waiting."""
    reason = check_consent_reason(answer.given, answer.reason)
    async with conn.transaction():
        rows = await _lock_exchange(conn, answer.match_id)
        mine = next((r for r in rows if r["match_id"] == answer.match_id), None)
        if mine is None:
            raise ConsentRefused("There is no such secondment waiting for this trust.")
        consent = await conn.fetchrow(
            "SELECT trust_code, answer FROM consents WHERE match_id = $1 AND party = $2",
            answer.match_id,
            answer.party.value,
        )
        if consent is None or consent["trust_code"] != answer.trust_code:
            raise ConsentRefused("There is no such secondment waiting for this trust.")
        if consent["answer"] == "expired":
            raise ConsentRefused("The deadline for this consent passed without an answer.")
        if consent["answer"] is not None:
            raise ConsentRefused(f"This trust has {consent['answer']} its consent already.")
        if mine["status"] != "awaiting_consent":
            raise ConsentRefused(f"This secondment is no longer waiting: it is {mine['status']}.")
        await conn.execute(
            "UPDATE consents SET answer = $3, reason = $4, answered_by = $5,"
            " answered_at = now() WHERE match_id = $1 AND party = $2",
            answer.match_id,
            answer.party.value,
            "given" if answer.given else "refused",
            reason,
            answer.answered_by,
        )
        await record_audit(
            conn,
            actor=answer.answered_by,
            action="consent.given" if answer.given else "consent.refused",
            subject=str(answer.match_id),
            reason=reason,
            details={
                "party": answer.party.value,
                "trust_code": answer.trust_code,
                "via": answer.via,
            },
        )
        network_id = mine["network_id"]
        events: list[Event] = [
            ConsentRecorded(
                entity_key=str(answer.match_id),
                match_id=answer.match_id,
                network_id=network_id,
                party=answer.party,
                trust_code=answer.trust_code,
                given=answer.given,
                reason=reason,
                answered_by=answer.answered_by,
                via=answer.via,
            )
        ]
        consents = await conn.fetch(
            "SELECT match_id, party, answer FROM consents WHERE match_id = ANY($1::uuid[])",
            [r["match_id"] for r in rows],
        )
        outcome = exchange_outcome(
            [Consent(c["match_id"], ConsentParty(c["party"]), c["answer"]) for c in consents]
        )
        why = _outcome_reason(answer, reason)
        for row in rows:
            status = outcome.statuses.get(row["match_id"])
            if status is not None:
                events.append(await _settle(conn, row, status, why))
        await add_to_outbox(conn, events)
    return outcome.statuses


def _outcome_reason(answer: Answer, reason: str) -> str:
    if answer.given:
        return ""
    side = "host" if answer.party is ConsentParty.HOST else "home"
    return f"the {side} trust {answer.trust_code} refused: {reason}"


async def _settle(
    conn: asyncpg.Connection, row: asyncpg.Record, status: SecondmentStatus, reason: str
) -> SecondmentChanged:
    start = end = None
    if status is SecondmentStatus.AGREED:
        details = await conn.fetchval(
            "SELECT pl.details FROM proposals p JOIN placements pl ON pl.id = p.provider_id"
            " WHERE p.match_id = $1",
            row["match_id"],
        )
        start, end = planned_dates(
            _date(details.get("start_from")),
            _date(details.get("start_to")),
            int(details["months"]),
            date.today(),
        )
    await conn.execute(
        "UPDATE secondments SET status = $2, start_date = $3, end_date = $4, reason = $5,"
        " updated_at = now() WHERE match_id = $1",
        row["match_id"],
        status.value,
        start,
        end,
        reason,
    )
    return SecondmentChanged(
        entity_key=str(row["match_id"]),
        match_id=row["match_id"],
        network_id=row["network_id"],
        status=status,
        start_date=start,
        end_date=end,
        reason=reason,
    )


def _date(value: object) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else None


async def _lock_exchange(conn: asyncpg.Connection, match_id: UUID) -> list[asyncpg.Record]:
    """The secondment and those of its exchange, locked in one order (no deadlock)."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        SELECT match_id, network_id, status, exchange_id, end_date FROM secondments
        WHERE match_id = $1 OR exchange_id = (
            SELECT exchange_id FROM secondments WHERE match_id = $1 AND exchange_id IS NOT NULL)
        ORDER BY match_id FOR UPDATE
        """,
        match_id,
    )
    return rows


async def take_step(
    conn: asyncpg.Connection,
    *,
    match_id: UUID,
    trust_code: str,
    step: LifeStep,
    on: date,
    actor: str,
) -> SecondmentStatus:
    """A trust (host or home) records a secondment's start, extension or end, with its date;
    ending gives the placement's place back (the matcher frees it)."""
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT network_id, status, start_date, end_date FROM secondments WHERE match_id = $1"
            " AND $2 IN (host_trust_code, home_trust_code) FOR UPDATE",
            match_id,
            trust_code,
        )
        if row is None:
            raise StepRefused("There is no such secondment for this trust.")
        status = next_status(row["status"], step, on, row["end_date"])
        start = on if step is LifeStep.START else row["start_date"]
        end = row["end_date"] if step is LifeStep.START else on
        if step is LifeStep.START and row["start_date"] and row["end_date"]:
            end = on + (row["end_date"] - row["start_date"])  # the planned length kept
        await conn.execute(
            "UPDATE secondments SET status = $2, start_date = $3, end_date = $4,"
            " updated_at = now() WHERE match_id = $1",
            match_id,
            stored_status(status),
            start,
            end,
        )
        await record_audit(
            conn,
            actor=actor,
            action=f"secondment.{status.value}",
            subject=str(match_id),
            details={"trust_code": trust_code, "on": on.isoformat()},
        )
        event = SecondmentChanged(
            entity_key=str(match_id),
            match_id=match_id,
            network_id=row["network_id"],
            status=status,
            start_date=start,
            end_date=end,
        )
        await add_to_outbox(conn, [event])
    return status


async def expire_overdue(conn: asyncpg.Connection, now: datetime, batch: int = 100) -> int:
    """Every secondment still waiting for a consent past its deadline is not agreed (with its
    exchange: all or none), its place comes back and the pair may be proposed again; returns
    how many secondments were settled. Each exchange is settled in one transaction under its
    lock, after checking it still waits: a pass run twice, concurrently, or again after a crash
    settles each once (a crash before the commit leaves it for the next pass)."""
    due = await conn.fetch(
        """
        SELECT DISTINCT c.match_id FROM consents c JOIN secondments s ON s.match_id = c.match_id
        WHERE c.answer IS NULL AND c.deadline <= $1 AND s.status = 'awaiting_consent'
        LIMIT $2
        """,
        now,
        batch,
    )
    settled = 0
    for row in due:
        settled += await _expire_exchange(conn, row["match_id"], now)
    return settled


async def _expire_exchange(conn: asyncpg.Connection, match_id: UUID, now: datetime) -> int:
    async with conn.transaction():
        rows = await _lock_exchange(conn, match_id)
        if not rows or any(r["status"] != "awaiting_consent" for r in rows):
            return 0  # answered, or expired by another pass, since it was found
        ids = [r["match_id"] for r in rows]
        overdue = await conn.fetch(
            """
            UPDATE consents c SET answer = 'expired', answered_at = $2
            WHERE c.match_id = ANY($1::uuid[]) AND c.answer IS NULL AND c.deadline <= $2
            RETURNING c.match_id, c.party, c.trust_code, c.deadline, coalesce(
                (SELECT t.name FROM trusts t WHERE t.code = c.trust_code), c.trust_code) AS trust
            """,
            ids,
            now,
        )
        if not overdue:
            return 0
        reason = no_answer_reason(
            [r["trust"] for r in overdue], min(r["deadline"] for r in overdue).date()
        )
        for consent in overdue:
            await record_audit(
                conn,
                actor="bridgework",
                action="consent.expired",
                subject=str(consent["match_id"]),
                reason=reason,
                details={"party": consent["party"], "trust_code": consent["trust_code"]},
            )
        consents = await conn.fetch(
            "SELECT match_id, party, answer FROM consents WHERE match_id = ANY($1::uuid[])", ids
        )
        outcome = exchange_outcome(
            [Consent(c["match_id"], ConsentParty(c["party"]), c["answer"]) for c in consents]
        )
        events: list[Event] = [
            await _settle(conn, row, outcome.statuses[row["match_id"]], reason) for row in rows
        ]
        await add_to_outbox(conn, events)
    return len(rows)


def consent_deadline(now: datetime, days: int) -> datetime:
    return now + timedelta(days=days)
