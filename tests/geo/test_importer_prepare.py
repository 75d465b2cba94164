"""Importer, no database: document shapes, reason codes, repair, CRS conversion (scratch; lead may adopt)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import shapely
from shapely.geometry import MultiPolygon, mapping

from geo.crs import UnsupportedCRS, gcj02_to_wgs84
from geo.importer import InvalidGeoJSON, ImportReport, parse_features, prepare_boundaries

DATA = Path(__file__).resolve().parents[2] / "data"


def feature(geometry: dict | None, **props: object) -> dict:
    return {"type": "Feature", "properties": props, "geometry": geometry}


SQUARE = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}
BOWTIE = {"type": "Polygon", "coordinates": [[[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]]]}


def test_parse_accepts_collection_list_and_single_feature() -> None:
    f = feature(SQUARE, code="A")
    assert parse_features({"type": "FeatureCollection", "features": [f]}) == [f]
    assert parse_features([f, f]) == [f, f]
    assert parse_features(f) == [f]


@pytest.mark.parametrize("bad", [SQUARE, {"type": "FeatureCollection"}, [1], "x", [{"type": "Polygon"}]])
def test_parse_refuses_other_documents(bad: object) -> None:
    with pytest.raises(InvalidGeoJSON):
        parse_features(bad)  # type: ignore[arg-type]


def test_each_bad_feature_is_rejected_with_its_reason_code() -> None:
    line = {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}
    metres = {"type": "Polygon", "coordinates": [[[13e6, 3e6], [13.1e6, 3e6], [13.1e6, 3.1e6], [13e6, 3e6]]]}
    empty = {"type": "Polygon", "coordinates": []}
    broken = {"type": "Polygon", "coordinates": [[[0, 0], [1]]]}
    features = [
        feature(SQUARE),  # 0 no key
        feature(SQUARE, code="  "),  # 1 blank key
        feature(None, code="B"),  # 2
        feature(line, code="C"),  # 3
        feature(metres, code="D"),  # 4
        feature(empty, code="E"),  # 5
        feature(broken, code="F"),  # 6
        feature(SQUARE, code="G"),  # 7 ok
        feature(SQUARE, code="G"),  # 8 duplicate
    ]
    prepared, report = prepare_boundaries(features, key_field="code", crs="wgs84")
    assert [p.key for p in prepared] == ["G"]
    assert [(r["index"], r["key"], r["reason"]) for r in report.rejected] == [
        (0, None, "no_key"),
        (1, None, "no_key"),
        (2, "B", "empty_geometry"),
        (3, "C", "not_polygon"),
        (4, "D", "out_of_range"),
        (5, "E", "empty_geometry"),
        (6, "F", "bad_geometry"),
        (8, "G", "duplicate_key"),
    ]
    assert report.accepted == [{"key": "G", "name": "G", "vertices": 5, "repaired": False}]
    assert json.loads(json.dumps(report.as_dict())) == report.as_dict()


def test_bowtie_is_repaired_into_a_valid_multipolygon() -> None:
    prepared, report = prepare_boundaries([feature(BOWTIE, code=1, name="bow")], key_field="code", crs="wgs84")
    (p,) = prepared
    assert (p.key, p.name, p.repaired) == ("1", "bow", True)
    assert isinstance(p.geom, MultiPolygon) and p.geom.is_valid and len(p.geom.geoms) == 2
    assert p.geom.area == pytest.approx(2.0)
    assert report.accepted[0]["repaired"] is True


def test_z_is_dropped_and_result_is_always_multipolygon() -> None:
    z_square = {"type": "Polygon", "coordinates": [[[0, 0, 9], [1, 0, 9], [1, 1, 9], [0, 1, 9], [0, 0, 9]]]}
    (p,), _ = prepare_boundaries([feature(z_square, code="Z")], key_field="code", crs="wgs84")
    assert isinstance(p.geom, MultiPolygon) and not shapely.has_z(p.geom)


def test_gcj02_features_are_converted_to_wgs84() -> None:
    data = json.loads((DATA / "qingdao" / "qingdao_districts_datav_gcj02.geojson").read_text("utf-8"))
    prepared, report = prepare_boundaries(parse_features(data), key_field="adcode", crs="gcj02")
    assert sorted(p.key for p in prepared)[:2] == ["370202", "370203"]
    assert report.rejected == []
    first = data["features"][0]["geometry"]["coordinates"][0][0][0]
    shinan = next(p for p in prepared if p.key == "370202")
    assert shapely.get_coordinates(shinan.geom)[0].tolist() == pytest.approx(list(gcj02_to_wgs84(*first)), abs=1e-12)
    assert shinan.name == "市南区"


def test_unknown_crs_is_refused() -> None:
    with pytest.raises(UnsupportedCRS):
        prepare_boundaries([], key_field="code", crs="mercator")


def test_float_keys_from_tools_are_normalised() -> None:
    (p,), _ = prepare_boundaries([feature(SQUARE, adcode=370202.0)], key_field="adcode", crs="wgs84")
    assert p.key == "370202"
