"""The in-process router against the database's own ST_Covers, and routing through the API.

Runs on SpatiaLite and PostGIS with the 下城区 world from conftest. The oracle is the
database: the active generation's boundary whose polygon covers the point, lowest unit
code first (DESIGN.md §3).
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon, Point, box, mapping, shape
from sqlalchemy import func, select

from geo import importer
from geo.crs import wgs84_to_gcj02
from geo.models import Boundary, BoundaryGeneration
from geo.routing import NO_UNIT, current_router
from ticketing.extensions import db
from ticketing.models import OrgUnit
from tests.conftest import NOW

XIACHENG = Path(__file__).resolve().parents[2] / "data" / "hangzhou_xiacheng"
STREET_CODES = [f"3301050{n}" for n in range(12, 20)]
TIANSHUI = "330105012"
WULIN = "330105013"
# Far enough from 下城区 to be outside every street, still inside China (GCJ applies).
OUTSIDE = (120.30, 30.40)


def covering_codes(lon: float, lat: float) -> list[str]:
    """The database's answer: unit codes of active boundaries whose polygon covers the point, lowest first."""
    # repr() gives the shortest text that parses back to the same double: vertices stay exact.
    point = func.ST_GeomFromText(f"POINT({lon!r} {lat!r})", 4326)
    return list(
        db.session.scalars(
            select(Boundary.unit_code)
            .join(BoundaryGeneration, Boundary.generation_id == BoundaryGeneration.id)
            .where(BoundaryGeneration.active.is_(True), func.ST_Covers(Boundary.geom, point))
            .order_by(Boundary.unit_code)
        )
    )


def oracle(lon: float, lat: float) -> str | None:
    codes = covering_codes(lon, lat)
    return codes[0] if codes else None


def street_polygons() -> dict[str, MultiPolygon]:
    """The 8 street polygons from the source file, by unit code."""
    from ticketing.demo import XC_STREETS

    data = json.loads((XIACHENG / "xiacheng_streets.geojson").read_text(encoding="utf-8"))
    return {
        XC_STREETS[f["properties"]["街道编码"]][0]: MultiPolygon([shape(f["geometry"])])
        for f in data["features"]
    }


def grid_event_points() -> list[tuple[float, float]]:
    """The first vertex of each of the 228 real 2018 grid events."""
    data = json.loads((XIACHENG / "xiacheng_grid_events_2018.geojson").read_text(encoding="utf-8"))
    return [tuple(f["geometry"]["coordinates"][0]) for f in data["features"]]


def random_points(n: int = 1000, seed: int = 20180930) -> list[tuple[float, float]]:
    """`n` points over the district's bounding box, padded so some fall outside every street."""
    minx, miny, maxx, maxy = shapely.union_all(list(street_polygons().values())).bounds
    pad = 0.005
    rng = np.random.default_rng(seed)
    lons = rng.uniform(minx - pad, maxx + pad, n)
    lats = rng.uniform(miny - pad, maxy + pad, n)
    return list(zip(lons.tolist(), lats.tolist(), strict=True))


