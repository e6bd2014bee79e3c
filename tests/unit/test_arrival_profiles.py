"""The mentor profiles proposals on arrival keep between batches: a profile is served only at
the row version it was read at, so a changed row is always read again."""

from __future__ import annotations

from uuid import uuid4

from hypothesis import given
from hypothesis import strategies as st

from services.matcher.arrivals import MentorProfiles


def test_a_profile_is_served_at_its_version_only() -> None:
    profiles = MentorProfiles()
    mentor = uuid4()
    assert profiles.get(mentor, "10:(0,1)") is None
    profiles.put(mentor, "10:(0,1)", '{"bio": "first"}')
    assert profiles.get(mentor, "10:(0,1)") == '{"bio": "first"}'
    # Updated in the same transaction (same xmin, new place) or a later one: read again.
    assert profiles.get(mentor, "10:(0,2)") is None
    assert profiles.get(mentor, "11:(0,1)") is None
    profiles.put(mentor, "11:(0,1)", '{"bio": "second"}')
    assert profiles.get(mentor, "11:(0,1)") == '{"bio": "second"}'
    assert profiles.get(mentor, "10:(0,1)") is None


@given(st.lists(st.tuples(st.integers(0, 30), st.text(max_size=3)), max_size=200))
def test_it_stays_bounded_and_never_serves_another_version(puts: list[tuple[int, str]]) -> None:
    profiles = MentorProfiles(max_size=8)
    ids = [uuid4() for _ in range(31)]
    last: dict[int, str] = {}
    for person, version in puts:
        profiles.put(ids[person], version, f"profile {person} {version}")
        last[person] = version
        assert len(profiles) <= 8
    for person, version in last.items():
        # Forgotten (bounded) or the latest version put,
        assert profiles.get(ids[person], version) in (None, f"profile {person} {version}")
    for person, version in puts:
        # never an older one.
        if version != last[person]:
            assert profiles.get(ids[person], version) is None
