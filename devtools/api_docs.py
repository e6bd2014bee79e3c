"""Writes the documents generated from the code into docs/: the profiles HTTP API's OpenAPI
(FastAPI), the AsyncAPI of every topic and event (FastStream), and the configuration reference
(the settings model, shared/settings.py). ``make api-docs`` runs it; ``--check`` fails when
the checked-in files differ from what the code generates.

Output is stable (sorted keys, fixed indentation), so the same code always writes the same
bytes and a diff shows only real changes."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import AliasChoices, SecretStr
from pydantic.fields import FieldInfo

from services.profiles.app import create_app
from shared.observability.asyncapi import asyncapi_document, stable_json
from shared.settings import ENV_PREFIX, GROUPS, Settings

DOCS = Path(__file__).resolve().parent.parent / "docs"


def openapi_document() -> dict[str, Any]:
    # Building the app connects to nothing: the database and broker are opened in its lifespan.
    document: dict[str, Any] = json.loads(json.dumps(create_app(Settings()).openapi()))
    return document


CONFIGURATION_INTRO = """# Configuration

Every Bridgework process (the three services and the `bridgework` command) reads these
environment variables, with local-development defaults; a process ignores the ones it does not
use. `BRIDGEWORK_ENVIRONMENT=production` refuses the development defaults that would be unsafe.

Generated from `shared/settings.py` by `make api-docs`: edit the model, not this file (a test
fails when the two differ).
"""


def environment_variables(name: str, field: FieldInfo) -> list[str]:
    if isinstance(field.validation_alias, AliasChoices):
        return [str(choice) for choice in field.validation_alias.choices]
    return [f"{ENV_PREFIX}{name.upper()}"]


def default_text(field: FieldInfo) -> str:
    if isinstance(field.default, SecretStr):
        return "(development only)"
    if field.default is None:
        return "(unset)"
    if isinstance(field.default, bool):
        return f"`{str(field.default).lower()}`"
    return f"`{field.default}`"


def configuration_markdown() -> str:
    sections = [CONFIGURATION_INTRO]
    for group in GROUPS:
        rows = ["| variable | default | description |", "| --- | --- | --- |"]
        for name, field in group.model_fields.items():
            variables = " or ".join(f"`{v}`" for v in environment_variables(name, field))
            # One line in the table, however the docstring was wrapped.
            description = " ".join((field.description or "").split()).replace("|", "\\|")
            if get_origin(field.annotation) is Literal:
                choices = ", ".join(f"`{c}`" for c in get_args(field.annotation))
                description += f" One of {choices}."
            rows.append(f"| {variables} | {default_text(field)} | {description} |")
        title = (group.__doc__ or group.__name__).strip()
        sections.append(f"## {title}\n\n" + "\n".join(rows) + "\n")
    return "\n".join(sections)


def generated() -> dict[Path, str]:
    return {
        DOCS / "openapi.json": stable_json(openapi_document()),
        DOCS / "asyncapi.json": stable_json(asyncapi_document()),
        DOCS / "configuration.md": configuration_markdown(),
    }


def stale(documents: dict[Path, str]) -> list[Path]:
    return [
        path
        for path, text in documents.items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if docs/ is out of date")
    args = parser.parse_args(argv)
    documents = generated()
    if args.check:
        out_of_date = stale(documents)
        for path in out_of_date:
            print(f"{path.relative_to(DOCS.parent)} is out of date: run `make api-docs`")
        return 1 if out_of_date else 0
    for path, text in documents.items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(DOCS.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
