"""Secondment exchange cycles on hand-built trust graphs, and against brute force."""

from __future__ import annotations

import itertools
from collections import Counter

import networkx as nx
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.matcher.engine.contract import CandidateEdges
from services.matcher.engine.exchanges import (
    Exchange,
    find_exchanges,
    search_exchanges,
    short_cycles,
)

# A secondment candidate: (mentee, mentee's trust, placement, host trust, score).
Arc = tuple[str, str, str, str, float]


def build(
    arcs: list[Arc], places: dict[str, int] | None = None
) -> tuple[CandidateEdges, list[str], list[str]]:
    mentees = sorted({a[0] for a in arcs})
    placements = sorted({a[2] for a in arcs})
    mentee_trust = {a[0]: a[1] for a in arcs}
    host = {a[2]: a[3] for a in arcs}
    candidates = CandidateEdges(
        provider_ids=tuple(placements),
        mentee_ids=tuple(mentees),
        provider_capacity=np.array([float((places or {}).get(p, 1)) for p in placements]),
        mentee_index=np.array([mentees.index(a[0]) for a in arcs], dtype=np.int32),
        provider_index=np.array([placements.index(a[2]) for a in arcs], dtype=np.int32),
        score=np.array([a[4] for a in arcs]),
    )
    return candidates, [mentee_trust[m] for m in mentees], [host[p] for p in placements]


def solve(
    arcs: list[Arc], places: dict[str, int] | None = None
) -> tuple[list[Exchange], list[list[tuple[str, str]]], float]:
    candidates, mentee_trust, host = build(arcs, places)
    exchanges = find_exchanges(candidates, mentee_trust, host)
    pairs = [
        sorted(
            (
                candidates.mentee_ids[candidates.mentee_index[e]],
                candidates.provider_ids[candidates.provider_index[e]],
            )
            for e in x.edges
        )
        for x in exchanges
    ]
    return exchanges, sorted(pairs), sum(x.total_score for x in exchanges)


def test_two_trusts_swap() -> None:
    exchanges, pairs, total = solve([("a1", "A", "pB", "B", 0.8), ("b1", "B", "pA", "A", 0.6)])
    assert pairs == [[("a1", "pB"), ("b1", "pA")]]
    assert total == pytest.approx(1.4)
    assert exchanges[0].trusts == ("A", "B")
    assert exchanges[0].id.startswith("exchange-")


def test_one_way_interest_is_no_exchange() -> None:
    assert solve([("a1", "A", "pB", "B", 0.9), ("a2", "A", "pB2", "B", 0.9)])[0] == []


def test_four_trust_cycle_is_too_long() -> None:
    arcs: list[Arc] = [
        ("a", "A", "pB", "B", 1.0),
        ("b", "B", "pC", "C", 1.0),
        ("c", "C", "pD", "D", 1.0),
        ("d", "D", "pA", "A", 1.0),
    ]
    assert solve(arcs)[0] == []


def test_three_cycle_beats_two_cycle_sharing_a_mentee() -> None:
    arcs = [
        ("a1", "A", "pB", "B", 0.5),
        ("b1", "B", "pA", "A", 0.5),  # A <-> B: 1.0
        ("b2", "B", "pC", "C", 0.7),
        ("c1", "C", "pA2", "A", 0.7),  # A -> B -> C -> A: 1.9
    ]
    _, pairs, total = solve(arcs)
    assert pairs == [[("a1", "pB"), ("b2", "pC"), ("c1", "pA2")]]
    assert total == pytest.approx(1.9)


def test_two_exchanges_on_the_same_trusts_use_placement_places() -> None:
    arcs = [
        ("a1", "A", "pB", "B", 0.9),
        ("a2", "A", "pB", "B", 0.8),
        ("b1", "B", "pA", "A", 0.7),
        ("b2", "B", "pA", "A", 0.6),
    ]
    assert len(solve(arcs, places={"pB": 2, "pA": 2})[0]) == 2
    assert len(solve(arcs, places={"pB": 1, "pA": 2})[0]) == 1


