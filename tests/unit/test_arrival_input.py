"""What proposals on arrival keep and leave out: the mentor profiles kept between batches (a
profile is served only at the row version it was read at, so a changed row is always read
again), and the mentor sides kept between batches (a side serves each mentor at their current
profile, with the capacity left that the batch read)."""

from __future__ import annotations

from uuid import UUID, uuid4

from hypothesis import given
from hypothesis import strategies as st

from services.matcher.arrivals import MentorProfiles, MentorSides, MentorWithRoom
from services.matcher.engine.config import MatchingConfig
from services.matcher.engine.optimal import BridgeworkEngine
from services.matcher.round_input import ParsedProfiles, StoredProfile, stored_profile
from shared.people import Mode, Sector, SkillLevel, WorkingPattern
from shared.regions import Region
from shared.skills import DEFAULT_TAXONOMY


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


def mentor_row(person: UUID, network: str, bio: str, capacity: int, held: int) -> MentorWithRoom:
    profile = StoredProfile(
        person_id=person,
        trust_code=f"T-{network}",
        region=Region.NORTH_WEST,
        mode=Mode.EITHER,
        working_pattern=WorkingPattern.FULL_TIME,
        sector=Sector.NHS,
        skills=(SkillLevel(skill=SKILL, level=5),),
        bio=bio,
    )
    return MentorWithRoom(person, profile.model_dump_json(), capacity - held, 4.0)


SKILL = sorted(DEFAULT_TAXONOMY.codes())[0]
ENGINE = BridgeworkEngine(MatchingConfig())
# One batch: for some of six mentors, (network, bio version, capacity, places held).
batches = st.lists(
    st.dictionaries(
        st.integers(0, 5),
        st.tuples(st.sampled_from(["north", "south"]), st.integers(0, 2), st.integers(1, 3)),
        max_size=6,
    ),
    min_size=1,
    max_size=6,
)


@given(batches)
def test_sides_serve_each_mentors_current_profile_and_this_batchs_capacity(
    steps: list[dict[int, tuple[str, int, int]]],
) -> None:
    """Whatever the batches, each offered mentor is scored from the profile they have now and
    the capacity left in this batch; a side is prepared again only when a batch brings a new
    mentor or a changed profile (or less than half of the side still has room)."""
    sides = MentorSides()
    ids = [uuid4() for _ in range(6)]
    previous: dict[str, list[MentorWithRoom]] | None = None
    for step in steps:
        rows: dict[str, list[MentorWithRoom]] = {}
        for k, (network, bio, capacity) in sorted(step.items()):
            row = mentor_row(ids[k], network, f"bio {k} version {bio}", capacity + 1, capacity)
            rows.setdefault(network, []).append(row)
        offers, prepared = sides.offers(rows, ENGINE)
        assert [o.mentor_ids for o in offers] == [
            tuple(str(r.id) for r in rows[n]) for n in sorted(rows)
        ]
        for offer, network in zip(offers, sorted(rows), strict=True):
            for k, row in enumerate(rows[network]):
                mentor = offer.side.mentors[offer.side.index[offer.mentor_ids[k]]]
                assert mentor.bio == stored_profile(row.profile_json).bio
                assert offer.capacity[k] == 1.0
                assert offer.hours[k] == 4.0
        if rows == previous:
            assert prepared == 0
        previous = rows


def test_a_side_is_kept_while_its_mentors_profiles_stay() -> None:
    sides = MentorSides()
    a, b = uuid4(), uuid4()
    rows = {"north": [mentor_row(a, "north", "data", 3, 0), mentor_row(b, "north", "cloud", 3, 1)]}
    first, prepared = sides.offers(rows, ENGINE)
    assert prepared == 1
    # Places taken and a mentor full since: the same side, this batch's capacity.
    fewer = {"north": [mentor_row(a, "north", "data", 3, 2)]}
    again, prepared = sides.offers(fewer, ENGINE)
    assert prepared == 0
    assert again[0].side is first[0].side
    assert list(again[0].capacity) == [1.0]
    # A changed profile: prepared again.
    changed = {"north": [mentor_row(a, "north", "data and analytics", 3, 2)]}
    _, prepared = sides.offers(changed, ENGINE)
    assert prepared == 1


@given(st.lists(st.tuples(st.integers(0, 9), st.integers(0, 3)), max_size=60))
def test_parsed_profiles_give_the_text_they_are_asked_for_one_a_person(
    reads: list[tuple[int, int]],
) -> None:
    """People parsed once while their profile stays: whatever order people and
    their versions are read in, the parse is of the text asked for, and a person's profile
    that changed replaces the old one (memory follows people, not edits)."""
    parsed = ParsedProfiles(max_size=6)
    people = [uuid4() for _ in range(10)]
    texts = {
        (person, bio): mentor_row(people[person], "north", f"bio {bio}", 1, 0).profile_json
        for person in range(10)
        for bio in range(4)
    }
    for person, bio in reads:
        profile = parsed.get(people[person], texts[person, bio])
        assert (profile.person_id, profile.bio) == (people[person], f"bio {bio}")
        assert len(parsed) <= min(6, len({p for p, _ in reads}))
    edited = ParsedProfiles(max_size=6)
    for bio in range(4):  # one person editing their profile four times: one entry
        edited.get(people[0], texts[0, bio])
    assert len(edited) == 1