def router_code(lon: float, lat: float) -> str | None:
    router = current_router(db.session)
    assert router is not None
    placement = router.locate(lon, lat)
    return placement.unit_code if placement else None


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance between two lon/lat points (haversine, spherical Earth)."""
    lon1, lat1, lon2, lat2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(h))


def unit_ids() -> dict[int, str]:
    return {uid: code for uid, code in db.session.execute(select(OrgUnit.id, OrgUnit.code))}


def shared_vertices() -> list[tuple[float, float, set[str]]]:
    """Vertices that appear, exactly, in the outlines of two or more street polygons."""
    owners: dict[tuple[float, float], set[str]] = {}
    for code, geom in street_polygons().items():
        for polygon in geom.geoms:
            for xy in polygon.exterior.coords:
                owners.setdefault(xy, set()).add(code)
    return sorted((x, y, codes) for (x, y), codes in owners.items() if len(codes) > 1)


def test_router_agrees_with_st_covers_on_the_real_grid_events(ctx) -> None:
    points = grid_event_points()
    assert len(points) == 228
    expected = [oracle(lon, lat) for lon, lat in points]
    assert [router_code(lon, lat) for lon, lat in points] == expected
    # The events are all from 天水街道: a router that answered None everywhere would not pass.
    assert expected == [TIANSHUI] * len(points)


def test_router_agrees_with_st_covers_on_random_points(ctx) -> None:
    points = random_points()
    expected = [oracle(lon, lat) for lon, lat in points]
    assert [router_code(lon, lat) for lon, lat in points] == expected
    # The sample reaches every street and the empty land around them.
    assert set(expected) == {*STREET_CODES, None}
    assert expected.count(None) > 100


def test_locate_many_agrees_with_st_covers(ctx) -> None:
    # Shared border vertices too: the vectorised tie-break must match the database's.
    points = grid_event_points() + random_points() + [(x, y) for x, y, _ in shared_vertices()]
    router = current_router(db.session)
    assert router is not None
    lons, lats = zip(*points, strict=True)
    codes = unit_ids()
    got = [None if uid == NO_UNIT else codes[int(uid)] for uid in router.locate_many(lons, lats)]
    assert got == [oracle(lon, lat) for lon, lat in points]


def test_vertices_on_shared_borders_go_to_the_lowest_code(ctx) -> None:
    router = current_router(db.session)
    assert router is not None
    vertices = shared_vertices()
    assert len(vertices) > 100
    pairs = set()
    for lon, lat, owners in vertices:
        db_codes = covering_codes(lon, lat)
        placement = router.locate(lon, lat)
        assert placement is not None, (lon, lat)
        # Both sides of the border cover it, on the database and in process...
        assert owners <= set(db_codes), (lon, lat, owners, db_codes)
        assert set(placement.candidates) == set(db_codes), (lon, lat)
        # ...and both pick the same, lowest, code.
        assert placement.unit_code == db_codes[0] == min(db_codes)
        pairs.update(itertools.combinations(sorted(owners), 2))
    # Borders between many different streets were exercised, not one line.
    assert len(pairs) >= 8


def point_near_border_that_gcj_would_push_out(code: str, inset_deg: float = 0.0027) -> tuple[float, float]:
    """A WGS84 point ~300 m inside `code`'s border whose GCJ-02 coordinates, read as WGS84, fall outside it."""
    polygon = street_polygons()[code]
    inner = polygon.buffer(-inset_deg)
    assert not inner.is_empty
    rings = [p.exterior for p in getattr(inner, "geoms", [inner])]
    for ring in rings:
        for lon, lat in ring.coords:
            glon, glat = wgs84_to_gcj02(lon, lat)
            if not polygon.covers(Point(glon, glat)):
                return lon, lat
    raise AssertionError(f"no point of {code} is within a GCJ offset of its border")


def test_gcj02_report_routes_like_its_wgs84_twin(api) -> None:
    wgs = point_near_border_that_gcj_would_push_out(TIANSHUI)
    gcj = wgs84_to_gcj02(*wgs)
    border = street_polygons()[TIANSHUI].boundary
    # ~300 m in from the border (0.0027° of latitude is 300 m; of longitude here, 260 m).
    inset_m = metres(wgs, tuple(border.interpolate(border.project(Point(wgs))).coords[0]))
    assert 240 < inset_m < 320

    as_wgs = api.report(lon=wgs[0], lat=wgs[1], crs="wgs84")
    as_gcj = api.report(lon=gcj[0], lat=gcj[1], crs="gcj02")
    assert as_wgs.status_code == 201, as_wgs.json
    assert as_gcj.status_code == 201, as_gcj.json
    assert as_wgs.json["handling_unit"]["code"] == as_gcj.json["handling_unit"]["code"] == TIANSHUI
    assert as_gcj.json["routing"]["covering_unit"] == TIANSHUI
    # The ticket stores WGS84: the GCJ-02 input was converted on the way in.
    assert as_gcj.json["lon"] == pytest.approx(wgs[0], abs=2e-7)
    assert as_gcj.json["lat"] == pytest.approx(wgs[1], abs=2e-7)

    # Declaring GCJ-02 coordinates as WGS84 places the report about half a kilometre away.
    mislabelled = api.report(lon=gcj[0], lat=gcj[1], crs="wgs84")
    assert mislabelled.status_code == 201, mislabelled.json
    offset = metres(wgs, (mislabelled.json["lon"], mislabelled.json["lat"]))
    assert 400 < offset < 650
    assert mislabelled.json["routing"]["covering_unit"] != TIANSHUI


