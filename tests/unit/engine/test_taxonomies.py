"""Taxonomy importers: the real DDaT framework copy, and small CSVs written here."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from devtools.reference_data import reason, reference_data_dir
from shared.skills import Taxonomy
from shared.taxonomies import (
    DDAT_LEVELS,
    TaxonomyImportError,
    import_ddat_role_requirements,
    import_ddat_skills,
    import_sfia_csv,
    skill_code,
)

DDAT_DIR = reference_data_dir() / "ddat"


@pytest.fixture
def real_ddat() -> Path:
    if not (DDAT_DIR / "ddat_skills.csv").exists():
        pytest.skip(reason("ddat", "ddat_skills.csv"))
    return DDAT_DIR


def write(tmp_path: Path, text: str, name: str = "framework.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_real_ddat_skills_and_role_requirements(real_ddat: Path) -> None:
    imported = import_ddat_skills(real_ddat / "ddat_skills.csv")
    taxonomy = imported.taxonomy
    assert isinstance(taxonomy, Taxonomy)
    assert len(taxonomy.skills) == 188
    assert taxonomy.name_of("accessibility") == "Accessibility"
    assert (
        taxonomy.get("analysis-and-synthesis-data-ethics").name
        == "Analysis and synthesis (data ethics)"
    )
    assert imported.level_mapping == {"awareness": 2, "working": 3, "practitioner": 5, "expert": 6}
    assert imported.levels["accessibility"] == (2, 3, 5, 6)
    assert imported.level_descriptions["accessibility"][2].startswith("You can:")

    requirements = import_ddat_role_requirements(
        real_ddat / "ddat_role_skill_requirements.csv", imported
    )
    assert len(requirements) == 1809 - 28  # the 28 "NOT IN USE" senior civil service rows
    assert Counter(r.level for r in requirements) == {5: 545, 3: 510, 6: 375, 2: 351}
    senior_analyst = {
        r.skill: r.level for r in requirements if r.role_level == "Senior data analyst"
    }
    assert senior_analyst["data-visualisation"] == 5  # Practitioner in the source


def test_small_ddat_file_with_custom_mapping(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        (
            "skill,description,awareness,working,practitioner,expert,roles_that_require_skill\n"
            'Data ethics,"Using data well","You can:\n- explain",w,p,e,Data scientist\n'
            "Service ownership,,a,w,p,e,Service owner\n"
        ),
    )
    imported = import_ddat_skills(
        path, {"Awareness": 1, "Working": 3, "Practitioner": 4, "Expert": 7}
    )
    assert [s.code for s in imported.taxonomy.skills] == ["data-ethics", "service-ownership"]
    assert imported.levels["data-ethics"] == (1, 3, 4, 7)
    assert imported.level_descriptions["data-ethics"][1] == "You can:\n- explain"
    roles = write(
        tmp_path,
        (
            "role_family,role,role_level,role_type,skill,skill_level,skill_level_num\n"
            "Data,Data scientist,Senior data scientist,,Data ethics,Expert,4\n"
            "Chief,Chief data officer,NOT IN USE,Senior Civil Service,Data ethics,NOT IN USE,\n"
        ),
        "roles.csv",
    )
    (requirement,) = import_ddat_role_requirements(roles, imported)
    assert (requirement.skill, requirement.level, requirement.source_level) == (
        "data-ethics",
        7,
        "Expert",
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (",desc,a,w,p,e,\n", r"row 2: empty skill"),
        (
            "Data ethics,,a,w,p,e,\ndata  ETHICS,,a,w,p,e,\n",
            r"row 3: skill 'data  ETHICS' duplicates row 2",
        ),
        ("Data ethics,,a,w,p,e,x,extra\n", r"row 2: more cells than the 7 columns"),
        ("!!!,,a,w,p,e,\n", r"row 2: '!!!' gives no usable skill code"),
        ("", r"no skills found"),
    ],
)
def test_bad_ddat_rows_are_named(tmp_path: Path, body: str, message: str) -> None:
    header = "skill,description,awareness,working,practitioner,expert,roles_that_require_skill\n"
    with pytest.raises(TaxonomyImportError, match=message):
        import_ddat_skills(write(tmp_path, header + body))


def test_bad_ddat_role_rows_are_named(tmp_path: Path) -> None:
    skills = write(
        tmp_path, "skill,description,awareness,working,practitioner,expert\nCoding,,a,w,p,e\n"
    )
    imported = import_ddat_skills(skills)
    header = "role_family,role,role_level,role_type,skill,skill_level\n"
    bad_level = write(tmp_path, header + "Dev,Developer,Senior developer,,Coding,Guru\n", "r1.csv")
    with pytest.raises(TaxonomyImportError, match=r"r1.csv, row 2: unknown skill level 'Guru'"):
        import_ddat_role_requirements(bad_level, imported)
    bad_skill = write(
        tmp_path,
        header + "Dev,Developer,Senior,,Coding,Expert\nDev,Developer,Senior,,Juggling,Expert\n",
        "r2.csv",
    )
    with pytest.raises(TaxonomyImportError, match=r"row 3: skill 'Juggling' is not in"):
        import_ddat_role_requirements(bad_skill, imported)


def test_missing_columns_and_files_are_reported(tmp_path: Path) -> None:
    with pytest.raises(TaxonomyImportError, match=r"missing column\(s\) awareness, working"):
        import_ddat_skills(write(tmp_path, "skill,description,practitioner,expert\nX,,p,e\n"))
    with pytest.raises(TaxonomyImportError, match="cannot read"):
        import_sfia_csv(tmp_path / "absent.csv")
    with pytest.raises(TaxonomyImportError, match="level mapping lacks 'expert'"):
        import_ddat_skills(
            write(tmp_path, "skill\n"), {"awareness": 1, "working": 2, "practitioner": 3}
        )
    with pytest.raises(TaxonomyImportError, match="must map into 1-7"):
        import_ddat_skills(write(tmp_path, "skill\n"), {**DDAT_LEVELS, "expert": 8})


def test_sfia_style_csv(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        (
            "Code,Name,Levels,Description\n"
            "PROG,Programming/software development,2-6,Designing and writing software\n"
            'ITSP,Strategic planning,"4, 5, 7",\n'
            "SCTY,Information security,3 – 7,\n"
        ),
    )
    imported = import_sfia_csv(path)
    assert [(s.code, s.name) for s in imported.taxonomy.skills] == [
        ("prog", "Programming/software development"),
        ("itsp", "Strategic planning"),
        ("scty", "Information security"),
    ]
    assert imported.levels == {"prog": (2, 3, 4, 5, 6), "itsp": (4, 5, 7), "scty": (3, 4, 5, 6, 7)}
    assert imported.level_mapping["7"] == 7
    assert len(imported.level_mapping) == 7
    assert imported.taxonomy.get("prog").description == "Designing and writing software"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("PROG,Programming,0-4", r"row 2: levels '0-4': must be within 1-7"),
        ("PROG,Programming,6-3", r"row 2: levels '6-3': must be within 1-7"),
        ("PROG,Programming,high", r"row 2: levels 'high': expected e.g."),
        ("PROG,,3", r"row 2: empty name"),
        ("PROG,Programming,", r"row 2: empty levels"),
    ],
)
def test_bad_sfia_rows_are_named(tmp_path: Path, row: str, message: str) -> None:
    with pytest.raises(TaxonomyImportError, match=message):
        import_sfia_csv(write(tmp_path, "code,name,levels\n" + row + "\n"))


def test_skill_codes_are_valid_for_the_skill_model() -> None:
    assert (
        skill_code("Analysis and synthesis (data ethics)") == "analysis-and-synthesis-data-ethics"
    )
    assert skill_code("  IT Ops: Service   Management ") == "it-ops-service-management"
