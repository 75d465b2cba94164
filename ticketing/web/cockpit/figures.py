"""The public cockpit's figures: what anyone may see about the city's tickets, and nothing more.

Everything here is an aggregate or an explicitly published piece of a ticket:

- the KPIs are `ticketing.metrics.compute` for the root unit (the city) and the period, the
  same numbers the KPI API gives for ``unit=<city>&from=<first>&to=<tomorrow>``;
- counts, the category breakdown and the trend count tickets reported in the period (every
  visibility: a count says nothing about anyone);
- the heat map bins *public* reports into square cells of about ``cell_m`` metres and drops
  every cell with fewer than ``min_count`` reports, so no cell can point at one doorstep; no
  ticket position or id leaves the server;
- typical cases are public tickets closed with a 满意 or 基本满意 final rating, shown as their
  category, street, dates and the photos the reporter or a supervisor agreed to publish
  (``Photo.public_ok``). No title, description, address, number or person is ever included:
  nothing yet marks a description as fit to publish.

Figures are read only, and cached in process for a short while by ``cached`` (the page is
public, so a burst of visitors costs one computation per period).
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from flask import Flask
from sqlalchemy import func, select

from ticketing import metrics
from ticketing.extensions import db
from ticketing.models import Category, OrgUnit, Photo, Rating, Ticket, TicketEvent
from ticketing.models.tickets import Visibility
from ticketing.settings import TicketSettings
from ticketing.workflow import Action, ClosedReason, State

PERIODS = ("month", "quarter", "year")
DEFAULT_PERIOD = "year"
OPEN_STATES = frozenset({State.DISPATCHED, State.ACCEPTED, State.RETURNED})
# Reports that are not (or no longer) a real public matter: left off the map.
NOT_ON_MAP = (State.INVALID, State.DUPLICATE, State.PENDING_REVIEW, State.DECLINED)
METRES_PER_DEGREE = 111_320.0
CASES_SHOWN = 4

T = TypeVar("T")


@dataclass(frozen=True)
class Period:
    """A local-date period so far: [first, last) with `last` tomorrow, as the KPI API defaults it."""

    key: str
    first: date
    last: date  # exclusive

    @property
    def by_week(self) -> bool:
        """Whether the trend is drawn by week (month and quarter) rather than by month (year)."""
        return self.key != "year"


def period_for(key: str, today: date) -> Period:
    """The period `key` (month, quarter or year; anything else: the default) up to and including `today`."""
    if key not in PERIODS:
        key = DEFAULT_PERIOD
    if key == "month":
        first = today.replace(day=1)
    elif key == "quarter":
        first = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    else:
        first = date(today.year, 1, 1)
    return Period(key, first, today + timedelta(days=1))


@dataclass
class Figures:
    """Everything the cockpit page shows, in both languages' names; JSON-ready plain values."""

    period: Period
    as_of: datetime
    unit: dict[str, str] | None
    counts: dict[str, int] = field(default_factory=dict)
    kpis: dict[str, Any] = field(default_factory=dict)
    domains: list[dict[str, Any]] = field(default_factory=list)
    trend: list[dict[str, Any]] = field(default_factory=list)
    cases: list[dict[str, Any]] = field(default_factory=list)


def root_unit() -> OrgUnit | None:
    """The top of the org tree (the city); the first one if several cities share a database."""
    return db.session.scalar(select(OrgUnit).where(OrgUnit.parent_id.is_(None)).order_by(OrgUnit.id).limit(1))


def compute(
    period: Period,
    now: datetime,
    settings: TicketSettings,
    *,
    due_soon_response_hours: float,
    due_soon_resolution_hours: float,
) -> Figures:
    """The cockpit's figures for `period` as of `now`; reads only."""
    root = root_unit()
    if root is None:
        return Figures(period, now, None)
    start, end = metrics.local_period(period.first, period.last, settings.timezone)
    units = metrics.subtree_ids(root.id)
    kpis = metrics.compute(
        metrics.KpiFilter(root.id, start, end),
        now,
        settings,
        due_soon_response_hours=due_soon_response_hours,
        due_soon_resolution_hours=due_soon_resolution_hours,
    )
    reported = select(Ticket).where(
        Ticket.handling_unit_id.in_(units), Ticket.created_at >= start, Ticket.created_at < end
    ).subquery()
    return Figures(
        period=period,
        as_of=now,
        unit={"code": root.code, "name": root.name, "name_en": root.name_en or root.name},
        counts=_counts(reported),
        kpis=kpis,
        domains=_domains(reported),
        trend=_trend(period, units, start, end, settings.timezone),
        cases=_cases(units, settings.timezone),
    )


