"""Imports for coordinators who live in spreadsheets: people, placements and NHS trusts.

Each row is validated exactly as the HTTP API validates a request (the same request models,
``rows``), then stored through the same use cases (``directory``), so every stored row is
published through the outbox like any API change.

Nothing is half-imported: a row is stored whole or not at all (each row in its own savepoint).
By default a file is **all or nothing**: if any row is refused, no row is stored, and the report
says what to fix; the coordinator corrects the spreadsheet and imports it again. With
``partial=True`` (CLI ``--partial``) the accepted rows are stored and the refused ones are
listed. ``dry_run=True`` validates everything against the database and stores nothing.
Every import, dry runs included, is recorded in the audit log, applied or not.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from typing import Any, Protocol, TypedDict, Unpack

import asyncpg
from pydantic import BaseModel, Field

from services.profiles.accounts.audit import record_audit
from services.profiles.api.schemas import MenteeIn, MentorIn, PlacementIn, TrustIn
from services.profiles.directory import people, placements, trusts
from services.profiles.directory.errors import Conflict, Invalid, NotFound
from services.profiles.imports.rows import (
    FileRefused,
    ImportKind,
    ParsedRow,
    parse_people,
    parse_placements,
    parse_trusts,
)

Progress = Callable[[int, int], None]


class ImportOptions(TypedDict, total=False):
    """How an import runs: ``progress`` is told (rows done, rows in all) after each row;
    ``dry_run`` stores nothing; ``partial`` stores the accepted rows even if some are refused."""

    progress: Progress | None
    dry_run: bool
    partial: bool


class RowOutcome(BaseModel):
    row: int = Field(description="the row number as the spreadsheet shows it (header is row 1)")
    key: str = Field(description="what the row is about: an email, a trust code, a placement")
    accepted: bool
    action: str = Field(
        default="",
        description="for accepted rows: created or updated; 'would create' or 'would update' on a"
        " dry run; 'not stored' when the file was refused",
    )
    reasons: list[str] = Field(default_factory=list)


class ImportReport(BaseModel):
    kind: ImportKind
    rows: list[RowOutcome]
    accepted: int
    refused: int
    applied: bool = Field(description="whether the accepted rows were stored")
    dry_run: bool = False
    partial: bool = False
    problems: list[str] = Field(
        default_factory=list, description="what is wrong with the file as a whole"
    )

    @property
    def summary(self) -> str:
        if self.problems:
            return f"The file was refused: {'; '.join(self.problems)}. Nothing was imported."
        stored = (
            "nothing was stored (dry run)"
            if self.dry_run
            else "they were stored"
            if self.applied
            else "nothing was stored: fix the refused rows and import the file again"
        )
        return (
            f"{self.accepted} {self.kind.value} row(s) accepted, {self.refused} refused; {stored}."
        )


class _RollBack(Exception):
    """Leaves the import's transaction without storing anything."""


async def import_people_csv(
    pool: asyncpg.Pool,
    data: bytes,
    *,
    actor: str,
    network_id: str | None,
    **options: Unpack[ImportOptions],
) -> ImportReport:
    """Mentors and mentees; a person already known by (role, email) in the row's network is
    updated. The same address in another network is another person: that network's, untouched
    and never mentioned (a coordinator learns nothing of other networks' people)."""

    async def store(conn: asyncpg.Connection, row: ParsedRow) -> str:
        request = row.request
        assert isinstance(request, MentorIn | MenteeIn)
        await _check_network(conn, request.trust_code, network_id)
        role = "mentor" if isinstance(request, MentorIn) else "mentee"
        existing = await conn.fetchval(
            "SELECT p.id FROM people p JOIN trusts t ON t.network_id = p.network_id"
            " WHERE t.code = $3 AND p.role = $1 AND lower(p.email) = lower($2)",
            role,
            request.email,
            request.trust_code,
        )
        await people.save_person(conn, request, existing)
        return "updated" if existing else "created"

    return await _import(pool, data, ImportKind.PEOPLE, parse_people, store, actor, options)


async def import_placements_csv(
    pool: asyncpg.Pool,
    data: bytes,
    *,
    actor: str,
    network_id: str | None,
    **options: Unpack[ImportOptions],
) -> ImportReport:
    """Secondment placements; an open placement with the same host trust and role is updated."""

    async def store(conn: asyncpg.Connection, row: ParsedRow) -> str:
        request = row.request
        assert isinstance(request, PlacementIn)
        await _check_network(conn, request.host_trust_code, network_id)
        existing = await conn.fetchval(
            "SELECT id FROM placements WHERE host_trust_code = $1 AND details->>'role' = $2"
            " AND withdrawn_at IS NULL ORDER BY created_at LIMIT 1",
            request.host_trust_code,
            request.role,
        )
        await placements.save_placement(conn, request, existing)
        return "updated" if existing else "created"

    return await _import(pool, data, ImportKind.PLACEMENTS, parse_placements, store, actor, options)


async def import_trusts_ods(
    pool: asyncpg.Pool,
    data: bytes,
    *,
    actor: str,
    network_id: str,
    **options: Unpack[ImportOptions],
) -> ImportReport:
    """NHS trusts from an ODS file into a network. Trusts outside NHS England's regions (the
    Welsh trusts ODS lists) are refused, and so are trusts already in another network (an import
    never takes a trust from another network's coordinators). A trust's contact email, which ODS
    does not have, is kept."""

    async def store(conn: asyncpg.Connection, row: ParsedRow) -> str:
        request = row.request
        assert isinstance(request, TrustIn)
        contact = await conn.fetchrow(
            "SELECT contact_email, network_id FROM trusts WHERE code = $1", row.key
        )
        if contact is not None and contact["network_id"] != network_id:
            # Which network holds it is not this coordinator's business.
            raise Invalid("ods_code", f"{row.key} belongs to another network; it is not moved")
        if contact is not None:
            request = request.model_copy(update={"contact_email": contact["contact_email"]})
        await trusts.upsert_trust(conn, row.key, request)
        return "updated" if contact else "created"

    parse = functools.partial(parse_trusts, network_id=network_id)
    return await _import(pool, data, ImportKind.TRUSTS, parse, store, actor, options)


