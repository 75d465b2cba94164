"""The in-process router: covers, the lowest-code tie-break, vectorised lookups (pure Shapely, no database)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon, box, shape

from geo import routing
from geo.routing import NO_UNIT, Router

DATA = Path(__file__).resolve().parents[2] / "data"
XIACHENG = DATA / "hangzhou_xiacheng"


def square(x: float, y: float, size: float = 1.0) -> MultiPolygon:
    return MultiPolygon([box(x, y, x + size, y + size)])


@pytest.fixture
def squares() -> Router:
    # Unit ids deliberately run against the codes: the tie-break must follow the code.
    #   C(003) | D(004)
    #   A(001) | B(002)
    return Router(
        7,
        [
            (40, "004", "D", square(1, 1)),
            (30, "003", "C", square(0, 1)),
            (20, "002", "B", square(1, 0)),
            (10, "001", "A", square(0, 0)),
        ],
    )


def test_point_inside_one_square_goes_to_it(squares: Router) -> None:
    placement = squares.locate(1.5, 0.5)
    assert placement is not None
    assert (placement.unit_id, placement.unit_code, placement.name) == (20, "002", "B")
    assert placement.generation_id == 7
    assert placement.candidates == ("002",)


def test_point_on_a_shared_border_goes_to_the_lowest_code(squares: Router) -> None:
    placement = squares.locate(1.0, 0.5)
    assert placement is not None
    assert placement.unit_code == "001"
    assert placement.candidates == ("001", "002")
    upper = squares.locate(1.5, 1.0)
    assert upper is not None and upper.unit_code == "002" and upper.candidates == ("002", "004")


def test_point_on_a_corner_of_four_squares_goes_to_the_lowest_code(squares: Router) -> None:
    placement = squares.locate(1.0, 1.0)
    assert placement is not None
    assert placement.unit_id == 10
    assert placement.candidates == ("001", "002", "003", "004")


def test_tie_break_does_not_depend_on_input_order() -> None:
    entries = [(2, "B", "b", square(1, 0)), (1, "A", "a", square(0, 0))]
    for order in (entries, entries[::-1]):
        placement = Router(1, order).locate(1.0, 0.25)
        assert placement is not None and placement.unit_code == "A"


def test_point_outside_every_polygon_is_none(squares: Router) -> None:
    assert squares.locate(3.0, 3.0) is None
    assert squares.locate(-0.000001, 0.5) is None
    # a gap between polygons, inside their combined extent
    gapped = Router(1, [(1, "A", "a", square(0, 0)), (2, "B", "b", square(2, 0))])
    assert gapped.locate(1.5, 0.5) is None


def test_covers_includes_points_on_the_outer_boundary(squares: Router) -> None:
    for lon, lat in [(0.0, 0.0), (0.5, 0.0), (0.0, 0.5), (2.0, 2.0), (2.0, 0.5)]:
        assert squares.locate(lon, lat) is not None, (lon, lat)


def test_a_hole_is_outside_but_its_rim_is_covered() -> None:
    ring = Polygon([(0, 0), (4, 0), (4, 4), (0, 4)], holes=[[(1, 1), (3, 1), (3, 3), (1, 3)]])
    router = Router(1, [(1, "R", "ring", MultiPolygon([ring]))])
    assert router.locate(2.0, 2.0) is None
    assert router.locate(1.0, 2.0) is not None
    assert router.locate(0.5, 0.5) is not None


def test_every_part_of_a_multipolygon_routes_to_its_unit() -> None:
    islands = MultiPolygon([box(0, 0, 1, 1), box(5, 5, 6, 6)])
    router = Router(1, [(9, "I", "islands", islands), (8, "M", "mainland", square(2, 2))])
    placed = [router.locate(x, x) for x in (0.5, 5.5, 2.5)]
    assert [p.unit_id if p is not None else None for p in placed] == [9, 9, 8]


def test_non_finite_coordinates_are_not_placed(squares: Router) -> None:
    assert squares.locate(float("nan"), 0.5) is None
    assert squares.locate(0.5, float("inf")) is None
    assert squares.locate_many([np.nan, 0.5], [0.5, 0.5]).tolist() == [NO_UNIT, 10]


def test_empty_router_places_nothing() -> None:
    router = Router(3, [])
    assert len(router) == 0
    assert router.locate(0.5, 0.5) is None
    assert router.locate_many([0.5, 1.0], [0.5, 1.0]).tolist() == [NO_UNIT, NO_UNIT]


def test_locate_many_follows_the_same_tie_break(squares: Router) -> None:
    lons = [0.5, 1.5, 1.0, 1.0, 1.5, 3.0, 0.0]
    lats = [0.5, 0.5, 0.5, 1.0, 1.0, 3.0, 2.0]
    assert squares.locate_many(lons, lats).tolist() == [10, 20, 10, 10, 20, NO_UNIT, 30]


def test_locate_many_rejects_arrays_of_different_lengths(squares: Router) -> None:
    with pytest.raises(ValueError, match="differ in length"):
        squares.locate_many([0.5, 0.6], [0.5])


# --- real polygons: the 8 streets of Hangzhou 下城区 ---------------------------------


@pytest.fixture(scope="module")
def streets() -> list[tuple[int, str, str, MultiPolygon]]:
    data = json.loads((XIACHENG / "xiacheng_streets.geojson").read_text("utf-8"))
    entries = []
    for unit_id, feature in enumerate(data["features"], start=100):
        geom = shape(feature["geometry"])
        assert geom.is_valid
        props = feature["properties"]
        entries.append((unit_id, props["街道编码"], props["街道"], MultiPolygon([geom])))
    assert len(entries) == 8
    return entries


@pytest.fixture(scope="module")
def xiacheng(streets: list[tuple[int, str, str, MultiPolygon]]) -> Router:
    return Router(1, streets)


def probe_points(streets: list[tuple[int, str, str, MultiPolygon]]) -> np.ndarray:
    """1,000 random points over the district's bounding box, plus every polygon vertex (the shared borders)."""
    minx, miny, maxx, maxy = shapely.total_bounds(np.array([e[3] for e in streets], dtype=object))
    rng = np.random.default_rng(2018)
    random = np.column_stack([rng.uniform(minx, maxx, 1000), rng.uniform(miny, maxy, 1000)])
    vertices = np.vstack([shapely.get_coordinates(e[3]) for e in streets])
    return np.vstack([random, vertices])