def test_report_outside_every_polygon_goes_to_city_dispatch_for_review(api) -> None:
    assert oracle(*OUTSIDE) is None
    resp = api.report(lon=OUTSIDE[0], lat=OUTSIDE[1])
    assert resp.status_code == 201, resp.json
    ticket = resp.json
    assert ticket["handling_unit"]["code"] == "330100-PD"
    assert ticket["needs_review"] is True
    assert "outside_boundaries" in ticket["review_reasons"]
    assert ticket["routing"]["covering_unit"] is None
    # Not dropped: it can be fetched and sits with the dispatch desk.
    fetched = api.get(f"/api/v1/tickets/{ticket['number']}", "handler_dispatch")
    assert fetched.status_code == 200, fetched.json
    assert fetched.json["handling_unit"]["code"] == "330100-PD"


@pytest.mark.parametrize(
    ("category", "department"),
    [("environment.fumes", "330103-ZF"), ("traffic.signals", "330103-JJ")],
)
def test_department_categories_go_to_the_district_department(api, category: str, department: str) -> None:
    generation_id = current_router(db.session).generation_id  # type: ignore[union-attr]
    resp = api.report(category=category)  # the default point is a real event in 天水街道
    assert resp.status_code == 201, resp.json
    ticket = resp.json
    assert ticket["handling_unit"]["code"] == department
    assert ticket["needs_review"] is False
    snapshot = ticket["routing"]
    assert snapshot["covering_unit"] == TIANSHUI
    assert snapshot["handling_unit"] == department
    assert snapshot["generation_id"] == generation_id
    assert snapshot["rule"] == "department"


def test_street_category_stays_with_the_covering_street(api) -> None:
    resp = api.report(category="city.litter")
    assert resp.status_code == 201, resp.json
    assert resp.json["handling_unit"]["code"] == resp.json["routing"]["covering_unit"] == TIANSHUI


def test_activating_a_new_generation_is_noticed_without_a_reset(ctx, api) -> None:
    old = current_router(db.session)
    assert old is not None
    wulin_inside = street_polygons()[WULIN].representative_point()
    assert router_code(wulin_inside.x, wulin_inside.y) == WULIN

    # The same streets, except that 武林街道 becomes a small square out past the district.
    features = json.loads((XIACHENG / "xiacheng_streets.geojson").read_text(encoding="utf-8"))["features"]
    square = box(OUTSIDE[0] - 0.01, OUTSIDE[1] - 0.01, OUTSIDE[0] + 0.01, OUTSIDE[1] + 0.01)
    for f in features:
        if f["properties"]["街道编码"] == "WL":
            f["geometry"] = mapping(square)
    prepared, report = importer.prepare_boundaries(features, key_field="街道", crs="wgs84")
    rows = db.session.execute(select(OrgUnit.id, OrgUnit.code, OrgUnit.name))
    units = {name: (uid, code) for uid, code, name in rows}
    generation = importer.import_generation(
        db.session, prepared, units=units, label="武林 moved", source="test", crs="wgs84", now=NOW, report=report,
    )
    assert len(generation.report["accepted"]) == 8

    # Imported but inactive: routing is unchanged.
    assert current_router(db.session) is old
    assert router_code(*OUTSIDE) is None

    importer.activate_generation(db.session, generation.id, NOW)
    new = current_router(db.session)
    assert new is not None and new is not old
    assert new.generation_id == generation.id
    assert router_code(*OUTSIDE) == oracle(*OUTSIDE) == WULIN
    assert router_code(wulin_inside.x, wulin_inside.y) == oracle(wulin_inside.x, wulin_inside.y) != WULIN
    # And the next report follows the new map, recording the generation that routed it.
    resp = api.report(lon=OUTSIDE[0], lat=OUTSIDE[1])
    assert resp.status_code == 201, resp.json
    assert resp.json["handling_unit"]["code"] == WULIN
    assert resp.json["routing"]["generation_id"] == generation.id
    assert resp.json["needs_review"] is False
