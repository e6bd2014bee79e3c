"""The profiles service's deadline pass: every ``consent_deadline_poll_seconds`` it expires the
consents nobody answered in time (consents.expire_overdue). Each expiry is one transaction, so
a restart neither repeats nor loses one; several replicas may run it side by side."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg

from services.profiles.trusts.consents import expire_overdue

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


class ConsentDeadlines:
    def __init__(
        self,
        pool: asyncpg.Pool,
        poll_seconds: float,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._pool = pool
        self._poll_seconds = poll_seconds
        self._clock = clock

    async def pass_once(self) -> int:
        async with self._pool.acquire() as conn:
            expired = await expire_overdue(conn, self._clock())
        if expired:
            log.info("%d secondment(s) not agreed: a consent's deadline passed", expired)
        return expired

    async def run(self) -> None:
        while True:
            try:
                while await self.pass_once():
                    pass  # a full batch: look again at once
            except (OSError, asyncpg.PostgresError) as error:
                log.warning("consent deadlines will retry: %s", error)
            except Exception:
                log.exception("consent deadlines failed; will retry")
            await asyncio.sleep(self._poll_seconds)
