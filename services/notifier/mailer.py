"""Sending the notifier's queue over SMTP: never twice, and an outage delays mail, never drops it.

Each email goes through these states:

    pending --(claimed; MAIL FROM, RCPT TO and DATA accepted)--> sending --(250)--> sent

* Until the server answers DATA with ``354`` nothing can have been delivered: any failure there
  (server down, refused, timeout) puts the email back to ``pending`` with backoff. An outage
  delays, never loses.
* After the 354, just before the message body, the row is committed as ``sending`` with a
  fresh ``attempt_id``, and the sender holds a PostgreSQL session advisory lock on it until the
  outcome is recorded. If the notifier dies in that window (the server may have accepted the
  message before ``sent`` was recorded) the lock dies with its connection; the sweeper then
  finds a ``sending`` row that nobody holds and marks it ``uncertain``: perhaps delivered, so
  **never sent again** automatically (at most one copy), and counted in the log for an
  operator. The window is one SMTP round trip.
* A server that answers the message with an error did not take it: back to ``pending``. A
  permanent refusal of the sender or recipient (5xx) marks the email ``failed``. Only a break
  after the whole message, final dot included, went out and before the server's reply leaves
  the outcome unknown: ``uncertain`` as above. An operator who checks the server's log
  re-queues it with ``bridgework emails resend``.

So each email is sent at most once, and exactly once unless the notifier, the network or the
SMTP server dies between the message's final dot and the server's reply (an SMTP server shut
down in an orderly way finishes the message it is reading). The Message-ID is derived from the
dedupe key, so even a copy sent by hand later is recognisable as the same message.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from datetime import timedelta
from email.message import EmailMessage
from email.utils import formataddr, parseaddr
from uuid import uuid4

import aiosmtplib
import asyncpg
from aiosmtplib import SMTPStatus
from aiosmtplib.email import flatten_message
from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings

from services.notifier.compose import RenderedEmail
from services.notifier.handlers import (
    announce_proposals,
    ask_consents,
    digest_day,
    introduce_approved,
    queue_digests,
    remind_consents,
)
from services.notifier.reminders import queue_due_reminders
from services.notifier.render import NotYetKnown, render
from services.notifier.repository import NotifierRepository
from shared.clock import Clock, SystemClock
from shared.consuming import TRANSIENT_ERRORS
from shared.observability import metrics
from shared.observability.context import continued, current_correlation_id
from shared.settings import Settings

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 300.0
CLAIM_LEASE_SECONDS = 120.0  # longer than connecting, MAIL FROM and RCPT TO can take
# Advisory-lock namespace for "this email is being sent" (the second key is the email's id).
SENDING_LOCK_CLASS = 0x42574D  # "BWM"


# Statuses an email leaves (sent, cancelled) or that need an operator (uncertain, failed):
# what the mail-queue gauge and `bridgework status` count (index emails_unsettled).
UNSETTLED = ("pending", "sending", "uncertain", "failed")


async def unsettled_counts(conn: asyncpg.Connection) -> dict[str, int]:
    """Emails per unsettled status (0 for a status with none)."""
    rows = await conn.fetch(
        "SELECT status, count(*) AS emails FROM emails"
        " WHERE status IN ('pending', 'sending', 'uncertain', 'failed') GROUP BY status"
    )
    counts = {row["status"]: row["emails"] for row in rows}
    return {status: counts.get(status, 0) for status in UNSETTLED}


async def sample_mail_queue(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        counts = await unsettled_counts(conn)
    for status, emails in counts.items():
        metrics.MAIL_QUEUE.labels(status=status).set(emails)


def dedupe_digest(dedupe_key: str) -> str:
    return hashlib.sha256(dedupe_key.encode()).hexdigest()[:32]


def message_id(settings: Settings, dedupe_key: str) -> str:
    """The same for every copy of one email, so an operator can look it up in the SMTP
    server's log and mail systems can recognise a second copy."""
    domain = parseaddr(settings.mail_from)[1].rpartition("@")[2] or "bridgework.local"
    return f"<{dedupe_digest(dedupe_key)}@{domain}>"


