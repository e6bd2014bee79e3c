"""Importers for skills frameworks users supply as files, onto Bridgework's 1-7 level scale.

- The UK government Digital and Data (DDaT) capability framework: its skills CSV (skill,
  description, awareness, working, practitioner, expert, ...) and its role requirements CSV
  (role_family, role, role_level, ..., skill, skill_level). Its four levels map onto the seven
  as ``DDAT_LEVELS`` below (the reasons are in docs/matching.md, "Taxonomies").
- An SFIA-style CSV: ``code, name, levels`` (plus an optional ``description``), where levels
  are the SFIA levels a skill is defined at, such as ``3-6`` or ``2,4,5``; SFIA already uses
  the seven-level scale, so its levels map to themselves.

Every importer returns a ``shared.skills.Taxonomy`` (inside an ``ImportedTaxonomy`` with the
level mapping used) and rejects a bad row with a ``TaxonomyImportError`` that names the file,
the row (as a spreadsheet numbers it: the header is row 1) and what is wrong.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from shared.skills import MAX_LEVEL, MIN_LEVEL, Skill, Taxonomy

# DDaT level -> Bridgework level. Awareness ("explain", "help under direction") is assisting;
# working ("apply ... under the direction of others") is applying; practitioner ("determine the
# approach", "advise", "champion") is ensuring and advising; expert ("set standards", "coach and
# lead teams", "act as a recognised authority") is initiating and influencing. No DDaT skill level
# reaches 7 (setting organisational strategy): that lives in the framework's roles, not skills.
DDAT_LEVELS: dict[str, int] = {"awareness": 2, "working": 3, "practitioner": 5, "expert": 6}
DDAT_NOT_IN_USE = "not in use"
_EXTRA = "\x00extra"  # where csv puts cells beyond the header
SFIA_LEVELS: dict[str, int] = {str(level): level for level in range(MIN_LEVEL, MAX_LEVEL + 1)}


class TaxonomyImportError(ValueError):
    """A supplied framework file that cannot be imported; the message says where and why."""


class ImportedTaxonomy(BaseModel):
    model_config = ConfigDict(frozen=True)

    taxonomy: Taxonomy
    level_mapping: dict[str, int] = Field(description="source level name -> 1-7 level")
    levels: dict[str, tuple[int, ...]] = Field(description="skill code -> 1-7 levels it defines")
    level_descriptions: dict[str, dict[int, str]] = Field(default_factory=dict)
    source_names: dict[str, str] = Field(
        default_factory=dict, description="source skill name (as in the file) -> skill code"
    )


class RoleRequirement(BaseModel):
    """A DDaT role level's required level in one skill, on the 1-7 scale."""

    model_config = ConfigDict(frozen=True)

    role_family: str
    role: str
    role_level: str
    skill: str
    level: int = Field(ge=MIN_LEVEL, le=MAX_LEVEL)
    source_level: str


def skill_code(name: str) -> str:
    """A stable code for a skill name: lower case, words joined by hyphens."""
    return re.sub(r"[^a-z0-9]+", "-", name.casefold()).strip("-")


# ---------------------------------------------------------------------------------------------
# DDaT
# ---------------------------------------------------------------------------------------------


def import_ddat_skills(
    path: Path,
    level_mapping: Mapping[str, int] = DDAT_LEVELS,
    name: str = "DDaT capability framework",
) -> ImportedTaxonomy:
    """The DDaT skills CSV as a taxonomy; each skill defines all four mapped levels."""
    mapping = _checked_mapping(level_mapping, DDAT_LEVELS.keys())
    skills: list[Skill] = []
    descriptions: dict[str, dict[int, str]] = {}
    source_names: dict[str, str] = {}
    seen: dict[str, int] = {}
    for row_number, row in _rows(path, ("skill", "description", *DDAT_LEVELS)):
        source_name = _required(row, "skill", path, row_number)
        code = _new_code(source_name, seen, path, row_number)
        skills.append(Skill(code=code, name=source_name, description=row["description"].strip()))
        descriptions[code] = {
            mapping[level]: row[level].strip() for level in DDAT_LEVELS if row[level].strip()
        }
        source_names[source_name] = code
    _not_empty(skills, path)
    levels = tuple(sorted(mapping.values()))
    return ImportedTaxonomy(
        taxonomy=Taxonomy(name=name, skills=tuple(skills)),
        level_mapping=mapping,
        levels={skill.code: levels for skill in skills},
        level_descriptions=descriptions,
        source_names=source_names,
    )


def import_ddat_role_requirements(
    path: Path, imported: ImportedTaxonomy
) -> tuple[RoleRequirement, ...]:
    """Role-level skill requirements, on the 1-7 scale.

    Rows whose level is "NOT IN USE" (the framework's senior civil service roles, which carry no
    skill levels) are skipped; any other unknown level or unknown skill is an error.
    """
    columns = ("role_family", "role", "role_level", "skill", "skill_level")
    requirements: list[RoleRequirement] = []
    for row_number, row in _rows(path, columns):
        source_level = _required(row, "skill_level", path, row_number)
        if source_level.casefold() == DDAT_NOT_IN_USE:
            continue
        level = imported.level_mapping.get(source_level.casefold())
        if level is None:
            known = ", ".join(imported.level_mapping)
            raise _error(path, row_number, f"unknown skill level {source_level!r} (known: {known})")
        skill_name = _required(row, "skill", path, row_number)
        code = imported.source_names.get(skill_name)
        if code is None:
            raise _error(
                path, row_number, f"skill {skill_name!r} is not in {imported.taxonomy.name}"
            )
        requirements.append(
            RoleRequirement(
                role_family=row["role_family"].strip(),
                role=_required(row, "role", path, row_number),
                role_level=_required(row, "role_level", path, row_number),
                skill=code,
                level=level,
                source_level=source_level,
            )
        )
    return tuple(requirements)


# ---------------------------------------------------------------------------------------------
# SFIA-style
# ---------------------------------------------------------------------------------------------


def import_sfia_csv(path: Path, name: str = "SFIA-style framework") -> ImportedTaxonomy:
    """An SFIA-style CSV (code, name, levels[, description]) as a taxonomy."""
    skills: list[Skill] = []
    levels: dict[str, tuple[int, ...]] = {}
    seen: dict[str, int] = {}
    for row_number, row in _rows(path, ("code", "name", "levels")):
        source_code = _required(row, "code", path, row_number)
        code = _new_code(source_code, seen, path, row_number)
        skill_name = _required(row, "name", path, row_number)
        skills.append(
            Skill(code=code, name=skill_name, description=(row.get("description") or "").strip())
        )
        levels[code] = _parse_levels(_required(row, "levels", path, row_number), path, row_number)
    _not_empty(skills, path)
    return ImportedTaxonomy(
        taxonomy=Taxonomy(name=name, skills=tuple(skills)),
        level_mapping=dict(SFIA_LEVELS),
        levels=levels,
        source_names={skill.name: skill.code for skill in skills},
    )


def _parse_levels(text: str, path: Path, row_number: int) -> tuple[int, ...]:
    """``3-6``, ``2,4,5``, ``2; 3`` or ``5`` -> sorted levels, each within 1-7."""
    found: set[int] = set()
    ranges = re.sub(r"\s*[-–]\s*", "-", text.strip())  # "3 – 7" -> "3-7"
    for part in re.split(r"[,;\s]+", ranges):
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not match:
            raise _error(path, row_number, f"levels {text!r}: expected e.g. '3-6' or '2,4,5'")
        low = int(match.group(1))
        high = int(match.group(2) or low)
        if not MIN_LEVEL <= low <= high <= MAX_LEVEL:
            raise _error(
                path, row_number, f"levels {text!r}: must be within {MIN_LEVEL}-{MAX_LEVEL}"
            )
        found.update(range(low, high + 1))
    return tuple(sorted(found))


# ---------------------------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------------------------


def _rows(path: Path, required: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """(spreadsheet row number, row with lower-cased keys) for each data row of a CSV."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise TaxonomyImportError(f"{path}: cannot read: {exc.strerror}") from exc
    with handle:
        reader = csv.DictReader(handle, restkey=_EXTRA)
        header = [h.strip().casefold() for h in reader.fieldnames or []]
        missing = [c for c in required if c not in header]
        if missing:
            raise TaxonomyImportError(
                f"{path}: missing column(s) {', '.join(missing)};"
                f" found: {', '.join(header) or 'none'}"
            )
        reader.fieldnames = header
        for index, row in enumerate(reader):
            if _EXTRA in row:
                raise _error(path, index + 2, f"more cells than the {len(header)} columns")
            yield index + 2, {k: (v or "") for k, v in row.items()}


def _required(row: Mapping[str, str], column: str, path: Path, row_number: int) -> str:
    value = row.get(column, "").strip()
    if not value:
        raise _error(path, row_number, f"empty {column}")
    return value


def _new_code(name: str, seen: dict[str, int], path: Path, row_number: int) -> str:
    code = skill_code(name)
    if not code:
        raise _error(path, row_number, f"{name!r} gives no usable skill code")
    if code in seen:
        raise _error(path, row_number, f"skill {name!r} duplicates row {seen[code]}")
    seen[code] = row_number
    return code


def _checked_mapping(mapping: Mapping[str, int], required: Iterable[str]) -> dict[str, int]:
    checked = {name.casefold(): level for name, level in mapping.items()}
    for name in required:
        if name not in checked:
            raise TaxonomyImportError(f"level mapping lacks {name!r}")
    if not all(MIN_LEVEL <= level <= MAX_LEVEL for level in checked.values()):
        raise TaxonomyImportError(f"level mapping {checked} must map into {MIN_LEVEL}-{MAX_LEVEL}")
    return checked


def _not_empty(skills: Sequence[Skill], path: Path) -> None:
    if not skills:
        raise TaxonomyImportError(f"{path}: no skills found")


def _error(path: Path, row_number: int, problem: str) -> TaxonomyImportError:
    return TaxonomyImportError(f"{path}, row {row_number}: {problem}")
