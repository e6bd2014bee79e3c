"""Reading coordinators' spreadsheets into the API's own request models, row by row.

Pure: no database, no Kafka. Each row becomes either a validated request (``MentorIn``,
``MenteeIn``, ``PlacementIn``, ``TrustIn``: exactly what the HTTP API accepts) or the reasons it
was refused, in words a coordinator can act on. Problems with the file as a whole (not CSV, not
UTF-8, a missing or unknown column) refuse every row.

Cell formats, where a cell holds a list:
- ``skills`` / ``skills_developed``: ``skill:level`` separated by ``;``
  (``procurement:6; data-analytics:5``)
- ``gaps``: ``skill:current-target`` or ``skill:current-target:priority`` (``procurement:1-4:2``)
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ValidationError

from services.profiles.api.schemas import MenteeIn, MentorIn, PlacementIn, TrustIn
from shared.regions import Region, parse_region


class ImportKind(StrEnum):
    PEOPLE = "people"
    PLACEMENTS = "placements"
    TRUSTS = "trusts"


class FileRefused(ValueError):
    """The file as a whole cannot be read; nothing in it is imported."""


@dataclass
class ParsedRow:
    """One data row: its number as a spreadsheet shows it (the header is row 1), the key that
    names what it is about, and either its request or why it was refused."""

    number: int
    key: str
    request: BaseModel | None = None
    reasons: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.request is not None and not self.reasons


PEOPLE_REQUIRED = ("role", "name", "email", "job_title", "trust_code")
PEOPLE_OPTIONAL = (
    "mode",
    "working_pattern",
    "sector",
    "skills",
    "capacity",
    "hours_per_month",
    "bio",
    "gaps",
    "goals",
    "open_to_secondment",
)
PLACEMENT_REQUIRED = ("host_trust_code", "role", "skills_developed", "months", "fte")
PLACEMENT_OPTIONAL = ("places", "start_from", "start_to")
MAX_ROWS = 20_000


def read_csv(data: bytes) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header (lower case, trimmed) and the data rows with their spreadsheet row numbers."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise FileRefused(
            "the file is not UTF-8 text; save it as 'CSV UTF-8' and try again"
        ) from error
    if "\x00" in text:
        raise FileRefused("the file is not a CSV text file")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration as error:
        raise FileRefused("the file is empty") from error
    except csv.Error as error:
        raise FileRefused(f"the file is not valid CSV: {error}") from error
    columns = [name.strip().lower() for name in header]

    def rows() -> Iterator[tuple[int, list[str]]]:
        try:
            for number, cells in enumerate(reader, start=2):
                if number - 1 > MAX_ROWS:
                    raise FileRefused(f"the file has more than {MAX_ROWS} rows; split it")
                if any(cell.strip() for cell in cells):
                    yield number, cells
        except csv.Error as error:
            raise FileRefused(f"the file is not valid CSV: {error}") from error

    return columns, rows()


def check_columns(columns: Sequence[str], required: Sequence[str], optional: Sequence[str]) -> None:
    missing = [c for c in required if c not in columns]
    unknown = [c for c in columns if c and c not in required and c not in optional]
    repeated = sorted({c for c in columns if c and columns.count(c) > 1})
    problems = []
    if missing:
        problems.append(f"missing column(s): {', '.join(missing)}")
    if unknown:
        problems.append(
            f"unknown column(s): {', '.join(unknown)};"
            f" the columns are: {', '.join([*required, *optional])}"
        )
    if repeated:
        problems.append(f"column(s) given twice: {', '.join(repeated)}")
    if problems:
        raise FileRefused("; ".join(problems))


def _cells(columns: Sequence[str], cells: list[str]) -> tuple[dict[str, str], list[str]]:
    """Non-empty cells by column name; too many cells is a reason to refuse the row."""
    reasons = []
    if len(cells) > len(columns):
        extra = [c for c in cells[len(columns) :] if c.strip()]
        if extra:
            reasons.append(f"the row has {len(cells)} cells but the header has {len(columns)}")
    values = {
        column: cell.strip() for column, cell in zip(columns, cells, strict=False) if cell.strip()
    }
    return values, reasons


# Pydantic's error types, in a coordinator's words ({...} from the error's context).
PLAIN_WORDS = {
    "missing": "is required",
    "int_parsing": "should be a whole number",
    "int_from_float": "should be a whole number",
    "float_parsing": "should be a number",
    "bool_parsing": "should be yes or no",
    "date_from_datetime_parsing": "should be a date like 2026-04-01",
    "date_parsing": "should be a date like 2026-04-01",
    "greater_than": "should be more than {gt}",
    "greater_than_equal": "should be at least {ge}",
    "less_than": "should be less than {lt}",
    "less_than_equal": "should be at most {le}",
    "string_too_long": "is too long (at most {max_length} characters)",
    "string_too_short": "is too short (at least {min_length} characters)",
    "too_long": "has too many items (at most {max_length})",
    "too_short": "needs at least {min_length} item(s)",
    "enum": "should be one of: {expected}",
    "literal_error": "should be one of: {expected}",
    "extra_forbidden": "is not a column of this file",
}


def plain_words(item: Mapping[str, Any]) -> str:
    """One pydantic error as a coordinator reads it: no 'Input should be', no type names."""
    template = PLAIN_WORDS.get(str(item["type"]))
    context = item.get("ctx") or {}
    if template is not None:
        try:
            return template.format(**context)
        except (KeyError, IndexError):
            pass
    return str(item["msg"]).removeprefix("Value error, ").removeprefix("Input should be ")


def describe_errors(error: ValidationError) -> list[str]:
    """Pydantic's errors as '<column>: <what is wrong>' lines."""
    reasons = []
    for item in error.errors():
        location = [str(p) for p in item["loc"]]
        column = location[0] if location else "row"
        message = plain_words(item)
        if len(location) > 1 and location[1].isdigit():
            message = f"item {int(location[1]) + 1}: {message}"
        reasons.append(f"{column}: {message}")
    return reasons