def test_locate_many_equals_locate_on_xiacheng_streets(
    xiacheng: Router, streets: list[tuple[int, str, str, MultiPolygon]]
) -> None:
    points = probe_points(streets)
    many = xiacheng.locate_many(points[:, 0], points[:, 1])
    one_by_one = [xiacheng.locate(x, y) for x, y in points]
    assert many.tolist() == [p.unit_id if p is not None else NO_UNIT for p in one_by_one]
    # the sample exercises all three cases: inside, outside, and on shared borders
    assert (many == NO_UNIT).sum() > 100
    assert (many != NO_UNIT).sum() > 500
    assert sum(1 for p in one_by_one if p is not None and len(p.candidates) > 1) > 100


def test_locate_agrees_with_brute_force_covers_and_lowest_code(
    xiacheng: Router, streets: list[tuple[int, str, str, MultiPolygon]]
) -> None:
    points = probe_points(streets)
    for x, y in points:
        point = shapely.Point(x, y)
        covering = sorted(code for _, code, _, geom in streets if geom.covers(point))
        placement = xiacheng.locate(x, y)
        if not covering:
            assert placement is None
        else:
            assert placement is not None
            assert placement.candidates == tuple(covering)
            assert placement.unit_code == covering[0]


def test_locate_many_gives_the_same_answers_in_small_chunks(
    xiacheng: Router,
    streets: list[tuple[int, str, str, MultiPolygon]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    points = probe_points(streets)
    whole = xiacheng.locate_many(points[:, 0], points[:, 1])
    monkeypatch.setattr(routing, "_CHUNK", 37)
    assert xiacheng.locate_many(points[:, 0], points[:, 1]).tolist() == whole.tolist()


def test_all_2018_grid_events_route_to_tianshui_street(xiacheng: Router) -> None:
    data = json.loads((XIACHENG / "xiacheng_grid_events_2018.geojson").read_text("utf-8"))
    # Each event is a 2-vertex LineString; the first vertex is the reported point.
    points = np.array([f["geometry"]["coordinates"][0] for f in data["features"]])
    assert len(points) == 228
    placements = [xiacheng.locate(x, y) for x, y in points]
    assert {p.unit_code if p is not None else None for p in placements} == {"TS"}
    tianshui = placements[0].unit_id  # type: ignore[union-attr]
    assert set(xiacheng.locate_many(points[:, 0], points[:, 1]).tolist()) == {tianshui}
