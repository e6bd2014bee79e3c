"""Proposals page benchmark: a coordinator's proposals page with 2,000 pending proposals in one
network, the server's time per request (target: p95 <= 150 ms).

    make bench-proposals-page                             # the full run
    python -m bench.bench_proposals_page --requests 20    # a short run, to see it works

Runs the profiles app in process (its real middleware, sessions, database pool and templates)
against the local PostgreSQL that ``devtools/with-infra.sh`` starts, on a fresh database of its
own. The network's people, trusts and proposals are written straight into the profiles schema
(the read model, as its consumer would); a coordinator signs in, then the page is requested
over ASGI (no sockets: the time is the server's) in the views a coordinator uses in turn: the
first page, the next pages, sorted by score, searched by name and filtered.

Prints min / median / p95 / worst per view and in all, the page's size, and the load average
(``--out FILE`` also writes them as JSON). Figures measured on a busy machine are not results:
re-run it on a quiet one; the recorded figures are in docs/coordinators.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from devtools.stack import fresh_database
from services.profiles.accounts.accounts import NewAccount, create_account
from services.profiles.accounts.permissions import AccountRole
from services.profiles.app import create_app
from shared.settings import Settings
from tests.support.crowded_network import seed_crowded_network
from tests.support.pages import PASSWORD, sign_in

NETWORK = "bench-north"
COORDINATOR = "cora@bench.example"
TARGET_P95_MS = 150.0
VIEWS = {
    "first page": "",
    "page 40": "?page=40",
    "by score": "?sort=score",
    "by score, page 12": "?sort=score&page=12",
    "search a name": "?search=Mentee%2017",
    "filtered": "?kind=mentoring&region=North+West&older_than_days=7",
}


def spread(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "min": ordered[0],
        "median": statistics.median(ordered),
        "p95": p95,
        "worst": ordered[-1],
    }


async def measure(requests: int, proposals: int) -> dict[str, Any]:
    settings = Settings()
    database_url = await fresh_database(settings.database_url, "bench_proposals_page")
    settings = settings.model_copy(update={"database_url": database_url})
    app = create_app(settings)
    timings: dict[str, list[float]] = {view: [] for view in VIEWS}
    sizes: dict[str, int] = {}
    async with app.router.lifespan_context(app):
        async with app.state.pool.acquire() as conn:
            await seed_crowded_network(conn, NETWORK, proposals)
            await create_account(
                conn,
                NewAccount(
                    email=COORDINATOR,
                    name="Cora",
                    role=AccountRole.COORDINATOR,
                    network_id=NETWORK,
                    password=PASSWORD,
                ),
                actor="bench",
            )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://profiles") as client:
            await sign_in(client, COORDINATOR)
            base = f"/dashboard/{NETWORK}/proposals"
            for view, query in VIEWS.items():  # one unmeasured request each: warm caches
                response = await client.get(base + query)
                assert response.status_code == 200, (view, response.status_code)
                assert "pending proposals" in response.text
                sizes[view] = len(response.content)
            for _ in range(requests):
                for view, query in VIEWS.items():
                    started = time.perf_counter()
                    response = await client.get(base + query)
                    timings[view].append((time.perf_counter() - started) * 1000)
                    assert response.status_code == 200
    everything = [t for samples in timings.values() for t in samples]
    return {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "pending_proposals": proposals,
        "requests_per_view": requests,
        "load_average": os.getloadavg(),
        "cpus": os.cpu_count(),
        "target_p95_ms": TARGET_P95_MS,
        "all_ms": spread(everything),
        "views_ms": {view: spread(samples) for view, samples in timings.items()},
        "page_bytes": sizes,
    }


def report(result: dict[str, Any]) -> None:
    table = Table(title=f"Proposals page, {result['pending_proposals']} pending (server time, ms)")
    for column in ("view", "min", "median", "p95", "worst", "KB"):
        table.add_column(column, justify="left" if column == "view" else "right")
    for view, figures in result["views_ms"].items():
        table.add_row(
            view,
            *(f"{figures[k]:.1f}" for k in ("min", "median", "p95", "worst")),
            f"{result['page_bytes'][view] / 1024:.0f}",
        )
    overall = result["all_ms"]
    table.add_row("all", *(f"{overall[k]:.1f}" for k in ("min", "median", "p95", "worst")), "")
    console = Console()
    console.print(table)
    verdict = "meets" if overall["p95"] <= TARGET_P95_MS else "MISSES"
    load = " ".join(f"{x:.2f}" for x in result["load_average"])
    console.print(
        f"p95 {overall['p95']:.1f} ms {verdict} the target of {TARGET_P95_MS:.0f} ms;"
        f" load average {load} on {result['cpus']} CPUs"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100, help="requests per view")
    parser.add_argument("--proposals", type=int, default=2000, help="pending proposals")
    parser.add_argument("--out", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    result = asyncio.run(measure(args.requests, args.proposals))
    report(result)
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
