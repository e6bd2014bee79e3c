"""The notifier's tables as its handlers (handlers.py) use them: every statement they run, on
the connection of the event's (or the mail queue's) transaction. What to queue or cancel is
decided in handlers.py."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from uuid import UUID

import asyncpg

from services.notifier.handlers import (
    CONSENT_EMAILS,
    Approved,
    ConsentAsked,
    Contact,
    DigestDue,
    DigestEntry,
    Person,
    QueuedEmail,
    Trust,
    Unannounced,
)
from services.notifier.reminders import Reminder
from shared.events import (
    ConsentRequested,
    MatchDecided,
    MatchLifeSettings,
    MatchProposed,
    NetworkUpserted,
    PersonUpserted,
    PlacementUpserted,
    SecondmentChanged,
    TrustUpserted,
)
from shared.observability.context import Carrier, capture


class NotifierRepository:
    """The notifier's store (``handlers.NotifierStore``) on one connection."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def upsert_network(self, event: NetworkUpserted) -> None:
        await self.conn.execute(
            """
            INSERT INTO networks (id, name, coordinators, life) VALUES ($1, $2, $3, $4)
            ON CONFLICT (id) DO UPDATE SET name = excluded.name,
              coordinators = excluded.coordinators, life = excluded.life
            """,
            event.network_id,
            event.name,
            [c.model_dump(mode="json") for c in event.coordinators],
            event.life.model_dump(mode="json"),
        )

    async def upsert_trust(self, event: TrustUpserted) -> None:
        await self.conn.execute(
            "INSERT INTO trusts (code, name, network_id, contact_email, contacts)"
            " VALUES ($1, $2, $3, $4, $5)"
            " ON CONFLICT (code) DO UPDATE SET name = excluded.name,"
            " network_id = excluded.network_id, contact_email = excluded.contact_email,"
            " contacts = excluded.contacts",
            event.trust_code,
            event.name,
            event.network_id,
            event.contact_email,
            [c.model_dump(mode="json") for c in event.contacts],
        )

    async def upsert_person(self, event: PersonUpserted) -> None:
        p = event.profile
        await self.conn.execute(
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

    async def upsert_placement(self, event: PlacementUpserted) -> None:
        pl = event.placement
        await self.conn.execute(
            "INSERT INTO placements (id, role, host_trust_code) VALUES ($1, $2, $3)"
            " ON CONFLICT (id) DO UPDATE SET role = excluded.role,"
            " host_trust_code = excluded.host_trust_code",
            pl.placement_id,
            pl.role,
            pl.host_trust_code,
        )

    async def forget_person(self, person_id: UUID) -> None:
        """Erasure: the person goes, and so does every unsent email to or about them; emails
        already sent to them keep no trace of who they went to.

        The proposals are deleted first: the mail queue queues a proposal's emails holding its
        row lock (``unannounced``, ``approved_not_introduced``), so this waits for any such
        transaction, and the statements after it (read committed) see the emails it queued."""
        erased_matches = [
            row["match_id"]
            for row in await self.conn.fetch(
                "DELETE FROM proposals"
                " WHERE event->>'provider_id' = $1 OR event->>'mentee_id' = $1"
                " RETURNING match_id",
                str(person_id),
            )
        ]
        await self.conn.execute("DELETE FROM people WHERE id = $1", person_id)
        await self.conn.execute(
            """
            UPDATE emails SET recipient_name = '', recipient_email = '',
              status = CASE WHEN status = 'pending' THEN 'cancelled' ELSE status END
            WHERE person_id = $1
            """,
            person_id,
        )
        await self.conn.execute(
            "UPDATE emails SET status = 'cancelled'"
            " WHERE status = 'pending' AND match_id = ANY($1::uuid[])",
            erased_matches,
        )
        await self.conn.execute(
            "DELETE FROM reminders WHERE person_id = $1 OR match_id = ANY($2::uuid[])",
            person_id,
            erased_matches,
        )
        # A digest not yet sent no longer lists their proposals.
        await self.conn.execute(
            "DELETE FROM digest_items WHERE match_id = ANY($1::uuid[])", erased_matches
        )

    async def keep_proposal(self, event: MatchProposed) -> None:
        await self.conn.execute(
            "INSERT INTO proposals (match_id, network_id, event, announced, trace_context)"
            " VALUES ($1, $2, $3, EXISTS (SELECT 1 FROM decisions WHERE match_id = $1), $4)"
            " ON CONFLICT DO NOTHING",
            event.match_id,
            event.network_id,
            event.model_dump(mode="json"),
            capture(),  # the proposal's correlation id and trace, for its emails
        )

    async def mark_withdrawn(self, match_id: UUID) -> None:
        await self.conn.execute(
            "UPDATE proposals SET announced = true, withdrawn = true WHERE match_id = $1",
            match_id,
        )

    async def keep_decision(self, event: MatchDecided) -> None:
        await self.conn.execute(
            "INSERT INTO decisions (match_id, approved, decided_at, introduced, trace_context)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (match_id) DO NOTHING",
            event.match_id,
            event.approved,
            event.occurred_at,
            not event.approved,  # a rejection introduces nobody
            # The mail queue introduces the match later, outside this event's context: keep
            # the decision's correlation id and trace for the introductions' lines and headers.
            capture(),
        )

    async def mark_announced(self, match_ids: Collection[UUID]) -> None:
        await self.conn.execute(
            "UPDATE proposals SET announced = true WHERE match_id = ANY($1::uuid[])",
            list(match_ids),
        )

    async def cancel_unsent(self, match_id: UUID, purposes: Collection[str]) -> None:
        """Cancel the match's pending emails of these purposes."""
        await self.conn.execute(
            "UPDATE emails SET status = 'cancelled' WHERE match_id = $1 AND status = 'pending'"
            " AND purpose = ANY($2::text[])",
            match_id,
            sorted(purposes),
        )

    async def person(self, person_id: UUID) -> Person | None:
        row = await self.conn.fetchrow(
            "SELECT id, name, email, trust_code FROM people WHERE id = $1", person_id
        )
        return None if row is None else Person(**row)

    async def people(self, ids: Sequence[UUID]) -> list[Person] | None:
        """The people in the order of ``ids``; None unless all of them are known."""
        rows = {
            row["id"]: Person(**row)
            for row in await self.conn.fetch(
                "SELECT id, name, email, trust_code FROM people WHERE id = ANY($1::uuid[])",
                list(ids),
            )
        }
        return [rows[i] for i in ids] if all(i in rows for i in ids) else None

    async def placement_host(self, placement_id: UUID) -> str | None:
        host: str | None = await self.conn.fetchval(
            "SELECT host_trust_code FROM placements WHERE id = $1", placement_id
        )
        return host

    async def trusts(self, codes: Collection[str]) -> dict[str, Trust]:
        rows = await self.conn.fetch(
            # A trust with no introduction address introduces through its first contact.
            "SELECT code, name, coalesce(contact_email, contacts->0->>'email') AS contact_email"
            " FROM trusts WHERE code = ANY($1::text[])",
            list(codes),
        )
        return {row["code"]: Trust(**row) for row in rows}

    async def queue(self, emails: Sequence[tuple[QueuedEmail, Carrier | None]]) -> None:
        await self.conn.executemany(
            """
            INSERT INTO emails (dedupe_key, purpose, match_id, person_id, recipient_name,
                                recipient_email, context, trace_context)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (dedupe_key) DO NOTHING
            """,
            [(*email.row(), trace_context or {}) for email, trace_context in emails],
        )

    async def unannounced(self) -> list[Unannounced]:
        """Proposals whose network is known, not announced yet: locked until the transaction
        ends, so that an erasure waits for the emails queued for them."""
        rows = await self.conn.fetch(
            """
            SELECT p.match_id, p.trace_context, p.network_id, n.coordinators
            FROM proposals p JOIN networks n ON n.id = p.network_id
            WHERE NOT p.announced ORDER BY p.match_id FOR UPDATE OF p SKIP LOCKED
            """
        )
        return [
            Unannounced(r["match_id"], r["coordinators"], r["trace_context"], r["network_id"])
            for r in rows
        ]

    async def add_to_digests(self, entries: Sequence[DigestEntry]) -> None:
        await self.conn.executemany(
            "INSERT INTO digest_items (network_id, recipient_name, recipient_email, match_id)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            [(e.network_id, e.recipient_name, e.recipient_email, e.match_id) for e in entries],
        )

    async def digests_due(self) -> list[DigestDue]:
        """Coordinators with proposals not yet in a digest that are still undecided, and still
        listed among their network's coordinators (one who went back to an email per proposal
        gets the last digest's worth all the same)."""
        rows = await self.conn.fetch(
            """
            SELECT DISTINCT d.network_id, d.recipient_email,
                   c->>'name' AS recipient_name
            FROM digest_items d
            JOIN proposals p USING (match_id)
            JOIN networks n ON n.id = d.network_id
            CROSS JOIN LATERAL jsonb_array_elements(n.coordinators) c
            WHERE d.digest_key IS NULL AND NOT p.withdrawn
              AND NOT EXISTS (SELECT 1 FROM decisions WHERE match_id = d.match_id)
              AND lower(c->>'email') = d.recipient_email
            ORDER BY d.network_id, d.recipient_email
            """
        )
        return [DigestDue(r["network_id"], r["recipient_name"], r["recipient_email"]) for r in rows]

    async def queue_digest(self, email: QueuedEmail, due: DigestDue) -> bool:
        """Queue the digest and give it its proposals, unless that day's digest exists."""
        queued = await self.conn.fetchval(
            """
            INSERT INTO emails (dedupe_key, purpose, match_id, person_id, recipient_name,
                                recipient_email, context, trace_context)
            VALUES ($1, $2, $3, $4, $5, $6, $7, '{}') ON CONFLICT (dedupe_key) DO NOTHING
            RETURNING id
            """,
            *email.row(),
        )
        if queued is None:
            return False
        await self.conn.execute(
            "UPDATE digest_items SET digest_key = $3"
            " WHERE network_id = $1 AND recipient_email = $2 AND digest_key IS NULL",
            due.network_id,
            due.recipient_email,
            email.dedupe_key,
        )
        return True

    async def approved_not_introduced(self) -> list[Approved]:
        rows = await self.conn.fetch(
            """
            SELECT d.match_id, d.trace_context, p.event, n.coordinators
            FROM decisions d
            JOIN proposals p USING (match_id) JOIN networks n ON n.id = p.network_id
            WHERE NOT d.introduced AND (d.agreed OR p.event->>'kind' <> 'secondment')
            ORDER BY d.match_id FOR UPDATE OF d, p SKIP LOCKED
            """
        )
        return [
            Approved(
                match_id=r["match_id"],
                proposal=MatchProposed.model_validate(r["event"]),
                coordinators=r["coordinators"],
                trace_context=r["trace_context"],
            )
            for r in rows
        ]

    async def mark_introduced(self, match_ids: Collection[UUID]) -> None:
        await self.conn.execute(
            "UPDATE decisions SET introduced = true WHERE match_id = ANY($1::uuid[])",
            list(match_ids),
        )

    # --- reminders (reminders.py) ---------------------------------------------------------

    async def schedule(self, reminders: Sequence[Reminder]) -> None:
        await self.conn.executemany(
            """
            INSERT INTO reminders (key, purpose, due_at, match_id, person_id, network_id, context)
            VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (key) DO NOTHING
            """,
            [
                (r.key, r.purpose, r.due_at, r.match_id, r.person_id, r.network_id, dict(r.context))
                for r in reminders
            ],
        )

    async def cancel_reminders(
        self,
        *,
        match_id: UUID | None = None,
        person_id: UUID | None = None,
        purposes: Collection[str] = (),
    ) -> None:
        await self.conn.execute(
            """
            UPDATE reminders SET status = 'cancelled'
            WHERE status = 'scheduled' AND purpose = ANY($3::text[])
              AND (match_id = $1 OR person_id = $2)
            """,
            match_id,
            person_id,
            sorted(purposes),
        )

    async def due_reminders(self, now: datetime) -> list[Reminder]:
        """Due and not yet queued: locked until the transaction ends (SKIP LOCKED: two mail
        queues never take one reminder)."""
        rows = await self.conn.fetch(
            """
            SELECT key, purpose, due_at, match_id, person_id, network_id, context FROM reminders
            WHERE status = 'scheduled' AND due_at <= $1
            ORDER BY due_at, key LIMIT 500 FOR UPDATE SKIP LOCKED
            """,
            now,
        )
        return [Reminder(**dict(row)) for row in rows]

    async def mark_reminders_queued(self, keys: Collection[str], now: datetime) -> None:
        await self.conn.execute(
            "UPDATE reminders SET status = 'queued', queued_at = $2 WHERE key = ANY($1::text[])",
            list(keys),
            now,
        )

    async def queue_reminder_emails(self, emails: Sequence[QueuedEmail]) -> None:
        await self.queue([(email, None) for email in emails])

    async def proposal_event(self, match_id: UUID) -> MatchProposed | None:
        event = await self.conn.fetchval(
            "SELECT event FROM proposals WHERE match_id = $1", match_id
        )
        return None if event is None else MatchProposed.model_validate(event)

    async def parties(self, ids: Sequence[UUID]) -> list[tuple[UUID, str, str]] | None:
        people = await self.people(ids)
        return None if people is None else [(p.id, p.name, p.email) for p in people]

    async def coordinators(self, network_id: str) -> Sequence[Mapping[str, str]] | None:
        coordinators: Sequence[Mapping[str, str]] | None = await self.conn.fetchval(
            "SELECT coordinators FROM networks WHERE id = $1", network_id
        )
        return coordinators

    async def network_life(self, network_id: str) -> MatchLifeSettings:
        life = await self.conn.fetchval("SELECT life FROM networks WHERE id = $1", network_id)
        return MatchLifeSettings.model_validate(life or {})

    async def still_waiting(self, match_ids: Collection[UUID]) -> set[UUID]:
        rows = await self.conn.fetch(
            """
            SELECT match_id FROM proposals p WHERE match_id = ANY($1::uuid[]) AND NOT withdrawn
              AND NOT EXISTS (SELECT 1 FROM decisions d WHERE d.match_id = p.match_id)
            """,
            list(match_ids),
        )
        return {row["match_id"] for row in rows}

    # --- the trusts' consents and secondments ----------------------------------------------

    async def trust_contacts(self, code: str) -> list[Contact]:
        """The trust's contacts; a trust with none is reached at its contact address."""
        row = await self.conn.fetchrow(
            "SELECT name, contact_email, contacts FROM trusts WHERE code = $1", code
        )
        if row is None:
            return []
        contacts = [Contact(name=c["name"], email=c["email"]) for c in row["contacts"]]
        if not contacts and row["contact_email"]:
            contacts = [Contact(name=row["name"], email=row["contact_email"])]
        return contacts

    async def keep_consent_request(self, event: ConsentRequested) -> None:
        await self.conn.execute(
            "INSERT INTO consent_requests (match_id, party, trust_code, network_id, deadline)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            event.match_id,
            event.party.value,
            event.trust_code,
            event.network_id,
            event.deadline,
        )

    async def consents_to_ask(self) -> list[ConsentAsked]:
        """Not yet emailed, still open, their trust's contacts known: locked until the
        transaction ends."""
        rows = await self.conn.fetch(
            """
            SELECT c.match_id, c.party, c.trust_code FROM consent_requests c
            JOIN trusts t ON t.code = c.trust_code
            WHERE NOT c.asked AND NOT c.answered
              AND (jsonb_array_length(t.contacts) > 0 OR t.contact_email IS NOT NULL)
            ORDER BY c.match_id, c.party FOR UPDATE OF c SKIP LOCKED
            """
        )
        return [ConsentAsked(r["match_id"], r["party"], r["trust_code"]) for r in rows]

    async def mark_asked(self, asked: Sequence[ConsentAsked]) -> None:
        await self.conn.executemany(
            "UPDATE consent_requests SET asked = true WHERE match_id = $1 AND party = $2",
            [(a.match_id, a.party) for a in asked],
        )

    async def close_consent_requests(self, match_id: UUID, party: str | None) -> None:
        """Answered (or moot): no reminder, and its unsent requests are cancelled."""
        await self.conn.execute(
            "UPDATE consent_requests SET answered = true"
            " WHERE match_id = $1 AND ($2::text IS NULL OR party = $2)",
            match_id,
            party,
        )
        await self.conn.execute(
            "UPDATE emails SET status = 'cancelled' WHERE match_id = $1 AND status = 'pending'"
            " AND purpose = ANY($2::text[]) AND ($3::text IS NULL OR context->>'party' = $3)",
            match_id,
            sorted(CONSENT_EMAILS),
            party,
        )

    async def settle_secondment(self, event: SecondmentChanged, introduce: bool) -> None:
        await self.conn.execute(
            "UPDATE decisions SET agreed = $2, introduced = introduced OR NOT $2,"
            " start_date = $3, end_date = $4 WHERE match_id = $1",
            event.match_id,
            introduce,
            event.start_date,
            event.end_date,
        )

    async def consents_to_remind(self, deadline_before: datetime) -> list[ConsentAsked]:
        """Unanswered, not yet reminded, due: locked until the transaction ends."""
        rows = await self.conn.fetch(
            "SELECT match_id, party, trust_code FROM consent_requests"
            " WHERE asked AND NOT answered AND NOT reminded AND deadline <= $1"
            " AND deadline > now()"
            " ORDER BY match_id, party FOR UPDATE SKIP LOCKED",
            deadline_before,
        )
        return [ConsentAsked(r["match_id"], r["party"], r["trust_code"]) for r in rows]

    async def mark_reminded(self, asked: Sequence[ConsentAsked]) -> None:
        await self.conn.executemany(
            "UPDATE consent_requests SET reminded = true WHERE match_id = $1 AND party = $2",
            [(a.match_id, a.party) for a in asked],
        )
