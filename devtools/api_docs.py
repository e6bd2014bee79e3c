"""Writes the API documents generated from the code into docs/: the profiles HTTP API's
OpenAPI (FastAPI) and the AsyncAPI of every topic and event (FastStream). ``make api-docs``
runs it; ``--check`` fails when the checked-in files differ from what the code generates.

Output is stable (sorted keys, fixed indentation), so the same code always writes the same
bytes and a diff shows only real changes."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from services.profiles.app import create_app
from shared.observability.asyncapi import asyncapi_document, stable_json
from shared.settings import Settings

DOCS = Path(__file__).resolve().parent.parent / "docs"


def openapi_document() -> dict[str, Any]:
    # Building the app connects to nothing: the database and broker are opened in its lifespan.
    document: dict[str, Any] = json.loads(json.dumps(create_app(Settings()).openapi()))
    return document


def generated() -> dict[Path, str]:
    return {
        DOCS / "openapi.json": stable_json(openapi_document()),
        DOCS / "asyncapi.json": stable_json(asyncapi_document()),
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