async def _check_network(conn: asyncpg.Connection, trust_code: str, network_id: str | None) -> None:
    """The trust must exist and, for a network's import, be one of that network's: a trust of
    another network reads exactly like an unknown one (which network holds it is not said)."""
    home = await conn.fetchval("SELECT network_id FROM trusts WHERE code = $1", trust_code)
    if home is None or (network_id is not None and home != network_id):
        whose = "Bridgework's" if network_id is None else "your network's"
        raise Invalid(
            "trust_code",
            f"{trust_code} is not one of {whose} trusts: check the code against the trusts"
            " on the Network page, or import the NHS trusts file first",
        )


Store = Callable[[asyncpg.Connection, ParsedRow], Any]


async def _import(
    pool: asyncpg.Pool,
    data: bytes,
    kind: ImportKind,
    parse: Callable[[bytes], list[ParsedRow]],
    store: Store,
    actor: str,
    options: ImportOptions,
) -> ImportReport:
    progress = options.get("progress")
    dry_run, partial = options.get("dry_run", False), options.get("partial", False)
    try:
        parsed = parse(data)
    except FileRefused as error:
        report = ImportReport(
            kind=kind,
            rows=[],
            accepted=0,
            refused=0,
            applied=False,
            dry_run=dry_run,
            partial=partial,
            problems=[str(error)],
        )
        async with pool.acquire() as conn:
            await _record(conn, report, actor, data)
        return report

    outcomes: list[RowOutcome] = []
    async with pool.acquire() as conn:
        try:
            async with conn.transaction():
                for done, row in enumerate(parsed, start=1):
                    outcomes.append(await _store_row(conn, row, store))
                    if progress is not None:
                        progress(done, len(parsed))
                refused = sum(not o.accepted for o in outcomes)
                applied = not dry_run and (partial or refused == 0) and refused < len(outcomes)
                if not applied:
                    raise _RollBack
                report = _report(kind, outcomes, applied, dry_run, partial)
                await _record(conn, report, actor, data)
        except _RollBack:
            report = _report(kind, outcomes, False, dry_run, partial)
            await _record(conn, report, actor, data)
    return report


async def _store_row(conn: asyncpg.Connection, row: ParsedRow, store: Store) -> RowOutcome:
    if not row.ok:
        return RowOutcome(row=row.number, key=row.key, accepted=False, reasons=row.reasons)
    try:
        async with conn.transaction():  # a savepoint: the row is stored whole or not at all
            action = await store(conn, row)
    except Invalid as error:
        return RowOutcome(
            row=row.number, key=row.key, accepted=False, reasons=[f"{error.field}: {error}"]
        )
    except (Conflict, NotFound) as error:
        return RowOutcome(row=row.number, key=row.key, accepted=False, reasons=[str(error)])
    return RowOutcome(row=row.number, key=row.key, accepted=True, action=action)


def settled_action(action: str, applied: bool, dry_run: bool) -> str:
    """What became of an accepted row: stored ("created"), or only checked ("would create"),
    or held back with the rest of a refused file ("not stored")."""
    if dry_run:
        return f"would {action.removesuffix('d')}"
    return action if applied else "not stored"


def _report(
    kind: ImportKind, outcomes: list[RowOutcome], applied: bool, dry_run: bool, partial: bool
) -> ImportReport:
    refused = sum(not o.accepted for o in outcomes)
    settled = [
        o.model_copy(update={"action": settled_action(o.action, applied, dry_run)})
        if o.accepted
        else o
        for o in outcomes
    ]
    return ImportReport(
        kind=kind,
        rows=settled,
        accepted=len(outcomes) - refused,
        refused=refused,
        applied=applied,
        dry_run=dry_run,
        partial=partial,
    )


async def _record(conn: asyncpg.Connection, report: ImportReport, actor: str, data: bytes) -> None:
    """Who imported what, and with what result; row keys are emails, so only counts go here."""
    await record_audit(
        conn,
        actor=actor,
        action=f"import.{report.kind.value}" + (".dry_run" if report.dry_run else ""),
        subject=f"sha256:{hashlib.sha256(data).hexdigest()[:16]}",
        reason=report.summary,
        details={
            "rows": len(report.rows),
            "accepted": report.accepted,
            "refused": report.refused,
            "applied": report.applied,
            "partial": report.partial,
            "dry_run": report.dry_run,
            "refused_rows": [o.row for o in report.rows if not o.accepted][:200],
            "problems": report.problems,
        },
    )


class Importer(Protocol):
    async def __call__(
        self,
        pool: asyncpg.Pool,
        data: bytes,
        *,
        actor: str,
        network_id: str,
        **options: Unpack[ImportOptions],
    ) -> ImportReport: ...


# One importer per kind of file, for the CLI and the web upload alike.
IMPORTERS: dict[ImportKind, Importer] = {
    ImportKind.PEOPLE: import_people_csv,
    ImportKind.PLACEMENTS: import_placements_csv,
    ImportKind.TRUSTS: import_trusts_ods,
}