def _counts(reported: Any) -> dict[str, int]:
    by_state: Counter[State] = Counter(
        {State(s): n for s, n in db.session.execute(select(reported.c.state, func.count()).group_by(reported.c.state))}
    )
    return {
        "reported": sum(by_state.values()),
        "open": sum(by_state[s] for s in OPEN_STATES),
        "resolved": by_state[State.RESOLVED],
        "closed": by_state[State.CLOSED],
    }


def _domains(reported: Any) -> list[dict[str, Any]]:
    """Reports per domain (a sub-category counts for its domain), every active domain listed."""
    domain_id = func.coalesce(Category.parent_id, Category.id)
    rows = db.session.execute(
        select(domain_id, reported.c.state, func.count())
        .select_from(reported)
        .join(Category, Category.id == reported.c.category_id)
        .group_by(domain_id, reported.c.state)
    ).all()
    reports: Counter[int] = Counter()
    closed: Counter[int] = Counter()
    for dom, state, n in rows:
        reports[dom] += n
        if State(state) in (State.RESOLVED, State.CLOSED):
            closed[dom] += n
    domains = db.session.scalars(select(Category).where(Category.parent_id.is_(None)).order_by(Category.sort))
    return [
        {"code": d.code, "name": d.name, "name_en": d.name_en or d.name, "reported": reports[d.id],
         "done": closed[d.id]}
        for d in domains
        if d.active or reports[d.id]
    ]


def _trend(period: Period, units: list[int], start: datetime, end: datetime, tz_name: str) -> list[dict[str, Any]]:
    """Reports and resolutions per week (month, quarter) or per month (year) of the period."""
    tz = ZoneInfo(tz_name)
    buckets = _buckets(period)
    reported = db.session.scalars(
        select(Ticket.created_at).where(
            Ticket.handling_unit_id.in_(units), Ticket.created_at >= start, Ticket.created_at < end
        )
    )
    resolved = db.session.scalars(
        select(TicketEvent.at).where(
            TicketEvent.action == Action.RESOLVE,
            TicketEvent.handling_unit_id.in_(units),
            TicketEvent.at >= start,
            TicketEvent.at < end,
        )
    )
    counts: dict[str, Counter[date]] = {"reported": Counter(), "resolved": Counter()}
    for name, moments in (("reported", reported), ("resolved", resolved)):
        for moment in moments:
            counts[name][_bucket_of(period, moment.astimezone(tz).date())] += 1
    return [
        {"start": b, "reported": counts["reported"][b], "resolved": counts["resolved"][b]} for b in buckets
    ]


def _buckets(period: Period) -> list[date]:
    """The first day of each bucket of the period: the period's first day, then each Monday
    (weeks) or each first of the month (months) up to the period's end."""
    found: list[date] = []
    day = period.first
    while day < period.last:
        found.append(day)
        if period.by_week:
            day = day - timedelta(days=day.weekday()) + timedelta(days=7)
        else:
            day = _next_month(day)
    return found


def _bucket_of(period: Period, day: date) -> date:
    """The first day of the bucket `day` falls in: its week's Monday (not before the period), or its month."""
    if period.by_week:
        return max(day - timedelta(days=day.weekday()), period.first)
    return day.replace(day=1)


def _next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def _satisfied_closed(units: list[int]) -> Any:
    """Public tickets of the subtree closed with a 满意 or 基本满意 final rating."""
    return (
        select(Ticket)
        .join(Rating, Rating.id == Ticket.final_rating_id)
        .where(
            Ticket.handling_unit_id.in_(units),
            Ticket.visibility == Visibility.PUBLIC,
            Ticket.state == State.CLOSED,
            Ticket.closed_reason == ClosedReason.RATED,
            Rating.score.in_(list(metrics.SATISFIED)),
        )
    )


