"""The demo network is what `make demo` loads: it must be valid input, of the promised size."""

from __future__ import annotations

from devtools.demo_network import build_demo_network
from services.profiles.api.schemas import MenteeIn, MentorIn, NetworkIn, PlacementIn, TrustIn


def test_demo_network_has_the_promised_shape_and_validates() -> None:
    network = build_demo_network()
    regions = {TrustIn.model_validate(t).region for t in network.trusts.values()}
    assert len(network.trusts) >= 10
    assert len(regions) >= 3
    assert (len(network.mentors), len(network.mentees), len(network.placements)) == (30, 100, 5)
    for body in network.networks.values():
        NetworkIn.model_validate(body)
    for body in network.mentors:
        MentorIn.model_validate(body)
    mentees = [MenteeIn.model_validate(body) for body in network.mentees]
    assert any(m.working_pattern == "part_time" for m in mentees)
    assert any(m.sector == "social_care" for m in mentees)
    for body in network.placements:
        PlacementIn.model_validate(body)
    assert all(t["network_id"] in network.networks for t in network.trusts.values())


def test_demo_network_is_reproducible() -> None:
    assert build_demo_network() == build_demo_network()
