"""The coordinators' and administrators' web pages (server-rendered Jinja2, autoescaped).

Sessions are signed cookies (HttpOnly, SameSite=Lax, Secure in production) holding the account's
email and a CSRF token; the account is re-read on every request, so a removed coordinator loses
access at once. Every POST form carries the CSRF token; a missing or wrong one is refused (403)
before anything is read or changed. Decision links from emails need no session: the signed,
expiring, single-use token in the URL is their secret.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote
from uuid import UUID

import asyncpg
import jinja2
from fastapi import APIRouter, Depends, FastAPI, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile
from starlette.middleware.sessions import SessionMiddleware

from services.profiles import queries, service
from services.profiles.accounts import (
    AccountRefused,
    IdentityProvider,
    NewAccount,
    PasswordSignIn,
    create_account,
    is_network_coordinator,
    list_accounts,
    load_account,
    remove_coordinator,
)
from services.profiles.api_tokens import (
    TokenRefused,
    create_api_token,
    list_api_tokens,
    revoke_api_token,
)
from services.profiles.audit import claim_link_token, list_audit, record_audit
from services.profiles.charts import Bar, bar_chart, flow_graph, percent
from services.profiles.dashboard import (
    ProposalFilter,
    apply_filter,
    decisions_by_day,
    exchange_groups,
    matches_csv,
)
from services.profiles.decisions import DecisionRefused, ProposalNotFound, decide
from services.profiles.imports import (
    ImportReport,
    import_people_csv,
    import_placements_csv,
    import_trusts_ods,
)
from services.profiles.permissions import (
    Account,
    AccountRole,
    SignInThrottle,
    home_path,
    may_administer,
    may_coordinate,
)
from services.profiles.schemas import NetworkIn
from shared.events import Coordinator
from shared.limits import MAX_UPLOAD_BYTES
from shared.links import LinkPurpose, LinkRefused, read_decision_link
from shared.matching import MatchKind
from shared.settings import Settings

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
SESSION_COOKIE = "bridgework_session"
SESSION_HOURS = 8


class PageRefused(Exception):
    """Render a refusal page with this status and message; nothing was changed."""

    def __init__(self, status_code: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.title = title
        self.message = message


class SignInRequired(Exception):
    pass


def templates() -> Jinja2Templates:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
    )
    environment.filters["percent"] = percent
    return Jinja2Templates(env=environment)


def install(app: FastAPI, settings: Settings, identity: IdentityProvider | None = None) -> None:
    """Add sessions, the pages and their error pages to the profiles app."""
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key.get_secret_value(),
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_HOURS * 3600,
        same_site="lax",
        https_only=settings.environment == "production",
    )
    app.state.identity = identity or PasswordSignIn()
    app.state.sign_in_throttle = SignInThrottle()
    app.state.settings = settings
    app.state.templates = templates()

    @app.exception_handler(PageRefused)
    async def refused(request: Request, error: PageRefused) -> Response:
        return render(
            request,
            "message.html",
            {"title": error.title, "message": error.message},
            status_code=error.status_code,
        )

    @app.exception_handler(SignInRequired)
    async def sign_in_first(request: Request, _: SignInRequired) -> Response:
        if request.method == "GET":
            target = quote(request.url.path)
            return RedirectResponse(f"/sign-in?next={target}", status.HTTP_303_SEE_OTHER)
        return render(
            request,
            "message.html",
            {"title": "Sign in first", "message": "Your session has ended: sign in again."},
            status_code=status.HTTP_401_UNAUTHORIZED,
        )

    app.include_router(_pages())
    app.include_router(_admin_pages())
    app.include_router(_link_pages())


# --- sessions, CSRF, rendering ---------------------------------------------------------------


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def checked_form(request: Request) -> FormData:
    """The posted form, once its CSRF token matched the session's; else 403, nothing done."""
    form = await request.form()
    sent = form.get("csrf_token")
    expected = request.session.get("csrf")
    if not (
        isinstance(sent, str)
        and isinstance(expected, str)
        and secrets.compare_digest(sent, expected)
    ):
        raise PageRefused(
            status.HTTP_403_FORBIDDEN,
            "This form cannot be accepted",
            "The form's security token is missing or wrong (perhaps the page was open too"
            " long, or the form came from another site). Nothing was changed: reload the page"
            " and try again.",
        )
    return form