_SKILL = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*:\s*(\d+)\s*$")
_GAP = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*:\s*(\d+)\s*-\s*(\d+)\s*(?::\s*([0-9.]+)\s*)?$")


def _split(cell: str) -> list[str]:
    return [part for part in cell.split(";") if part.strip()]


def parse_skills(cell: str, column: str) -> list[dict[str, Any]]:
    skills = []
    for part in _split(cell):
        found = _SKILL.match(part)
        if not found:
            raise ValueError(f"{column}: {part.strip()!r} should look like 'procurement:6'")
        skills.append({"skill": found[1].lower(), "level": int(found[2])})
    return skills


def parse_gaps(cell: str) -> list[dict[str, Any]]:
    gaps = []
    for part in _split(cell):
        found = _GAP.match(part)
        if not found:
            raise ValueError(
                f"gaps: {part.strip()!r} should look like 'procurement:1-4' (current-target)"
                " or 'procurement:1-4:2' (with a priority)"
            )
        gap: dict[str, Any] = {
            "skill": found[1].lower(),
            "current": int(found[2]),
            "target": int(found[3]),
        }
        if found[4]:
            gap["priority"] = float(found[4])
        gaps.append(gap)
    return gaps


_YES = {"yes", "y", "true", "1"}
_NO = {"no", "n", "false", "0"}


def parse_yes_no(cell: str, column: str) -> bool:
    if cell.lower() in _YES:
        return True
    if cell.lower() in _NO:
        return False
    raise ValueError(f"{column}: {cell!r} should be yes or no")


def _validate(model: type[BaseModel], values: dict[str, Any]) -> tuple[BaseModel | None, list[str]]:
    try:
        return model.model_validate(values), []
    except ValidationError as error:
        return None, describe_errors(error)


def parse_person(values: dict[str, str]) -> tuple[BaseModel | None, list[str]]:
    role = values.pop("role", "").lower()
    if role not in {"mentor", "mentee"}:
        return None, [f"role: {role or 'empty'!r} should be mentor or mentee"]
    fields: dict[str, Any] = dict(values)
    reasons = []
    try:
        if "skills" in fields:
            fields["skills"] = parse_skills(fields["skills"], "skills")
        if "gaps" in fields:
            fields["gaps"] = parse_gaps(fields["gaps"])
        if "open_to_secondment" in fields:
            fields["open_to_secondment"] = parse_yes_no(
                fields["open_to_secondment"], "open_to_secondment"
            )
    except ValueError as error:
        reasons.append(str(error))
    for column in ("mode", "working_pattern", "sector"):
        if column in fields:
            fields[column] = fields[column].lower().replace(" ", "_").replace("-", "_")
    model: type[BaseModel] = MentorIn if role == "mentor" else MenteeIn
    request, errors = _validate(model, fields)
    return (None if reasons else request), reasons + errors


