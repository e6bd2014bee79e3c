"""A round's plan against the network as it is when the round writes (reconcile.py): whatever
changed meanwhile, what is written never exceeds a provider's places left, never gives a mentee
a second live proposal of a kind, never repeats a refused pair, keeps exchanges whole, and never
withdraws a mentee's proposal for a replacement that is not written."""

from __future__ import annotations

from collections import Counter
from uuid import UUID, uuid4

from hypothesis import given
from hypothesis import strategies as st

from services.matcher.reconcile import Standing, Writes, reconciled
from shared.events import MatchProposed
from shared.matching import Explanation, MatchKind

PROVIDERS = [UUID(int=i) for i in range(1, 5)]
MENTEES = [UUID(int=i) for i in range(100, 106)]
KINDS = [MatchKind.MENTORING.value, MatchKind.SECONDMENT.value]


def proposal(
    kind: str, provider: UUID, mentee: UUID, score: float, exchange: str | None
) -> MatchProposed:
    return MatchProposed(
        entity_key="x",
        match_id=uuid4(),
        network_id="n",
        kind=MatchKind(kind),
        provider_id=provider,
        mentee_id=mentee,
        score=score,
        explanation=Explanation(skills_covered=(), region_reason="", parts=()),
        exchange_id=exchange,
    )


plans = st.lists(
    st.builds(
        proposal,
        st.sampled_from(KINDS),
        st.sampled_from(PROVIDERS),
        st.sampled_from(MENTEES),
        st.floats(0, 1),
        st.sampled_from([None, None, "x1", "x2"]),
    ),
    max_size=10,
)
pending = st.dictionaries(
    st.uuids(),
    st.tuples(st.sampled_from(KINDS), st.sampled_from(PROVIDERS), st.sampled_from(MENTEES)),
    max_size=4,
)
standings = st.builds(
    Standing,
    room=st.dictionaries(st.sampled_from(PROVIDERS), st.integers(-1, 2)),
    open_mentees=st.frozensets(st.sampled_from(MENTEES)),
    busy=st.dictionaries(
        st.tuples(st.sampled_from(KINDS), st.sampled_from(MENTEES)), st.integers(0, 2)
    ),
    never_again=st.frozensets(st.tuples(st.sampled_from(PROVIDERS), st.sampled_from(MENTEES))),
    still_pending=pending,
)


def with_still_pending_counted(standing: Standing) -> Standing:
    """A consistent standing: the still-pending proposals hold places and searches."""
    room = dict(standing.room)
    busy = Counter(standing.busy)
    for kind, provider, mentee in standing.still_pending.values():
        busy[(kind, mentee)] += 1
        if provider in room:
            room[provider] -= 1
    return Standing(room, standing.open_mentees, busy, standing.never_again, standing.still_pending)


@given(plans, standings.map(with_still_pending_counted))
def test_what_is_written_fits_the_network_as_it_is_now(
    new: list[MatchProposed], standing: Standing
) -> None:
    writes = reconciled(new, standing)
    assert {p.match_id for p in writes.new} <= {p.match_id for p in new}
    assert set(writes.withdrawn) <= set(standing.still_pending)
    freed = Counter(standing.still_pending[m][1] for m in writes.withdrawn)
    released = Counter(
        (standing.still_pending[m][0], standing.still_pending[m][2]) for m in writes.withdrawn
    )
    for provider, taken in Counter(p.provider_id for p in writes.new).items():
        assert provider in standing.room
        assert taken <= standing.room[provider] + freed[provider]
    for key, taken in Counter((p.kind.value, p.mentee_id) for p in writes.new).items():
        assert taken == 1
        assert standing.busy.get(key, 0) - released[key] <= 0
    for p in writes.new:
        assert p.mentee_id in standing.open_mentees
        assert (p.provider_id, p.mentee_id) not in standing.never_again
    exchanges = {p.exchange_id for p in new if p.exchange_id is not None}
    for exchange in exchanges:
        legs = {p.match_id for p in new if p.exchange_id == exchange}
        written = legs & {p.match_id for p in writes.new}
        assert written in (set(), legs)
    # A withdrawn proposal's replacement of the same kind, if the plan had one, is written.
    planned = {(p.kind.value, p.mentee_id) for p in new}
    written_for = {(p.kind.value, p.mentee_id) for p in writes.new}
    for match_id in writes.withdrawn:
        kind, _, mentee = standing.still_pending[match_id]
        assert (kind, mentee) not in planned or (kind, mentee) in written_for


def test_a_plan_that_still_fits_is_written_whole() -> None:
    mentor, mentee, other = PROVIDERS[0], MENTEES[0], MENTEES[1]
    replaced = uuid4()
    new = [proposal("mentoring", mentor, mentee, 0.9, None)]
    standing = Standing(
        room={mentor: 0},  # its only place is held by the proposal the plan replaces
        open_mentees=frozenset({mentee}),
        busy={("mentoring", other): 1},
        never_again=frozenset(),
        still_pending={replaced: ("mentoring", mentor, other)},
    )
    assert reconciled(new, standing) == Writes(new=new, withdrawn=[replaced])


def test_a_place_taken_meanwhile_drops_the_new_proposal_and_keeps_the_old_one() -> None:
    """An arrival took the new mentor's last place while the round solved: the mentee keeps the
    pending proposal the plan meant to replace."""
    old_mentor, new_mentor, mentee = PROVIDERS[0], PROVIDERS[1], MENTEES[0]
    replaced = uuid4()
    standing = Standing(
        room={old_mentor: 0, new_mentor: 0},
        open_mentees=frozenset({mentee}),
        busy={("mentoring", mentee): 1},
        never_again=frozenset(),
        still_pending={replaced: ("mentoring", old_mentor, mentee)},
    )
    new = [proposal("mentoring", new_mentor, mentee, 0.9, None)]
    assert reconciled(new, standing) == Writes(new=[], withdrawn=[])