def render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    context = {
        "account": getattr(request.state, "account", None),
        "csrf_token": csrf_token(request),
        "flash": request.session.pop("flash", None),
        **context,
    }
    response: HTMLResponse = request.app.state.templates.TemplateResponse(
        request, name, context, status_code=status_code
    )
    # Pages show personal data: never cached, never framed.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'"
    )
    return response


def flash(request: Request, message: str) -> None:
    request.session["flash"] = message


async def _connection(request: Request) -> AsyncIterator[asyncpg.Connection]:
    async with request.app.state.pool.acquire() as connection:
        yield connection


Connection = Annotated[asyncpg.Connection, Depends(_connection)]


async def signed_in(request: Request, conn: Connection) -> Account:
    email = request.session.get("email")
    account = await load_account(conn, email) if isinstance(email, str) else None
    if account is None:
        request.session.pop("email", None)
        raise SignInRequired
    request.state.account = account
    return account


SignedIn = Annotated[Account, Depends(signed_in)]


def coordinator_of(network_id: str, account: Account) -> Account:
    if not may_coordinate(account, network_id):
        raise PageRefused(
            status.HTTP_403_FORBIDDEN,
            "Not your network",
            "You can see and decide only the proposals of the network you coordinate.",
        )
    return account


async def network_coordinator(network_id: str, account: SignedIn) -> Account:
    return coordinator_of(network_id, account)


async def administrator(account: SignedIn) -> Account:
    if not may_administer(account):
        raise PageRefused(
            status.HTTP_403_FORBIDDEN, "Administrators only", "This page is for administrators."
        )
    return account


Coordinating = Annotated[Account, Depends(network_coordinator)]
Administering = Annotated[Account, Depends(administrator)]


def now() -> datetime:
    return datetime.now(UTC)


# --- sign-in and the coordinator's pages ------------------------------------------------------


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site: never an open redirect."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return None


