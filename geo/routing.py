"""Point → covering unit, in process, on a spatial index of the active generation.

One Router per process holds the active generation's polygons in a Shapely 2 STRtree;
a lookup is a bounding-box query plus a prepared `covers` test, microseconds instead of
the ≥ 89 µs a database round trip costs (reference/baselines.md). The database's
ST_Covers is the oracle the tests compare this with.

Borders: `covers` (not `contains`) so a point on a boundary line belongs to a polygon at
all; when several polygons cover it (a shared border, or overlapping source data) the
lowest unit code wins, so every process and every run routes it the same way.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from geoalchemy2.shape import to_shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.importer import UnknownGeneration
from geo.models import Boundary, BoundaryGeneration

NO_UNIT = -1

# locate_many works in slices so a million points do not hold every candidate pair at once.
_CHUNK = 200_000


@dataclass(frozen=True)
class Placement:
    """Where a point fell: the chosen unit, and every unit code whose polygon covers it."""

    unit_id: int
    unit_code: str
    name: str
    generation_id: int
    candidates: tuple[str, ...]


class Router:
    """An immutable spatial index over one generation's polygons; safe to share between threads."""

    def __init__(
        self,
        generation_id: int,
        entries: Iterable[tuple[int, str, str, BaseGeometry]],
    ) -> None:
        # Sorting once makes "lowest code" the same as "lowest tree index", so ties are
        # settled with a min over indices; the unit id only separates equal codes.
        ordered = sorted(entries, key=lambda entry: (entry[1], entry[0]))
        self.generation_id = generation_id
        self._unit_ids = np.array([e[0] for e in ordered], dtype=np.int64)
        self._codes = tuple(e[1] for e in ordered)
        self._names = tuple(e[2] for e in ordered)
        # Filled element by element so numpy never tries to look inside a geometry.
        self._geoms = np.empty(len(ordered), dtype=object)
        self._geoms[:] = [e[3] for e in ordered]
        shapely.prepare(self._geoms)
        self._tree = shapely.STRtree(self._geoms)

    def __len__(self) -> int:
        return len(self._codes)

    @property
    def unit_codes(self) -> tuple[str, ...]:
        """The unit codes in the index, lowest first."""
        return self._codes

    def locate(self, lon: float, lat: float) -> Placement | None:
        """The unit whose polygon covers the WGS84 point (lowest code on a tie), or None.

        The point must already be WGS84: converting from GCJ-02/BD-09 is the caller's job.
        """
        if not (np.isfinite(lon) and np.isfinite(lat)) or not self._codes:
            return None
        point = shapely.Point(lon, lat)
        hits = self._tree.query(point)
        if hits.size == 0:
            return None
        hits = np.sort(hits[shapely.covers(self._geoms[hits], point)])
        if hits.size == 0:
            return None
        best = int(hits[0])
        return Placement(
            unit_id=int(self._unit_ids[best]),
            unit_code=self._codes[best],
            name=self._names[best],
            generation_id=self.generation_id,
            candidates=tuple(self._codes[i] for i in hits),
        )

    def locate_many(self, lons: npt.ArrayLike, lats: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Unit ids for many WGS84 points at once (-1 where none covers); same answers as `locate`."""
        lon_a = np.asarray(lons, dtype=np.float64).ravel()
        lat_a = np.asarray(lats, dtype=np.float64).ravel()
        if lon_a.shape != lat_a.shape:
            raise ValueError(f"lons and lats differ in length: {lon_a.size} != {lat_a.size}")
        result = np.full(lon_a.size, NO_UNIT, dtype=np.int64)
        if not self._codes:
            return result
        for start in range(0, lon_a.size, _CHUNK):
            stop = start + _CHUNK
            result[start:stop] = self._locate_chunk(lon_a[start:stop], lat_a[start:stop])
        return result

    def _locate_chunk(
        self, lons: npt.NDArray[np.float64], lats: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.int64]:
        points = shapely.points(lons, lats)
        # Bounding boxes for all points in one call, then one vectorised prepared covers.
        point_idx, geom_idx = self._tree.query(points)
        keep = shapely.covers(self._geoms[geom_idx], points[point_idx])
        point_idx, geom_idx = point_idx[keep], geom_idx[keep]
        # The lowest tree index per point is the lowest unit code (entries are sorted).
        sentinel = len(self._codes)
        best = np.full(lons.size, sentinel, dtype=np.int64)
        np.minimum.at(best, point_idx, geom_idx)
        found = best < sentinel
        out = np.full(lons.size, NO_UNIT, dtype=np.int64)
        out[found] = self._unit_ids[best[found]]
        return out


def load_router(session: Session, generation_id: int) -> Router:
    """Build a Router from one generation's boundaries (active or not); raises UnknownGeneration."""
    if session.get(BoundaryGeneration, generation_id) is None:
        raise UnknownGeneration(generation_id)
    rows = session.execute(
        select(Boundary.unit_id, Boundary.unit_code, Boundary.name, Boundary.geom).where(
            Boundary.generation_id == generation_id
        )
    ).all()
    return Router(
        generation_id,
        ((unit_id, code, name, to_shape(geom)) for unit_id, code, name, geom in rows),
    )


# The process-wide router, keyed by the database it came from and the active generation.
# Reads take no lock: swapping one tuple is atomic, and a Router never changes once built.
_lock = threading.Lock()
_cached: tuple[Any, int, datetime | None, Router] | None = None


def current_router(session: Session) -> Router | None:
    """The Router for the active generation, rebuilt when that changes; None if none is active.

    Costs one small query per call, so every web and worker process sees an activation
    on its next lookup after the commit. Reads through `session`, so it sees what that
    session's transaction sees.
    """
    global _cached
    marker = session.execute(
        select(BoundaryGeneration.id, BoundaryGeneration.activated_at)
        .where(BoundaryGeneration.active.is_(True))
        .limit(1)
    ).first()
    if marker is None:
        return None
    generation_id, activated_at = marker
    # The engine is part of the key because ids repeat across databases (tests, or a
    # process that talks to two); activated_at because SQLite reuses ids after a rollback.
    engine = _engine_of(session)
    cached = _cached
    if _matches(cached, engine, generation_id, activated_at):
        return cached[3]  # type: ignore[index]
    with _lock:
        cached = _cached
        if _matches(cached, engine, generation_id, activated_at):
            return cached[3]  # type: ignore[index]
        router = load_router(session, generation_id)
        _cached = (weakref.ref(engine), generation_id, activated_at, router)
        return router


def reset_cache() -> None:
    """Forget the cached router (tests that reuse generation ids call this)."""
    global _cached
    with _lock:
        _cached = None


def _engine_of(session: Session) -> Any:
    bind = session.get_bind()
    # A session bound to a Connection (rollback-per-test fixtures) still has one engine.
    return getattr(bind, "engine", bind)


def _matches(
    cached: tuple[Any, int, datetime | None, Router] | None,
    engine: Any,
    generation_id: int,
    activated_at: datetime | None,
) -> bool:
    return (
        cached is not None
        and cached[0]() is engine
        and cached[1] == generation_id
        and cached[2] == activated_at
    )
