"""Importing boundary polygons from GeoJSON into a new, inactive generation, and activating it.

The work is split so each part can be checked on its own: `parse_features` reads the
file's shape, `prepare_boundaries` turns features into valid WGS84 MultiPolygons without
touching the database, `import_generation` writes them as an inactive generation, and
`activate_generation` switches routing to it (DESIGN.md §3; MapIt's generations).
Operations flush and never commit: the command or request that calls them commits once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import shapely
from geoalchemy2.shape import from_shape
from shapely.errors import GEOSException
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.crs import geometry_to_wgs84, parse_crs
from geo.models import Boundary, BoundaryGeneration

# Reason codes in ImportReport.rejected: stable strings, shown to admins and tested on.
NO_KEY = "no_key"
EMPTY_GEOMETRY = "empty_geometry"
BAD_GEOMETRY = "bad_geometry"
NOT_POLYGON = "not_polygon"
OUT_OF_RANGE = "out_of_range"
INVALID_AFTER_REPAIR = "invalid_after_repair"
DUPLICATE_KEY = "duplicate_key"
UNKNOWN_UNIT = "unknown_unit"
DUPLICATE_UNIT = "duplicate_unit"


class BoundaryError(ValueError):
    """Base class for bad input to the boundary operations."""


class InvalidGeoJSON(BoundaryError):
    """The document is not a FeatureCollection, a Feature or a list of Features."""


class ImportRejected(BoundaryError):
    """Nothing in the import could be used; `report` says why for each feature."""

    def __init__(self, message: str, report: ImportReport) -> None:
        super().__init__(message)
        self.report = report


class UnknownGeneration(BoundaryError):
    """No boundary generation has this id."""

    def __init__(self, generation_id: int) -> None:
        super().__init__(f"no boundary generation with id {generation_id}")
        self.generation_id = generation_id


@dataclass
class ImportReport:
    """What an import kept and what it refused, feature by feature."""

    accepted: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def reject(self, index: int, key: str | None, reason: str) -> None:
        """Record that feature `index` (with `key`, if it had one) was refused for `reason`."""
        self.rejected.append({"index": index, "key": key, "reason": reason})

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (stored in BoundaryGeneration.report)."""
        return {
            "accepted": [dict(item) for item in self.accepted],
            "rejected": [dict(item) for item in self.rejected],
        }


@dataclass(frozen=True)
class PreparedBoundary:
    """One feature ready to store: a valid 2D WGS84 MultiPolygon and the key naming its unit."""

    key: str
    name: str
    geom: MultiPolygon
    repaired: bool
    # Position in the source features, so later rejections can point back at the file.
    index: int = -1


def parse_features(data: dict[str, Any] | list[Any]) -> list[dict[str, Any]]:
    """Return the Features of a FeatureCollection, a bare list of Features (DataV) or one Feature.

    Only the document's shape is checked here; each feature's content is judged by
    `prepare_boundaries`. Reading and decoding the file is left to the caller.
    """
    if isinstance(data, list):
        features: list[Any] = data
    elif isinstance(data, dict) and data.get("type") == "FeatureCollection":
        features = data.get("features")  # type: ignore[assignment]
        if not isinstance(features, list):
            raise InvalidGeoJSON("FeatureCollection has no 'features' list")
    elif isinstance(data, dict) and data.get("type") == "Feature":
        features = [data]
    else:
        kind = data.get("type") if isinstance(data, dict) else type(data).__name__
        raise InvalidGeoJSON(
            f"expected a GeoJSON FeatureCollection, a Feature or a list of Features, got {kind!r}"
        )
    for index, item in enumerate(features):
        if not isinstance(item, dict) or item.get("type") != "Feature":
            raise InvalidGeoJSON(f"item {index} is not a GeoJSON Feature")
    return features


def prepare_boundaries(
    features: Iterable[Mapping[str, Any]],
    *,
    key_field: str,
    crs: str,
    name_field: str | None = None,
) -> tuple[list[PreparedBoundary], ImportReport]:
    """Validate, convert to WGS84 and repair features; refused ones are listed in the report.

    The key is `properties[key_field]` as a string; the name is `properties[name_field]`
    (default "name", else the key). Raises UnsupportedCRS for an unknown `crs`; matching
    keys to org units is left to `import_generation`.
    """
    system = parse_crs(crs)
    report = ImportReport()
    prepared: list[PreparedBoundary] = []
    seen: set[str] = set()
    for index, feature in enumerate(features):
        props = feature.get("properties")
        if not isinstance(props, Mapping):
            props = {}
        key = _key(props.get(key_field))
        if key is None:
            report.reject(index, None, NO_KEY)
            continue
        geom, reason = _polygonal_wgs84(feature.get("geometry"), system)
        if geom is None:
            report.reject(index, key, reason)
            continue
        clean, repaired = _repair(geom)
        if clean is None:
            report.reject(index, key, INVALID_AFTER_REPAIR)
            continue
        # Judged after validation so that a broken first copy does not shadow a good second.
        if key in seen:
            report.reject(index, key, DUPLICATE_KEY)
            continue
        seen.add(key)
        name = _name(props, name_field) or key
        prepared.append(PreparedBoundary(key, name, clean, repaired, index))
        report.accepted.append(_accepted_entry(key, name, clean, repaired))
    return prepared, report