def _pages() -> APIRouter:
    pages = APIRouter(include_in_schema=False)

    @pages.get("/static/bridgework.css")
    async def stylesheet() -> Response:
        css = (STATIC / "bridgework.css").read_text()
        return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=3600"})

    @pages.get("/")
    async def home(request: Request, conn: Connection) -> Response:
        email = request.session.get("email")
        account = await load_account(conn, email) if isinstance(email, str) else None
        target = home_path(account) if account else "/sign-in"
        return RedirectResponse(target, status.HTTP_303_SEE_OTHER)

    @pages.get("/sign-in")
    async def sign_in_page(request: Request, next: str | None = None) -> Response:
        return render(request, "sign_in.html", {"next": _safe_next(next) or "", "error": None})

    @pages.post("/sign-in")
    async def sign_in(request: Request, conn: Connection) -> Response:
        form = await checked_form(request)
        email, password = str(form.get("email", "")), str(form.get("password", ""))
        target = _safe_next(str(form.get("next", "")))
        throttle: SignInThrottle = request.app.state.sign_in_throttle
        if throttle.blocked(email, time.monotonic()):
            context = {"next": target or "", "error": "Too many failed attempts: try later."}
            return render(request, "sign_in.html", context, status.HTTP_429_TOO_MANY_REQUESTS)
        identity: IdentityProvider = request.app.state.identity
        account = await identity.authenticate(conn, email, password)
        if account is None:
            throttle.failed(email, time.monotonic())
            context = {"next": target or "", "error": "That email and password do not match."}
            return render(request, "sign_in.html", context, status.HTTP_401_UNAUTHORIZED)
        throttle.succeeded(email)
        request.session.clear()  # a fresh session (and CSRF token) on every sign-in
        request.session["email"] = account.email
        return RedirectResponse(target or home_path(account), status.HTTP_303_SEE_OTHER)

    @pages.post("/sign-out")
    async def sign_out(request: Request) -> Response:
        await checked_form(request)
        request.session.clear()
        return RedirectResponse("/sign-in", status.HTTP_303_SEE_OTHER)

    @pages.get("/dashboard/{network_id}/proposals")
    async def proposals_page(
        request: Request,
        network_id: str,
        account: Coordinating,
        conn: Connection,
        kind: str = "",
        region: str = "",
        older_than_days: str = "",
    ) -> Response:
        try:
            chosen = ProposalFilter.model_validate(
                {"kind": kind, "region": region, "older_than_days": older_than_days}
            )
        except ValidationError:
            chosen = ProposalFilter()
        pending = await queries.proposals(conn, network_id, "pending")
        recent = [
            p
            for p in await queries.proposals(conn, network_id)
            if p.status in ("approved", "rejected")
        ][-10:]
        context = {
            "network_id": network_id,
            "network_name": await queries.network_name(conn, network_id),
            "proposals": apply_filter(pending, chosen, now()),
            "pending_count": len(pending),
            "exchanges": exchange_groups(pending),
            "recent": list(reversed(recent)),
            "filter": chosen,
            "kinds": [k.value for k in MatchKind],
            "regions": await queries.regions(conn, network_id),
            "now": now(),
        }
        return render(request, "proposals.html", context)

    @pages.post("/dashboard/{network_id}/proposals/{match_id}/decision")
    async def decide_one(
        request: Request, network_id: str, match_id: UUID, conn: Connection
    ) -> Response:
        account = coordinator_of(network_id, await signed_in(request, conn))
        form = await checked_form(request)
        choice = form.get("decision")
        if choice not in ("approve", "reject"):
            raise PageRefused(400, "No decision", "Choose approve or reject.")
        decided = await _decide(
            conn, network_id, [match_id], choice == "approve", str(form.get("reason", "")), account
        )
        verb = "Approved" if choice == "approve" else "Rejected"
        flash(request, f"{verb} {len(decided)} proposal(s). The matcher and notifier are told.")
        return RedirectResponse(f"/dashboard/{network_id}/proposals", status.HTTP_303_SEE_OTHER)

    @pages.post("/dashboard/{network_id}/proposals/bulk-approve")
    async def bulk_approve(request: Request, network_id: str, conn: Connection) -> Response:
        account = coordinator_of(network_id, await signed_in(request, conn))
        form = await checked_form(request)
        try:
            match_ids = [UUID(str(value)) for value in form.getlist("match_id")]
        except ValueError as error:
            raise PageRefused(400, "Unknown proposal", "A selected proposal is unknown.") from error
        decided = await _decide(conn, network_id, match_ids, True, "", account)
        flash(request, f"Approved {len(decided)} proposal(s). The matcher and notifier are told.")
        return RedirectResponse(f"/dashboard/{network_id}/proposals", status.HTTP_303_SEE_OTHER)

    @pages.get("/dashboard/{network_id}/network")
    async def network_page(
        request: Request, network_id: str, account: Coordinating, conn: Connection
    ) -> Response:
        days = decisions_by_day(await queries.decisions(conn, network_id), now().date())
        bars = []
        for day in days:
            label = day.day.strftime("%d %b")
            bars.append(
                Bar(
                    label=f"{label} approved",
                    value=day.approved,
                    text=str(day.approved),
                    css_class="bar approved",
                )
            )
            bars.append(
                Bar(
                    label=f"{label} rejected",
                    value=day.rejected,
                    text=str(day.rejected),
                    css_class="bar rejected",
                )
            )
        context = {
            "network_id": network_id,
            "network_name": await queries.network_name(conn, network_id),
            "mentors": await queries.mentor_loads(conn, network_id),
            "mentees": await queries.waiting_mentees(conn, network_id),
            "placements": await queries.open_placements(conn, network_id),
            "decisions_chart": bar_chart([b for b in bars if b.value]),
            "decisions_total": sum(d.approved + d.rejected for d in days),
            "now": now(),
        }
        return render(request, "network.html", context)

    @pages.get("/dashboard/{network_id}/pictures")
    async def pictures_page(
        request: Request, network_id: str, account: Coordinating, conn: Connection
    ) -> Response:
        flows, trust_names = await queries.secondment_flows(conn, network_id)
        fairness = await queries.latest_fairness(conn, network_id)
        bars: list[Bar] = []
        if fairness is not None:
            for comparison in fairness.comparisons:
                for stats, css in ((comparison.members, "members"), (comparison.others, "others")):
                    bars.append(
                        Bar(
                            label=stats.label,
                            value=stats.match_rate,
                            text=f"{percent(stats.match_rate)} of {stats.mentees}",
                            css_class=f"bar {css}",
                        )
                    )
        context = {
            "network_id": network_id,
            "network_name": await queries.network_name(conn, network_id),
            "graph": flow_graph(flows, trust_names),
            "fairness": fairness,
            "fairness_chart": bar_chart(bars, max_value=1.0),
        }
        return render(request, "pictures.html", context)

    @pages.get("/dashboard/{network_id}/matches.csv")
    async def export_csv(network_id: str, account: Coordinating, conn: Connection) -> Response:
        body = matches_csv(await queries.proposals(conn, network_id))
        filename = f"bridgework-matches-{network_id}-{now():%Y%m%d}.csv"
        return Response(
            body,
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{filename}"',
                "Cache-Control": "no-store",
            },
        )

    @pages.get("/dashboard/{network_id}/imports")
    async def imports_page(request: Request, network_id: str, account: Coordinating) -> Response:
        context = {"network_id": network_id, "report": None, "kinds": IMPORTERS}
        return render(request, "imports.html", context)

    @pages.post("/dashboard/{network_id}/imports")
    async def run_import(request: Request, network_id: str, conn: Connection) -> Response:
        account = coordinator_of(network_id, await signed_in(request, conn))
        form = await checked_form(request)
        kind, upload = str(form.get("kind", "")), form.get("file")
        if kind not in IMPORTERS:
            raise PageRefused(400, "Unknown import", "Choose people, placements or trusts.")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise PageRefused(400, "No file", "Choose the file to import.")
        data = await upload.read(MAX_UPLOAD_BYTES + 1)
        if len(data) > MAX_UPLOAD_BYTES:
            raise PageRefused(413, "File too large", "Files of at most 5 MB can be imported.")
        report = await IMPORTERS[kind][1](
            request.app.state.pool,
            data,
            actor=account.email,
            network_id=network_id,
            dry_run=form.get("dry_run") == "on",
            partial=form.get("partial") == "on",
        )
        context = {
            "network_id": network_id,
            "report": report,
            "kinds": IMPORTERS,
            "filename": upload.filename,
        }
        code = 200 if report.applied or report.dry_run else 422
        return render(request, "imports.html", context, status_code=code)

    return pages


