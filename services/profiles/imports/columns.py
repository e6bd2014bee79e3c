"""What each spreadsheet's columns hold, in a coordinator's words, and a template file to start
from. The column names come from ``rows`` (the parser's own lists), so the guide cannot drift
from what an import accepts."""

from __future__ import annotations

import csv
import io

from pydantic import BaseModel

from services.profiles.imports.rows import (
    ODS_REQUIRED,
    PEOPLE_OPTIONAL,
    PEOPLE_REQUIRED,
    PLACEMENT_OPTIONAL,
    PLACEMENT_REQUIRED,
    ImportKind,
)

WHAT_EACH_HOLDS = {
    "role": "mentor or mentee",
    "name": "the person's name as it goes in emails",
    "email": "their email address (a person already imported with it is updated)",
    "job_title": "e.g. CCIO, Digital Nurse Lead",
    "trust_code": "their trust's ODS code, one of your network's trusts (e.g. R0A)",
    "mode": "in person, remote or either (either if empty)",
    "working_pattern": "full time or part time (full time if empty)",
    "sector": "nhs or social care (nhs if empty)",
    "skills": "mentors: skill:level, levels 1-7, separated by ; (procurement:6; data-analytics:5)",
    "capacity": "mentors: how many mentees at once (e.g. 2)",
    "hours_per_month": "mentors: hours a month they can give (e.g. 4)",
    "bio": "mentors: a few words about them",
    "gaps": "mentees: skill:current-target, optionally :priority (procurement:1-4:2)",
    "goals": "mentees: what they want from mentoring",
    "open_to_secondment": "mentees: yes or no",
    "host_trust_code": "the ODS code of the trust hosting the placement",
    "skills_developed": "skill:level the placement develops (interoperability:5)",
    "months": "how long, 1 to 24 months",
    "fte": "the share of full time, e.g. 0.6",
    "places": "how many people it takes (1 if empty)",
    "start_from": "earliest start, as 2027-01-31",
    "start_to": "latest start, as 2027-03-31",
    "ods_code": "the trust's ODS code",
}


class Column(BaseModel):
    name: str
    required: bool
    holds: str


COLUMNS: dict[ImportKind, tuple[tuple[str, ...], tuple[str, ...]]] = {
    ImportKind.PEOPLE: (PEOPLE_REQUIRED, PEOPLE_OPTIONAL),
    ImportKind.PLACEMENTS: (PLACEMENT_REQUIRED, PLACEMENT_OPTIONAL),
    ImportKind.TRUSTS: (ODS_REQUIRED, ("nhs_region_code",)),
}
TRUST_COLUMN_HOLDS = {
    "name": "the trust's name",
    "nhs_region_code": "ODS's national grouping, Y56 to Y63",
}


def columns(kind: ImportKind) -> list[Column]:
    required, optional = COLUMNS[kind]
    words = {**WHAT_EACH_HOLDS, **(TRUST_COLUMN_HOLDS if kind is ImportKind.TRUSTS else {})}
    return [Column(name=name, required=True, holds=words[name]) for name in required] + [
        Column(name=name, required=False, holds=words[name]) for name in optional
    ]


# One example row per role (people) or placement: a file a coordinator fills in. Trust codes
# are placeholders to replace with their own trusts' codes.
EXAMPLES: dict[ImportKind, list[dict[str, str]]] = {
    ImportKind.PEOPLE: [
        {
            "role": "mentor",
            "name": "Alex Example",
            "email": "alex.example@nhs.net",
            "job_title": "Chief Clinical Information Officer",
            "trust_code": "YOURTRUST",
            "mode": "either",
            "skills": "clinical-engagement:7; procurement:5",
            "capacity": "2",
            "hours_per_month": "4",
        },
        {
            "role": "mentee",
            "name": "Sam Example",
            "email": "sam.example@nhs.net",
            "job_title": "Digital Nurse Lead",
            "trust_code": "YOURTRUST",
            "working_pattern": "part time",
            "gaps": "clinical-engagement:2-5:1",
            "goals": "Lead our electronic record roll-out",
            "open_to_secondment": "no",
        },
    ],
    ImportKind.PLACEMENTS: [
        {
            "host_trust_code": "YOURTRUST",
            "role": "Interoperability lead",
            "skills_developed": "interoperability:5",
            "months": "6",
            "fte": "0.6",
            "places": "1",
        }
    ],
}


def template_csv(kind: ImportKind) -> str:
    """The columns (required first) and the example rows, as UTF-8 CSV text with its BOM."""
    required, optional = COLUMNS[kind]
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.DictWriter(out, fieldnames=[*required, *optional], lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(EXAMPLES.get(kind, []))
    return out.getvalue()
