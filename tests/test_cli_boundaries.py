"""`flask boundaries import / list / activate` against a fresh SQLite database.

The commands commit, so they cannot share the rolled-back fixtures: each test gets its
own copy of a migrated database holding just the org units the files name.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from flask import Flask
from flask.testing import FlaskCliRunner
from geoalchemy2.shape import to_shape
from sqlalchemy import func, select

from geo.crs import gcj02_to_wgs84
from geo.models import Boundary, BoundaryGeneration
from tests.conftest import make_app
from ticketing.extensions import db

DATA = Path(__file__).resolve().parent.parent / "data"
STREETS = DATA / "hangzhou_xiacheng" / "xiacheng_streets.geojson"
QINGDAO_GCJ = DATA / "qingdao" / "qingdao_districts_datav_gcj02.geojson"


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file with 杭州市 / 下城区 and its 8 streets (no polygons), built once."""
    import flask_migrate

    from ticketing.demo import XC_STREETS
    from ticketing.services import org

    base = tmp_path_factory.mktemp("cli-template")
    app = make_app(f"sqlite:///{base / 'template.db'}", base / "photos")
    with app.app_context():
        flask_migrate.upgrade()
        org.add_unit(code="330100", name="杭州市", kind="city")
        org.add_unit(code="330103", name="下城区", kind="district", parent_code="330100")
        for code, name, name_en in XC_STREETS.values():
            org.add_unit(code=code, name=name, name_en=name_en, kind="street", parent_code="330103")
        db.session.commit()
        db.engine.dispose()
    return base / "template.db"


@pytest.fixture
def cli_app(template_db: Path, tmp_path: Path) -> Iterator[Flask]:
    """An app on its own copy of the template database: the commands' commits stay in this test."""
    shutil.copyfile(template_db, tmp_path / "cli.db")
    app = make_app(f"sqlite:///{tmp_path / 'cli.db'}", tmp_path / "photos")
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def runner(cli_app: Flask) -> FlaskCliRunner:
    return cli_app.test_cli_runner()


def run(runner: FlaskCliRunner, *args: str | Path) -> Any:
    return runner.invoke(args=["boundaries", *map(str, args)])


def import_streets(runner: FlaskCliRunner, *extra: str | Path, path: Path = STREETS) -> Any:
    return run(runner, "import", path, "--key-field", "街道", "--match", "name", *extra)


def generations(app: Flask) -> list[tuple[int, bool, str, dict[str, str]]]:
    """(id, active, source_crs, {unit_code: name}) for every generation in the database."""
    with app.app_context():
        out = []
        for gen in db.session.scalars(select(BoundaryGeneration).order_by(BoundaryGeneration.id)):
            names = dict(
                db.session.execute(
                    select(Boundary.unit_code, Boundary.name).where(Boundary.generation_id == gen.id)
                ).all()
            )
            out.append((gen.id, gen.active, gen.source_crs, names))
        return out


def feature(geometry: dict[str, Any] | None, **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "properties": props, "geometry": geometry}


def street_feature(name: str) -> dict[str, Any]:
    data = json.loads(STREETS.read_text(encoding="utf-8"))
    return next(f for f in data["features"] if f["properties"]["街道"] == name)


def write_collection(path: Path, features: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False), "utf-8")
    return path


def test_import_by_name_prints_the_report_and_leaves_the_generation_inactive(cli_app, runner) -> None:
    from ticketing.demo import XC_STREETS

    result = import_streets(runner)
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["active"] is False
    assert printed["report"]["rejected"] == []
    accepted = printed["report"]["accepted"]
    assert sorted(item["key"] for item in accepted) == sorted(name for _, name, _ in XC_STREETS.values())
    assert all(item["vertices"] > 50 and item["repaired"] is False for item in accepted)

    [(gen_id, active, crs, names)] = generations(cli_app)
    assert (gen_id, active, crs) == (printed["generation"], False, "wgs84")
    # Each polygon landed on the unit its name matched.
    assert names == {code: name for code, name, _ in XC_STREETS.values()}
    with cli_app.app_context():
        assert db.session.get(BoundaryGeneration, gen_id).report == printed["report"]


def test_list_shows_generations_newest_first_and_marks_the_active_one(cli_app, runner) -> None:
    assert import_streets(runner).exit_code == 0
    assert import_streets(runner, "--label", "second look").exit_code == 0

    listed = run(runner, "list")
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(" ") and "   2  second look  (8 polygons, wgs84)" in lines[0]
    assert lines[1].startswith(" ") and "   1  xiacheng_streets.geojson  (8 polygons, wgs84)" in lines[1]

    activated = run(runner, "activate", "2")
    assert activated.exit_code == 0, activated.output
    assert activated.stdout.strip() == "generation 2 is active"
    assert [line[0] for line in run(runner, "list").stdout.splitlines()] == ["*", " "]

    # Activating another one switches: never two active at once.
    assert run(runner, "activate", "1").exit_code == 0
    assert [(gen_id, active) for gen_id, active, _, _ in generations(cli_app)] == [(1, True), (2, False)]
    # Activating the active one again is harmless.
    again = run(runner, "activate", "1")
    assert again.exit_code == 0, again.output
    assert [active for _, active, _, _ in generations(cli_app)] == [True, False]


def test_activate_an_unknown_generation_fails_cleanly(cli_app, runner) -> None:
    assert import_streets(runner, "--activate").exit_code == 0
    result = run(runner, "activate", "99")
    assert result.exit_code != 0
    assert "no boundary generation with id 99" in result.stderr
    assert [(gen_id, active) for gen_id, active, _, _ in generations(cli_app)] == [(1, True)]


