"""The notifier's tables: who to write to, and which emails each event asks for.

Every email is queued under a dedupe key (purpose + match + recipient), so whatever is
delivered twice or replayed, an email is queued at most once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from uuid import UUID

import asyncpg

from shared.events import (
    Event,
    MatchDecided,
    MatchProposed,
    MatchWithdrawn,
    NetworkUpserted,
    PersonErased,
    PersonUpserted,
    PlacementUpserted,
    SelfServiceLinkRequested,
    TrustUpserted,
)
from shared.matching import MatchKind
from shared.observability.context import attached, capture

log = logging.getLogger(__name__)


async def apply_event(conn: asyncpg.Connection, event: Event) -> None:
    match event:
        case NetworkUpserted():
            await conn.execute(
                """
                INSERT INTO networks (id, name, coordinators) VALUES ($1, $2, $3)
                ON CONFLICT (id) DO UPDATE
                  SET name = excluded.name, coordinators = excluded.coordinators
                """,
                event.network_id,
                event.name,
                [c.model_dump(mode="json") for c in event.coordinators],
            )
        case TrustUpserted():
            await conn.execute(
                "INSERT INTO trusts (code, name, network_id, contact_email) VALUES ($1, $2, $3, $4)"
                " ON CONFLICT (code) DO UPDATE SET name = excluded.name,"
                " network_id = excluded.network_id, contact_email = excluded.contact_email",
                event.trust_code,
                event.name,
                event.network_id,
                event.contact_email,
            )
        case PersonUpserted():
            p = event.profile
            await conn.execute(
                """
                INSERT INTO people (id, role, name, email, job_title, trust_code)
                VALUES ($1, $2, $3, $4, $5, $6)
                ON CONFLICT (id) DO UPDATE SET role = excluded.role, name = excluded.name,
                  email = excluded.email, job_title = excluded.job_title,
                  trust_code = excluded.trust_code
                """,
                p.person_id,
                p.role.value,
                p.name,
                p.email,
                p.job_title,
                p.trust_code,
            )
        case PersonErased():
            await _forget(conn, event)
        case PlacementUpserted():
            pl = event.placement
            await conn.execute(
                "INSERT INTO placements (id, role, host_trust_code) VALUES ($1, $2, $3)"
                " ON CONFLICT (id) DO UPDATE SET role = excluded.role,"
                " host_trust_code = excluded.host_trust_code",
                pl.placement_id,
                pl.role,
                pl.host_trust_code,
            )
        case MatchProposed():
            await _queue_proposal_emails(conn, event)
        case MatchWithdrawn():
            await _cancel_unsent(conn, event)
        case MatchDecided():
            await _record_decision(conn, event)
        case SelfServiceLinkRequested():
            await _queue_self_service_link(conn, event)
        case _:
            pass


async def _forget(conn: asyncpg.Connection, event: PersonErased) -> None:
    """Erasure: the person goes, and so does every unsent email to or about them; emails
    already sent to them keep no trace of who they went to.

    The proposals are deleted first: the mail queue queues a proposal's emails holding its row
    lock (``announce_proposals``, ``introduce_approved``), so this waits for any such
    transaction, and the statements after it (read committed) see the emails it queued."""
    erased_matches = [
        row["match_id"]
        for row in await conn.fetch(
            "DELETE FROM proposals WHERE event->>'provider_id' = $1 OR event->>'mentee_id' = $1"
            " RETURNING match_id",
            str(event.person_id),
        )
    ]
    await conn.execute("DELETE FROM people WHERE id = $1", event.person_id)
    await conn.execute(
        """
        UPDATE emails SET recipient_name = '', recipient_email = '',
          status = CASE WHEN status = 'pending' THEN 'cancelled' ELSE status END
        WHERE person_id = $1
        """,
        event.person_id,
    )
    await conn.execute(
        "UPDATE emails SET status = 'cancelled'"
        " WHERE status = 'pending' AND match_id = ANY($1::uuid[])",
        erased_matches,
    )


async def _cancel_unsent(conn: asyncpg.Connection, event: MatchWithdrawn) -> None:
    """A withdrawn proposal is not announced any more, nor introduced if an approval raced the
    withdrawal; what was already sent stays sent. The proposal's row first, so that emails
    being queued under its lock are seen (_forget)."""
    await conn.execute(
        "UPDATE proposals SET announced = true, withdrawn = true WHERE match_id = $1",
        event.match_id,
    )
    await conn.execute(
        "UPDATE emails SET status = 'cancelled' WHERE match_id = $1 AND status = 'pending'",
        event.match_id,
    )


async def _queue_proposal_emails(conn: asyncpg.Connection, event: MatchProposed) -> None:
    """Keep the proposal; the mail queue announces it once its network's coordinators are known
    (network events travel on another topic and may arrive later), unless already decided."""
    await conn.execute(
        "INSERT INTO proposals (match_id, network_id, event, announced, trace_context)"
        " VALUES ($1, $2, $3, EXISTS (SELECT 1 FROM decisions WHERE match_id = $1), $4)"
        " ON CONFLICT DO NOTHING",
        event.match_id,
        event.network_id,
        event.model_dump(mode="json"),
        capture(),  # the proposal's correlation id and trace, for its emails
    )


async def announce_proposals(conn: asyncpg.Connection) -> int:
    """Queue one email per coordinator for each proposal whose network is known; at most once,
    whatever happens (the dedupe key)."""
    rows = await conn.fetch(
        """
        SELECT p.match_id, p.trace_context, n.coordinators
        FROM proposals p JOIN networks n ON n.id = p.network_id
        WHERE NOT p.announced ORDER BY p.match_id FOR UPDATE OF p SKIP LOCKED
        """
    )
    emails = [
        (
            f"proposal:{row['match_id']}:{c['email'].lower()}",
            row["match_id"],
            c["name"],
            c["email"],
            row["trace_context"],
        )
        for row in rows
        for c in row["coordinators"]
    ]
    await conn.executemany(
        """
        INSERT INTO emails (dedupe_key, purpose, match_id, recipient_name, recipient_email,
                            trace_context)
        VALUES ($1, 'proposal', $2, $3, $4, $5) ON CONFLICT (dedupe_key) DO NOTHING
        """,
        emails,
    )
    await conn.execute(
        "UPDATE proposals SET announced = true WHERE match_id = ANY($1::uuid[])",
        [row["match_id"] for row in rows],
    )
    return len(rows)


async def _record_decision(conn: asyncpg.Connection, event: MatchDecided) -> None:
    """Keep the decision; approved ones are introduced by ``introduce_approved`` once their
    proposal and people are known. Unsent proposal emails of a decided match are moot."""
    await conn.execute(
        "INSERT INTO decisions (match_id, approved, decided_at, introduced, trace_context)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (match_id) DO NOTHING",
        event.match_id,
        event.approved,
        event.occurred_at,
        not event.approved,  # a rejection introduces nobody
        # The mail queue introduces the match later, outside this event's context: keep the
        # decision's correlation id and trace for the introductions' log lines and headers.
        capture(),
    )
    # The proposal's row first, so that emails being queued under its lock are seen (_forget).
    await conn.execute("UPDATE proposals SET announced = true WHERE match_id = $1", event.match_id)
    await conn.execute(
        "UPDATE emails SET status = 'cancelled'"
        " WHERE match_id = $1 AND purpose = 'proposal' AND status = 'pending'",
        event.match_id,
    )


async def _queue_self_service_link(
    conn: asyncpg.Connection, event: SelfServiceLinkRequested
) -> None:
    person = await conn.fetchrow("SELECT name, email FROM people WHERE id = $1", event.person_id)
    if person is None:
        return  # erased since they asked: nothing goes to them
    await _queue(
        conn,
        [
            QueuedEmail(
                dedupe_key=f"self_service_link:{event.event_id}",
                purpose="self_service_link",
                recipient_name=person["name"],
                recipient_email=person["email"],
                person_id=event.person_id,
            )
        ],
    )


@dataclass(frozen=True)
class QueuedEmail:
    """One email to queue; ``context`` says what it is about beyond its purpose (no personal
    data: ids, codes and which side of a match it speaks to)."""

    dedupe_key: str
    purpose: str
    recipient_name: str
    recipient_email: str
    match_id: UUID | None = None
    person_id: UUID | None = None
    context: dict[str, str] = field(default_factory=dict)

    def row(self) -> tuple[object, ...]:
        return (
            self.dedupe_key,
            self.purpose,
            self.match_id,
            self.person_id,
            self.recipient_name,
            self.recipient_email,
            self.context,
        )


async def _queue(conn: asyncpg.Connection, emails: list[QueuedEmail]) -> None:
    await conn.executemany(
        """
        INSERT INTO emails (dedupe_key, purpose, match_id, person_id, recipient_name,
                            recipient_email, context, trace_context)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (dedupe_key) DO NOTHING
        """,
        # The change behind the emails: the event being handled (a self-service link request),
        # or the decision that introduces a match (introduce_approved attaches its context).
        [(*email.row(), capture()) for email in emails],
    )


async def introduce_approved(conn: asyncpg.Connection) -> int:
    """Queue the introductions of approved matches whose proposal and people are known; returns
    how many matches were introduced. Unknown people are waited for (their events travel on
    another topic); an erased person's match is never introduced (its proposal is gone), nor a
    withdrawn proposal's: the matcher ignores an approval that raced its withdrawal, so the
    people stay free for other matches."""
    rows = await conn.fetch(
        """
        SELECT d.match_id, d.trace_context, p.event, p.withdrawn, n.coordinators
        FROM decisions d
        JOIN proposals p USING (match_id) JOIN networks n ON n.id = p.network_id
        WHERE NOT d.introduced ORDER BY d.match_id FOR UPDATE OF d, p SKIP LOCKED
        """
    )
    introduced = []
    settled = []  # introduced, or never to be: not looked at again
    for row in rows:
        if row["withdrawn"]:
            settled.append(row["match_id"])
            continue
        # This loop runs outside any event's context: each match's emails (and log lines) are
        # the decision's, so _queue's capture() stores the decision's correlation id and trace.
        with attached(row["trace_context"]):
            if await _introduce(conn, MatchProposed.model_validate(row["event"]), row):
                introduced.append(row["match_id"])
    await conn.execute(
        "UPDATE decisions SET introduced = true WHERE match_id = ANY($1::uuid[])",
        introduced + settled,
    )
    return len(introduced)


async def _introduce(
    conn: asyncpg.Connection, proposal: MatchProposed, decision: asyncpg.Record
) -> bool:
    """Queue one approved match's introductions; False while its people are not all known."""
    if proposal.kind is MatchKind.MENTORING:
        emails = await _mentoring_introductions(conn, proposal)
    else:
        emails = await _secondment_introductions(conn, proposal, decision["coordinators"])
    if emails is None:
        return False
    await _queue(conn, emails)
    return True