def test_the_id_depends_only_on_who_goes_where() -> None:
    arcs = [("a1", "A", "pB", "B", 0.8), ("b1", "B", "pA", "A", 0.6)]
    assert solve(arcs)[0][0].id == solve(list(reversed(arcs)))[0][0].id


def brute_force(arcs: list[Arc], places: dict[str, int]) -> float:
    """Best packing of arc-level cycles of 2 or 3 distinct trusts, by exhaustive search."""
    return _best_packing(arcs, brute_force_cycles(arcs), places, 0, Counter(), Counter())


def brute_force_cycles(arcs: list[Arc]) -> list[tuple[int, ...]]:
    """Every cycle of 2 or 3 secondments whose trusts link up, each once."""
    cycles = []
    for length in (2, 3):
        for combo in itertools.permutations(range(len(arcs)), length):
            chain = [arcs[i] for i in combo]
            trusts = [a[1] for a in chain]
            linked = all(chain[i][3] == chain[(i + 1) % length][1] for i in range(length))
            if linked and len(set(trusts)) == length and combo[0] == min(combo):
                cycles.append(combo)
    return cycles


def _best_packing(
    arcs: list[Arc],
    cycles: list[tuple[int, ...]],
    places: dict[str, int],
    start: int,
    mentees: Counter[str],
    hosted: Counter[str],
) -> float:
    best = 0.0
    for k in range(start, len(cycles)):
        chain = [arcs[i] for i in cycles[k]]
        if any(mentees[a[0]] for a in chain) or len({a[0] for a in chain}) < len(chain):
            continue
        extra = Counter(a[2] for a in chain)
        if any(hosted[p] + n > places.get(p, 1) for p, n in extra.items()):
            continue
        gain = sum(a[4] for a in chain) + _best_packing(
            arcs, cycles, places, k + 1, mentees + Counter(a[0] for a in chain), hosted + extra
        )
        best = max(best, gain)
    return best


def random_arcs(seed: int) -> tuple[list[Arc], dict[str, int], dict[str, str]]:
    rng = np.random.default_rng(seed)
    trusts = ["A", "B", "C", "D"][: int(rng.integers(3, 5))]
    people = {f"m{i}": str(rng.choice(trusts)) for i in range(int(rng.integers(4, 9)))}
    posts = {f"p{i}": str(rng.choice(trusts)) for i in range(int(rng.integers(3, 6)))}
    arcs = [
        (m, home, p, host, float(np.round(rng.random(), 3)) + 0.001)
        for (m, home), (p, host) in itertools.product(people.items(), posts.items())
        if home != host and rng.random() < 0.5
    ]
    places = {p: int(rng.integers(1, 3)) for p in posts}
    return arcs, places, {**people, **posts}


@pytest.mark.parametrize("seed", range(40))
def test_matches_brute_force_and_keeps_trusts_balanced(seed: int) -> None:
    arcs, places, trust_of = random_arcs(seed)
    if not arcs:
        return
    _, pairs, total = solve(arcs, places)
    assert total == pytest.approx(brute_force(arcs, places), abs=1e-9)
    released = Counter(trust_of[m] for x in pairs for m, _ in x)
    hosted = Counter(trust_of[p] for x in pairs for _, p in x)
    assert released == hosted


def test_a_placement_that_asks_nothing_back_starts_a_chain() -> None:
    # A's placement asks nothing back: B's mentee takes it, C's mentee takes B's placement.
    arcs: list[Arc] = [("b1", "B", "pA", "A", 0.9), ("c1", "C", "pB", "B", 0.8)]
    candidates, mentee_trust, host = build(arcs)
    assert find_exchanges(candidates, mentee_trust, host) == []  # no cycle without it
    altruist = [p == "pA" for p in candidates.provider_ids]
    chains = find_exchanges(candidates, mentee_trust, host, asks_nothing_back=altruist)
    assert len(chains) == 1
    chain = chains[0]
    assert chain.is_chain
    assert chain.id.startswith("chain-")
    assert chain.total_score == pytest.approx(1.7)
    assert chain.trusts == ("C", "B")  # C ends the chain: it releases one and hosts none


