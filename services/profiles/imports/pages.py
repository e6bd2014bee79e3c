"""The import page: a coordinator uploads a spreadsheet of people, placements or trusts, into
their own network."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from services.profiles.dependencies import Pool
from services.profiles.imports.columns import EXAMPLES, columns, template_csv
from services.profiles.imports.importers import IMPORTERS, Importer
from services.profiles.imports.rows import ImportKind
from services.profiles.pages import CheckedForm, Coordinating, PageRefused, render
from shared.limits import MAX_UPLOAD_BYTES

router = APIRouter(include_in_schema=False)
LABELS = {
    ImportKind.PEOPLE: "Mentors and mentees (CSV)",
    ImportKind.PLACEMENTS: "Secondment placements (CSV)",
    ImportKind.TRUSTS: "NHS trusts (the ODS file, .ods)",
}
# The page's choices: each kind's label and its importer.
KINDS: dict[str, tuple[str, Importer]] = {
    kind.value: (label, IMPORTERS[kind]) for kind, label in LABELS.items()
}


def _page(network_id: str, **context: object) -> dict[str, object]:
    return {
        "network_id": network_id,
        "report": None,
        "kinds": KINDS,
        "columns": {kind.value: columns(kind) for kind in ImportKind},
        "templates": [kind.value for kind in EXAMPLES],
        **context,
    }


@router.get("/dashboard/{network_id}/imports")
async def imports_page(request: Request, network_id: str, account: Coordinating) -> Response:
    return render(request, "imports.html", _page(network_id))


@router.get("/dashboard/{network_id}/imports/template/{kind}.csv")
async def import_template(network_id: str, kind: str, account: Coordinating) -> Response:
    """A file to fill in: the columns and an example row of each sort."""
    if kind not in {k.value for k in EXAMPLES}:
        raise PageRefused(404, "No such template", "Templates exist for people and placements.")
    return Response(
        template_csv(ImportKind(kind)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="bridgework-{kind}-template.csv"'},
    )


@router.post("/dashboard/{network_id}/imports")
async def run_import(
    request: Request, network_id: str, account: Coordinating, form: CheckedForm, pool: Pool
) -> Response:
    kind, upload = str(form.get("kind", "")), form.get("file")
    if kind not in KINDS:
        raise PageRefused(400, "Unknown import", "Choose people, placements or trusts.")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise PageRefused(400, "No file", "Choose the file to import.")
    data = await upload.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise PageRefused(413, "File too large", "Files of at most 5 MB can be imported.")
    report = await KINDS[kind][1](
        pool,
        data,
        actor=account.email,
        network_id=network_id,
        dry_run=form.get("dry_run") == "on",
        partial=form.get("partial") == "on",
    )
    context = _page(network_id, report=report, filename=upload.filename)
    code = 200 if report.applied or report.dry_run else 422
    return render(request, "imports.html", context, status_code=code)