async def _people(conn: asyncpg.Connection, *ids: object) -> list[asyncpg.Record] | None:
    rows = {
        row["id"]: row
        for row in await conn.fetch(
            "SELECT id, name, email, trust_code FROM people WHERE id = ANY($1::uuid[])", list(ids)
        )
    }
    return [rows[i] for i in ids] if all(i in rows for i in ids) else None


async def _mentoring_introductions(
    conn: asyncpg.Connection, proposal: MatchProposed
) -> list[QueuedEmail] | None:
    people = await _people(conn, proposal.provider_id, proposal.mentee_id)
    if people is None:
        return None
    return [
        QueuedEmail(
            dedupe_key=f"introduction:{proposal.match_id}:{person['id']}",
            purpose="introduction",
            match_id=proposal.match_id,
            person_id=person["id"],
            recipient_name=person["name"],
            recipient_email=person["email"],
            context={"audience": audience},
        )
        for person, audience in zip(people, ("mentor", "mentee"), strict=True)
    ]


async def _secondment_introductions(
    conn: asyncpg.Connection, proposal: MatchProposed, coordinators: list[dict[str, str]]
) -> list[QueuedEmail] | None:
    people = await _people(conn, proposal.mentee_id)
    host = await conn.fetchval(
        "SELECT host_trust_code FROM placements WHERE id = $1", proposal.provider_id
    )
    if people is None or host is None:
        return None
    [candidate] = people
    trusts = {
        row["code"]: row
        for row in await conn.fetch(
            "SELECT code, name, contact_email FROM trusts WHERE code = ANY($1::text[])",
            [host, candidate["trust_code"]],
        )
    }
    if host not in trusts or candidate["trust_code"] not in trusts:
        return None
    match_id = proposal.match_id
    emails = [
        QueuedEmail(
            dedupe_key=f"introduction:{match_id}:{candidate['id']}",
            purpose="introduction",
            match_id=match_id,
            person_id=candidate["id"],
            recipient_name=candidate["name"],
            recipient_email=candidate["email"],
            context={"audience": "candidate"},
        )
    ]
    for side, code in (("host", host), ("home", candidate["trust_code"])):
        trust = trusts[code]
        if trust["contact_email"]:
            emails.append(
                QueuedEmail(
                    dedupe_key=f"introduction:{match_id}:trust:{side}:{code}",
                    purpose="introduction",
                    match_id=match_id,
                    recipient_name=trust["name"],
                    recipient_email=trust["contact_email"],
                    context={"audience": f"{side}_trust", "trust_code": code},
                )
            )
            continue
        log.warning(
            "secondment %s: %s trust %s has no contact email; telling the coordinators",
            match_id,
            side,
            code,
        )
        emails += [
            QueuedEmail(
                dedupe_key=f"trust_contact_missing:{match_id}:{side}:{c['email'].lower()}",
                purpose="trust_contact_missing",
                match_id=match_id,
                recipient_name=c["name"],
                recipient_email=c["email"],
                context={"side": side, "trust_code": code},
            )
            for c in coordinators
        ]
    return emails