def public_photos(ticket_ids: list[int]) -> dict[int, tuple[list[int], list[int]]]:
    """Each ticket's published photo ids: (before: report and add-info photos, after: the last resolve's).

    Only images (a video has no metadata-free copy) that the reporter or a supervisor agreed
    to publish (``public_ok``), split as the API's ``before_after`` does. Two queries in all.
    """
    found: dict[int, tuple[list[int], list[int]]] = {t: ([], []) for t in ticket_ids}
    if not ticket_ids:
        return found
    last_resolve = dict(
        db.session.execute(
            select(TicketEvent.ticket_id, func.max(TicketEvent.id))
            .where(TicketEvent.ticket_id.in_(ticket_ids), TicketEvent.action == Action.RESOLVE)
            .group_by(TicketEvent.ticket_id)
        ).all()
    )
    rows = db.session.execute(
        select(Photo.id, Photo.ticket_id, TicketEvent.id, TicketEvent.action)
        .join(TicketEvent, TicketEvent.id == Photo.event_id)
        .where(Photo.ticket_id.in_(ticket_ids), Photo.public_ok.is_(True), Photo.display_key != "",
               Photo.thumb_key != "")
        .order_by(Photo.id)
    ).all()
    for photo_id, ticket_id, event_id, action in rows:
        if Action(action) in (Action.REPORT, Action.ADD_INFO):
            found[ticket_id][0].append(photo_id)
        elif event_id == last_resolve.get(ticket_id):
            found[ticket_id][1].append(photo_id)
    return found


def _cases(units: list[int], tz_name: str, limit: int = CASES_SHOWN) -> list[dict[str, Any]]:
    """The newest satisfied cases, those with published before and after photos first."""
    tz = ZoneInfo(tz_name)
    candidates = db.session.execute(
        _satisfied_closed(units).with_only_columns(Ticket.id, Rating.score)
        .order_by(Ticket.closed_at.desc(), Ticket.id.desc()).limit(50)
    ).all()
    photos = public_photos([t for t, _ in candidates])

    def rank(item: tuple[int, Any]) -> tuple[bool, bool]:
        before, after = photos[item[0]]
        return not (before and after), not (before or after)

    chosen = sorted(candidates, key=rank)[:limit]  # a stable sort: newest first within each rank
    cases = []
    for ticket_id, score in chosen:
        t = db.session.get(Ticket, ticket_id)
        assert t is not None
        street = t.routed_unit or t.handling_unit
        category = t.category
        reported_at = t.created_at.astimezone(tz)
        resolved_at = (t.resolved_at or t.closed_at or t.created_at).astimezone(tz)
        cases.append({
            "domain": category.domain.name, "domain_en": category.domain.name_en or category.domain.name,
            "category": category.name, "category_en": category.name_en or category.name,
            "place": street.name, "place_en": street.name_en or street.name,
            "unit": t.handling_unit.name, "unit_en": t.handling_unit.name_en or t.handling_unit.name,
            "reported_on": reported_at.date(),
            "days": max((resolved_at - reported_at).total_seconds() / 86400, 0.0),
            "score": getattr(score, "value", score),
            "before": photos[ticket_id][0],
            "after": photos[ticket_id][1],
        })
    return cases


def published_photo(photo_id: int) -> Photo | None:
    """The photo if anyone may see it on the cockpit (the rules of `public_photos`), else None."""
    photo = db.session.get(Photo, photo_id)
    if photo is None or not photo.public_ok:
        return None
    root = root_unit()
    if root is None:
        return None
    eligible = db.session.scalar(
        _satisfied_closed(metrics.subtree_ids(root.id)).with_only_columns(Ticket.id).where(
            Ticket.id == photo.ticket_id
        )
    )
    if eligible is None:
        return None
    before, after = public_photos([eligible])[eligible]
    return photo if photo.id in (*before, *after) else None


# ---------------------------------------------------------------------------- the heat map