Importer = Callable[..., Awaitable[ImportReport]]
# What a coordinator can import, restricted to their own network by each importer.
IMPORTERS: dict[str, tuple[str, Importer]] = {
    "people": ("Mentors and mentees (CSV)", import_people_csv),
    "placements": ("Secondment placements (CSV)", import_placements_csv),
    "trusts": ("NHS trusts (the ODS file, .ods)", import_trusts_ods),
}


async def _decide(
    conn: asyncpg.Connection,
    network_id: str,
    match_ids: list[UUID],
    approved: bool,
    reason: str,
    account: Account,
    via: str = "web",
) -> list[UUID]:
    try:
        return await decide(
            conn,
            network_id=network_id,
            match_ids=match_ids,
            approved=approved,
            reason=reason,
            decided_by=account.email,
            via=via,
        )
    except ProposalNotFound as error:
        raise PageRefused(
            404, "No such proposal", "There is no such proposal in your network."
        ) from error
    except DecisionRefused as error:
        raise PageRefused(409, "This decision cannot be taken", str(error)) from error


# --- administrators ---------------------------------------------------------------------------


def _admin_pages() -> APIRouter:
    admin = APIRouter(prefix="/admin", include_in_schema=False)

    async def admin_page(
        request: Request,
        conn: asyncpg.Connection,
        error: str | None = None,
        code: int = 200,
        new_token: tuple[str, str] | None = None,
    ) -> Response:
        context = {
            "networks": await queries.networks(conn),
            "accounts": await list_accounts(conn),
            "api_tokens": await list_api_tokens(conn),
            "new_token": new_token,
            "error": error,
        }
        return render(request, "admin.html", context, status_code=code)

    @admin.get("")
    async def admin_home(request: Request, account: Administering, conn: Connection) -> Response:
        return await admin_page(request, conn)

    @admin.post("/networks")
    async def create_network(request: Request, conn: Connection) -> Response:
        account = await administrator(await signed_in(request, conn))
        form = await checked_form(request)
        try:
            network_id = str(form.get("network_id", "")).strip()
            new = NewAccount(
                email=str(form.get("email", "")),
                name=str(form.get("coordinator_name", "")),
                role=AccountRole.COORDINATOR,
                network_id=network_id,
                password=str(form.get("password", "")),
            )
            network = NetworkIn(
                name=str(form.get("name", "")),
                coordinators=[Coordinator(name=new.name, email=new.email)],
            )
            async with conn.transaction():
                if await queries.network_name(conn, network_id) is not None:
                    raise AccountRefused(f"network {network_id!r} exists already")
                await service.upsert_network(conn, network_id, network)
                await record_audit(
                    conn, actor=account.email, action="network.created", subject=network_id
                )
                await create_account(conn, new, actor=account.email)
        except (ValidationError, AccountRefused) as error:
            return await admin_page(request, conn, _plain(error), 422)
        flash(request, f"Created network {network_id} and its coordinator {new.email}.")
        return RedirectResponse("/admin", status.HTTP_303_SEE_OTHER)

    @admin.post("/coordinators")
    async def create_coordinator(request: Request, conn: Connection) -> Response:
        account = await administrator(await signed_in(request, conn))
        form = await checked_form(request)
        try:
            new = NewAccount(
                email=str(form.get("email", "")),
                name=str(form.get("name", "")),
                role=AccountRole.COORDINATOR,
                network_id=str(form.get("network_id", "")),
                password=str(form.get("password", "")),
            )
            await create_account(conn, new, actor=account.email)
        except (ValidationError, AccountRefused) as error:
            return await admin_page(request, conn, _plain(error), 422)
        flash(request, f"Created the coordinator account {new.email}.")
        return RedirectResponse("/admin", status.HTTP_303_SEE_OTHER)

    @admin.post("/coordinators/remove")
    async def remove(request: Request, conn: Connection) -> Response:
        account = await administrator(await signed_in(request, conn))
        form = await checked_form(request)
        email = str(form.get("email", ""))
        try:
            network_id = await remove_coordinator(conn, email, actor=account.email)
        except AccountRefused as error:
            return await admin_page(request, conn, str(error), 422)
        flash(request, f"Removed {email} from {network_id}; their account is closed.")
        return RedirectResponse("/admin", status.HTTP_303_SEE_OTHER)

    @admin.post("/api-tokens")
    async def create_token(request: Request, conn: Connection) -> Response:
        account = await administrator(await signed_in(request, conn))
        form = await checked_form(request)
        name = str(form.get("name", "")).strip()
        network_id = str(form.get("network_id", "")).strip() or None
        try:
            token = await create_api_token(conn, name, network_id, actor=account.email)
        except TokenRefused as error:
            return await admin_page(request, conn, str(error), 422)
        # Shown in this one response (not cached), never in the session's flash: a cookie.
        return await admin_page(request, conn, new_token=(name, token))

    @admin.post("/api-tokens/revoke")
    async def revoke_token(request: Request, conn: Connection) -> Response:
        account = await administrator(await signed_in(request, conn))
        form = await checked_form(request)
        name = str(form.get("name", ""))
        try:
            await revoke_api_token(conn, name, actor=account.email)
        except TokenRefused as error:
            return await admin_page(request, conn, str(error), 422)
        flash(request, f"Revoked the API token {name}; it no longer works.")
        return RedirectResponse("/admin", status.HTTP_303_SEE_OTHER)

    @admin.get("/audit")
    async def audit_page(
        request: Request, account: Administering, conn: Connection, before_id: int | None = None
    ) -> Response:
        records = await list_audit(request.app.state.pool, limit=100, before_id=before_id)
        return render(request, "audit.html", {"records": records})

    return admin


