"""NHS England's seven regions and which of them border each other.

Region codes are the ODS "national grouping" codes (Y56..Y63) used in the NHS trusts file,
so a trust imported from ODS data needs no translation.
"""

from __future__ import annotations

import math
from enum import StrEnum


class Region(StrEnum):
    LONDON = "Y56"
    SOUTH_WEST = "Y58"
    SOUTH_EAST = "Y59"
    MIDLANDS = "Y60"
    EAST_OF_ENGLAND = "Y61"
    NORTH_WEST = "Y62"
    NORTH_EAST_AND_YORKSHIRE = "Y63"

    @property
    def label(self) -> str:
        return REGION_NAMES[self]


REGION_NAMES: dict[Region, str] = {
    Region.LONDON: "London",
    Region.SOUTH_WEST: "South West",
    Region.SOUTH_EAST: "South East",
    Region.MIDLANDS: "Midlands",
    Region.EAST_OF_ENGLAND: "East of England",
    Region.NORTH_WEST: "North West",
    Region.NORTH_EAST_AND_YORKSHIRE: "North East and Yorkshire",
}

# Land borders between the regions' footprints (ICB boundaries, 2024).
_BORDERS: list[tuple[Region, Region]] = [
    (Region.LONDON, Region.SOUTH_EAST),
    (Region.LONDON, Region.EAST_OF_ENGLAND),
    (Region.SOUTH_EAST, Region.SOUTH_WEST),
    (Region.SOUTH_EAST, Region.EAST_OF_ENGLAND),
    (Region.SOUTH_EAST, Region.MIDLANDS),
    (Region.SOUTH_WEST, Region.MIDLANDS),
    (Region.EAST_OF_ENGLAND, Region.MIDLANDS),
    (Region.MIDLANDS, Region.NORTH_WEST),
    (Region.MIDLANDS, Region.NORTH_EAST_AND_YORKSHIRE),
    (Region.NORTH_WEST, Region.NORTH_EAST_AND_YORKSHIRE),
]

NEIGHBOURS: dict[Region, frozenset[Region]] = {
    region: frozenset(
        {b for a, b in _BORDERS if a == region} | {a for a, b in _BORDERS if b == region}
    )
    for region in Region
}


def parse_region(value: str) -> Region:
    """Accept a region code (``Y56``) or its name (``London``, any case)."""
    text = value.strip()
    for region in Region:
        if text.upper() == region.value or text.casefold() == region.label.casefold():
            return region
    known = ", ".join(f"{r.value} ({r.label})" for r in Region)
    raise ValueError(f"unknown NHS region {value!r}; expected one of: {known}")


def are_neighbours(a: Region, b: Region) -> bool:
    return b in NEIGHBOURS[a]


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine) between two points, in kilometres."""
    earth_radius_km = 6371.0
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlambda = math.radians(lon2 - lon1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * earth_radius_km * math.asin(math.sqrt(h))
