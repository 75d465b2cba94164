"""What the handler's workbench reads: the unit's queue, a ticket's nearby history, the choices its forms offer.

Visibility is `access.visible_filter` (the handler's unit, the tickets it co-handles 吹哨), overdue
is `queries.overdue` and due soon is the reminder threshold of the KPIs (`ticketing/metrics.py`:
within REMIND_RESPONSE_BEFORE_HOURS working hours of the response deadline while dispatched, or
REMIND_RESOLUTION_BEFORE_HOURS of the resolution deadline, and not overdue). Nothing here writes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from geoalchemy2.shape import to_shape
from sqlalchemy import ColumnElement, and_, case, func, or_, select

from ticketing import queries
from ticketing.extensions import db
from ticketing.models import Category, OrgUnit, Ticket, UnitKind, User
from ticketing.services import access
from ticketing.services.evidence import distance_m
from ticketing.workflow import Role, State
from ticketing.worktime import WorkCalendar

PAGE_SIZE = 20
# The queue's default: everything still open for the unit (resolved ones wait for the rating).
OPEN_FOR_HANDLER = (State.DISPATCHED, State.ACCEPTED, State.RETURNED, State.RESOLVED)
# How many earlier tickets at the spot the ticket page lists.
NEARBY_LIMIT = 10
# Metres per degree of latitude (and of longitude at the equator), for the bounding box only.
_M_PER_DEGREE = 111_320.0


@dataclass(frozen=True)
class QueueFilter:
    """The queue's filters as the page's query string gives them (already parsed).

    `state`: a State value, "" for every open state, "all" for every state. `category`: a
    domain code (its sub-categories included) or "". `number`: part of a ticket number.
    """

    state: str = ""
    category: str = ""
    overdue_only: bool = False
    mine_only: bool = False
    number: str = ""
    page: int = 1


@dataclass(frozen=True)
class QueueRow:
    """One line of the queue: the ticket, its deadline that runs next, and how urgent it is."""

    ticket: Ticket
    deadline: datetime | None
    overdue: bool
    due_soon: bool
    co_handled: bool  # the viewer's unit helps (吹哨) rather than leads


@dataclass(frozen=True)
class QueuePage:
    rows: list[QueueRow]
    total: int
    overdue_total: int
    page: int
    pages: int


def next_deadline() -> ColumnElement[Any]:
    """The deadline the handling unit works against next (NULL when none runs).

    Dispatched: the earlier of response and resolution (a transfer restarts the response clock
    but not the resolution one, so either may come first); accepted: the resolution deadline.
    Returned and resolved tickets have none: the next move is a supervisor's or the reporter's.
    """
    earlier = case(
        (Ticket.resolution_due_at.is_(None), Ticket.response_due_at),
        (Ticket.response_due_at.is_(None), Ticket.resolution_due_at),
        (Ticket.response_due_at < Ticket.resolution_due_at, Ticket.response_due_at),
        else_=Ticket.resolution_due_at,
    )
    return case(
        (Ticket.state == State.DISPATCHED, earlier),
        (Ticket.state == State.ACCEPTED, Ticket.resolution_due_at),
        else_=None,
    )


def queue(
    viewer: User,
    now: datetime,
    filters: QueueFilter,
    cal: WorkCalendar,
    *,
    due_soon_response_hours: float,
    due_soon_resolution_hours: float,
    page_size: int = PAGE_SIZE,
) -> QueuePage:
    """The viewer's queue: overdue first (longest overdue on top), then by the nearest deadline,
    then tickets with no running deadline; newest first among equals. A page at a time."""
    where = [access.visible_filter(viewer), *_filter_clauses(viewer, now, filters)]
    deadline = next_deadline()
    is_overdue = queries.overdue(now)
    base = select(Ticket.id).where(*where)
    total = db.session.scalar(select(func.count()).select_from(base.subquery())) or 0
    overdue_total = db.session.scalar(
        select(func.count()).select_from(base.where(is_overdue).subquery())
    ) or 0
    pages = max(1, math.ceil(total / page_size))
    page = min(max(1, filters.page), pages)
    rows = db.session.execute(
        select(Ticket, deadline.label("deadline"), case((is_overdue, 1), else_=0).label("overdue"))
        .where(*where)
        .order_by(
            case((is_overdue, 0), else_=1),
            case((deadline.is_(None), 1), else_=0),
            deadline.asc(),
            Ticket.id.desc(),
        )
        .limit(page_size)
        .offset((page - 1) * page_size)
    ).all()
    out = []
    for ticket, due, overdue in rows:
        due = _utc(due)
        out.append(
            QueueRow(
                ticket=ticket,
                deadline=due,
                overdue=bool(overdue),
                due_soon=not overdue
                and is_due_soon(ticket, now, cal, due_soon_response_hours, due_soon_resolution_hours),
                co_handled=viewer.unit_id is not None and ticket.handling_unit_id != viewer.unit_id,
            )
        )
    return QueuePage(out, total, overdue_total, page, pages)


def _filter_clauses(viewer: User, now: datetime, f: QueueFilter) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if f.state == "all":
        pass
    elif f.state in {s.value for s in State}:
        clauses.append(Ticket.state == State(f.state))
    else:
        clauses.append(Ticket.state.in_(OPEN_FOR_HANDLER))
    if f.category:
        domain = select(Category.id).where(Category.code == f.category).scalar_subquery()
        clauses.append(
            Ticket.category_id.in_(select(Category.id).where(or_(Category.id == domain, Category.parent_id == domain)))
        )
    if f.overdue_only:
        clauses.append(queries.overdue(now))
    if f.mine_only:
        clauses.append(Ticket.assignee_id == viewer.id)
    if f.number.strip():
        clauses.append(Ticket.number.contains(f.number.strip(), autoescape=True))
    return clauses


def is_due_soon(
    ticket: Ticket, now: datetime, cal: WorkCalendar, response_hours: float, resolution_hours: float
) -> bool:
    """Within the reminder threshold (working hours) of a deadline that runs; the caller checks overdue."""
    checks: list[tuple[datetime | None, float]] = []
    if ticket.state == State.DISPATCHED:
        checks = [(ticket.response_due_at, response_hours), (ticket.resolution_due_at, resolution_hours)]
    elif ticket.state == State.ACCEPTED:
        checks = [(ticket.resolution_due_at, resolution_hours)]
    return any(
        due is not None and cal.working_hours_between(now, _utc(due)) <= hours  # type: ignore[arg-type]
        for due, hours in checks
    )


def is_overdue(ticket: Ticket, now: datetime) -> bool:
    """`queries.overdue` for one ticket, asked of the database so the rule stays in one place."""
    return bool(db.session.scalar(select(func.count()).where(Ticket.id == ticket.id, queries.overdue(now))))


def nearby_history(ticket: Ticket, viewer: User, radius_m: float, limit: int = NEARBY_LIMIT) -> list[tuple[Ticket, float]]:
    """Earlier tickets the viewer may see within `radius_m` of this one, any state, newest first,
    each with its distance in metres.

    A bounding box in degrees narrows the rows in SQL (ST_X/ST_Y work on both databases); the
    great-circle distance then decides, in Python, as the evidence check measures it.
    """
    point = to_shape(ticket.location)
    lon, lat = point.x, point.y
    dlat = radius_m / _M_PER_DEGREE
    dlon = radius_m / (_M_PER_DEGREE * max(math.cos(math.radians(lat)), 0.01))
    x, y = func.ST_X(Ticket.location), func.ST_Y(Ticket.location)
    earlier = or_(
        Ticket.created_at < ticket.created_at,
        and_(Ticket.created_at == ticket.created_at, Ticket.id < ticket.id),
    )
    rows = db.session.execute(
        select(Ticket, x, y)
        .where(
            access.visible_filter(viewer),
            Ticket.id != ticket.id,
            earlier,
            x.between(lon - dlon, lon + dlon),
            y.between(lat - dlat, lat + dlat),
        )
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        # The box's corners lie outside the circle; a few spare rows make up for them.
        .limit(limit * 4)
    ).all()
    out = []
    for other, olon, olat in rows:
        far = distance_m((lon, lat), (float(olon), float(olat)))
        if far <= radius_m:
            out.append((other, far))
    return out[:limit]


def colleagues(ticket: Ticket) -> list[User]:
    """The active handlers of the ticket's handling unit: whom it may be assigned to."""
    return list(
        db.session.scalars(
            select(User)
            .where(User.unit_id == ticket.handling_unit_id, User.role == Role.HANDLER, User.active.is_(True))
            .order_by(User.username)
        )
    )


