"""A participant's profile as a web form, shared by the join pages and the participant's own
page: the form's fields to the API's MentorIn or MenteeIn (the one set of rules), its refusals
in words for the person filling it in, and a stored profile back to the form's values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from services.profiles.api.schemas import MenteeIn, MentorIn
from shared.people import Mode, Role, Sector, Weekday, WorkingPattern
from shared.skills import DEFAULT_TAXONOMY, LEVEL_DESCRIPTIONS, MAX_LEVEL, MIN_LEVEL

SKILLS = DEFAULT_TAXONOMY.skills
PRIORITIES = {"0.5": "Nice to have", "1": "Important", "2": "Most important"}
# What a participant may change on their own page; the rest (name, address, trust) stays.
EDITABLE = {
    Role.MENTOR: (
        "mode",
        "working_pattern",
        "working_days",
        "skills",
        "capacity",
        "hours_per_month",
        "bio",
    ),
    Role.MENTEE: ("mode", "working_pattern", "working_days", "gaps", "goals", "open_to_secondment"),
}
IDENTITY = ("name", "email", "job_title", "trust_code", "sector")
LABELS = {
    "name": "Your name",
    "email": "Email address",
    "job_title": "Your role",
    "trust_code": "Your trust",
    "sector": "Sector",
    "mode": "How you would meet",
    "working_pattern": "Working pattern",
    "working_days": "The days you work",
    "skills": "Your skills",
    "capacity": "How many mentees at once",
    "hours_per_month": "Hours a month",
    "bio": "About you",
    "gaps": "What you want to grow",
    "goals": "Your goals",
    "open_to_secondment": "Open to a secondment",
}


class ProfileRefused(ValueError):
    """What is wrong with the form, one plain sentence per problem; nothing was stored."""

    def __init__(self, problems: tuple[str, ...]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _text(form: FormData, key: str) -> str:
    value = form.get(key, "")
    return value if isinstance(value, str) else ""


def form_fields(role: Role, form: FormData, keys: tuple[str, ...]) -> dict[str, Any]:
    """The form's values for ``keys``, as the API's fields (strings are checked by the model)."""
    fields: dict[str, Any] = {}
    for key in keys:
        if key == "working_days":
            fields[key] = [day for day in form.getlist(key) if isinstance(day, str)]
        elif key == "skills":
            fields[key] = [
                {"skill": skill.code, "level": level}
                for skill in SKILLS
                if (level := _text(form, f"skill-{skill.code}"))
            ]
        elif key == "gaps":
            fields[key] = [
                {
                    "skill": skill.code,
                    "current": _text(form, f"gap-{skill.code}-current") or "0",
                    "target": target,
                    "priority": _text(form, f"gap-{skill.code}-priority") or "1",
                }
                for skill in SKILLS
                if (target := _text(form, f"gap-{skill.code}-target"))
            ]
        elif key == "open_to_secondment":
            fields[key] = _text(form, key) == "yes"
        elif key in form:  # else the model's default, or its "required"
            fields[key] = _text(form, key)
    return fields


def read_profile(role: Role, fields: Mapping[str, Any]) -> MentorIn | MenteeIn:
    model = MentorIn if role is Role.MENTOR else MenteeIn
    try:
        return model.model_validate(fields)
    except ValidationError as error:
        raise ProfileRefused(tuple(_plain(e, fields) for e in error.errors())) from error


def _plain(error: Any, fields: Mapping[str, Any]) -> str:
    location = tuple(error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    if not location:
        return message[0].upper() + message[1:]
    key = str(location[0])
    label = LABELS.get(key, key)
    if key in ("skills", "gaps") and len(location) > 1 and isinstance(location[1], int):
        code = fields[key][location[1]]["skill"]
        label = DEFAULT_TAXONOMY.name_of(code)
    elif key in ("skills", "gaps"):
        message = "choose at least one skill" if "at least" in message else message
    return f"{label}: {message}"


def values_of(profile: Mapping[str, Any]) -> dict[str, Any]:
    """A stored profile as the form's values, to fill the form in."""
    values: dict[str, Any] = {k: v for k, v in profile.items() if k not in ("skills", "gaps")}
    for skill in profile.get("skills", []):
        values[f"skill-{skill['skill']}"] = str(skill["level"])
    for gap in profile.get("gaps", []):
        code = gap["skill"]
        values[f"gap-{code}-current"] = str(gap["current"])
        values[f"gap-{code}-target"] = str(gap["target"])
        values[f"gap-{code}-priority"] = f"{float(gap['priority']):g}"
    values["open_to_secondment"] = "yes" if profile.get("open_to_secondment") else ""
    for key in ("capacity", "hours_per_month"):
        if key in profile:
            values[key] = f"{float(profile[key]):g}"
    return values


def choices() -> dict[str, Any]:
    """What the form offers: skills, levels in plain words, and each choice's label."""
    return {
        "skills": SKILLS,
        "levels": LEVEL_DESCRIPTIONS,
        "min_level": MIN_LEVEL,
        "max_level": MAX_LEVEL,
        "priorities": PRIORITIES,
        "modes": {
            Mode.EITHER: "In person or remote",
            Mode.IN_PERSON: "In person",
            Mode.REMOTE: "Remote",
        },
        "patterns": {WorkingPattern.FULL_TIME: "Full time", WorkingPattern.PART_TIME: "Part time"},
        "weekdays": [day.value for day in Weekday],
        "sectors": {Sector.NHS: "NHS", Sector.SOCIAL_CARE: "Social care"},
        "labels": LABELS,
    }
