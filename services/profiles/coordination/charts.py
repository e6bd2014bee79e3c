"""Geometry for the pictures on the coordinators' pages, drawn as server-side SVG by templates:
the secondment flows between trusts (a directed graph laid out by networkx, approved and
proposed flows drawn apart, exchange cycles highlighted) and bar
charts (fairness, decisions over time). Pure functions: numbers in, shapes out."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterable, Sequence

import networkx as nx
from pydantic import BaseModel, ConfigDict


class Flow(BaseModel):
    """One proposed or approved secondment: someone from ``home`` goes to ``host``."""

    model_config = ConfigDict(frozen=True)

    home: str
    host: str
    approved: bool
    exchange_id: str | None = None


class Node(BaseModel):
    """A trust as a box at (x, y), its centre; its name wrapped into ``lines``."""

    code: str
    label: str
    lines: list[str]
    x: float
    y: float


class Edge(BaseModel):
    """The secondments from ``home`` to ``host`` that are approved, or those still proposed:
    the two are drawn as separate arrows, never merged."""

    home: str
    host: str
    x1: float
    y1: float
    x2: float
    y2: float
    count: int
    approved: bool
    in_exchange: bool


class FlowGraph(BaseModel):
    width: int
    height: int
    box_width: int
    box_height: int
    nodes: list[Node]
    edges: list[Edge]
    cycles: list[list[str]]  # exchange cycles, each as the trusts in order


class FlowRow(BaseModel):
    """One line of the table beside the drawing: the same numbers, in words."""

    home: str
    host: str
    approved: int
    proposed: int
    in_exchange: bool


def flow_digraph(flows: Iterable[Flow]) -> nx.MultiDiGraph:
    """One edge per (home, host, approved or not), counting its secondments."""
    graph = nx.MultiDiGraph()
    for flow in flows:
        key = "approved" if flow.approved else "proposed"
        if graph.has_edge(flow.home, flow.host, key):
            data = graph.edges[flow.home, flow.host, key]
            data["count"] += 1
            data["in_exchange"] = data["in_exchange"] or flow.exchange_id is not None
        else:
            graph.add_edge(
                flow.home, flow.host, key, count=1, in_exchange=flow.exchange_id is not None
            )
    return graph


def exchange_cycles(flows: Iterable[Flow]) -> list[list[str]]:
    """The trusts of each exchange, in cycle order (A -> B -> C -> A)."""
    by_exchange: dict[str, list[Flow]] = {}
    for flow in flows:
        if flow.exchange_id:
            by_exchange.setdefault(flow.exchange_id, []).append(flow)
    cycles = []
    for members in by_exchange.values():
        graph = nx.DiGraph([(f.home, f.host) for f in members])
        cycles += [sorted_cycle(c) for c in nx.simple_cycles(graph)]
    return sorted(cycles)


def sorted_cycle(cycle: Sequence[str]) -> list[str]:
    """The same cycle, starting from its smallest trust code, so equal cycles compare equal."""
    start = cycle.index(min(cycle))
    return list(cycle[start:]) + list(cycle[:start])


def flow_rows(flows: Iterable[Flow], labels: dict[str, str]) -> list[FlowRow]:
    graph = flow_digraph(flows)
    rows = []
    for home, host in sorted({(u, v) for u, v in graph.edges()}):
        edges = graph.get_edge_data(home, host)
        rows.append(
            FlowRow(
                home=labels.get(home, home),
                host=labels.get(host, host),
                approved=edges.get("approved", {}).get("count", 0),
                proposed=edges.get("proposed", {}).get("count", 0),
                in_exchange=any(data["in_exchange"] for data in edges.values()),
            )
        )
    return rows


# The drawing is as wide as a phone's screen (so its text is not shrunk there) and as tall as
# its trusts need; each trust is a box holding its name, and arrows run behind the boxes.
CANVAS_WIDTH = 360
BOX_WIDTH, LINE_HEIGHT, MAX_LINES = 150, 15, 3
BOX_HEIGHT = MAX_LINES * LINE_HEIGHT + 10
CHARS_PER_LINE = 21
BOX_GAP = 14  # at least this much between two boxes side by side
ARROW_ROOM = 48  # between two boxes one above the other: room to see the arrows
PAIR_SPACING = 9.0  # between the parallel arrows of one pair of trusts


def name_lines(name: str) -> list[str]:
    lines = textwrap.wrap(name, CHARS_PER_LINE) or [name]
    if len(lines) > MAX_LINES:
        lines = lines[:MAX_LINES]
        lines[-1] = lines[-1][: CHARS_PER_LINE - 1].rstrip() + "…"
    return lines


def flow_graph(flows: Sequence[Flow], labels: dict[str, str]) -> FlowGraph:
    """Trusts placed by a force-directed layout (networkx's Kamada-Kawai, deterministic),
    spread apart so no two boxes overlap; arrows from home trust to host trust."""
    graph = flow_digraph(flows)
    codes = sorted(graph.nodes)
    centres = _spread(_layout(codes, graph))
    height = int(max((y for _, y in centres.values()), default=0) + BOX_HEIGHT / 2 + BOX_GAP)
    nodes = [
        Node(
            code=c,
            label=labels.get(c, c),
            lines=name_lines(labels.get(c, c)),
            x=centres[c][0],
            y=centres[c][1],
        )
        for c in codes
    ]
    return FlowGraph(
        width=CANVAS_WIDTH,
        height=height if codes else 0,
        box_width=BOX_WIDTH,
        box_height=BOX_HEIGHT,
        nodes=nodes,
        edges=_edges(graph, centres),
        cycles=exchange_cycles(flows),
    )


def _layout(codes: list[str], graph: nx.MultiDiGraph) -> dict[str, tuple[float, float]]:
    """Positions in [0, 1] x [0, 1]: Kamada-Kawai on the undirected graph."""
    if len(codes) <= 2:
        return {c: (0.5, i / max(1, len(codes) - 1)) for i, c in enumerate(codes)}
    simple = nx.Graph()
    simple.add_nodes_from(codes)
    simple.add_edges_from((u, v) for u, v, _ in graph.edges(keys=True) if u != v)
    raw = nx.kamada_kawai_layout(simple, center=(0.5, 0.5), scale=0.5)
    return {c: (float(raw[c][0]), float(raw[c][1])) for c in codes}


def _spread(positions: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
    """Onto the canvas: x across its width; top to bottom in the layout's order, each box
    pushed down until it clears every box above it that it would overlap."""
    left = BOX_GAP + BOX_WIDTH / 2
    span = CANVAS_WIDTH - 2 * left
    placed: dict[str, tuple[float, float]] = {}
    for code, (px, py) in sorted(positions.items(), key=lambda item: (item[1][1], item[0])):
        x = round(left + px * span, 1)
        y = BOX_GAP + BOX_HEIGHT / 2 + py * BOX_HEIGHT * len(positions) / 2
        for other_x, other_y in placed.values():
            if abs(other_x - x) < BOX_WIDTH + BOX_GAP:
                y = max(y, other_y + BOX_HEIGHT + ARROW_ROOM)
        placed[code] = (x, round(y, 1))
    return placed


def _edges(graph: nx.MultiDiGraph, centres: dict[str, tuple[float, float]]) -> list[Edge]:
    """Each pair's arrows (both directions, approved and proposed) side by side."""
    by_pair: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
    for home, host, key in sorted(graph.edges(keys=True)):
        if home != host:
            by_pair.setdefault((min(home, host), max(home, host)), []).append((home, host, key))
    edges = []
    for (first, second), members in sorted(by_pair.items()):
        for i, (home, host, key) in enumerate(members):
            offset = (i - (len(members) - 1) / 2) * PAIR_SPACING
            data = graph.edges[home, host, key]
            x1, y1, x2, y2 = _between_boxes(centres[first], centres[second], offset)
            if home != first:
                x1, y1, x2, y2 = x2, y2, x1, y1
            edges.append(
                Edge(
                    home=home,
                    host=host,
                    x1=x1,
                    y1=y1,
                    x2=x2,
                    y2=y2,
                    count=data["count"],
                    approved=key == "approved",
                    in_exchange=data["in_exchange"],
                )
            )
    return edges


def _between_boxes(
    a: tuple[float, float], b: tuple[float, float], offset: float
) -> tuple[float, float, float, float]:
    """The segment from box ``a`` to box ``b`` (centres), moved sideways by ``offset`` and cut
    at both boxes' edges (with room for the arrowhead)."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    length = math.hypot(dx, dy) or 1.0
    ux, uy = dx / length, dy / length
    sx, sy = -uy * offset, ux * offset
    half_w, half_h = BOX_WIDTH / 2 + 3, BOX_HEIGHT / 2 + 3
    # How far along the unit direction the line leaves a box centred on its start.
    exit_at = min(
        half_w / abs(ux) if ux else math.inf,
        half_h / abs(uy) if uy else math.inf,
    )
    return (
        round(a[0] + sx + ux * exit_at, 1),
        round(a[1] + sy + uy * exit_at, 1),
        round(b[0] + sx - ux * exit_at, 1),
        round(b[1] + sy - uy * exit_at, 1),
    )


# --- bar charts -----------------------------------------------------------------------------


VALUE_ROOM = 110  # right of each bar, for its value text


class Bar(BaseModel):
    model_config = ConfigDict(frozen=True)

    label: str
    value: float | None  # None: nothing to show (an empty group)
    text: str  # the value as people read it, e.g. "64%"
    css_class: str = "bar"


class PlacedBar(BaseModel):
    label: str
    text: str
    css_class: str
    y: float
    width: float


class BarChart(BaseModel):
    width: int
    height: int
    label_width: int
    bar_height: int
    bars: list[PlacedBar]


def bar_chart(
    bars: Sequence[Bar], max_value: float | None = None, width: int = 560, label_width: int = 170
) -> BarChart:
    """Horizontal bars, one row each; lengths relative to ``max_value`` (else the largest)."""
    bar_height, gap = 18, 8
    top = (
        max([max_value or 0.0] + [b.value for b in bars if b.value is not None], default=0.0) or 1.0
    )
    plot = width - label_width - VALUE_ROOM
    placed = [
        PlacedBar(
            label=b.label,
            text=b.text,
            css_class=b.css_class,
            y=i * (bar_height + gap),
            width=round(plot * max(0.0, b.value or 0.0) / top, 1),
        )
        for i, b in enumerate(bars)
    ]
    return BarChart(
        width=width,
        height=max(1, len(bars)) * (bar_height + gap),
        label_width=label_width,
        bar_height=bar_height,
        bars=placed,
    )


def percent(value: float | None) -> str:
    return "no one in this group" if value is None else f"{value:.0%}"
