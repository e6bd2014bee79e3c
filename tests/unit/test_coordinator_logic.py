"""The coordinators' pure logic: permissions, filters, decisions' rules, CSV, graph and charts,
passwords and the production guard."""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.profiles.accounts.accounts import (
    DevelopmentOnly,
    demo_password,
    hash_password,
    password_matches,
)
from services.profiles.accounts.api_tokens import development_api_token, token_digest
from services.profiles.accounts.permissions import (
    Account,
    AccountRole,
    ApiClient,
    SignInThrottle,
    api_may_manage_networks,
    api_may_use_network,
    home_path,
    may_administer,
    may_coordinate,
)
from services.profiles.coordination.charts import (
    VALUE_ROOM,
    Bar,
    Flow,
    bar_chart,
    exchange_cycles,
    flow_graph,
    percent,
)
from services.profiles.coordination.dashboard import (
    ERASED,
    ProposalFilter,
    ProposalView,
    apply_filter,
    decisions_by_day,
    exchange_groups,
    matches_csv,
    proposal_view,
)
from services.profiles.coordination.decisions import DecisionRefused, check_reason, refusal_for
from shared.addresses import normalised_email
from shared.events import RoundCompleted, decode_event
from shared.matching import Explanation, MatchKind, ScorePart
from tests.support.factories import covered

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ADMIN = Account(email="ada@x.example", name="Ada", role=AccountRole.ADMINISTRATOR)
NORTH = Account(email="nadia@x.example", name="N", role=AccountRole.COORDINATOR, network_id="north")


def view(**changes: object) -> ProposalView:
    fields: dict[str, object] = {
        "match_id": uuid4(),
        "network_id": "north",
        "kind": MatchKind.MENTORING,
        "status": "pending",
        "score": 0.71,
        "explanation": Explanation(
            skills_covered=(covered("info-strategy", "Information strategy", 3, 5, 5),),
            region_reason="same region (North West)",
            parts=(ScorePart(name="skills", value=0.7, weight=0.55, contribution=0.39),),
        ),
        "exchange_id": None,
        "proposed_at": NOW - timedelta(days=3),
        "provider_name": "Eleanor Underwood",
        "provider_detail": "CDO, Pennine Valleys",
        "mentee_name": "Farid Okafor",
        "mentee_detail": "Clinical Systems Lead",
        "mentee_region": "North West",
        "home_trust": "DEMO04",
        "host_trust": None,
    }
    return ProposalView.model_validate(fields | changes)


def test_a_coordinator_coordinates_only_their_own_network() -> None:
    assert may_coordinate(NORTH, "north")
    assert not may_coordinate(NORTH, "central-south")
    assert not may_coordinate(ADMIN, "north")  # administrators manage; coordinators decide
    assert not may_coordinate(None, "north")


def test_only_administrators_administer_and_each_role_has_its_home() -> None:
    assert may_administer(ADMIN)
    assert not may_administer(NORTH)
    assert not may_administer(None)
    assert home_path(ADMIN) == "/admin"
    assert home_path(NORTH) == "/dashboard/north/proposals"


def test_filters_by_kind_region_and_waiting_time_blank_meaning_any() -> None:
    mentoring = view()
    secondment = view(kind=MatchKind.SECONDMENT, mentee_region="London", proposed_at=NOW)
    views = [mentoring, secondment]
    blank = ProposalFilter.model_validate({"kind": "", "region": "", "older_than_days": ""})
    assert apply_filter(views, blank, NOW) == views
    assert apply_filter(views, ProposalFilter(kind=MatchKind.SECONDMENT), NOW) == [secondment]
    assert apply_filter(views, ProposalFilter(region="North West"), NOW) == [mentoring]
    assert apply_filter(views, ProposalFilter(older_than_days=2), NOW) == [mentoring]
    assert apply_filter(views, ProposalFilter(older_than_days=4), NOW) == []


def test_exchange_groups_count_their_proposals() -> None:
    views = [view(exchange_id="x1"), view(exchange_id="x1"), view(exchange_id="x2"), view()]
    assert exchange_groups(views) == {"x1": 2, "x2": 1}


def test_a_rejection_needs_a_reason_and_only_pending_proposals_can_be_decided() -> None:
    assert check_reason(True, "") == ""
    assert check_reason(False, "  same team ") == "same team"
    with pytest.raises(DecisionRefused, match="Say why"):
        check_reason(False, "   ")
    with pytest.raises(DecisionRefused, match="too long"):
        check_reason(True, "x" * 2001)
    assert refusal_for("pending") is None
    assert "withdrawn" in (refusal_for("withdrawn") or "")
    assert refusal_for("approved") == "This proposal was already approved."


def test_decisions_by_day_count_the_last_two_weeks_only() -> None:
    today = date(2026, 11, 25)
    at = datetime(2026, 11, 24, 9, tzinfo=UTC)
    days = decisions_by_day(
        [(at, True), (at, False), (at, True), (at - timedelta(days=30), True)], today
    )
    assert len(days) == 14
    assert days[-1].day == today
    assert (days[-2].approved, days[-2].rejected) == (2, 1)
    assert sum(d.approved + d.rejected for d in days) == 3


