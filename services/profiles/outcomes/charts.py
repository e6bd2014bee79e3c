"""The report's charts, drawn by matplotlib as SVG (no pyplot: a Figure per chart, so requests
never share drawing state). Each is shown as an image with its numbers in a table beside it
(templates/report.html); as a data: URL, so the page's strict Content-Security-Policy holds."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")  # no display: drawing only

from matplotlib.figure import Figure

from services.profiles.outcomes.report import EVERYONE, Report

# Colours of the NHS identity, at least 3:1 against white.
SERIES = {
    "approved": "#005eb8",
    "met": "#007f3b",
    "completed": "#330072",
    "ended_early": "#d5281b",
}
LABELS = {
    "approved": "approved",
    "met": "met",
    "completed": "completed",
    "ended_early": "ended early",
}


def _svg_url(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


def _figure() -> Figure:
    figure = Figure(figsize=(7.5, 3.0), dpi=100)
    figure.set_layout_engine("constrained")
    return figure


def weekly_chart(report: Report, group: str = EVERYONE) -> str:
    """Approved, met, completed and ended early per week."""
    figure = _figure()
    axes = figure.add_subplot()
    for name, colour in SERIES.items():
        values = [report.weekly[(week, group)][name] or 0 for week in report.weeks]
        axes.plot(list(report.weeks), values, label=LABELS[name], color=colour, linewidth=2)  # type: ignore[arg-type]
    axes.set_ylabel("matches")
    axes.legend(loc="upper left", frameon=False, ncols=4)
    axes.spines[["top", "right"]].set_visible(False)
    figure.autofmt_xdate()
    return _svg_url(figure)


def levels_chart(report: Report, group: str = EVERYONE) -> str:
    """Mean levels gained per skill by mentees whose match closed."""
    figure = _figure()
    axes = figure.add_subplot()
    gained = report.levels_gained[group]
    skills = list(gained)
    axes.barh(skills, [gained[s][0] for s in skills], color=SERIES["approved"])
    axes.set_xlabel("mean levels gained (1-7 scale)")
    axes.spines[["top", "right"]].set_visible(False)
    return _svg_url(figure)


def usefulness_chart(report: Report, group: str = EVERYONE) -> str:
    """How many check-ins rated the match 1 to 5."""
    figure = _figure()
    axes = figure.add_subplot()
    ratings = report.usefulness[group]
    axes.bar([str(r) for r in range(1, 6)], [ratings[r] for r in range(1, 6)], color=SERIES["met"])
    axes.set_xlabel("usefulness (1 not at all, 5 very)")
    axes.set_ylabel("check-ins")
    axes.spines[["top", "right"]].set_visible(False)
    return _svg_url(figure)
