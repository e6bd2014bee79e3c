"""What proposals on arrival keep and leave out: the mentor profiles kept between batches (a
profile is served only at the row version it was read at, so a changed row is always read
again), and the mentors left out of a batch (only those who could cover no newcomer's gap)."""

from __future__ import annotations

from uuid import uuid4

from hypothesis import given
from hypothesis import strategies as st

from services.matcher.arrivals import MentorProfiles, mentors_who_could_help
from services.matcher.engine.config import SkillOptions
from services.matcher.engine.contract import MenteeInput, MentorInput
from services.matcher.engine.scoring import provider_from_mentor, skill_coverage
from shared.people import Mode, Sector, SkillGap, SkillLevel, WorkingPattern
from shared.regions import Region
from shared.skills import DEFAULT_TAXONOMY, MAX_LEVEL


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


# A few real skill codes, so that mentors and newcomers often share some.
SKILLS = sorted(DEFAULT_TAXONOMY.codes())[:4]
skill_levels = st.builds(SkillLevel, skill=st.sampled_from(SKILLS), level=st.integers(1, MAX_LEVEL))


@st.composite
def skill_gaps(draw: st.DrawFn) -> SkillGap:
    current = draw(st.integers(0, MAX_LEVEL - 1))
    target = draw(st.integers(current + 1, MAX_LEVEL))
    return SkillGap(skill=draw(st.sampled_from(SKILLS)), current=current, target=target)


def mentor_in(skills: list[SkillLevel]) -> MentorInput:
    return MentorInput(
        id=str(uuid4()),
        trust_code="T",
        region=Region.NORTH_WEST,
        skills=tuple(skills),
        capacity=1,
        hours_per_month=4,
        mode=Mode.EITHER,
    )


def mentee_in(gaps: list[SkillGap]) -> MenteeInput:
    return MenteeInput(
        id=str(uuid4()),
        trust_code="T",
        region=Region.NORTH_WEST,
        gaps=tuple(gaps),
        working_pattern=WorkingPattern.FULL_TIME,
        sector=Sector.NHS,
        mode=Mode.EITHER,
    )


NETWORKS = st.sampled_from(["north", "south"])


@given(
    mentors=st.lists(st.tuples(NETWORKS, st.lists(skill_levels, max_size=3)), max_size=8),
    mentees=st.lists(st.tuples(NETWORKS, st.lists(skill_gaps(), max_size=3)), max_size=5),
)
def test_the_mentors_left_out_are_those_the_engine_gives_no_edge(
    mentors: list[tuple[str, list[SkillLevel]]], mentees: list[tuple[str, list[SkillGap]]]
) -> None:
    """Kept: exactly the mentors whose skills the engine's own rule (``skill_coverage`` above
    0, with partial credit) credits for some newcomer of their network."""
    mentor_inputs = [(network, mentor_in(skills)) for network, skills in mentors]
    mentee_inputs = [(network, mentee_in(gaps)) for network, gaps in mentees]
    partial_credit = SkillOptions().partial_credit
    assert partial_credit > 0

    def helps(network: str, mentor: MentorInput) -> bool:
        levels = provider_from_mentor(mentor).levels
        return any(
            skill_coverage(levels, mentee.gaps, partial_credit, DEFAULT_TAXONOMY)[0] > 0
            for mentee_network, mentee in mentee_inputs
            if mentee_network == network
        )

    kept = mentors_who_could_help(mentor_inputs, mentee_inputs)
    assert kept == tuple(m for network, m in mentor_inputs if helps(network, m))