def cohandle_choices(ticket: Ticket) -> list[OrgUnit]:
    """Units that may be called in (吹哨): streets and departments of the handling unit's district
    (all of them when it has none, e.g. the city's dispatch desk), minus those already on it."""
    taken = {ticket.handling_unit_id, *(c.unit_id for c in ticket.co_handlers)}
    query = select(OrgUnit).where(OrgUnit.kind.in_([UnitKind.STREET, UnitKind.DEPARTMENT]))
    district = _district_of(ticket.handling_unit)
    if district is not None:
        query = query.where(OrgUnit.path.startswith(district.path, autoescape=True))
    return [u for u in db.session.scalars(query.order_by(OrgUnit.kind, OrgUnit.code)) if u.id not in taken]


def co_handler_units(ticket: Ticket) -> list[OrgUnit]:
    """The units helping with the ticket, in the order they were called in."""
    ids = [c.unit_id for c in sorted(ticket.co_handlers, key=lambda c: (c.added_at, c.unit_id))]
    units = {u.id: u for u in db.session.scalars(select(OrgUnit).where(OrgUnit.id.in_(ids)))} if ids else {}
    return [units[i] for i in ids if i in units]


def domains() -> list[Category]:
    """The top-level categories (the seven domains), for the queue's filter."""
    return list(
        db.session.scalars(
            select(Category).where(Category.parent_id.is_(None), Category.active.is_(True)).order_by(
                Category.sort, Category.code
            )
        )
    )


def units_by_code(codes: list[str]) -> dict[str, OrgUnit]:
    """Units named in event data (transfers, co-handlers), to show their names."""
    if not codes:
        return {}
    return {u.code: u for u in db.session.scalars(select(OrgUnit).where(OrgUnit.code.in_(codes)))}


def names_by_username(usernames: list[str]) -> dict[str, str]:
    """Display names for the usernames event data records (assignments)."""
    if not usernames:
        return {}
    rows = db.session.execute(select(User.username, User.display_name).where(User.username.in_(set(usernames))))
    return {username: name for username, name in rows}


def _district_of(unit: OrgUnit) -> OrgUnit | None:
    ids = unit.ancestor_ids()
    if not ids:
        return None
    found = {u.id: u for u in db.session.scalars(select(OrgUnit).where(OrgUnit.id.in_(ids)))}
    for uid in reversed(ids):
        u = found.get(uid)
        if u is not None and u.kind == UnitKind.DISTRICT:
            return u
    return None


def _utc(moment: datetime | None) -> datetime | None:
    # SQLite hands datetimes back naive from computed columns; they are UTC by convention.
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment
