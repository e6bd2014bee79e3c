"""Reading spreadsheets row by row: each broken row is refused with a reason a coordinator can
act on; a broken file is refused whole."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.profiles.api.schemas import MenteeIn, MentorIn, TrustIn
from services.profiles.imports.columns import COLUMNS, columns, template_csv
from services.profiles.imports.rows import (
    FileRefused,
    ImportKind,
    display_name,
    parse_people,
    parse_placements,
    parse_trusts,
)
from shared.regions import Region

HEADER = (
    "role,name,email,job_title,trust_code,skills,capacity,hours_per_month,gaps,working_pattern\n"
)
MENTOR = "mentor,Mina Mentor,mina@example.org,CIO,TA,procurement:6;data-analytics:5,1.5,4,,\n"
MENTEE = "mentee,Theo Mentee,theo@example.org,Analyst,TB,,,,procurement:1-4:2,part time\n"


def test_good_rows_become_the_api_requests() -> None:
    mentor, mentee = parse_people((HEADER + MENTOR + MENTEE).encode())
    assert (mentor.number, mentor.key, mentor.reasons) == (2, "mina@example.org", [])
    assert isinstance(mentor.request, MentorIn)
    assert mentor.request.capacity == 1.5
    assert [s.skill for s in mentor.request.skills] == ["procurement", "data-analytics"]
    assert isinstance(mentee.request, MenteeIn)
    assert mentee.request.gaps[0].priority == 2
    assert mentee.request.working_pattern.value == "part_time"


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (
            "mentor,Mina,not-an-email,CIO,TA,procurement:6,1,4,,\n",
            "email: value is not a valid email address",
        ),
        ("mentor,Mina,m@example.org,CIO,TA,juggling:6,1,4,,\n", "unknown skill 'juggling'"),
        (
            "mentor,<b>Mina</b>,m@example.org,CIO,TA,procurement:6,1,4,,\n",
            "name: must not contain < or > (HTML is not accepted in names)",
        ),
        ("mentor,Mina,m@example.org,CIO,TA,procurement=6,1,4,,\n", "should look like"),
        ("mentee,Theo,t@example.org,Analyst,TB,,,,procurement:4-2,\n", "must be above current"),
        ("boss,Theo,t@example.org,Analyst,TB,,,,,\n", "role: 'boss' should be mentor or mentee"),
        ("mentor,Mina,m@example.org,CIO,TA,procurement:6,-1,4,,\n", "capacity: "),
    ],
)
def test_a_broken_row_is_refused_with_its_reason(row: str, reason: str) -> None:
    [parsed] = parse_people((HEADER + row).encode())
    assert parsed.request is None
    assert not parsed.ok
    assert any(reason in r for r in parsed.reasons), parsed.reasons


DEVELOPER_WORDS = ("Input should", "pydantic", "type=", "errors.pydantic.dev", "Value error")
cell = st.text(st.characters(exclude_categories=["Cs"], exclude_characters=',\r\n"\x00'))


@given(st.sampled_from(["mentor", "mentee"]), st.lists(cell, min_size=9, max_size=9))
def test_every_refusal_is_written_for_a_coordinator(role: str, cells: list[str]) -> None:
    [parsed] = parse_people((HEADER + ",".join([role, *cells]) + "\n").encode())
    for reason in parsed.reasons:
        assert not any(word in reason for word in DEVELOPER_WORDS), reason


def test_an_email_twice_in_the_file_refuses_the_later_row() -> None:
    again = MENTOR.replace("Mina Mentor", "Mina Again").replace("mina@", "MINA@")
    first, second = parse_people((HEADER + MENTOR + again).encode())
    assert first.ok
    assert not second.ok
    assert second.reasons == ["email: the same address is on row 2"]


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (
            b"role,name,email\nmentor,Mina,m@example.org\n",
            "missing column(s): job_title, trust_code",
        ),
        (HEADER.replace("gaps", "gapz").encode(), "unknown column(s): gapz"),
        (b"", "the file is empty"),
        (b"\xff\xfe\x00r\x00o", "not UTF-8"),
    ],
)
def test_a_broken_file_is_refused_whole(data: bytes, problem: str) -> None:
    with pytest.raises(FileRefused) as refused:
        parse_people(data)
    assert problem in str(refused.value)


def test_placements_rows() -> None:
    data = (
        b"host_trust_code,role,skills_developed,months,fte,places,start_from\n"
        b"TA,Digital lead,interoperability:5,6,0.6,2,2027-01-01\n"
        b"TA,Too long,interoperability:5,36,0.6,,\n"
    )
    good, bad = parse_placements(data)
    assert good.ok
    assert good.key == "TA: Digital lead"
    assert bad.reasons == ["months: should be at most 24"]


def test_trust_names_are_shown_as_people_write_them() -> None:
    assert (
        display_name("KING'S COLLEGE HOSPITAL NHS FOUNDATION TRUST")
        == "King's College Hospital NHS Foundation Trust"
    )
    assert display_name("UNIVERSITY HOSPITALS OF NORTH MIDLANDS NHS TRUST") == (
        "University Hospitals of North Midlands NHS Trust"
    )
    assert display_name("STOKE-ON-TRENT TEACHING PCT") == "Stoke-on-Trent Teaching Pct"


def test_the_real_ods_trusts_file(shared_data: Path) -> None:
    data = (shared_data / "nhs_trusts" / "nhs_trusts_england.csv").read_bytes()
    rows = parse_trusts(data, "north")
    assert len(rows) == 208
    refused = {row.key: row.reasons for row in rows if not row.ok}
    # ODS lists three Welsh trusts; Bridgework covers NHS England's regions only.
    assert set(refused) == {"RQF", "RT4", "RYT"}
    assert all("it is in Wales" in reasons[0] for reasons in refused.values())
    manchester = next(row for row in rows if row.key == "R0A")
    assert isinstance(manchester.request, TrustIn)
    assert manchester.request.name == "Manchester University NHS Foundation Trust"
    assert manchester.request.region is Region.NORTH_WEST
    assert manchester.request.latitude == pytest.approx(53.46117)
    regions = [row.request.region for row in rows if isinstance(row.request, TrustIn)]
    by_region = {r: regions.count(r) for r in Region}
    assert by_region[Region.MIDLANDS] == 40
    assert by_region[Region.LONDON] == 31


def test_odss_own_headerless_extract_with_closed_trusts(shared_data: Path) -> None:
    """etr.csv as NHS Digital publishes it: no header, closed trusts carry a close date."""
    data = (shared_data / "nhs_trusts" / "source" / "etr.csv").read_bytes()
    rows = parse_trusts(data, "north")
    assert len(rows) == 273
    closed = [row for row in rows if any("closed on" in r for r in row.reasons)]
    assert len(closed) == 68
    assert sum(row.ok for row in rows) == 202  # the open English trusts (Welsh ones refused)


def test_a_trust_row_without_region_falls_back_to_its_integrated_care_board() -> None:
    data = b"ods_code,name,nhs_region_code,icb_ods_code\nRXX,SOME NHS TRUST,,QOP\n"
    [row] = parse_trusts(data, "north")
    assert isinstance(row.request, TrustIn)
    assert row.request.region is Region.NORTH_WEST


@pytest.mark.parametrize("kind", [ImportKind.PEOPLE, ImportKind.PLACEMENTS])
def test_each_template_lists_every_column_and_its_examples_import(kind: ImportKind) -> None:
    text = template_csv(kind)
    assert text.startswith("\ufeff")  # spreadsheet programs open it as UTF-8
    header = text.removeprefix("\ufeff").splitlines()[0].split(",")
    assert header == [c.name for c in columns(kind)]
    assert [c.name for c in columns(kind) if c.required] == header[: len(COLUMNS[kind][0])]
    parse = parse_people if kind is ImportKind.PEOPLE else parse_placements
    rows = parse(text.encode())
    assert rows
    assert all(row.ok for row in rows), [row.reasons for row in rows]


def test_every_column_of_every_file_says_what_it_holds() -> None:
    for kind in ImportKind:
        assert all(column.holds for column in columns(kind))
