"""Geometry for the pictures on the coordinators' pages, drawn as server-side SVG by templates:
the secondment flows between trusts (a directed graph, exchange cycles highlighted) and bar
charts (fairness, decisions over time). Pure functions: numbers in, shapes out."""

from __future__ import annotations

import math
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
    code: str
    label: str
    x: float
    y: float


class Edge(BaseModel):
    home: str
    host: str
    x1: float
    y1: float
    x2: float
    y2: float
    count: int
    approved: int
    in_exchange: bool

    @property
    def label_x(self) -> float:
        return (self.x1 + self.x2) / 2

    @property
    def label_y(self) -> float:
        return (self.y1 + self.y2) / 2


class FlowGraph(BaseModel):
    width: int
    height: int
    node_radius: float
    nodes: list[Node]
    edges: list[Edge]
    cycles: list[list[str]]  # exchange cycles, each as the trusts in order


def flow_digraph(flows: Iterable[Flow]) -> nx.DiGraph:
    graph = nx.DiGraph()
    for flow in flows:
        if graph.has_edge(flow.home, flow.host):
            data = graph.edges[flow.home, flow.host]
            data["count"] += 1
            data["approved"] += int(flow.approved)
            data["in_exchange"] = data["in_exchange"] or flow.exchange_id is not None
        else:
            graph.add_edge(
                flow.home,
                flow.host,
                count=1,
                approved=int(flow.approved),
                in_exchange=flow.exchange_id is not None,
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


def flow_graph(
    flows: Sequence[Flow], labels: dict[str, str], width: int = 640, height: int = 380
) -> FlowGraph:
    """Trusts on a circle (stable order), arrows from home trust to host trust."""
    graph = flow_digraph(flows)
    radius = 28.0
    # Room beside each trust for its name, below it for one line.
    margin_x, margin_y = radius + 110, radius + 30
    codes = sorted(graph.nodes)
    positions = (
        nx.circular_layout(codes, scale=1.0) if len(codes) > 1 else {c: (0, 0) for c in codes}
    )

    def place(code: str) -> tuple[float, float]:
        px, py = positions[code]
        return (
            width / 2 + float(px) * (width / 2 - margin_x),
            height / 2 + float(py) * (height / 2 - margin_y),
        )

    nodes = [Node(code=c, label=labels.get(c, c), x=place(c)[0], y=place(c)[1]) for c in codes]
    edges = []
    for home, host, data in sorted(graph.edges(data=True)):
        (x1, y1), (x2, y2) = place(home), place(host)
        # Two-way flows would overlap: each direction bends to its own side.
        offset = 6.0 if graph.has_edge(host, home) else 0.0
        x1, y1, x2, y2 = _shorten(x1, y1, x2, y2, radius, offset)
        edges.append(
            Edge(
                home=home,
                host=host,
                x1=x1,
                y1=y1,
                x2=x2,
                y2=y2,
                count=data["count"],
                approved=data["approved"],
                in_exchange=data["in_exchange"],
            )
        )
    return FlowGraph(
        width=width,
        height=height,
        node_radius=radius,
        nodes=nodes,
        edges=edges,
        cycles=exchange_cycles(flows),
    )


def _shorten(
    x1: float, y1: float, x2: float, y2: float, radius: float, offset: float
) -> tuple[float, float, float, float]:
    """The segment between two circles' edges (not centres), moved sideways by ``offset``."""
    dx, dy = x2 - x1, y2 - y1
    length = math.hypot(dx, dy) or 1.0
    ux, uy = dx / length, dy / length
    nx_, ny_ = -uy * offset, ux * offset
    gap = radius + 4
    return (
        round(x1 + ux * radius + nx_, 1),
        round(y1 + uy * radius + ny_, 1),
        round(x2 - ux * gap + nx_, 1),
        round(y2 - uy * gap + ny_, 1),
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