def import_generation(
    session: Session,
    prepared: Iterable[PreparedBoundary],
    *,
    units: Mapping[str, tuple[int, str]],
    label: str,
    source: str,
    crs: str,
    now: datetime,
    report: ImportReport | None = None,
) -> BoundaryGeneration:
    """Store prepared boundaries as a new inactive generation; flushes, the caller commits.

    `units` maps a boundary key to (unit_id, unit_code); keys without a unit are refused
    as "unknown_unit". Pass the report from `prepare_boundaries` as `report` to keep its
    rejections in the stored one. Raises ImportRejected if no boundary is left.
    Activation is a separate, deliberate step (`activate_generation`).
    """
    system = parse_crs(crs)
    if now.tzinfo is None:
        raise ValueError("naive datetime: pass a timezone-aware `now`")
    final = ImportReport(rejected=[dict(item) for item in report.rejected] if report else [])
    rows: list[tuple[PreparedBoundary, int, str]] = []
    used_units: set[int] = set()
    for item in prepared:
        unit = units.get(item.key)
        if unit is None:
            final.reject(item.index, item.key, UNKNOWN_UNIT)
            continue
        unit_id, unit_code = unit
        # One polygon per unit per generation (the table's unique index says so too).
        if unit_id in used_units:
            final.reject(item.index, item.key, DUPLICATE_UNIT)
            continue
        used_units.add(unit_id)
        rows.append((item, unit_id, unit_code))
        final.accepted.append(_accepted_entry(item.key, item.name, item.geom, item.repaired))
    final.rejected.sort(key=lambda entry: entry["index"])
    if not rows:
        raise ImportRejected(
            f"no boundary could be imported ({len(final.rejected)} rejected): see the report",
            final,
        )
    generation = BoundaryGeneration(
        label=label,
        source=source,
        source_crs=system,
        active=False,
        created_at=now,
        activated_at=None,
        report=final.as_dict(),
    )
    session.add(generation)
    session.flush()
    session.add_all(
        Boundary(
            generation_id=generation.id,
            unit_id=unit_id,
            unit_code=unit_code,
            name=item.name,
            geom=from_shape(item.geom, srid=4326),
        )
        for item, unit_id, unit_code in rows
    )
    session.flush()
    return generation


def activate_generation(session: Session, generation_id: int, now: datetime) -> BoundaryGeneration:
    """Make `generation_id` the one active generation; flushes, the caller commits.

    Raises UnknownGeneration. Routers in every process pick the change up on their next
    `current_router` call after the commit.
    """
    if now.tzinfo is None:
        raise ValueError("naive datetime: pass a timezone-aware `now`")
    generation = session.get(BoundaryGeneration, generation_id)
    if generation is None:
        raise UnknownGeneration(generation_id)
    if generation.active:
        return generation
    current = session.scalars(
        select(BoundaryGeneration).where(BoundaryGeneration.active.is_(True))
    ).all()
    for old in current:
        old.active = False
    # The partial unique index allows one active row at any instant, and the unit of work
    # does not order these two UPDATEs: deactivate first, flush, then activate.
    session.flush()
    generation.active = True
    generation.activated_at = now
    session.flush()
    return generation


def active_generation_id(session: Session) -> int | None:
    """The id of the active generation, or None if none is active (one small query)."""
    return session.scalar(
        select(BoundaryGeneration.id).where(BoundaryGeneration.active.is_(True)).limit(1)
    )


def _key(value: Any) -> str | None:
    if value is None:
        return None
    # Codes stored as numbers (DataV's adcode) may come back as floats from some tools.
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def _name(props: Mapping[str, Any], name_field: str | None) -> str | None:
    value = props.get(name_field or "name")
    if value is None:
        return None
    return str(value).strip() or None


def _polygonal_wgs84(geometry: Any, system: str) -> tuple[BaseGeometry | None, str]:
    """The feature's geometry in 2D WGS84, or None and the reason code."""
    if not geometry:
        return None, EMPTY_GEOMETRY
    if not isinstance(geometry, Mapping):
        return None, BAD_GEOMETRY
    if geometry.get("type") not in ("Polygon", "MultiPolygon"):
        return None, NOT_POLYGON
    try:
        geom = shape(geometry)
    except (ValueError, TypeError, AttributeError, IndexError, GEOSException):
        return None, BAD_GEOMETRY
    if geom.is_empty:
        return None, EMPTY_GEOMETRY
    # Projected metres (EPSG:3857, local grids) passed off as degrees land here.
    minx, miny, maxx, maxy = geom.bounds
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
        return None, BAD_GEOMETRY
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        return None, OUT_OF_RANGE
    return geometry_to_wgs84(geom, system), ""


def _repair(geom: BaseGeometry) -> tuple[MultiPolygon | None, bool]:
    """A valid MultiPolygon for `geom` and whether it had to be repaired; None if nothing is left."""
    if geom.is_valid:
        return _as_multipolygon(_polygons(geom)), False
    fixed = _as_multipolygon(_polygons(shapely.make_valid(geom)))
    if fixed is not None and not fixed.is_valid:
        # Parts from a collection can share an edge, which a MultiPolygon forbids.
        fixed = _as_multipolygon(_polygons(shapely.union_all(fixed.geoms)))
    if fixed is None or not fixed.is_valid:
        return None, True
    return fixed, True


def _polygons(geom: BaseGeometry) -> list[Polygon]:
    """The non-empty polygons in `geom`, at any depth (make_valid may also leave lines and points)."""
    if isinstance(geom, Polygon):
        return [] if geom.is_empty else [geom]
    found: list[Polygon] = []
    for part in getattr(geom, "geoms", ()):
        found.extend(_polygons(part))
    return found


def _as_multipolygon(polygons: list[Polygon]) -> MultiPolygon | None:
    polygons = [p for p in polygons if p.area > 0]
    return MultiPolygon(polygons) if polygons else None


def _accepted_entry(key: str, name: str, geom: MultiPolygon, repaired: bool) -> dict[str, Any]:
    return {
        "key": key,
        "name": name,
        "vertices": int(shapely.get_num_coordinates(geom)),
        "repaired": repaired,
    }