def test_the_csv_export_has_a_row_per_match_and_defuses_formulas() -> None:
    decided = view(
        status="rejected",
        decided_at=NOW,
        decided_by="nadia@x.example",
        reason='=HYPERLINK("http://evil")',
        mentee_name='+Farid, "the" mentee',
    )
    rows = list(csv.reader(io.StringIO(matches_csv([view(), decided]))))
    assert rows[0][:4] == ["match_id", "network_id", "kind", "status"]
    assert len(rows) == 3
    by_column = dict(zip(rows[0], rows[2], strict=True))
    assert by_column["status"] == "rejected"
    assert by_column["reason"] == '\'=HYPERLINK("http://evil")'
    assert by_column["mentee"] == '\'+Farid, "the" mentee'
    assert by_column["why"] == "covers Information strategy 3→5; same region (North West)"
    assert dict(zip(rows[0], rows[1], strict=True))["decided_at"] == ""


def test_exchange_cycles_are_found_and_start_from_their_smallest_trust() -> None:
    flows = [
        Flow(home="C", host="A", approved=False, exchange_id="e1"),
        Flow(home="A", host="B", approved=False, exchange_id="e1"),
        Flow(home="B", host="C", approved=False, exchange_id="e1"),
        Flow(home="D", host="A", approved=True),
    ]
    assert exchange_cycles(flows) == [["A", "B", "C"]]


def test_the_flow_graph_places_trusts_inside_the_picture_and_draws_one_arrow_per_pair() -> None:
    flows = [
        Flow(home="A", host="B", approved=True, exchange_id="e"),
        Flow(home="B", host="A", approved=False, exchange_id="e"),
        Flow(home="C", host="B", approved=False),
        Flow(home="C", host="B", approved=True),
    ]
    graph = flow_graph(flows, {"A": "Alpha Trust"}, width=600, height=400)
    assert [n.code for n in graph.nodes] == ["A", "B", "C"]
    assert graph.nodes[0].label == "Alpha Trust"
    for node in graph.nodes:
        assert graph.node_radius <= node.x <= 600 - graph.node_radius
        assert graph.node_radius <= node.y <= 400 - graph.node_radius
    edges = {(e.home, e.host): e for e in graph.edges}
    assert set(edges) == {("A", "B"), ("B", "A"), ("C", "B")}
    assert (edges["C", "B"].count, edges["C", "B"].approved) == (2, 1)
    assert edges["A", "B"].in_exchange
    assert not edges["C", "B"].in_exchange
    # The two directions between A and B are drawn apart, not on top of each other.
    ab, ba = edges["A", "B"], edges["B", "A"]
    assert (ab.x1, ab.y1) != (ba.x2, ba.y2)
    assert graph.cycles == [["A", "B"]]


def test_a_flow_graph_of_nothing_is_empty() -> None:
    graph = flow_graph([], {})
    assert (graph.nodes, graph.edges, graph.cycles) == ([], [], [])


def test_bar_lengths_are_proportional_to_the_scale_and_rows_do_not_overlap() -> None:
    chart = bar_chart(
        [
            Bar(label="part-time", value=0.5, text="50%"),
            Bar(label="full-time", value=1.0, text="100%"),
            Bar(label="empty group", value=None, text=percent(None)),
        ],
        max_value=1.0,
        width=560,
        label_width=170,
    )
    plot = 560 - 170 - VALUE_ROOM
    assert [b.width for b in chart.bars] == [plot / 2, plot, 0]
    ys = [b.y for b in chart.bars]
    assert ys == sorted(ys)
    assert all(b - a >= chart.bar_height for a, b in itertools.pairwise(ys))
    assert chart.height >= ys[-1] + chart.bar_height
    assert percent(0.643) == "64%"


def test_passwords_are_hashed_with_argon2id_and_verified() -> None:
    hashed = hash_password("a long enough password")
    assert hashed.startswith("$argon2id$")
    assert "a long enough password" not in hashed
    assert password_matches(hashed, "a long enough password")
    assert not password_matches(hashed, "another password")
    assert not password_matches("not a hash", "anything")


def test_demo_passwords_are_random_and_refused_in_production() -> None:
    assert demo_password("development") != demo_password("development")
    with pytest.raises(DevelopmentOnly):
        demo_password("production")


async def test_demo_api_tokens_are_refused_in_production_before_touching_the_database() -> None:
    nothing: Any = None  # any use of the connection would fail
    with pytest.raises(DevelopmentOnly):
        await development_api_token(nothing, "demo", "production", actor="demo")


def test_api_clients_reach_their_own_network_and_only_administrators_manage_networks() -> None:
    north = ApiClient(name="north-hr", network_id="north")
    platform = ApiClient(name="platform")
    assert (north.actor, north.is_administrator, platform.is_administrator) == (
        "api:north-hr",
        False,
        True,
    )
    assert api_may_use_network(north, "north")
    assert not api_may_use_network(north, "south")
    assert api_may_use_network(platform, "south")
    assert not api_may_manage_networks(north)
    assert api_may_manage_networks(platform)


