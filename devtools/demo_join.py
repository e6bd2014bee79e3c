"""The demo's front doors: each demo network's join link, where a newcomer volunteers as a mentor
or applies for a mentor (their confirmation email lands in the SMTP catcher's maildir), and the
coordinators' queue where they are confirmed."""

from __future__ import annotations

from rich.table import Table

from devtools.demo_network import DemoNetwork


def join_links_table(network: DemoNetwork, base_url: str) -> Table:
    table = Table(title="Join links: volunteer or apply as a newcomer would (development only)")
    for column in ("network", "join link", "coordinators' queue of newcomers"):
        table.add_column(column, no_wrap=True)
    for network_id, body in network.networks.items():
        table.add_row(
            str(body["name"]),
            f"{base_url}/join/{network_id}",
            f"{base_url}/dashboard/{network_id}/newcomers",
        )
    return table
