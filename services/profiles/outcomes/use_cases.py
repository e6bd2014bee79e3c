"""The steps of a match's life, taken by a participant (a signed link, /me) or a coordinator:
each checks the match's state (life.py), stores the event, audits it and puts it in the outbox
in ONE transaction, so a step is taken, recorded and published, or none of it."""

from __future__ import annotations

from collections.abc import Mapping
from uuid import UUID

import asyncpg

from services.profiles.accounts.audit import record_audit
from services.profiles.api.schemas import MenteeIn
from services.profiles.directory.networks import life_settings
from services.profiles.directory.people import save_person
from services.profiles.outcomes.life import (
    LifeEvent,
    LifeRefused,
    MatchLife,
    check_check_in,
    check_close,
    check_first_conversation,
    check_levels,
    covered_skills,
    reassessed_gaps,
)
from services.profiles.outcomes.store import keep_life_event, load_life, match_row
from shared.events import (
    CheckInRecorded,
    FirstConversationHeld,
    LifeActor,
    MatchClosed,
    MatchOutcome,
)
from shared.outbox import add_to_outbox
from shared.people import SkillLevel
from shared.text import free_text

MAX_NOTE_LENGTH = 2000


async def _locked_life(
    conn: asyncpg.Connection, match_id: UUID, network_id: str | None
) -> tuple[asyncpg.Record, MatchLife]:
    row = await match_row(conn, match_id, lock=True)
    if row is None or (network_id is not None and row["network_id"] != network_id):
        raise LifeRefused("No such match.")
    return row, await load_life(conn, row)


async def _take(conn: asyncpg.Connection, event: LifeEvent, actor: str, reason: str = "") -> None:
    await keep_life_event(conn, event)
    await record_audit(
        conn,
        actor=actor,
        action=event.event_type,
        subject=str(event.match_id),
        reason=reason,
        details={"network_id": event.network_id},
    )
    await add_to_outbox(conn, [event])


def _note(text: str) -> str:
    text = text.strip()
    if len(text) > MAX_NOTE_LENGTH:
        raise LifeRefused(f"The note is too long (at most {MAX_NOTE_LENGTH} characters).")
    try:
        return free_text(text)
    except ValueError as error:
        raise LifeRefused(f"The note cannot be stored: {error}.") from error


async def confirm_first_conversation(
    conn: asyncpg.Connection,
    match_id: UUID,
    *,
    by: LifeActor,
    actor: str,
    network_id: str | None = None,
) -> FirstConversationHeld:
    async with conn.transaction():
        row, life = await _locked_life(conn, match_id, network_id)
        check_first_conversation(life)
        event = FirstConversationHeld(
            entity_key=str(match_id),
            match_id=match_id,
            network_id=row["network_id"],
            confirmed_by=by,
        )
        await _take(conn, event, actor)
    return event


async def record_check_in(
    conn: asyncpg.Connection,
    match_id: UUID,
    *,
    day: int,
    by: LifeActor,
    met: bool,
    usefulness: int,
    note: str,
    actor: str,
) -> CheckInRecorded:
    if not 1 <= usefulness <= 5:
        raise LifeRefused("Choose how useful the match has been, from 1 to 5.")
    note = _note(note)
    async with conn.transaction():
        row, life = await _locked_life(conn, match_id, None)
        settings = await life_settings(conn, row["network_id"])
        check_check_in(life, day, by, settings.check_in_days)
        event = CheckInRecorded(
            entity_key=str(match_id),
            match_id=match_id,
            network_id=row["network_id"],
            day=day,
            by=by,
            met=met,
            usefulness=usefulness,
            note=note,
        )
        await _take(conn, event, actor)
    return event


async def close_match(
    conn: asyncpg.Connection,
    match_id: UUID,
    *,
    outcome: MatchOutcome,
    by: LifeActor,
    actor: str,
    levels: Mapping[str, int] | None = None,
    reason: str = "",
    network_id: str | None = None,
) -> MatchClosed:
    """Close the match; the mentee's re-assessed levels update their gaps (a gap reached is
    gone) and their profile goes out again, so their next match starts from where they are."""
    reason = _note(reason)
    levels = dict(levels or {})
    async with conn.transaction():
        row, life = await _locked_life(conn, match_id, network_id)
        check_close(life, by)
        check_levels(levels, covered_skills(row["explanation"]))
        event = MatchClosed(
            entity_key=str(match_id),
            match_id=match_id,
            network_id=row["network_id"],
            outcome=outcome,
            by=by,
            levels=tuple(SkillLevel(skill=s, level=v) for s, v in sorted(levels.items())),
            reason=reason,
        )
        await _take(conn, event, actor, reason)
        if levels:
            await _reassess(conn, row["mentee_id"], levels)
    return event


async def _reassess(conn: asyncpg.Connection, mentee_id: UUID, levels: dict[str, int]) -> None:
    details = await conn.fetchval(
        "SELECT details FROM people WHERE id = $1 AND role = 'mentee' FOR UPDATE", mentee_id
    )
    if details is None:
        return  # erased, or a secondment's candidate kept elsewhere
    mentee = MenteeIn.model_validate(details)
    gaps = reassessed_gaps(mentee.gaps, levels)
    if gaps is not None and gaps != mentee.gaps:
        await save_person(conn, mentee.model_copy(update={"gaps": gaps}), mentee_id)