def parse_people(data: bytes) -> list[ParsedRow]:
    """Every row of a people CSV, validated as the API validates POST /mentors or /mentees; an
    email given twice in the file refuses the later rows (which one was meant?)."""
    columns, rows = read_csv(data)
    check_columns(columns, PEOPLE_REQUIRED, PEOPLE_OPTIONAL)
    parsed: list[ParsedRow] = []
    first_row_of_email: dict[str, int] = {}
    for number, cells in rows:
        values, reasons = _cells(columns, cells)
        email = values.get("email", "").lower()
        row = ParsedRow(number=number, key=email or f"row {number}")
        request, errors = parse_person(values)
        row.reasons = reasons + errors
        if email and email in first_row_of_email:
            row.reasons.append(f"email: the same address is on row {first_row_of_email[email]}")
        first_row_of_email.setdefault(email, number)
        row.request = None if row.reasons else request
        parsed.append(row)
    return parsed


def parse_placements(data: bytes) -> list[ParsedRow]:
    columns, rows = read_csv(data)
    check_columns(columns, PLACEMENT_REQUIRED, PLACEMENT_OPTIONAL)
    parsed = []
    for number, cells in rows:
        values, reasons = _cells(columns, cells)
        fields: dict[str, Any] = dict(values)
        key = f"{values.get('host_trust_code', '?')}: {values.get('role', '?')}"
        if "skills_developed" in fields:
            try:
                fields["skills_developed"] = parse_skills(
                    fields["skills_developed"], "skills_developed"
                )
            except ValueError as error:
                reasons.append(str(error))
        request, errors = _validate(PlacementIn, fields)
        reasons += errors
        parsed.append(
            ParsedRow(number=number, key=key, request=None if reasons else request, reasons=reasons)
        )
    return parsed


# --- NHS trusts in NHS Organisation Data Service (ODS) format ---------------------------------

# Integrated care boards (ODS "High Level Health Geography") and the NHS England region each
# belongs to, for rows without a national grouping. Taken from the ODS trusts file (42 ICBs).
ICB_REGIONS: dict[str, Region] = {
    code: Region(region)
    for code, region in {
        "QE1": "Y62", "QF7": "Y63", "QGH": "Y60", "QH8": "Y61", "QHG": "Y61", "QHL": "Y60",
        "QHM": "Y63", "QJ2": "Y60", "QJG": "Y61", "QJK": "Y58", "QJM": "Y60", "QK1": "Y60",
        "QKK": "Y56", "QKS": "Y59", "QM7": "Y61", "QMF": "Y56", "QMJ": "Y56", "QMM": "Y61",
        "QNC": "Y60", "QNQ": "Y59", "QNX": "Y59", "QOC": "Y60", "QOP": "Y62", "QOQ": "Y63",
        "QOX": "Y58", "QPM": "Y60", "QR1": "Y58", "QRL": "Y59", "QRV": "Y56", "QSL": "Y58",
        "QT1": "Y60", "QT6": "Y58", "QU9": "Y59", "QUA": "Y60", "QUE": "Y61", "QUY": "Y58",
        "QVV": "Y58", "QWE": "Y56", "QWO": "Y63", "QWU": "Y60", "QXU": "Y59", "QYG": "Y62",
    }.items()
}  # fmt: skip

# The ODS extract published by NHS Digital ("etr.csv") has no header; these are its columns.
ODS_EXTRACT_COLUMNS = {"ods_code": 0, "name": 1, "nhs_region_code": 2, "icb_ods_code": 3}
ODS_EXTRACT_CLOSE_DATE = 11
ODS_REQUIRED = ("ods_code", "name")
_LOWER_WORDS = {"and", "of", "the", "for", "on", "upon", "in", "with"}
_UPPER_WORDS = {"nhs", "uk", "icb"}


