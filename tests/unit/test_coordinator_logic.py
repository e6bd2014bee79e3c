"""The coordinators' pure logic: permissions, filters, decisions' rules, CSV, graph and charts,
passwords and the production guard."""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import re
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
    FlowRow,
    bar_chart,
    exchange_cycles,
    flow_graph,
    flow_rows,
    percent,
)
from services.profiles.coordination.dashboard import (
    ERASED,
    GapLeft,
    ProposalFilter,
    ProposalPage,
    ProposalView,
    decisions_by_day,
    gaps_left,
    matches_csv,
    parse_filter,
    proposal_view,
    what_happens,
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


def test_the_page_query_reads_blank_as_any_and_drops_what_it_cannot_read() -> None:
    blank = parse_filter({"kind": "", "region": "", "older_than_days": "", "sort": "", "page": ""})
    assert blank == ProposalFilter()
    assert (blank.sort, blank.page, blank.is_filtered) == ("waiting", 1, False)
    odd = parse_filter({"kind": "juggling", "page": "0", "sort": "score", "search": " Farid "})
    assert odd == ProposalFilter(sort="score", search="Farid")
    assert odd.is_filtered
    assert parse_filter({"region": "north west"}).region_code == "Y62"
    assert parse_filter({"region": "Atlantis"}).region_code == "unknown"  # matches nothing
    assert parse_filter({"search": "x" * 101}).search is None


@given(st.text(max_size=100).filter(lambda t: t.strip()))
def test_a_search_matches_its_text_literally_anywhere(text: str) -> None:
    pattern = ProposalFilter(search=text.strip()).search_pattern()
    assert pattern is not None
    assert pattern.startswith("%")
    assert pattern.endswith("%")
    # Unescaped wildcards would match more than the text: every % and _ inside is escaped.
    inner = pattern[1:-1]
    unescaped = re.sub(r"\\.", "", inner, flags=re.DOTALL)
    assert "%" not in unescaped
    assert "_" not in unescaped
    assert re.sub(r"\\(.)", r"\1", inner, flags=re.DOTALL) == text.strip()


def test_query_strings_keep_the_filters_and_change_the_page() -> None:
    chosen = ProposalFilter(kind=MatchKind.MENTORING, search="Ann & Bo", sort="score", page=3)
    assert chosen.query_string(page=4) == "kind=mentoring&search=Ann+%26+Bo&sort=score&page=4"


def test_a_page_counts_what_it_shows() -> None:
    page = ProposalPage(proposals=[view()] * 25, matching=60, pending=2000, page=2)
    assert (page.pages, page.first_shown, page.last_shown) == (3, 26, 50)
    empty = ProposalPage(proposals=[], matching=0, pending=0, page=1)
    assert (empty.pages, empty.first_shown, empty.last_shown) == (1, 0, 0)


def test_gaps_left_uncovered_and_what_happens_next_are_said_plainly() -> None:
    explanation = view().explanation
    gaps = [
        {"skill": "info-strategy", "current": 3, "target": 5},
        {"skill": "procurement", "current": 1, "target": 4},
    ]
    assert gaps_left(gaps, explanation) == (
        GapLeft(skill_name="Procurement and commercial", from_level=1, to_level=4),
    )
    approve, reject = what_happens(view())
    assert "Eleanor Underwood and Farid Okafor are each emailed" in approve
    assert "Nobody is emailed" in reject
    approve, _ = what_happens(
        view(kind=MatchKind.SECONDMENT, provider_detail="Leeds Trust", exchange_id="x")
    )
    assert "the contact at Leeds Trust" in approve
    assert "exchange are approved" in approve


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
    text = matches_csv([view(), decided])
    # The byte order mark, once, first: spreadsheet programs then read the file as UTF-8.
    assert text.startswith("\ufeff")
    assert text.count("\ufeff") == 1
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
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


def test_the_flow_graph_names_trusts_and_keeps_approved_apart_from_proposed() -> None:
    flows = [
        Flow(home="A", host="B", approved=True, exchange_id="e"),
        Flow(home="B", host="A", approved=False, exchange_id="e"),
        Flow(home="C", host="B", approved=False),
        Flow(home="C", host="B", approved=True),
        Flow(home="C", host="B", approved=True),
    ]
    labels = {"A": "Alpha Hospitals NHS Foundation Trust", "B": "Beta Trust", "C": "Gamma"}
    graph = flow_graph(flows, labels)
    assert [n.code for n in graph.nodes] == ["A", "B", "C"]
    # Trusts are shown by name (wrapped), not by code.
    assert graph.nodes[0].lines == ["Alpha Hospitals NHS", "Foundation Trust"]
    edges = {(e.home, e.host, e.approved): e for e in graph.edges}
    assert set(edges) == {("A", "B", True), ("B", "A", False), ("C", "B", False), ("C", "B", True)}
    assert (edges["C", "B", True].count, edges["C", "B", False].count) == (2, 1)
    assert edges["A", "B", True].in_exchange
    assert not edges["C", "B", True].in_exchange
    # Approved and proposed flows between the same trusts are separate arrows, side by side.
    approved, proposed = edges["C", "B", True], edges["C", "B", False]
    assert (approved.x1, approved.y1) != (proposed.x1, proposed.y1)
    assert graph.cycles == [["A", "B"]]
    assert flow_rows(flows, labels)[-1] == FlowRow(
        home="Gamma", host="Beta Trust", approved=2, proposed=1, in_exchange=False
    )


trust_codes = st.sampled_from("ABCDEFGHIJ")


@given(st.lists(st.tuples(trust_codes, trust_codes, st.booleans()), max_size=30))
def test_any_flows_draw_inside_a_phone_wide_picture_with_no_box_over_another(
    pairs: list[tuple[str, str, bool]],
) -> None:
    flows = [Flow(home=a, host=b, approved=ok) for a, b, ok in pairs if a != b]
    graph = flow_graph(
        flows, {c: f"{c} Trust With A Long Name NHS Foundation" for c in "ABCDEFGHIJ"}
    )
    assert graph.width <= 390
    half_w, half_h = graph.box_width / 2, graph.box_height / 2
    for node in graph.nodes:
        assert half_w <= node.x <= graph.width - half_w
        assert half_h <= node.y <= graph.height - half_h
        assert len(node.lines) <= 3
        assert all(len(line) <= 21 for line in node.lines)
    for a, b in itertools.combinations(graph.nodes, 2):
        apart_x = abs(a.x - b.x) >= graph.box_width
        apart_y = abs(a.y - b.y) >= graph.box_height
        assert apart_x or apart_y, (a, b)
    for edge in graph.edges:
        assert min(edge.x1, edge.x2) >= 0
        assert max(edge.x1, edge.x2) <= graph.width
        assert min(edge.y1, edge.y2) >= 0
        assert max(edge.y1, edge.y2) <= graph.height
    drawn = sorted((e.home, e.host, e.approved, e.count) for e in graph.edges)
    expected = sorted(
        (a, b, ok, sum(1 for f in flows if (f.home, f.host, f.approved) == (a, b, ok)))
        for a, b, ok in {(f.home, f.host, f.approved) for f in flows}
    )
    assert drawn == expected


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
        "provider_id": uuid4(),
        "mentee_id": uuid4(),
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
