from __future__ import annotations

import pytest

from shared.regions import NEIGHBOURS, Region, are_neighbours, distance_km, parse_region


@pytest.mark.parametrize(
    ("text", "region"),
    [
        ("Y56", Region.LONDON),
        ("london", Region.LONDON),
        (" North West ", Region.NORTH_WEST),
        ("y63", Region.NORTH_EAST_AND_YORKSHIRE),
    ],
)
def test_regions_parse_from_code_or_name(text: str, region: Region) -> None:
    assert parse_region(text) is region


def test_unknown_region_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown NHS region 'Wales'.*Y56 \(London\)"):
        parse_region("Wales")


def test_borders_are_symmetric_and_no_region_borders_itself() -> None:
    for region, neighbours in NEIGHBOURS.items():
        assert region not in neighbours
        for other in neighbours:
            assert are_neighbours(other, region)
    assert are_neighbours(Region.LONDON, Region.SOUTH_EAST)
    assert not are_neighbours(Region.LONDON, Region.NORTH_WEST)


def test_distance_between_london_and_manchester() -> None:
    # Charing Cross to Manchester Piccadilly is about 262 km as the crow flies.
    assert distance_km(51.5074, -0.1278, 53.4808, -2.2426) == pytest.approx(262, abs=5)
    assert distance_km(52.0, -1.0, 52.0, -1.0) == 0
