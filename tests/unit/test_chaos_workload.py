"""The chaos workload's people must have unique names: the chaos run's email check looks for
an erased person's name in every email delivered, so a namesake would count as a leak."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.chaos.workload import build_workload


@pytest.mark.parametrize(("events", "waves"), [(700, 2), (3000, 3), (5000, 3)])
def test_every_person_in_a_chaos_workload_has_a_name_of_their_own(events: int, waves: int) -> None:
    workload = build_workload(events, waves=waves)
    names = Counter(
        op.body["name"]
        for wave in workload.waves
        for op in wave
        if op.kind in ("mentor", "mentee") and op.body
    )
    assert len(names) > events // 4
    assert [name for name, count in names.items() if count > 1] == []