def _plain(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'form'}: {e['msg']}" for e in error.errors()
        )
    return str(error)


# --- decision links from emails ---------------------------------------------------------------


def _link_pages() -> APIRouter:
    links = APIRouter(prefix="/links", include_in_schema=False)

    async def usable_link(request: Request, conn: asyncpg.Connection, token: str) -> Any:
        settings: Settings = request.app.state.settings
        try:
            link = read_decision_link(
                settings.secret_key.get_secret_value(),
                token,
                settings.decision_link_max_age_seconds,
            )
        except LinkRefused as error:
            raise PageRefused(400, "This link cannot be used", str(error)) from error
        if await conn.fetchval("SELECT 1 FROM used_link_tokens WHERE token_id = $1", link.token_id):
            raise PageRefused(410, "This link was used already", "Each decision link works once.")
        if not await is_network_coordinator(conn, link.network_id, link.coordinator_email):
            raise PageRefused(
                403,
                "This link cannot be used",
                "The link's holder no longer coordinates this network.",
            )
        return link

    @links.get("/decision/{token}")
    async def confirm_decision(request: Request, token: str, conn: Connection) -> Response:
        # A GET changes nothing: mail scanners open links before people do.
        link = await usable_link(request, conn, token)
        views = [
            v for v in await queries.proposals(conn, link.network_id) if v.match_id == link.match_id
        ]
        if not views:
            raise PageRefused(404, "No such proposal", "This proposal is not known (yet).")
        proposal = views[0]
        if proposal.status != "pending":
            message = (
                "This proposal was withdrawn by the matcher."
                if proposal.status == "withdrawn"
                else f"This proposal was already {proposal.status}."
            )
            raise PageRefused(409, "Nothing left to decide", message)
        context = {"proposal": proposal, "approve": link.approve, "token": token}
        return render(request, "link_decision.html", context)

    @links.post("/decision/{token}")
    async def take_decision(request: Request, token: str, conn: Connection) -> Response:
        form = await request.form()
        async with conn.transaction():
            link = await usable_link(request, conn, token)
            if not await claim_link_token(conn, link.token_id, LinkPurpose.DECISION.value):
                raise PageRefused(
                    410, "This link was used already", "Each decision link works once."
                )
            actor = Account(
                email=link.coordinator_email.lower(),
                name=link.coordinator_email,
                role=AccountRole.COORDINATOR,
                network_id=link.network_id,
            )
            await _decide(
                conn,
                link.network_id,
                [link.match_id],
                link.approve,
                str(form.get("reason", "")),
                actor,
                via="email-link",
            )
        verdict = "approved" if link.approve else "rejected"
        return render(
            request,
            "message.html",
            {"title": f"Match {verdict}", "message": f"Thank you: the match is {verdict}."},
        )

    return links
