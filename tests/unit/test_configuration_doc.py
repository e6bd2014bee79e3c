"""docs/configuration.md is the settings model's reference: every setting in one group, each
with a description, and the checked-in file what the model generates."""

from __future__ import annotations

import re
from collections import Counter

from devtools.api_docs import DOCS, configuration_markdown, environment_variables
from shared.settings import GROUPS, Settings


def test_every_setting_belongs_to_exactly_one_group() -> None:
    grouped = Counter(name for group in GROUPS for name in group.model_fields)
    assert [name for name, count in grouped.items() if count > 1] == []
    assert set(grouped) == set(Settings.model_fields), "a setting outside every group"


def test_every_setting_has_a_description() -> None:
    missing = [name for name, field in Settings.model_fields.items() if not field.description]
    assert missing == []


def test_the_checked_in_reference_is_what_the_model_generates() -> None:
    checked_in = (DOCS / "configuration.md").read_text(encoding="utf-8")
    assert checked_in == configuration_markdown(), "run `make api-docs`"


def test_each_variable_is_listed_once_under_its_group_with_its_default() -> None:
    sections = re.split(r"^## ", configuration_markdown(), flags=re.MULTILINE)[1:]
    assert len(sections) == len(GROUPS)
    for group, section in zip(GROUPS, sections, strict=True):
        assert section.startswith((group.__doc__ or "").strip())
        for name, field in group.model_fields.items():
            [variable, *_] = environment_variables(name, field)
            [row] = [line for line in section.splitlines() if f"`{variable}`" in line]
            if isinstance(field.default, int | float | str):
                assert f"`{field.default}`".lower() in row.lower(), row
    rows = [line for line in configuration_markdown().splitlines() if line.startswith("| `")]
    assert len(rows) == len(Settings.model_fields)
