"""Rendering and sending email over SMTP from the notifier's queue.

A queued email is rendered when it is sent, from what the notifier knows then: an erased
person's details are gone by then, and their unsent emails were cancelled. An SMTP outage
delays mail (retried with backoff), it never drops it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from pathlib import Path
from typing import Any

import aiosmtplib
import asyncpg
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from services.notifier.directory import announce_proposals
from shared.events import MatchProposed
from shared.matching import MatchKind
from shared.observability import metrics
from shared.observability.context import continued, current_correlation_id
from shared.settings import Settings

log = logging.getLogger(__name__)

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html.j2"]),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)
MAX_BACKOFF_SECONDS = 300.0


class NotYetKnown(LookupError):
    """The email names someone the notifier has not heard of yet; try again shortly."""


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class ProposalMail:
    """Everything a coordinator's proposal email says."""

    coordinator_name: str
    network_name: str
    proposal: MatchProposed
    provider: str
    mentee_name: str
    mentee: str


def compose_proposal_email(mail: ProposalMail) -> RenderedEmail:
    is_mentoring = mail.proposal.kind is MatchKind.MENTORING
    context: dict[str, Any] = {
        "coordinator_name": mail.coordinator_name,
        "network_name": mail.network_name,
        "kind": mail.proposal.kind.value,
        "provider_label": "Mentor" if is_mentoring else "Placement",
        "provider": mail.provider,
        "mentee": mail.mentee,
        "score": mail.proposal.score,
        "explanation": mail.proposal.explanation,
        "match_id": mail.proposal.match_id,
        "exchange_id": mail.proposal.exchange_id,
    }
    return RenderedEmail(
        subject=f"Proposed {mail.proposal.kind.value} match for {mail.mentee_name} — your decision",
        text=TEMPLATES.get_template("proposal.txt.j2").render(context),
        html=TEMPLATES.get_template("proposal.html.j2").render(context),
    )


async def _person(conn: asyncpg.Connection, person_id: object) -> tuple[str, str]:
    """(name, "name, job title, trust") for a person the notifier knows."""
    row = await conn.fetchrow(
        """
        SELECT p.name, p.job_title, coalesce(t.name, p.trust_code) AS trust
        FROM people p LEFT JOIN trusts t ON t.code = p.trust_code WHERE p.id = $1
        """,
        person_id,
    )
    if row is None:
        raise NotYetKnown(str(person_id))
    return row["name"], f"{row['name']}, {row['job_title']}, {row['trust']}"


async def _placement_label(conn: asyncpg.Connection, placement_id: object) -> str:
    row = await conn.fetchrow(
        """
        SELECT pl.role, coalesce(t.name, pl.host_trust_code) AS trust
        FROM placements pl LEFT JOIN trusts t ON t.code = pl.host_trust_code WHERE pl.id = $1
        """,
        placement_id,
    )
    if row is None:
        raise NotYetKnown(str(placement_id))
    return f"{row['role']} at {row['trust']}"


async def render_proposal(conn: asyncpg.Connection, email: asyncpg.Record) -> RenderedEmail:
    row = await conn.fetchrow(
        "SELECT p.event, n.name AS network_name FROM proposals p"
        " JOIN networks n ON n.id = p.network_id WHERE p.match_id = $1",
        email["match_id"],
    )
    if row is None:
        raise NotYetKnown(str(email["match_id"]))
    proposal = MatchProposed.model_validate(row["event"])
    if proposal.kind is MatchKind.MENTORING:
        provider = (await _person(conn, proposal.provider_id))[1]
    else:
        provider = await _placement_label(conn, proposal.provider_id)
    mentee_name, mentee = await _person(conn, proposal.mentee_id)
    return compose_proposal_email(
        ProposalMail(
            coordinator_name=email["recipient_name"],
            network_name=row["network_name"],
            proposal=proposal,
            provider=provider,
            mentee_name=mentee_name,
            mentee=mentee,
        )
    )