def build_message(
    settings: Settings, email: asyncpg.Record, rendered: RenderedEmail
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = formataddr((email["recipient_name"], email["recipient_email"]))
    message["Subject"] = rendered.subject
    # Derived from the dedupe key: a copy sent again carries the same Message-ID, so mail
    # systems can recognise it as the same message.
    message["Message-ID"] = message_id(settings, email["dedupe_key"])
    message["X-Bridgework-Dedupe-Key"] = dedupe_digest(email["dedupe_key"])
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    for attachment in rendered.attachments:
        message.add_attachment(
            attachment.content,
            maintype=attachment.maintype,
            subtype=attachment.subtype,
            filename=attachment.filename,
            params=attachment.params,
        )
    return message


def _dot_terminated(content: bytes) -> bytes:
    """The message as DATA carries it (RFC 5321 4.5.2), with aiosmtplib's own rules: CRLF line
    endings, leading dots doubled, and the final ``.`` line that completes the message."""
    return PERIOD_REGEX.sub(b"..", normalize_message_line_endings(content)) + b".\r\n"


class _NotAccepted(Exception):
    """The SMTP server certainly did not take the message: try again later."""


class _Cancelled(Exception):
    """The email was cancelled while the connection was being set up."""


class _Refused(Exception):
    """The SMTP server refused the sender or recipient for good (5xx): retrying cannot help."""


def _describe(error: BaseException) -> str:
    """What went wrong, for the log: the error type and SMTP code only, never the message
    (servers quote the recipient's address in it)."""
    code = getattr(error, "code", None)
    return f"{type(error).__name__}" + (f" {code}" if code else "")


class _OutcomeUnknown(Exception):
    """The connection broke during DATA: the message may or may not have been delivered."""


class MailQueue:
    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: Settings,
        poll_seconds: float = 0.5,
        clock: Clock | None = None,
    ) -> None:
        self._pool = pool
        self._settings = settings
        self._poll = poll_seconds
        self._clock = clock or SystemClock()  # when reminders are due (tests move it on)
        self._reminder_lead = timedelta(days=settings.consent_reminder_days)

    async def run(self) -> None:
        while True:
            try:
                await self.sweep_abandoned()
                async with self._pool.acquire() as conn, conn.transaction():
                    store = NotifierRepository(conn)
                    await announce_proposals(store)
                    await queue_digests(
                        store, digest_day(self._clock.now(), self._settings.digest_hour)
                    )
                    await introduce_approved(store)
                    await ask_consents(store)
                    await remind_consents(store, self._clock.now(), self._reminder_lead)
                await self.queue_reminders()
                while await self.send_due():
                    pass
            except (OSError, asyncpg.PostgresError) as error:
                log.warning("mail queue will retry: %s", error)
            except Exception:
                log.exception("mail queue failed; will retry")
            await asyncio.sleep(self._poll)

    async def queue_reminders(self) -> int:
        """Queue the emails of the reminders due by the clock, and mark them, in one
        transaction (services/notifier/reminders.py): none twice, none missed."""
        async with self._pool.acquire() as conn, conn.transaction():
            return await queue_due_reminders(NotifierRepository(conn), self._clock.now())

    async def sweep_abandoned(self) -> int:
        """Mark ``uncertain`` the ``sending`` emails whose sender died (nobody holds their lock):
        they may have been delivered, so they are never sent again."""
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                """
                SELECT id FROM emails
                WHERE status = 'sending' AND pg_try_advisory_xact_lock($1, id::integer)
                FOR UPDATE SKIP LOCKED
                """,
                SENDING_LOCK_CLASS,
            )
            if rows:
                await conn.execute(
                    "UPDATE emails SET status = 'uncertain',"
                    " last_error = 'the notifier stopped between SMTP DATA and recording it'"
                    " WHERE id = ANY($1::bigint[])",
                    [row["id"] for row in rows],
                )
                log.error(
                    "%d email(s) may have been delivered before a crash; not sent again: %s",
                    len(rows),
                    ", ".join(str(row["id"]) for row in rows),
                )
        return len(rows)

    async def send_due(self, batch_size: int = 20) -> int:
        """Send up to ``batch_size`` due emails one by one; returns how many were handled
        (sent, retried later or found uncertain), 0 when none is due."""
        handled = 0
        for _ in range(batch_size):
            if not await self._send_next():
                break
            handled += 1
        return handled

    async def _send_next(self) -> bool:
        async with self._pool.acquire() as conn:
            claimed = await self._claim(conn)
            if claimed is None:
                return False
            email, message = claimed
            try:
                # The email's log lines, span and X-Correlation-ID name the change behind it.
                with continued(email["trace_context"], "send email"):
                    message["X-Correlation-ID"] = current_correlation_id() or ""
                    await self._deliver(conn, email, message)
            finally:
                await conn.execute(
                    "SELECT pg_advisory_unlock($1, $2::integer)", SENDING_LOCK_CLASS, email["id"]
                )
        return True

    async def _claim(self, conn: asyncpg.Connection) -> tuple[asyncpg.Record, EmailMessage] | None:
        """The next due email, rendered, locked for this sender (row lock, then the session
        advisory lock that outlives the transaction)."""
        while True:
            async with conn.transaction():
                email = await conn.fetchrow(
                    """
                    SELECT * FROM emails WHERE status = 'pending' AND next_attempt_at <= now()
                    ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED
                    """
                )
                if email is None:
                    return None
                try:
                    message = await self._build(conn, email)
                except NotYetKnown:
                    await self._retry_later(conn, email, "waiting for profile events", None)
                    continue
                except TRANSIENT_ERRORS:
                    raise  # the database went away: the email stays pending
                except Exception as error:
                    # It would fail the same way on every try: set aside, the next one goes.
                    await self._fail_unbuildable(conn, email, error)
                    continue
                # A lease: no other sender takes it while this one talks to the server; if this
                # one dies before DATA, nothing was sent and the email is due again afterwards.
                await conn.execute(
                    "UPDATE emails SET next_attempt_at = now() + make_interval(secs => $2)"
                    " WHERE id = $1",
                    email["id"],
                    CLAIM_LEASE_SECONDS,
                )
                await conn.execute(
                    "SELECT pg_advisory_lock($1, $2::integer)", SENDING_LOCK_CLASS, email["id"]
                )
                return email, message

    async def _build(self, conn: asyncpg.Connection, email: asyncpg.Record) -> EmailMessage:
        """The email as it will go out; raises whatever stops it being built (a savepoint
        keeps the claim's transaction usable when a query of the rendering failed)."""
        async with conn.transaction():
            rendered = await render(conn, self._settings, email)
        message = build_message(self._settings, email, rendered)
        flatten_message(message)  # the bytes DATA will carry: any header that cannot go, here
        return message

    async def _fail_unbuildable(
        self, conn: asyncpg.Connection, email: asyncpg.Record, error: Exception
    ) -> None:
        """An email that cannot be built is ``failed`` (``bridgework emails failed`` lists it
        with the reason), counted, and logged by type only (the message may quote a name)."""
        await conn.execute(
            "UPDATE emails SET status = 'failed', attempts = attempts + 1, last_error = $2"
            " WHERE id = $1",
            email["id"],
            f"could not be built: {type(error).__name__}: {error}"[:500],
        )
        metrics.EMAILS_UNBUILDABLE.labels(purpose=email["purpose"]).inc()
        log.error(
            "%s email %d could not be built (%s): marked failed, the queue goes on",
            email["purpose"],
            email["id"],
            type(error).__name__,
        )

    async def _deliver(
        self, conn: asyncpg.Connection, email: asyncpg.Record, message: EmailMessage
    ) -> None:
        attempt = uuid4()
        try:
            await self._smtp_send(conn, email, message, attempt)
        except _NotAccepted as error:
            metrics.EMAILS_FAILED.labels(purpose=email["purpose"]).inc()
            async with conn.transaction():
                await self._retry_later(
                    conn, email, str(error), _describe(error.__cause__ or error)
                )
            return
        except _Cancelled:
            return
        except _Refused as error:
            metrics.EMAILS_FAILED.labels(purpose=email["purpose"]).inc()
            await conn.execute(
                "UPDATE emails SET status = 'failed', attempts = attempts + 1, last_error = $2"
                " WHERE id = $1",
                email["id"],
                str(error)[:500],
            )
            log.error(
                "email %d refused for good: %s", email["id"], _describe(error.__cause__ or error)
            )
            return
        except _OutcomeUnknown as error:
            await conn.execute(
                "UPDATE emails SET status = 'uncertain', last_error = $3"
                " WHERE id = $1 AND attempt_id = $2",
                email["id"],
                attempt,
                str(error)[:500],
            )
            log.error("email %d may or may not have been delivered; not sent again", email["id"])
            return
        self.accepted(email)
        await conn.execute(
            "UPDATE emails SET status = 'sent', sent_at = now(), attempts = attempts + 1,"
            # Someone who applied and is not a person keeps no address here once told.
            " recipient_name = CASE WHEN purpose = 'join' AND person_id IS NULL THEN ''"
            "  ELSE recipient_name END,"
            " recipient_email = CASE WHEN purpose = 'join' AND person_id IS NULL THEN ''"
            "  ELSE recipient_email END"
            " WHERE id = $1 AND attempt_id = $2",
            email["id"],
            attempt,
        )
        metrics.EMAILS_SENT.labels(purpose=email["purpose"]).inc()
        log.info("sent %s email %d", email["purpose"], email["id"])

    async def _smtp_send(
        self,
        conn: asyncpg.Connection,
        email: asyncpg.Record,
        message: EmailMessage,
        attempt: object,
    ) -> None:
        settings = self._settings
        smtp = aiosmtplib.SMTP(
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            start_tls=settings.smtp_use_tls,
            timeout=10,
        )
        try:
            await smtp.connect()
            await smtp.mail(parseaddr(settings.mail_from)[1])
            await smtp.rcpt(email["recipient_email"])
            # DATA in its two steps: until the body with its final dot goes out, nothing can
            # have been delivered.
            start = await smtp.execute_command(b"DATA")
            if start.code != SMTPStatus.start_input:
                raise aiosmtplib.SMTPDataError(start.code, start.message)
        except (aiosmtplib.SMTPRecipientRefused, aiosmtplib.SMTPSenderRefused) as error:
            smtp.close()
            if error.code >= 500:
                raise _Refused(f"{type(error).__name__}: {error}") from error
            raise _NotAccepted(f"{type(error).__name__}: {error}") from error
        except (aiosmtplib.SMTPException, OSError) as error:
            smtp.close()
            raise _NotAccepted(f"{type(error).__name__}: {error}") from error
        # From here the server may take the message: record that, durably, before the body.
        marked = await conn.execute(
            "UPDATE emails SET status = 'sending', attempt_id = $2, sending_since = now()"
            " WHERE id = $1 AND status = 'pending'",
            email["id"],
            attempt,
        )
        if marked != "UPDATE 1":  # cancelled meanwhile (withdrawn, erased): do not send
            smtp.close()  # a DATA without its final dot is discarded by the server
            raise _Cancelled
        await self._send_body(smtp, flatten_message(message))
        try:
            await smtp.quit()
        except (aiosmtplib.SMTPException, OSError):
            smtp.close()  # the message was accepted; how the session ends does not matter

    @staticmethod
    async def _send_body(smtp: aiosmtplib.SMTP, content: bytes) -> None:
        """The message after the server's 354. Only a break after it went out, final dot
        included, leaves the outcome unknown; an error reply means it was not taken."""
        protocol = smtp.protocol
        try:
            if protocol is None:
                raise aiosmtplib.SMTPServerDisconnected("connection lost after 354")
            # Written in one go, and the reply awaited before the event loop runs again (as
            # aiosmtplib's own DATA does), so the reply cannot arrive unclaimed.
            protocol.write(_dot_terminated(content))
        except (aiosmtplib.SMTPException, OSError) as error:
            smtp.close()  # nothing written: the server never saw the final dot
            raise _NotAccepted(f"message body: {type(error).__name__}: {error}") from error
        try:
            reply = await protocol.read_response(timeout=smtp.timeout)
        except (aiosmtplib.SMTPException, OSError) as error:
            smtp.close()
            raise _OutcomeUnknown(f"{type(error).__name__}: {error}") from error
        if reply.code != SMTPStatus.completed:
            smtp.close()
            raise _NotAccepted(f"message refused: {reply.code}")

    def accepted(self, email: asyncpg.Record) -> None:
        """The server took the message, which is recorded as sent next. Nothing to do: a seam
        for the crash test's notifier (tests/e2e/crashing_notifier.py), which exits here."""

    async def _retry_later(
        self, conn: asyncpg.Connection, email: asyncpg.Record, reason: str, failure: str | None
    ) -> None:
        """Back to pending; a failed attempt (``failure``: what to log) backs off exponentially,
        waiting for events does not count as one."""
        count = failure is not None
        attempts = email["attempts"] + (1 if count else 0)
        delay = min(
            self._settings.mail_retry_seconds * 2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS
        )
        await conn.execute(
            "UPDATE emails SET status = 'pending', attempts = $2, last_error = $3,"
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
                failure,
            )