def test_an_api_token_is_kept_as_its_sha256() -> None:
    digest = token_digest("bw_example")
    assert digest == hashlib.sha256(b"bw_example").hexdigest()
    assert "bw_example" not in digest


def test_round_completed_travels_on_the_proposals_topic_and_decodes() -> None:
    raw = (
        b'{"event_type": "round.completed", "entity_key": "north", "network_id": "north",'
        b' "fairness": {"kind": "mentoring",'
        b' "overall": {"label": "all", "mentees": 10, "matched": 7, "match_rate": 0.7},'
        b' "comparisons": [{"group": "part_time",'
        b' "members": {"label": "part-time", "mentees": 4, "matched": 2, "match_rate": 0.5},'
        b' "others": {"label": "full-time", "mentees": 6, "matched": 5, "match_rate": 0.83}}]}}'
    )
    event = decode_event(raw)
    assert isinstance(event, RoundCompleted)
    assert event.topic.value == "bridgework.proposals.v1"
    assert event.fairness.comparisons[0].members.match_rate == 0.5


def test_a_proposal_row_becomes_a_view_and_erased_people_show_as_gone() -> None:
    row = {
        "match_id": uuid4(),
        "network_id": "north",
        "kind": "secondment",
        "status": "pending",
        "score": 0.6,
        "explanation": {"skills_covered": [], "region_reason": "remote", "parts": []},
        "exchange_id": "e1",
        "proposed_at": NOW,
        "status_changed_at": None,
        "decided_by": None,
        "reason": "",
        "mentee": None,  # erased since the proposal
        "mentee_trust": None,
        "mentee_trust_name": None,
        "mentee_region": None,
        "mentor": None,
        "mentor_trust_name": None,
        "placement": {"role": "Digital lead"},
        "host_trust_code": "DEMO05",
        "host_trust_name": "Pennine Valleys Care NHS Trust",
    }
    shown = proposal_view(row)
    assert (shown.provider_name, shown.provider_detail) == (
        "Digital lead",
        "Pennine Valleys Care NHS Trust",
    )
    assert shown.mentee_name == ERASED
    assert shown.host_trust == "DEMO05"
    with_mentee = proposal_view(
        row
        | {
            "mentee": {"name": "Farid", "job_title": "Analyst"},
            "mentee_trust_name": "Mersey Coast",
            "mentee_region": "Y62",
        }
    )
    assert (with_mentee.mentee_detail, with_mentee.mentee_region) == (
        "Analyst, Mersey Coast",
        "North West",
    )


def test_sign_in_is_refused_after_repeated_failures_until_the_window_passes() -> None:
    throttle = SignInThrottle(per_account=3, per_client=100, window=60)
    for second in range(3):
        assert not throttle.blocked("Nadia@X.example", "10.0.0.1", second)
        throttle.failed("nadia@x.example", "10.0.0.1", second)
    assert throttle.blocked("NADIA@x.example", "10.0.0.2", 10)
    assert not throttle.blocked("other@x.example", "10.0.0.2", 10)
    assert not throttle.blocked("nadia@x.example", "10.0.0.2", 61)  # the first has aged out
    throttle.succeeded("nadia@x.example")
    assert not throttle.blocked("nadia@x.example", "10.0.0.2", 30)


SPACES = st.text(alphabet=" \t\n\u00a0\u2003", max_size=3)


@given(
    email=st.emails(),
    variants=st.lists(st.tuples(SPACES, SPACES, st.booleans()), min_size=5, max_size=5),
)
def test_spaces_or_capitals_around_an_address_count_towards_its_lock_out(
    email: str, variants: list[tuple[str, str, bool]]
) -> None:
    """Whatever the account lookup reads as one address is one lock-out (issue 14, item 9)."""
    throttle = SignInThrottle(per_account=5, per_client=100, window=60)
    for before, after, upper in variants:
        typed = before + (email.upper() if upper else email) + after
        throttle.failed(typed, "10.0.0.1", 1)
    assert throttle.blocked(normalised_email(email), "10.0.0.9", 2)
    assert throttle.blocked(f" {email.upper()} ", "10.0.0.9", 2)


def test_one_client_spraying_many_accounts_is_refused() -> None:
    throttle = SignInThrottle(per_account=5, per_client=20, window=60)
    for n in range(20):
        assert not throttle.blocked(f"person{n}@x.example", "10.0.0.1", n)
        throttle.failed(f"person{n}@x.example", "10.0.0.1", n)
    assert throttle.blocked("someone.new@x.example", "10.0.0.1", 21)
    assert not throttle.blocked("someone.new@x.example", "10.0.0.2", 21)
    throttle.succeeded("person3@x.example")  # one right password forgives no spraying
    assert throttle.blocked("someone.new@x.example", "10.0.0.1", 22)
    assert not throttle.blocked("someone.new@x.example", "10.0.0.1", 61)
