"""A coordinator matches a mentee with a mentor of their choosing (issue 16, item 3).

The pair is judged by the matcher's own rules and score (services/matcher/by_hand.py), on the
two people as this service knows them, so what the coordinator sees before confirming is what
a round would say. A match the rules forbid is refused with the reason in plain words. A
confirmed match is stored as an approved proposal marked by hand, audited as the
coordinator's, and published as an approved ``match.decided`` carrying the pair: the matcher
takes the mentor's place, the notifier introduces them, as for any approved match. All in one
transaction."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from services.matcher import by_hand as rules
from services.matcher.network_weights import load_matching_config, with_weights
from services.profiles.accounts.audit import record_audit
from services.profiles.coordination.read_model import ReadModelRepository
from services.profiles.directory.people import person_details, person_event
from shared.events import MatchByHand, MatchDecided
from shared.outbox import add_to_outbox
from shared.settings import Settings
from shared.text import recorded_reason

# The rules' reasons (the matcher's words) in a coordinator's words.
PLAIN_WORDS = {
    rules.WITHDRAWN: "{mentee} has withdrawn from Bridgework, so nobody is matched with them.",
    rules.NO_CAPACITY: "{mentor} has no room for another mentee: paused, or every place taken.",
    rules.HAS_A_MENTOR: "{mentee} already has a mentor (or finished a mentoring match).",
    rules.SCORE_TOO_LOW: "{mentor} and {mentee} score too low to be a match.",
    "rejected before": "{mentor} and {mentee} were rejected as a pair before, or their match"
    " ran and closed: they are not matched again.",
    "excluded by the mentee": "{mentee} asked not to be matched with {mentor}.",
    "mentee lists no skill gap": "{mentee} lists no skill gap to grow.",
    "different networks": "{mentor} and {mentee} are in different networks.",
    "same trust": "{mentor} and {mentee} work in the same trust, and mentors are matched with"
    " mentees of other trusts.",
    "too far apart and not both remote": "{mentor} and {mentee} are too far apart to meet, and"
    " not both willing to meet remotely.",
    "covers none of the mentee's gaps": "{mentor}'s skills cover none of {mentee}'s gaps.",
}


class MatchRefused(ValueError):
    """The pair cannot be matched; the message says why, for the coordinator."""


@dataclass(frozen=True)
class Choice:
    """A mentor chosen for a mentee, and the rules' verdict on them."""

    mentor_id: UUID
    mentor_name: str
    mentee_id: UUID
    mentee_name: str
    verdict: rules.Verdict

    @property
    def refusal(self) -> str | None:
        if self.verdict.refusal is None:
            return None
        words = PLAIN_WORDS.get(self.verdict.refusal, "{mentor} and {mentee}: {reason}.")
        return words.format(
            mentor=self.mentor_name, mentee=self.mentee_name, reason=self.verdict.refusal
        )


# The person with their trust's columns (round_input.trust_info and person_event read them).
PERSON_SQL = """
SELECT p.id, p.role, p.paused, p.withdrawn, p.details, t.code, t.name, t.region, t.latitude,
       t.longitude, t.is_small, t.network_id
FROM people p JOIN trusts t ON t.code = p.trust_code
WHERE p.id = $1 AND t.network_id = $2
"""
# What a round counts (services/matcher/round_input.py), from this service's read model: the
# mentor's approved matches, the mentee's searches over (an approved match, or one closed other
# than early), and whether the pair was rejected or has closed.
COUNTS_SQL = """
WITH over AS (
    SELECT a.kind FROM proposals a WHERE a.mentee_id = $2 AND (a.status = 'approved' OR (
        a.status = 'closed' AND NOT EXISTS (
            SELECT 1 FROM match_life l WHERE l.match_id = a.match_id
            AND l.event_type = 'match.closed' AND l.event->>'outcome' = 'ended_early'))))
SELECT
  (SELECT count(*) FROM proposals a WHERE a.provider_id = $1 AND a.status = 'approved')
    AS approved_as_provider,
  (SELECT count(*) FROM over WHERE kind = 'mentoring') AS approved_mentoring,
  (SELECT count(*) FROM over WHERE kind = 'secondment') AS approved_secondment,
  EXISTS (SELECT 1 FROM proposals a WHERE a.provider_id = $1 AND a.mentee_id = $2
          AND a.status IN ('rejected', 'closed')) AS never_again
"""


