"""A round's input reuses what it built from unchanged rows (round_input.py): whatever the
sequence of changes, the input is the one built afresh from the same rows; and a network's
round keeps only what it read."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from hypothesis import given
from hypothesis import strategies as st

from services.matcher.round_input import (
    KeptInputs,
    RoundRows,
    Row,
    kept_inputs,
    open_mentee,
    round_input,
    round_mentee,
    round_pending,
)
from shared.people import Role, SkillGap, WorkingPattern
from tests.support.factories import person_profile

GAPS = (
    (SkillGap(skill="cyber-security", current=2, target=5),),
    (SkillGap(skill="data-analytics", current=1, target=4),),
)

# One step of a mentee's row: (which profile text, paused, approved mentoring, approved
# secondment). The profile text and the pause live in the person's row, so a change to either
# writes a new row version; approved counts come from the proposals and do not.
steps = st.lists(
    st.tuples(st.integers(0, 3), st.booleans(), st.integers(0, 1), st.integers(0, 1)),
    min_size=1,
    max_size=12,
)


def _profiles(person_id: UUID) -> list[str]:
    """Four versions of one mentee's stored profile, differing in what the engine reads."""
    base = person_profile(role=Role.MENTEE).model_copy(update={"person_id": person_id})
    return [
        base.model_copy(
            update={"gaps": GAPS[i % 2], "open_to_secondment": i >= 2}
        ).model_dump_json()
        if i != 3
        else base.model_copy(
            update={"working_pattern": WorkingPattern.PART_TIME, "goals": "board work"}
        ).model_dump_json()
        for i in range(4)
    ]


def _rows(
    person_id: UUID, profiles: list[str], sequence: list[tuple[int, bool, int, int]]
) -> list[dict[str, Any]]:
    rows, version, last = [], 0, None
    for text, paused, mentoring, secondment in sequence:
        if (text, paused) != last:
            version, last = version + 1, (text, paused)
        rows.append(
            {
                "id": person_id,
                "role": Role.MENTEE,
                "version": f"{version}:(0,{version})",
                "profile_json": profiles[text],
                "paused": paused,
                "approved_mentoring": mentoring,
                "approved_secondment": secondment,
            }
        )
    return rows


@given(sequence=steps)
def test_a_mentee_is_rebuilt_whenever_what_it_depends_on_changes(
    sequence: list[tuple[int, bool, int, int]],
) -> None:
    person_id = uuid4()
    earlier = KeptInputs()
    for row in _rows(person_id, _profiles(person_id), sequence):
        now = KeptInputs()
        assert round_mentee(row, earlier, now) == open_mentee(row)
        earlier = now


@given(
    statuses=st.lists(st.sampled_from(["pending", "rejected", "closed", "approved"]), max_size=6)
)
def test_a_rounds_input_is_the_one_built_afresh(statuses: list[str]) -> None:
    person_id = uuid4()
    mentee = _rows(person_id, _profiles(person_id), [(0, False, 0, 0)])[0]
    mentor = uuid4()
    proposals: list[Row] = [
        {
            "match_id": uuid4(),
            "kind": "mentoring",
            "provider_id": mentor,
            "mentee_id": person_id,
            "exchange_id": None,
            "status": status,
        }
        for status in statuses
    ]
    rows = RoundRows(trusts=[], people=[mentee], placements=[], proposals=proposals)
    first, again = round_input(rows), round_input(rows)  # the second reuses the first's
    assert first == again
    pending = [p for p in proposals if p["status"] == "pending"]
    assert [(p.provider_id, p.mentee_id) for p in again.data.pending] == [
        (str(mentor), str(person_id)) for _ in pending
    ]
    assert again.pending_match_ids == {
        ("mentoring", str(mentor), str(person_id)): p["match_id"] for p in pending
    }
    assert again.data.rejected_pairs == (
        {(str(mentor), str(person_id))}
        if any(s in ("rejected", "closed") for s in statuses)
        else frozenset()
    )
    assert again.data.mentees == (open_mentee(mentee),)


def test_a_pending_proposal_is_built_once_per_match() -> None:
    row = {
        "match_id": uuid4(),
        "kind": "secondment",
        "provider_id": uuid4(),
        "mentee_id": uuid4(),
        "exchange_id": "exchange-1",
        "status": "pending",
    }
    first = KeptInputs()
    key, proposal = round_pending(row, KeptInputs(), first)
    assert key == ("secondment", str(row["provider_id"]), str(row["mentee_id"]))
    assert proposal.exchange_id == "exchange-1"
    assert round_pending(dict(row), first, KeptInputs())[1] is proposal


def _proposal(mentee: UUID, status: str) -> Row:
    return {
        "match_id": uuid4(),
        "kind": "mentoring",
        "provider_id": uuid4(),
        "mentee_id": mentee,
        "exchange_id": None,
        "status": status,
    }


def test_a_round_keeps_only_what_its_network_has_now() -> None:
    """A proposal that is no longer pending, or a person who left, is not kept past the
    network's next round (kept for ever, they grew the matcher in the soak), and one network's
    round leaves another's as it was."""
    mentees = [uuid4() for _ in range(3)]
    people = [_rows(m, _profiles(m), [(0, False, 0, 0)])[0] for m in mentees]
    first = [_proposal(m, "pending") for m in mentees]
    round_input(RoundRows([], people, [], first, network_id="kept-a"))
    round_input(RoundRows([], people[:1], [], first[:1], network_id="kept-b"))
    assert set(kept_inputs("kept-a").pending) == {p["match_id"] for p in first}

    # The first proposal decided (rejected: read, not pending), the second withdrawn (not
    # read), the third still pending; the second mentee left the network.
    later = [{**first[0], "status": "rejected"}, first[2], _proposal(mentees[0], "pending")]
    again = round_input(RoundRows([], [people[0], people[2]], [], later, network_id="kept-a"))

    assert set(kept_inputs("kept-a").pending) == {first[2]["match_id"], later[2]["match_id"]}
    assert set(kept_inputs("kept-a").mentees) == {mentees[0], mentees[2]}
    assert set(kept_inputs("kept-b").pending) == {first[0]["match_id"]}
    assert len(again.data.pending) == 2