def test_a_chain_is_never_longer_than_the_limit() -> None:
    arcs: list[Arc] = [
        ("b1", "B", "pA", "A", 0.9),
        ("c1", "C", "pB", "B", 0.8),
        ("d1", "D", "pC", "C", 0.7),
    ]
    candidates, mentee_trust, host = build(arcs)
    altruist = [p == "pA" for p in candidates.provider_ids]
    chains = find_exchanges(candidates, mentee_trust, host, asks_nothing_back=altruist)
    # Three trusts at most: A <- B <- C; D would make a fourth.
    assert [len(c.edges) for c in chains] == [2]


@pytest.mark.parametrize("seed", range(20))
def test_the_search_proves_its_optimum_and_equals_brute_force(seed: int) -> None:
    arcs, places, _ = random_arcs(100 + seed)
    if not arcs:
        return
    candidates, mentee_trust, host = build(arcs, places)
    search = search_exchanges(candidates, mentee_trust, host)
    assert search.optimal
    assert search.total_score == pytest.approx(brute_force(arcs, places), abs=1e-9)
    assert search.total_score == pytest.approx(sum(x.total_score for x in search.exchanges))


def test_a_node_limit_keeps_the_best_set_found_with_its_bound() -> None:
    arcs, places, _ = next(
        (a, p, t) for a, p, t in map(random_arcs, range(100)) if a and brute_force(a, p) > 0
    )
    candidates, mentee_trust, host = build(arcs, places)
    search = search_exchanges(candidates, mentee_trust, host, node_limit=1, iteration_limit=1)
    assert search.total_score > 0  # never nothing: the greedy set at least
    assert search.bound >= search.total_score


@given(
    arcs=st.sets(
        st.tuples(st.sampled_from(["", "A", "B", "C", "D", "E"]), st.sampled_from("ABCDE")),
        max_size=25,
    ),
    max_length=st.sampled_from([2, 3]),
)
def test_short_cycles_are_networkx_simple_cycles(
    arcs: set[tuple[str, str]], max_length: int
) -> None:
    arcs = {(a, b) for a, b in arcs if a != b}
    graph = nx.DiGraph(list(arcs))
    expected = set()
    for cycle in nx.simple_cycles(graph, max_length):
        start = cycle.index(min(cycle))
        expected.add(tuple(cycle[start:] + cycle[:start]))
    cycles = short_cycles(arcs, max_length)
    assert list(cycles) == sorted(expected)


def chains(arcs: list[Arc]) -> list[tuple[int, ...]]:
    """Every chain of one or two secondments: the first takes a post that asks nothing back
    (host ""), the next mentee's trust hosts the previous one, trusts all different."""
    found = []
    for length in (1, 2):
        for combo in itertools.permutations(range(len(arcs)), length):
            chain = [arcs[i] for i in combo]
            linked = all(chain[i + 1][3] == chain[i][1] for i in range(length - 1))
            homes = {a[1] for a in chain}
            if chain[0][3] == "" and linked and len(homes) == length:
                found.append(combo)
    return found


@pytest.mark.parametrize("seed", range(20))
def test_chains_and_cycles_together_equal_brute_force(seed: int) -> None:
    arcs, places, _ = random_arcs(200 + seed)
    if not arcs:
        return
    rng = np.random.default_rng(seed)
    free = {p for p in sorted({a[2] for a in arcs}) if rng.random() < 0.3}
    candidates, mentee_trust, host = build(arcs, places)
    search = search_exchanges(
        candidates,
        mentee_trust,
        host,
        asks_nothing_back=[p in free for p in candidates.provider_ids],
    )
    virtual = [(m, home, p, "" if p in free else to, s) for m, home, p, to, s in arcs]
    packings = brute_force_cycles(virtual) + chains(virtual)
    best = _best_packing(virtual, packings, places, 0, Counter(), Counter())
    assert search.optimal
    assert search.total_score == pytest.approx(best, abs=1e-9)
