"""The import page: a coordinator uploads a spreadsheet of people, placements or trusts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from services.profiles.dependencies import Connection
from services.profiles.imports.importers import (
    ImportReport,
    import_people_csv,
    import_placements_csv,
    import_trusts_ods,
)
from services.profiles.pages import (
    Coordinating,
    PageRefused,
    checked_form,
    coordinator_of,
    render,
    signed_in,
)
from shared.limits import MAX_UPLOAD_BYTES

router = APIRouter(include_in_schema=False)


@router.get("/dashboard/{network_id}/imports")
async def imports_page(request: Request, network_id: str, account: Coordinating) -> Response:
    context = {"network_id": network_id, "report": None, "kinds": IMPORTERS}
    return render(request, "imports.html", context)


@router.post("/dashboard/{network_id}/imports")
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


Importer = Callable[..., Awaitable[ImportReport]]
# What a coordinator can import, restricted to their own network by each importer.
IMPORTERS: dict[str, tuple[str, Importer]] = {
    "people": ("Mentors and mentees (CSV)", import_people_csv),
    "placements": ("Secondment placements (CSV)", import_placements_csv),
    "trusts": ("NHS trusts (the ODS file, .ods)", import_trusts_ods),
}
