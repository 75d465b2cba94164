"""Coordinate conversion: round trips, the size of the GCJ-02 offset, and agreement with real data."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import Polygon, shape

from geo.crs import (
    SUPPORTED_CRS,
    UnsupportedCRS,
    bd09_to_gcj02,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    gcj02_to_wgs84_arrays,
    geometry_to_wgs84,
    parse_crs,
    to_wgs84,
    wgs84_to_gcj02,
    wgs84_to_gcj02_arrays,
)

DATA = Path(__file__).resolve().parents[2] / "data"

# (lon, lat) in WGS84 across China's extent.
CHINESE_POINTS = [
    (120.3826, 36.0671),  # Qingdao, 市南区
    (120.1700, 30.2800),  # Hangzhou, 下城区
    (116.3975, 39.9087),  # Beijing
    (87.6168, 43.8256),  # Urumqi
    (126.5350, 45.8038),  # Harbin
    (109.5120, 18.2528),  # Sanya
]

# Outside the rectangle where the standard algorithm applies an offset.
FOREIGN_POINTS = [
    (-0.1276, 51.5072),  # London
    (-74.0060, 40.7128),  # New York
    (139.6917, 35.6895),  # Tokyo (east of the box)
    (151.2093, -33.8688),  # Sydney
    (106.8456, -6.2088),  # Jakarta (south of the box)
]


def metres_between(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Small-distance approximation, good enough for offsets of a few hundred metres."""
    dx = (a[0] - b[0]) * 111_320 * math.cos(math.radians((a[1] + b[1]) / 2))
    dy = (a[1] - b[1]) * 110_574
    return math.hypot(dx, dy)


@pytest.mark.parametrize("point", CHINESE_POINTS)
def test_wgs84_gcj02_round_trip_within_1e7_degrees(point: tuple[float, float]) -> None:
    back = gcj02_to_wgs84(*wgs84_to_gcj02(*point))
    assert back == pytest.approx(point, abs=1e-7)


@pytest.mark.parametrize("point", CHINESE_POINTS)
def test_gcj02_bd09_round_trip_within_1e7_degrees(point: tuple[float, float]) -> None:
    gcj = wgs84_to_gcj02(*point)
    assert bd09_to_gcj02(*gcj02_to_bd09(*gcj)) == pytest.approx(gcj, abs=1e-7)


def test_round_trip_holds_over_random_points_in_china() -> None:
    rng = np.random.default_rng(20180930)
    lon = rng.uniform(74, 134, 20_000)
    lat = rng.uniform(19, 53, 20_000)
    back_lon, back_lat = gcj02_to_wgs84_arrays(*wgs84_to_gcj02_arrays(lon, lat))
    assert np.abs(back_lon - lon).max() < 1e-7
    assert np.abs(back_lat - lat).max() < 1e-7


def test_qingdao_gcj02_offset_is_about_half_a_kilometre_mostly_east() -> None:
    wgs = (120.3826, 36.0671)
    gcj = wgs84_to_gcj02(*wgs)
    # DESIGN.md §3: about 0.5 km in Qingdao, enough to misroute near a border.
    assert 300 < metres_between(gcj, wgs) < 700
    assert gcj[0] > wgs[0]
    assert abs(gcj[0] - wgs[0]) > 5 * abs(gcj[1] - wgs[1])


def test_bd09_adds_a_further_offset_of_hundreds_of_metres() -> None:
    gcj = wgs84_to_gcj02(120.3826, 36.0671)
    assert 300 < metres_between(gcj02_to_bd09(*gcj), gcj) < 1500


@pytest.mark.parametrize("point", FOREIGN_POINTS)
def test_points_outside_china_are_unchanged(point: tuple[float, float]) -> None:
    assert wgs84_to_gcj02(*point) == point
    assert gcj02_to_wgs84(*point) == point
    assert to_wgs84(*point, "gcj02") == point


@pytest.mark.parametrize("point", CHINESE_POINTS)
def test_to_wgs84_undoes_each_declared_system(point: tuple[float, float]) -> None:
    gcj = wgs84_to_gcj02(*point)
    bd = gcj02_to_bd09(*gcj)
    assert to_wgs84(*point, "wgs84") == point
    assert to_wgs84(*gcj, "gcj02") == pytest.approx(point, abs=1e-7)
    assert to_wgs84(*bd, "bd09") == pytest.approx(point, abs=1e-7)


def test_supported_crs_lists_the_three_systems() -> None:
    assert SUPPORTED_CRS == ("wgs84", "gcj02", "bd09")


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("WGS84", "wgs84"),
        ("EPSG:4326", "wgs84"),
        ("GCJ-02", "gcj02"),
        ("gcj02", "gcj02"),
        ("BD-09", "bd09"),
        ("bd09ll", "bd09"),
    ],
)
def test_parse_crs_accepts_common_spellings(spelling: str, expected: str) -> None:
    assert parse_crs(spelling) == expected


@pytest.mark.parametrize("bad", ["mercator", "EPSG:3857", "", None])
def test_unknown_crs_is_refused_with_a_value_error(bad: object) -> None:
    with pytest.raises(UnsupportedCRS) as excinfo:
        to_wgs84(120.0, 30.0, bad)  # type: ignore[arg-type]
    assert isinstance(excinfo.value, ValueError)
    assert "wgs84, gcj02, bd09" in str(excinfo.value)


def test_geometry_to_wgs84_converts_every_vertex_and_drops_z() -> None:
    ring = [(120.30, 36.05, 5.0), (120.40, 36.05, 5.0), (120.40, 36.10, 5.0), (120.30, 36.10, 5.0)]
    converted = geometry_to_wgs84(Polygon(ring), "gcj02")
    assert not shapely.has_z(converted)
    coords = shapely.get_coordinates(converted)
    expected = [gcj02_to_wgs84(x, y) for x, y, _ in ring + ring[:1]]
    np.testing.assert_allclose(coords, np.array(expected), rtol=0, atol=1e-12)


def test_geometry_in_wgs84_is_returned_in_2d_unchanged() -> None:
    square = Polygon([(0, 0, 1), (1, 0, 1), (1, 1, 1), (0, 1, 1)])
    converted = geometry_to_wgs84(square, "wgs84")
    assert not shapely.has_z(converted)
    assert converted.equals(shapely.force_2d(square))


def test_converting_qingdao_gcj02_file_matches_the_derived_wgs84_file_within_2_m() -> None:
    gcj = json.loads((DATA / "qingdao" / "qingdao_districts_datav_gcj02.geojson").read_text("utf-8"))
    derived_path = DATA / "qingdao" / "qingdao_districts_datav_wgs84_derived.geojson"
    derived = json.loads(derived_path.read_text("utf-8"))
    by_code = {f["properties"]["adcode"]: f for f in derived["features"]}
    assert len(gcj["features"]) == len(by_code) == 10
    checked = 0
    for feature in gcj["features"]:
        ours = shapely.get_coordinates(geometry_to_wgs84(shape(feature["geometry"]), "gcj02"))
        theirs = shapely.get_coordinates(shape(by_code[feature["properties"]["adcode"]]["geometry"]))
        assert ours.shape == theirs.shape
        for i in range(0, len(ours), 7):  # a sample of vertices from every district
            assert metres_between(tuple(ours[i]), tuple(theirs[i])) < 2.0
            checked += 1
        # and the conversion really moved them: about 0.5 km west of the GCJ-02 input
        source = shapely.get_coordinates(shape(feature["geometry"]))
        assert 300 < metres_between(tuple(source[0]), tuple(ours[0])) < 700
    assert checked > 300