@dataclass(frozen=True)
class Heat:
    """Square cells of about `cell_m` metres with at least `min_count` public reports each."""

    cell_m: float
    min_count: int
    cells: list[tuple[tuple[float, float, float, float], int]]  # ((west, south, east, north), reports)
    hidden_reports: int  # reports in cells below min_count (an aggregate: where is not said)

    def geojson(self) -> dict[str, Any]:
        """A FeatureCollection of the cells as polygons with their `count`, and what was withheld."""
        features = [
            {
                "type": "Feature",
                "properties": {"count": n},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[w, s], [e, s], [e, n_], [w, n_], [w, s]]],
                },
            }
            for (w, s, e, n_), n in self.cells
        ]
        return {
            "type": "FeatureCollection",
            "cell_m": self.cell_m,
            "min_count": self.min_count,
            "hidden_reports": self.hidden_reports,
            "features": features,
        }


def cell_of(lon: float, lat: float, cell_m: float) -> tuple[int, int]:
    """The (row, column) of the grid cell holding a point: rows are `cell_m` of latitude, and each
    row's columns are `cell_m` of longitude at the row's middle, so cells are squares on the ground."""
    dlat = cell_m / METRES_PER_DEGREE
    row = math.floor(lat / dlat)
    return row, math.floor(lon / _dlon(row, dlat, cell_m))


def _dlon(row: int, dlat: float, cell_m: float) -> float:
    middle = (row + 0.5) * dlat
    return cell_m / (METRES_PER_DEGREE * max(math.cos(math.radians(middle)), 0.01))


def cell_bounds(row: int, col: int, cell_m: float) -> tuple[float, float, float, float]:
    """(west, south, east, north) of a grid cell, rounded to about a metre."""
    dlat = cell_m / METRES_PER_DEGREE
    dlon = _dlon(row, dlat, cell_m)
    return (round(col * dlon, 5), round(row * dlat, 5), round((col + 1) * dlon, 5), round((row + 1) * dlat, 5))


def heat(period: Period, settings: TicketSettings, *, cell_m: float, min_count: int) -> Heat:
    """Public reports of the period binned into cells; cells with fewer than `min_count` are withheld."""
    root = root_unit()
    if root is None:
        return Heat(cell_m, min_count, [], 0)
    start, end = metrics.local_period(period.first, period.last, settings.timezone)
    rows = db.session.execute(
        select(func.ST_X(Ticket.location), func.ST_Y(Ticket.location)).where(
            Ticket.handling_unit_id.in_(metrics.subtree_ids(root.id)),
            Ticket.created_at >= start,
            Ticket.created_at < end,
            Ticket.visibility == Visibility.PUBLIC,
            Ticket.state.not_in(NOT_ON_MAP),
            (Ticket.closed_reason.is_(None)) | (Ticket.closed_reason != ClosedReason.WITHDRAWN),
        )
    ).all()
    counts: Counter[tuple[int, int]] = Counter(cell_of(float(x), float(y), cell_m) for x, y in rows)
    shown = sorted(((cell, n) for cell, n in counts.items() if n >= min_count), key=lambda item: item[0])
    hidden = sum(n for n in counts.values() if n < min_count)
    return Heat(cell_m, min_count, [(cell_bounds(r, c, cell_m), n) for (r, c), n in shown], hidden)


# ---------------------------------------------------------------------------- the cache


class Cache:
    """A small in-process cache with a lifetime per entry (each web process keeps its own).

    The cockpit is public and its figures take a few queries; for `seconds` after one
    visitor's request every other visitor gets the same figures.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._entries: dict[Hashable, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, seconds: float, make: Callable[[], T]) -> T:
        """The value under `key` if younger than `seconds`, else `make()` (stored when seconds > 0)."""
        now = self.clock()
        with self._lock:
            hit = self._entries.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]  # type: ignore[no-any-return]
        value = make()
        if seconds > 0:
            with self._lock:
                # Old periods' entries would pile up otherwise: drop the expired ones on write.
                self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
                self._entries[key] = (now + seconds, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def cache_of(app: Flask) -> Cache:
    """The app's cockpit cache (one per app: tests run several apps in one process)."""
    found = app.extensions.get("cockpit_cache")
    if found is None:
        found = app.extensions["cockpit_cache"] = Cache()
    return found  # type: ignore[no-any-return]
