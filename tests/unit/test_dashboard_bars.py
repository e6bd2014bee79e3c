"""The bars of the coordinators' charts: decisions per day and fairness per group."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.profiles.coordination.dashboard import DecisionDay, decision_bars, fairness_bars
from shared.events import FairnessFigures, GroupComparisonFigures, GroupFigures
from shared.matching import MatchKind

counts = st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50)), max_size=14)


@given(counts)
def test_decision_bars_draw_each_nonzero_count_once_in_day_order(
    days: list[tuple[int, int]],
) -> None:
    first = date(2026, 11, 20)
    decision_days = [
        DecisionDay(day=first + timedelta(days=i), approved=a, rejected=r)
        for i, (a, r) in enumerate(days)
    ]
    bars = decision_bars(decision_days)
    expected = [
        (f"{d.day:%d %b} {kind}", count)
        for d in decision_days
        for kind, count in (("approved", d.approved), ("rejected", d.rejected))
        if count
    ]
    assert [(b.label, b.value) for b in bars] == expected
    assert all(b.css_class == f"bar {b.label.rsplit(' ', 1)[1]}" for b in bars)
    assert all(b.text == str(int(b.value or 0)) for b in bars)


def test_fairness_bars_put_each_group_beside_everyone_else() -> None:
    assert fairness_bars(None) == []
    members = GroupFigures(label="part-time", mentees=4, matched=1, match_rate=0.25)
    others = GroupFigures(label="full-time", mentees=6, matched=5, match_rate=5 / 6)
    figures = FairnessFigures(
        kind=MatchKind.MENTORING,
        overall=GroupFigures(label="everyone", mentees=10, matched=6, match_rate=0.6),
        comparisons=(GroupComparisonFigures(group="part_time", members=members, others=others),),
    )
    bars = fairness_bars(figures)
    assert [(b.label, b.value, b.text, b.css_class) for b in bars] == [
        ("part-time", 0.25, "25% of 4", "bar members"),
        ("full-time", 5 / 6, "83% of 6", "bar others"),
    ]
