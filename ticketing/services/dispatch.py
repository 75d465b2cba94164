"""From a point and a category to a handling unit and deadlines (DESIGN.md §3–4)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from geo.routing import Router, current_router
from ticketing.extensions import db
from ticketing.models import Category, HandlerRule, OrgUnit, UnitKind
from ticketing.settings import TicketSettings
from ticketing.worktime import Deadlines, calendar_for, compute_deadlines

OUTSIDE = "outside_boundaries"
NO_DEPARTMENT = "no_department"


@dataclass(frozen=True)
class Routing:
    """Where a report goes, and the snapshot kept on the ticket of how that was decided."""

    handling_unit: OrgUnit
    covering_unit: OrgUnit | None
    generation_id: int | None
    snapshot: dict[str, Any]
    flags: tuple[str, ...]


def route(lon: float, lat: float, category: Category, settings: TicketSettings) -> Routing:
    """Place a WGS84 point: the covering unit, then the handling unit by the category's rule.

    A point outside every polygon (or with no active generation) goes to the city's
    dispatch unit, flagged: never dropped.
    """
    return _route(current_router(db.session), lon, lat, category, settings, department_for)


def route_many(points: Sequence[tuple[float, float, Category]], settings: TicketSettings) -> list[Routing]:
    """`route` for many (lon, lat, category) at once, as a bulk import needs: the same answers,
    but the active router is looked up once and each covering unit's department once."""
    found: dict[tuple[int, str], OrgUnit | None] = {}

    def department(unit: OrgUnit, dept_kind: str) -> OrgUnit | None:
        if (unit.id, dept_kind) not in found:
            found[(unit.id, dept_kind)] = department_for(unit, dept_kind)
        return found[(unit.id, dept_kind)]

    router = current_router(db.session)
    return [_route(router, lon, lat, category, settings, department) for lon, lat, category in points]


def _route(
    router: Router | None,
    lon: float,
    lat: float,
    category: Category,
    settings: TicketSettings,
    department: Callable[[OrgUnit, str], OrgUnit | None],
) -> Routing:
    session = db.session
    placement = router.locate(lon, lat) if router is not None else None
    flags: list[str] = []
    snapshot: dict[str, Any] = {
        "rule": category.handler_rule.value,
        "dept_kind": category.dept_kind,
        "generation_id": router.generation_id if router is not None else None,
    }
    if placement is None:
        return _route_outside(settings, snapshot)
    covering = session.get(OrgUnit, placement.unit_id)
    if covering is None:  # a boundary pointing at a deleted unit: treat as outside
        return _route_outside(settings, snapshot)
    snapshot.update(covering_unit=covering.code, candidates=list(placement.candidates))
    handling = covering
    if category.handler_rule == HandlerRule.DEPARTMENT and category.dept_kind:
        dept = department(covering, category.dept_kind)
        if dept is None:
            flags.append(NO_DEPARTMENT)
        else:
            handling = dept
    snapshot.update(handling_unit=handling.code, flags=flags)
    return Routing(handling, covering, placement.generation_id, snapshot, tuple(flags))


def _route_outside(settings: TicketSettings, snapshot: dict[str, Any]) -> Routing:
    unit = city_dispatch_unit(settings)
    snapshot.update(covering_unit=None, handling_unit=unit.code, flags=[OUTSIDE])
    return Routing(unit, None, snapshot.get("generation_id"), snapshot, (OUTSIDE,))


def department_for(unit: OrgUnit, dept_kind: str) -> OrgUnit | None:
    """The department of kind `dept_kind` under the nearest district (or city) above `unit`."""
    session = db.session
    ids = list(reversed(unit.ancestor_ids()))
    levels = session.scalars(select(OrgUnit).where(OrgUnit.id.in_(ids))).all()
    by_id = {u.id: u for u in levels}
    for uid in ids:
        owner = by_id[uid]
        if owner.kind not in (UnitKind.DISTRICT, UnitKind.CITY):
            continue
        dept = session.scalar(
            select(OrgUnit)
            .where(
                OrgUnit.parent_id == owner.id,
                OrgUnit.kind == UnitKind.DEPARTMENT,
                OrgUnit.dept_kind == dept_kind,
            )
            .order_by(OrgUnit.code)
        )
        if dept is not None:
            return dept
    return None


def city_dispatch_unit(settings: TicketSettings) -> OrgUnit:
    """The dispatch unit of the configured city (or of the first city in the tree)."""
    session = db.session
    query = select(OrgUnit).where(OrgUnit.kind == UnitKind.CITY).order_by(OrgUnit.code)
    if settings.dispatch_city_code:
        query = query.where(OrgUnit.code == settings.dispatch_city_code)
    city = session.scalar(query)
    if city is None:
        raise RuntimeError("no city in the org tree: load the org units (flask demo load) first")
    dispatch = session.scalar(
        select(OrgUnit).where(OrgUnit.parent_id == city.id, OrgUnit.kind == UnitKind.DISPATCH).order_by(OrgUnit.code)
    )
    # A city without a dispatch desk receives unplaceable reports itself.
    return dispatch or city


def deadlines_from(now: datetime, category: Category, settings: TicketSettings) -> Deadlines:
    """Response and resolution deadlines for work starting at `now`, in working time."""
    cal = calendar_for(db.session, now, settings.office_hours, settings.timezone)
    return compute_deadlines(cal, now, category.response_hours, category.resolution_days)