def build_message(
    settings: Settings, email: asyncpg.Record, rendered: RenderedEmail
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = formataddr((email["recipient_name"], email["recipient_email"]))
    message["Subject"] = rendered.subject
    # Derived from the dedupe key: a re-send after a crash carries the same Message-ID, so
    # mail systems can recognise it as the same message.
    digest = hashlib.sha256(email["dedupe_key"].encode()).hexdigest()[:32]
    message["Message-ID"] = make_msgid(idstring=digest, domain="bridgework.local")
    message["X-Bridgework-Dedupe-Key"] = digest
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message


class MailQueue:
    def __init__(self, pool: asyncpg.Pool, settings: Settings, poll_seconds: float = 0.5) -> None:
        self._pool = pool
        self._settings = settings
        self._poll = poll_seconds

    async def run(self) -> None:
        while True:
            try:
                async with self._pool.acquire() as conn, conn.transaction():
                    await announce_proposals(conn)
                while await self.send_due():
                    pass
            except (OSError, asyncpg.PostgresError) as error:
                log.warning("mail queue will retry: %s", error)
            except Exception:
                log.exception("mail queue failed; will retry")
            await asyncio.sleep(self._poll)

    async def send_due(self, batch_size: int = 20) -> int:
        """Send a batch of due emails; returns how many were sent."""
        sent = 0
        async with self._pool.acquire() as conn, conn.transaction():
            due = await conn.fetch(
                """
                SELECT * FROM emails WHERE status = 'pending' AND next_attempt_at <= now()
                ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED
                """,
                batch_size,
            )
            for email in due:
                sent += await self._send_one(conn, email)
        return sent

    async def _send_one(self, conn: asyncpg.Connection, email: asyncpg.Record) -> int:
        # The email's log lines, span and X-Correlation-ID name the change that led to it.
        with continued(email["trace_context"], "send email"):
            return await self._send_traced(conn, email)

    async def _send_traced(self, conn: asyncpg.Connection, email: asyncpg.Record) -> int:
        try:
            rendered = await render_proposal(conn, email)
        except NotYetKnown:
            await self._retry_later(conn, email, "waiting for profile events", count=False)
            return 0
        try:
            message = build_message(self._settings, email, rendered)
            message["X-Correlation-ID"] = current_correlation_id() or ""
            await aiosmtplib.send(
                message,
                hostname=self._settings.smtp_host,
                port=self._settings.smtp_port,
                username=self._settings.smtp_username,
                password=(
                    self._settings.smtp_password.get_secret_value()
                    if self._settings.smtp_password
                    else None
                ),
                start_tls=self._settings.smtp_use_tls,
                timeout=10,
            )
        except (aiosmtplib.SMTPException, OSError) as error:
            metrics.EMAILS_FAILED.labels(purpose=email["purpose"]).inc()
            await self._retry_later(conn, email, f"{type(error).__name__}: {error}", count=True)
            return 0
        await conn.execute(
            "UPDATE emails SET status = 'sent', sent_at = now(), attempts = attempts + 1"
            " WHERE id = $1",
            email["id"],
        )
        metrics.EMAILS_SENT.labels(purpose=email["purpose"]).inc()
        log.info("sent %s email %d", email["purpose"], email["id"])
        return 1

    async def _retry_later(
        self, conn: asyncpg.Connection, email: asyncpg.Record, reason: str, count: bool
    ) -> None:
        attempts = email["attempts"] + (1 if count else 0)
        delay = min(
            self._settings.mail_retry_seconds * 2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS
        )
        await conn.execute(
            "UPDATE emails SET attempts = $2, last_error = $3,"
            " next_attempt_at = now() + make_interval(secs => $4) WHERE id = $1",
            email["id"],
            attempts,
            reason[:500],
            delay if count else 1.0,
        )
        if count:
            log.warning(
                "email %d not sent (attempt %d), retrying in %.0fs: %s",
                email["id"],
                attempts,
                delay,
                reason[:200],
            )
