"""Reference data clients need: categories and org units."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint
from sqlalchemy import select

from ticketing.api import presenters
from ticketing.api.schemas import CategoryOut, UnitOut
from ticketing.extensions import db
from ticketing.models import Category, OrgUnit

blp = Blueprint("api_catalog", __name__, description="Categories and org units")


@blp.route("/categories", methods=["GET"])
@blp.response(200, CategoryOut(many=True))
def categories() -> list[dict[str, Any]]:
    """Active categories, domains first then their sub-categories, in display order."""
    rows = db.session.scalars(select(Category).where(Category.active.is_(True)).order_by(Category.sort)).all()
    return [
        {
            "code": c.code,
            "name": c.name,
            "name_en": c.name_en,
            "parent": c.parent.code if c.parent else None,
            "handler_rule": c.handler_rule.value,
            "dept_kind": c.dept_kind,
            "response_hours": c.response_hours,
            "resolution_days": c.resolution_days,
            "urgent": c.urgent,
        }
        for c in rows
    ]


@blp.route("/units", methods=["GET"])
@blp.response(200, UnitOut(many=True))
def units() -> list[dict[str, Any]]:
    """The org tree, parents before children."""
    rows = db.session.scalars(select(OrgUnit).order_by(OrgUnit.path)).all()
    return [presenters.unit(u) for u in rows]  # type: ignore[misc]


@blp.route("/boundaries", methods=["GET"])
@blp.response(200)
def boundaries() -> dict[str, Any]:
    """The active boundary generation as a GeoJSON FeatureCollection (WGS84), each feature with
    its unit's ``code``, ``name`` and ``kind``: the base layer of every map, useful with no tiles."""
    from geoalchemy2.shape import to_shape
    from shapely.geometry import mapping

    from geo.importer import active_generation_id
    from geo.models import Boundary

    generation = active_generation_id(db.session)
    rows = db.session.execute(
        select(Boundary.geom, OrgUnit.code, OrgUnit.name, OrgUnit.kind)
        .join(OrgUnit, OrgUnit.id == Boundary.unit_id)
        .where(Boundary.generation_id == generation)
        .order_by(OrgUnit.code)
    ).all()
    features = [
        {
            "type": "Feature",
            "properties": {"code": code, "name": name, "kind": kind.value},
            "geometry": mapping(to_shape(geom)),
        }
        for geom, code, name, kind in rows
    ]
    return {"type": "FeatureCollection", "generation": generation, "features": features}