def display_name(ods_name: str) -> str:
    """ODS names are upper case: 'KING'S COLLEGE HOSPITAL NHS FOUNDATION TRUST' becomes
    "King's College Hospital NHS Foundation Trust" (NHS stays upper case)."""

    def word(text: str, first: bool) -> str:
        parts = text.split("-")
        return "-".join(part_case(p, first and i == 0) for i, p in enumerate(parts))

    def part_case(part: str, first: bool) -> str:
        lower = part.lower()
        if lower in _UPPER_WORDS:
            return lower.upper()
        if lower in _LOWER_WORDS and not first:
            return lower
        return lower[:1].upper() + lower[1:]

    return " ".join(word(w, i == 0) for i, w in enumerate(ods_name.split()))


def trust_region(values: dict[str, str]) -> Region:
    """The NHS England region: the ODS national grouping (Y56..Y63), else the region's name,
    else the integrated care board's region."""
    code = values.get("nhs_region_code", "").upper()
    if code:
        return parse_region(code)
    if values.get("nhs_region_name"):
        return parse_region(values["nhs_region_name"])
    icb = values.get("icb_ods_code", "").upper()
    if icb in ICB_REGIONS:
        return ICB_REGIONS[icb]
    country = values.get("country", "")
    where = f" (it is in {country})" if country and country.lower() != "england" else ""
    raise ValueError(f"region: the trust has no NHS England region{where}; it is not imported")


def _ods_rows(data: bytes) -> Iterator[tuple[int, dict[str, str], list[str]]]:
    """Rows of either the ODS trusts file with a header (``ods_code,name,nhs_region_code,...``)
    or ODS's own headerless extract (etr.csv)."""
    columns, rows = read_csv(data)
    if "ods_code" in columns:
        missing = [c for c in ODS_REQUIRED if c not in columns]
        if missing:
            raise FileRefused(f"missing column(s): {', '.join(missing)}")
        for number, cells in rows:
            values, reasons = _cells(columns, cells)
            yield number, values, reasons
        return
    if len(columns) <= ODS_EXTRACT_CLOSE_DATE:
        raise FileRefused(
            "this is not an NHS trusts file in ODS format: expected a header with ods_code and"
            " name, or ODS's extract (etr.csv) with its 27 columns"
        )
    first = [(1, columns)]
    for number, cells in [*first, *rows]:
        values = {
            name: cells[index].strip()
            for name, index in ODS_EXTRACT_COLUMNS.items()
            if index < len(cells) and cells[index].strip()
        }
        close_date = cells[ODS_EXTRACT_CLOSE_DATE].strip() if len(cells) > 11 else ""
        reasons = [f"the trust closed on {close_date}; it is not imported"] if close_date else []
        yield number, values, reasons


def _coordinate(values: dict[str, str], column: str) -> float | None:
    text = values.get(column, "")
    try:
        return float(text) if text else None
    except ValueError:
        return None  # an unreadable coordinate only loses the distance, not the trust


def parse_trusts(data: bytes, network_id: str) -> list[ParsedRow]:
    parsed = []
    seen: dict[str, int] = {}
    for number, values, reasons in _ods_rows(data):
        code = values.get("ods_code", "").upper()
        row = ParsedRow(number=number, key=code or f"row {number}", reasons=list(reasons))
        if code in seen:
            row.reasons.append(f"ods_code: the same trust is on row {seen[code]}")
        seen.setdefault(code, number)
        if not re.fullmatch(r"[A-Z0-9]{3,10}", code):
            row.reasons.append(f"ods_code: {code or 'empty'!r} is not an ODS organisation code")
        try:
            region = trust_region(values)
        except ValueError as error:
            row.reasons.append(str(error))
            region = None
        if not row.reasons:
            request, errors = _validate(
                TrustIn,
                {
                    "name": display_name(values.get("name", "")),
                    "region": region,
                    "network_id": network_id,
                    "latitude": _coordinate(values, "latitude"),
                    "longitude": _coordinate(values, "longitude"),
                },
            )
            row.request, row.reasons = request, errors
        parsed.append(row)
    return parsed