def test_import_with_activate_flag_makes_it_active_at_once(cli_app, runner) -> None:
    result = import_streets(runner, "--activate")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["active"] is True
    assert [active for _, active, _, _ in generations(cli_app)] == [True]
    assert run(runner, "list").stdout.startswith("*")


def test_bad_features_are_rejected_with_reasons_and_the_rest_imported(cli_app, runner, tmp_path) -> None:
    tianshui = street_feature("天水街道")
    path = write_collection(
        tmp_path / "mixed.geojson",
        [
            feature({"type": "LineString", "coordinates": [[120.15, 30.27], [120.16, 30.27]]}, 街道="武林街道"),
            tianshui,
            feature(None, 街道="长庆街道"),
            feature({"type": "Polygon", "coordinates": []}, 街道="潮鸣街道"),
            feature(tianshui["geometry"], 街道="不存在街道"),
        ],
    )
    result = import_streets(runner, path=path)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)["report"]
    assert [item["key"] for item in report["accepted"]] == ["天水街道"]
    assert report["rejected"] == [
        {"index": 0, "key": "武林街道", "reason": "not_polygon"},
        {"index": 2, "key": "长庆街道", "reason": "empty_geometry"},
        {"index": 3, "key": "潮鸣街道", "reason": "empty_geometry"},
        {"index": 4, "key": "不存在街道", "reason": "unknown_unit"},
    ]
    [(_, active, _, names)] = generations(cli_app)
    assert active is False and names == {"330105012": "天水街道"}


def test_import_where_nothing_matches_fails_without_creating_a_generation(cli_app, runner) -> None:
    # The keys are names, but --match defaults to codes: every feature is an unknown unit.
    result = run(runner, "import", STREETS, "--key-field", "街道")
    assert result.exit_code != 0
    assert "nothing imported from xiacheng_streets.geojson" in result.stderr
    assert "8 unknown_unit" in result.stderr
    assert "no generation was created" in result.stderr
    # The report still says, feature by feature, what went wrong.
    printed = json.loads(result.stdout)
    assert printed["generation"] is None
    assert {item["reason"] for item in printed["report"]["rejected"]} == {"unknown_unit"}
    assert generations(cli_app) == []


def test_import_where_every_geometry_is_bad_fails_with_the_reasons(cli_app, runner, tmp_path) -> None:
    path = write_collection(
        tmp_path / "lines.geojson",
        [
            feature({"type": "LineString", "coordinates": [[120.15, 30.27], [120.16, 30.27]]}, 街道="天水街道"),
            feature(None, 街道="武林街道"),
        ],
    )
    result = import_streets(runner, path=path)
    assert result.exit_code != 0
    assert "1 empty_geometry, 1 not_polygon" in result.stderr
    assert generations(cli_app) == []


@pytest.mark.parametrize("content", ["not json at all", json.dumps({"type": "Polygon", "coordinates": []})])
def test_a_file_that_is_not_geojson_is_refused_with_a_message(cli_app, runner, tmp_path, content: str) -> None:
    path = tmp_path / "bad.geojson"
    path.write_text(content, "utf-8")
    result = import_streets(runner, path=path)
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit)  # a message, not a traceback
    assert "is not a GeoJSON file" in result.stderr
    assert generations(cli_app) == []


def test_a_name_shared_by_two_units_is_refused(cli_app, runner) -> None:
    from ticketing.services import org

    with cli_app.app_context():
        org.add_unit(code="330104", name="江干区", kind="district", parent_code="330100")
        org.add_unit(code="330104999", name="天水街道", kind="street", parent_code="330104")
        db.session.commit()
    result = import_streets(runner)
    assert result.exit_code != 0
    assert "天水街道" in result.stderr and "--match code" in result.stderr
    assert generations(cli_app) == []


def test_gcj02_import_stores_wgs84(cli_app, runner) -> None:
    from ticketing.services import org

    source = json.loads(QINGDAO_GCJ.read_text(encoding="utf-8"))["features"]
    with cli_app.app_context():
        org.add_unit(code="370200", name="青岛市", kind="city")
        for f in source:
            org.add_unit(code=str(f["properties"]["adcode"]), name=f["properties"]["name"], kind="district",
                         parent_code="370200")
        db.session.commit()

    result = run(runner, "import", QINGDAO_GCJ, "--key-field", "adcode", "--crs", "gcj02", "--label", "青岛 GCJ")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)["report"]
    assert len(report["accepted"]) == len(source) == 10
    [(gen_id, _, crs, names)] = generations(cli_app)
    assert crs == "gcj02"
    assert names["370202"] == "市南区"  # DataV features carry a "name" property
    assert "(10 polygons, gcj02)" in run(runner, "list").stdout

    shinan = next(f for f in source if f["properties"]["adcode"] == 370202)
    with cli_app.app_context():
        stored = to_shape(
            db.session.scalar(
                select(Boundary.geom).where(Boundary.generation_id == gen_id, Boundary.unit_code == "370202")
            )
        )
        stored_srid = db.session.scalar(select(func.ST_SRID(Boundary.geom)).limit(1))
    assert stored_srid == 4326
    coords = shapely.get_coordinates(stored)
    gcj_vertex = shinan["geometry"]["coordinates"][0][0][0]
    expected = np.array(gcj02_to_wgs84(*gcj_vertex))
    # The GCJ-02 vertex is stored converted (to ~1e-9°), and no longer where the file put it.
    assert np.min(np.hypot(*(coords - expected).T)) < 1e-9
    assert np.min(np.hypot(*(coords - np.array(gcj_vertex)).T)) > 0.003