def _as_round_row(person: asyncpg.Record, counts: Mapping[str, Any]) -> dict[str, Any]:
    """The person as a round reads them (round_input.PEOPLE_COLUMNS and counts): the profile
    this service publishes for them, so both sides see the same person."""
    paused = bool(person["paused"] or person["withdrawn"])
    data = person_details(person["role"], person["details"])
    profile = person_event(person["id"], data, person, paused).profile
    return {
        **counts,
        "paused": paused,
        "capacity": profile.capacity,
        "hours_per_month": profile.hours_per_month,
        "profile_json": profile.model_dump_json(),
    }


async def choose(
    conn: asyncpg.Connection,
    settings: Settings,
    network_id: str,
    mentor_id: UUID,
    mentee_id: UUID,
) -> Choice | None:
    """The rules' verdict on the pair; None when either is not such a person of the network."""
    mentor = await conn.fetchrow(PERSON_SQL, mentor_id, network_id)
    mentee = await conn.fetchrow(PERSON_SQL, mentee_id, network_id)
    if (
        mentor is None
        or mentee is None
        or (mentor["role"], mentee["role"])
        != (
            "mentor",
            "mentee",
        )
    ):
        return None
    counts = dict(await conn.fetchrow(COUNTS_SQL, mentor_id, mentee_id))
    never_again = bool(counts.pop("never_again"))
    weights = await conn.fetchval(
        "SELECT weights FROM matching_weights WHERE network_id = $1 ORDER BY version DESC LIMIT 1",
        network_id,
    )
    config = with_weights(load_matching_config(settings.matching_config_file), weights)
    verdict = rules.judge_pair(
        _as_round_row(mentor, counts),
        _as_round_row(mentee, counts),
        [mentor, mentee],
        config,
        never_again=never_again,
    )
    return Choice(
        mentor_id=mentor_id,
        mentor_name=str(mentor["details"]["name"]),
        mentee_id=mentee_id,
        mentee_name=str(mentee["details"]["name"]),
        verdict=verdict,
    )


async def match_by_hand(
    conn: asyncpg.Connection,
    settings: Settings,
    *,
    network_id: str,
    mentor_id: UUID,
    mentee_id: UUID,
    note: str,
    actor: str,
) -> UUID:
    """Judge the pair again (under lock: two coordinators cannot both take the last place),
    then store, audit and publish the match; returns its id."""
    try:
        note = recorded_reason(note, None)
    except ValueError as error:
        raise MatchRefused(str(error)) from error
    async with conn.transaction():
        # The mentor's row, locked: a second match by hand for them waits for this one.
        await conn.execute("SELECT 1 FROM people WHERE id = $1 FOR UPDATE", mentor_id)
        choice = await choose(conn, settings, network_id, mentor_id, mentee_id)
        if choice is None:
            raise MatchRefused("Choose a mentor and a mentee of your network.")
        verdict = choice.verdict
        if choice.refusal is not None or verdict.score is None or verdict.explanation is None:
            raise MatchRefused(choice.refusal or "They cannot be matched.")
        match_id = uuid4()
        decided = MatchDecided(
            entity_key=str(match_id),
            match_id=match_id,
            network_id=network_id,
            approved=True,
            reason=note,
            decided_by=actor,
            by_hand=MatchByHand(
                provider_id=mentor_id,
                mentee_id=mentee_id,
                score=verdict.score,
                explanation=verdict.explanation,
            ),
        )
        made = decided.proposal()
        assert made is not None  # a decision by hand stands for its proposal
        store = ReadModelRepository(conn)
        await store.add_proposal(made, by_hand=True)
        await store.set_status(match_id, "approved", decided.occurred_at, note, actor)
        await record_audit(
            conn,
            actor=actor,
            action="match.approved_by_hand",
            subject=str(match_id),
            reason=note,
            details={
                "network_id": network_id,
                "mentor_id": str(mentor_id),
                "mentee_id": str(mentee_id),
                "score": round(verdict.score, 4),
                "via": "web",
            },
        )
        await add_to_outbox(conn, [decided])
    return match_id
