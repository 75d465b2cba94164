"""Boundary generations: list them, import a GeoJSON file into a new inactive one (with the
import report), preview a generation on the map, and activate it (DESIGN.md §3, MapIt's way).

The import runs the same steps as ``flask boundaries import`` (``geo.importer``): nothing is
written unless at least one polygon matches a unit, and a new generation is never active
until an admin activates it here or with the CLI.
"""

from __future__ import annotations

import json
from typing import Any

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from geoalchemy2.shape import to_shape
from shapely.geometry import mapping
from sqlalchemy import func, select

from geo import importer
from ticketing.extensions import db
from ticketing.models import Boundary, BoundaryGeneration
from ticketing.services import org
from ticketing.web.admin import FormError, bp, failed
from ticketing.web.common import request_now

CRS_CHOICES = {"wgs84": _l("WGS84 (GPS)"), "gcj02": _l("GCJ-02 (Amap, Tencent)"), "bd09": _l("BD-09 (Baidu)")}
MATCH_CHOICES = {"code": _l("unit code"), "name": _l("unit name")}
REASONS = {
    importer.NO_KEY: _l("no value in the key field"),
    importer.EMPTY_GEOMETRY: _l("no geometry"),
    importer.BAD_GEOMETRY: _l("unreadable geometry"),
    importer.NOT_POLYGON: _l("not a polygon"),
    importer.OUT_OF_RANGE: _l("coordinates out of range (not degrees?)"),
    importer.INVALID_AFTER_REPAIR: _l("invalid even after repair"),
    importer.DUPLICATE_KEY: _l("the same key twice"),
    importer.UNKNOWN_UNIT: _l("no unit has this key"),
    importer.DUPLICATE_UNIT: _l("a second polygon for the same unit"),
}


def _list_page(status: int = 200, **extra: Any) -> Any:
    counts = dict(
        db.session.execute(select(Boundary.generation_id, func.count()).group_by(Boundary.generation_id)).all()
    )
    generations = db.session.scalars(select(BoundaryGeneration).order_by(BoundaryGeneration.id.desc())).all()
    context: dict[str, Any] = {
        "generations": generations, "counts": counts, "crs_choices": CRS_CHOICES, "match_choices": MATCH_CHOICES,
        "reasons": REASONS, "rejected_report": None, "form": {},
    }
    context.update(extra)
    return render_template("admin/boundaries.html", **context), status


def _generation(generation_id: int) -> BoundaryGeneration:
    found = db.session.get(BoundaryGeneration, generation_id)
    if found is None:
        abort(404)
    return found


@bp.get("/boundaries")
def boundaries() -> Any:
    """The generations, newest first, and the import form."""
    return _list_page()


@bp.post("/boundaries/import")
def import_boundaries() -> Any:
    """Import an uploaded GeoJSON file into a new inactive generation; shows the report either way."""
    form = {k: request.form.get(k, "").strip() for k in ("key_field", "match", "crs", "label")}
    upload = request.files.get("file")
    try:
        if upload is None or not upload.filename:
            raise FormError(_("Choose a GeoJSON file."))
        if not form["key_field"]:
            raise FormError(_("Name the property that holds each polygon's unit code or name."))
        if form["match"] not in MATCH_CHOICES or form["crs"] not in CRS_CHOICES:
            raise FormError(_("Choose how to match units and the coordinate system."))
        if len(form["label"]) > 200:
            raise FormError(_("A label has at most 200 characters."))
        try:
            features = importer.parse_features(json.loads(upload.read().decode("utf-8-sig")))
        except (UnicodeDecodeError, json.JSONDecodeError, importer.InvalidGeoJSON):
            raise FormError(_("The file is not a GeoJSON FeatureCollection (UTF-8).")) from None
        prepared, report = importer.prepare_boundaries(features, key_field=form["key_field"], crs=form["crs"])
        units, ambiguous = org.boundary_keys(form["match"])
        clashes = sorted({p.key for p in prepared} & ambiguous)
        if clashes:
            # A name several units share cannot say whose polygon it is.
            raise FormError(_("Names shared by several units: %(names)s. Match by code instead.",
                              names=", ".join(clashes)))
    except FormError as exc:
        return _list_page(failed(exc), form=form)
    try:
        generation = importer.import_generation(
            db.session, prepared, units=units, label=form["label"] or upload.filename,  # type: ignore[union-attr]
            source=f"upload: {upload.filename}", crs=form["crs"], now=request_now(), report=report,  # type: ignore[union-attr]
        )
    except importer.ImportRejected as exc:
        db.session.rollback()
        flash(_("Nothing was imported: no polygon matched a unit. The report says why for each feature."), "error")
        return _list_page(422, form=form, rejected_report=exc.report.as_dict())
    org.audit_boundary_import(generation)
    db.session.commit()
    flash(_("Imported generation %(id)s (inactive): %(n)s polygons. Check it on the map, then activate it.",
            id=generation.id, n=len(generation.report["accepted"])), "ok")
    return redirect(url_for("admin.boundary", generation_id=generation.id))


@bp.get("/boundaries/<int:generation_id>")
def boundary(generation_id: int) -> Any:
    """One generation: its import report, a map of its polygons, and the activate button."""
    generation = _generation(generation_id)
    return render_template("admin/boundary.html", generation=generation, reasons=REASONS,
                           crs_choices=CRS_CHOICES)


@bp.get("/boundaries/<int:generation_id>.geojson")
def boundary_geojson(generation_id: int) -> Any:
    """The generation's polygons (WGS84) with their unit code and name, for the preview map (admins only)."""
    _generation(generation_id)
    rows = db.session.execute(
        select(Boundary.geom, Boundary.unit_code, Boundary.name)
        .where(Boundary.generation_id == generation_id)
        .order_by(Boundary.unit_code)
    ).all()
    return jsonify({
        "type": "FeatureCollection",
        "generation": generation_id,
        "features": [
            {"type": "Feature", "properties": {"code": code, "name": name}, "geometry": mapping(to_shape(geom))}
            for geom, code, name in rows
        ],
    })


@bp.post("/boundaries/<int:generation_id>/activate")
def activate_boundary(generation_id: int) -> Any:
    """Make the generation the one routing uses (every process notices on its next routing)."""
    _generation(generation_id)
    org.activate_boundaries(generation_id, request_now())
    db.session.commit()
    flash(_("Generation %(id)s is now active: new reports are routed by its polygons.", id=generation_id), "ok")
    return redirect(url_for("admin.boundary", generation_id=generation_id))
