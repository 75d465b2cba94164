"""KPIs per org unit (with its subtree), category and period, derived from the event history.

Every figure comes with its numerator and denominator, so a number on a dashboard can be
explained ticket by ticket. A rate whose denominator is 0 has the value ``None``, not 0.

Population: dispatches (派单)
    A *dispatch* is one hand-over of a ticket to a unit: a ``report`` or ``forward`` event, a
    ``redispatch``, a ``transfer``, a ``rate`` that opens a new round (不满意) or a ``reopen``.
    It belongs to the unit that received it (the event's ``handling_unit_id``) and lasts until
    it is resolved, returned or ended (invalid, duplicate, closed), or the ticket is
    dispatched again (a transfer before acceptance ends it too). The population of a filter
    is every dispatch received by a unit in the subtree of ``unit_id`` (``OrgUnit.path``
    prefix) at a time in ``[start, end)``, of tickets in ``category_code`` (the ticket's
    current category) when given. A ticket moved between units (returned and re-dispatched,
    or transferred) therefore counts once for each unit that received it, each judged on its
    own part. The figures of a period are those of its cohort of dispatches: they may still
    change while those tickets are being worked on.

Excluded tickets
    Tickets now invalid (无效), duplicate (重复) or withdrawn (撤回) are left out of every figure
    below; ``excluded`` counts their dispatches in the population.

Rates (numerator ÷ denominator, over the population)
    response_rate
        dispatches accepted at or before their response deadline ÷ dispatches that were
        accepted, or whose response deadline passed while the dispatch lasted unaccepted
        (a dispatch returned or transferred before its response deadline is not judged).
    on_time_rate
        dispatches resolved at or before their resolution deadline ÷ dispatches resolved,
        plus dispatches whose resolution deadline passed unresolved while the dispatch lasted
        (overdue open tickets, and tickets handed on after their deadline, count against it).
    resolution_rate
        dispatches that ended in a ``resolve`` event (any outcome) ÷ dispatches.
    satisfaction_first_round
        round-1 ratings of 满意 or 基本满意 ÷ round-1 ratings.
    satisfaction_final
        the same over each ticket's last rating (its latest round that was rated).
    rehandling_rate
        resolved dispatches whose result was sent back for another round (a 不满意 rating or a
        supervisor's ``reopen``) ÷ resolved dispatches.
    return_rate
        dispatches ended by a ``return`` (退单) ÷ dispatches.
    doubtful_evidence_rate
        ``progress`` and ``resolve`` events during the population's dispatches that carried
        evidence flags ÷ all such events. (The supervisors' per-unit list,
        ``services.evidence.doubtful_evidence_counts``, counts by the acting person's unit
        and time instead; this one follows the dispatch, so the category filter applies.)

    A rating belongs to the dispatch whose resolution it judged. Deadlines are those recorded
    on the dispatch event (``data.deadlines``), moved by approved extensions during it; a
    ``redispatch`` records none, so its deadlines are recomputed from the category and the
    working calendar, as the service did.

Times (working hours, office hours on working days only: holidays and weekends do not count)
    response_hours: dispatch → first ``accept`` of that dispatch, over accepted dispatches.
    resolution_hours: dispatch → ``resolve``, over resolved dispatches.
    Each gives ``count``, ``median`` and ``average`` (``None`` when the count is 0).

Counts as of ``now`` (a snapshot of the tickets, not of the period's cohort)
    open: tickets of the subtree (and category) in a working state (dispatched, accepted,
    returned). overdue: dispatched ones past their response or resolution deadline, accepted
    ones past their resolution deadline. due_soon: not overdue, and within
    ``due_soon_response_hours`` working hours of the response deadline (dispatched) or
    ``due_soon_resolution_hours`` of the resolution deadline. Returned tickets are open but
    neither due soon nor overdue: the decision is with the supervisor.

Implementation: one fact row per dispatch (``kpi_facts``) holds what the figures need of
it, worked out once from the trail; per unit and local month, ``kpi_months`` sums them and
``kpi_month_hist`` counts their working times per bucket. The worker keeps all three
(``ticketing.services.kpi_facts``). ``compute`` first rebuilds the facts of tickets changed
since the last refresh, then adds up whole months from the monthly rows and the rest of the
period (or a category's tickets) from the facts, in SQL, with ``now`` as a parameter of what
depends on it. Medians and averages are exactly those ``statistics`` gives for the hours the
calendar computes. ``compute_from_events`` walks the events instead: the reference, for
tests and consistency checks.
"""

from __future__ import annotations

import logging
import math
import statistics
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    and_,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
)

from ticketing.errors import NotFound
from ticketing.extensions import db
from ticketing.models import (
    Category,
    KpiFact,
    KpiMonth,
    KpiMonthHist,
    OrgUnit,
    Rating,
    Ticket,
    TicketEvent,
    User,
    UTCDateTime,
)
from ticketing.services import kpi_facts
from ticketing.services.kpi_facts import (
    DISPATCH_ACTIONS,
    EVIDENCE_ACTIONS,
    SATISFIED,
    Dispatch,
)
from ticketing.settings import TicketSettings
from ticketing.workflow import Action, Role, State
from ticketing.worktime import WorkCalendar

__all__ = [
    "DISPATCH_ACTIONS",
    "DUE_SOON",
    "EVIDENCE_ACTIONS",
    "MICROSECONDS_PER_HOUR",
    "OPEN_WORK",
    "OVERDUE",
    "SATISFIED",
    "KpiFilter",
    "compute",
    "compute_from_events",
    "deadline_status",
    "differences",
    "due_soon_until",
    "local_period",
    "rate",
    "subtree_ids",
    "visible_unit",
    "whole_months",
]

log = logging.getLogger(__name__)
OPEN_WORK = frozenset({State.DISPATCHED, State.ACCEPTED, State.RETURNED})
MICROSECONDS_PER_HOUR = kpi_facts.MICROSECONDS_PER_HOUR


@dataclass(frozen=True)
class KpiFilter:
    """Which dispatches to measure: a unit with its subtree, a period [start, end) (aware datetimes), a category."""

    unit_id: int
    start: datetime
    end: datetime
    category_code: str | None = None


def _utc(moment: datetime | None) -> datetime | None:
    # SQLite hands datetimes back naive; they are UTC by convention.
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment


def rate(numerator: int, denominator: int) -> dict[str, Any]:
    """A rate with its parts; value None when nothing was measured."""
    value = round(numerator / denominator, 4) if denominator else None
    return {"numerator": numerator, "denominator": denominator, "value": value}


def _durations(hours: list[float]) -> dict[str, Any]:
    if not hours:
        return {"count": 0, "median": None, "average": None}
    return {
        "count": len(hours),
        "median": round(statistics.median(hours), 2),
        "average": round(statistics.fmean(hours), 2),
    }


def visible_unit(actor: User, code: str | None) -> OrgUnit:
    """The unit whose KPIs `actor` asks for (their own when `code` is None), or 404 `unit_not_found`.

    Supervisors and admins see units in their subtree (an admin without a unit sees all),
    handlers their own unit; for anyone else every unit is "not found".
    """
    unit = db.session.scalar(select(OrgUnit).where(OrgUnit.code == code)) if code else actor.unit
    if unit is not None:
        if actor.role == Role.ADMIN and actor.unit is None:
            return unit
        if actor.role in (Role.SUPERVISOR, Role.ADMIN) and actor.unit is not None and unit.is_within(actor.unit):
            return unit
        if actor.role == Role.HANDLER and unit.id == actor.unit_id:
            return unit
    raise NotFound("no such unit among those you may see", code="unit_not_found", details={"unit": code})


def local_period(first: date, last_exclusive: date, tz_name: str) -> tuple[datetime, datetime]:
    """[start, end) in UTC from local dates: from the first day's midnight to the last day's."""
    tz = ZoneInfo(tz_name)
    start = datetime.combine(first, time(0), tz).astimezone(timezone.utc)
    return start, datetime.combine(last_exclusive, time(0), tz).astimezone(timezone.utc)


def subtree_ids(unit_id: int) -> list[int]:
    """The ids of a unit and every unit below it."""
    unit = db.session.get(OrgUnit, unit_id)
    if unit is None:
        return []
    return list(db.session.scalars(select(OrgUnit.id).where(OrgUnit.path.startswith(unit.path, autoescape=True))))


def _category_ids(code: str | None) -> list[int] | None:
    """The ids a category filter keeps (None: no filter; an unknown code keeps nothing)."""
    if not code:
        return None
    return list(db.session.scalars(select(Category.id).where(Category.code == code)))


# ------------------------------------------------------------------- the rollup path


def compute(
    kpi_filter: KpiFilter,
    now: datetime,
    settings: TicketSettings,
    *,
    due_soon_response_hours: float = 1.0,
    due_soon_resolution_hours: float = 4.0,
) -> dict[str, Any]:
    """Every KPI of the filter as of `now` (definitions in the module docstring).

    Exact right after any change: the facts of tickets changed since the last refresh are
    rebuilt first, in the caller's transaction (a cache fill, like the worker's; a caller
    that rolls back leaves that work to the worker). On PostgreSQL this waits for a refresh
    running elsewhere. Nothing else is written. With more than `kpi_facts.CATCH_UP_LIMIT`
    tickets' events waiting (a backfill), it walks the events instead (`compute_from_events`).
    """
    inputs = kpi_facts.load_inputs(db.session, settings)
    if not kpi_facts.ensure_fresh(settings, now, inputs):
        # A backfill is under way (or the worker has long been stopped): the walk is exact too.
        log.warning("KPI rollups are %s+ queue rows behind: walking the events", kpi_facts.CATCH_UP_LIMIT)
        return compute_from_events(kpi_filter, now, settings, due_soon_response_hours=due_soon_response_hours,
                                   due_soon_resolution_hours=due_soon_resolution_hours)
    units = subtree_ids(kpi_filter.unit_id)
    categories = _category_ids(kpi_filter.category_code)
    return {
        **_aggregate(units, kpi_filter.start, kpi_filter.end, categories, now, inputs.tz),
        **_snapshot(units, categories, now, inputs.calendar, due_soon_response_hours, due_soon_resolution_hours),
    }


def whole_months(start: datetime, end: datetime, tz: ZoneInfo) -> tuple[date, date] | None:
    """The local months lying wholly in [start, end), as (first month, month after the last); None if none."""
    first = kpi_facts.local_month(start, tz)
    if _midnight(first, tz) < start:
        first = _next_month(first)
    after = kpi_facts.local_month(end, tz)
    return (first, after) if first < after else None


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tz).astimezone(timezone.utc)


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _aggregate(
    units: list[int],
    start: datetime,
    end: datetime,
    categories: list[int] | None,
    now: datetime,
    tz: ZoneInfo,
    *,
    months: bool = True,
) -> dict[str, Any]:
    """The population's figures. Whole local months come from `kpi_months` (when no category
    is asked for; `months=False`: never), the rest of the period from `kpi_facts`."""
    span = whole_months(start, end, tz) if months and categories is None else None
    if span is None:
        ranges = [(start, end)]
    else:
        ranges = [r for r in ((start, _midnight(span[0], tz)), (_midnight(span[1], tz), end)) if r[0] < r[1]]
    sums = dict.fromkeys(kpi_facts.MONTH_SUMS, 0)
    hist: dict[str, dict[int, int]] = {name: defaultdict(int) for name in kpi_facts.MEASURES}
    if ranges:
        _add_fact_sums(sums, hist, units, ranges, categories, now)
    if span is not None:
        _add_month_sums(sums, hist, units, span, (_midnight(span[0], tz), _midnight(span[1], tz)), now)
    population = [*_population(units, start, end, categories), not_(KpiFact.__table__.c.excluded)]
    durations = {
        f"{name}_hours": _durations_exact(name, sums[f"{name}_n"], sums[f"{name}_us"], hist[name], population)
        for name in kpi_facts.MEASURES
    }
    return {"dispatches": sums["dispatches"], "excluded": sums["excluded"], **_figures(sums), **durations}


def _add_fact_sums(
    sums: dict[str, int],
    hist: dict[str, dict[int, int]],
    units: list[int],
    ranges: list[tuple[datetime, datetime]],
    categories: list[int] | None,
    now: datetime,
) -> None:
    """Add the facts dispatched in `ranges`: their counts, sums and histograms."""
    f = KpiFact.__table__.c
    at_now = func.coalesce(f.ended_at, _moment(now))
    counted = not_(f.excluded)

    # Every aggregate filtered by `excluded` rather than grouped by it: fewer groups.
    def count(condition: ColumnElement[bool]) -> Any:
        return func.count().filter(and_(counted, condition))

    def total(column: Any) -> Any:
        return func.coalesce(func.sum(column).filter(counted), 0)

    columns: dict[str, Any] = {
        "excluded": func.count().filter(f.excluded),
        "dispatches": func.count().filter(counted),
        "resp_num": count(and_(f.accepted_at.is_not(None),
                               or_(f.response_due.is_(None), f.accepted_at <= f.response_due))),
        "resp_den": count(or_(f.accepted_at.is_not(None),
                              and_(f.response_due.is_not(None), f.response_due < at_now))),
        "ontime_num": count(and_(f.resolved_at.is_not(None),
                                 or_(f.resolution_due.is_(None), f.resolved_at <= f.resolution_due))),
        "ontime_den": count(or_(f.resolved_at.is_not(None),
                                and_(f.resolution_due.is_not(None), f.resolution_due < at_now))),
        "resolved": count(f.resolved_at.is_not(None)),
        "first_ok": total(f.first_satisfied),
        "first_n": total(f.first_rated),
        "final_ok": total(f.final_satisfied),
        "final_n": total(f.final_rated),
        "rehandled": count(and_(f.resolved_at.is_not(None), f.rehandled)),
        "returned": count(f.returned),
        "flagged": total(f.evidence_flagged),
        "steps": total(f.evidence_steps),
        "response_n": count(f.response_us.is_not(None)),
        "response_us": total(f.response_us),
        "resolution_n": count(f.resolution_us.is_not(None)),
        "resolution_us": total(f.resolution_us),
    }
    in_ranges = or_(*(and_(f.dispatched_at >= a, f.dispatched_at < b) for a, b in ranges))
    where = [f.unit_id.in_(units), in_ranges]
    if categories is not None:
        where.append(f.category_id.in_(categories))
    # One pass for the sums and both histograms: grouped by the pair of buckets (a few hundred
    # groups), the totals and each histogram are sums of the groups.
    buckets = [f[f"{name}_bucket"] for name in kpi_facts.MEASURES]
    query = select(*buckets, *(c.label(k) for k, c in columns.items())).where(*where).group_by(*buckets)
    for row in db.session.execute(query):
        for name in columns:
            sums[name] += int(getattr(row, name))
        for name, b in zip(kpi_facts.MEASURES, row[: len(buckets)], strict=True):
            if b is not None:
                hist[name][b] += int(row.dispatches)  # the group's facts that count, all with that bucket


def _add_month_sums(
    sums: dict[str, int],
    hist: dict[str, dict[int, int]],
    units: list[int],
    span: tuple[date, date],
    instants: tuple[datetime, datetime],
    now: datetime,
) -> None:
    """Add whole months: their sums and histograms, and for dispatches still lasting, the
    deadlines that have passed by `now` (the part of the denominators the months leave out)."""
    m, h, f = KpiMonth.__table__.c, KpiMonthHist.__table__.c, KpiFact.__table__.c
    row = db.session.execute(
        select(*(func.coalesce(func.sum(m[name]), 0).label(name) for name in kpi_facts.MONTH_SUMS)).where(
            m.unit_id.in_(units), m.month >= span[0], m.month < span[1]
        )
    ).one()
    for name in kpi_facts.MONTH_SUMS:
        sums[name] += int(getattr(row, name))
    measures = {v: k for k, v in kpi_facts.MEASURES.items()}
    for measure, b, n in db.session.execute(
        select(h.measure, h.bucket, func.sum(h.n))
        .where(h.unit_id.in_(units), h.month >= span[0], h.month < span[1])
        .group_by(h.measure, h.bucket)
    ):
        hist[measures[measure]][b] += int(n)
    at_now = _moment(now)
    # `ended_at IS NULL` as written in the partial index ix_kpi_facts_lasting.
    late = db.session.execute(
        select(
            func.count().filter(and_(f.accepted_at.is_(None), f.response_due.is_not(None), f.response_due < at_now)),
            func.count().filter(and_(f.resolved_at.is_(None), f.resolution_due.is_not(None),
                                     f.resolution_due < at_now)),
        ).where(f.unit_id.in_(units), f.dispatched_at >= instants[0], f.dispatched_at < instants[1],
                f.ended_at.is_(None), not_(f.excluded))
    ).one()
    sums["resp_den"] += late[0]
    sums["ontime_den"] += late[1]


def _population(units: list[int], start: datetime, end: datetime, categories: list[int] | None) -> list[Any]:
    f = KpiFact.__table__.c
    where: list[Any] = [f.unit_id.in_(units), f.dispatched_at >= start, f.dispatched_at < end]
    if categories is not None:
        where.append(f.category_id.in_(categories))
    return where


def _moment(value: datetime) -> Any:
    """A bound timestamp stored as the columns store theirs (UTC; SQLite: its text form)."""
    return literal(value, UTCDateTime())


def _figures(sums: dict[str, int]) -> dict[str, Any]:
    """The rates from the population's sums."""
    return {
        "response_rate": rate(sums["resp_num"], sums["resp_den"]),
        "on_time_rate": rate(sums["ontime_num"], sums["ontime_den"]),
        "resolution_rate": rate(sums["resolved"], sums["dispatches"]),
        "satisfaction_first_round": rate(sums["first_ok"], sums["first_n"]),
        "satisfaction_final": rate(sums["final_ok"], sums["final_n"]),
        "rehandling_rate": rate(sums["rehandled"], sums["resolved"]),
        "return_rate": rate(sums["returned"], sums["dispatches"]),
        "doubtful_evidence_rate": rate(sums["flagged"], sums["steps"]),
    }


def _durations_exact(
    name: str, count: int, total_us: int, hist: dict[int, int], population: list[Any]
) -> dict[str, Any]:
    """`_durations` of the population's hours from their count, exact sum and histogram.

    The two middle rows are located in the histogram, then read from the facts of their
    bucket only (ix_kpi_facts_<name>_bucket); the average needs no row unless it lies on a
    rounding boundary (`_average`).
    """
    if not count:
        return {"count": 0, "median": None, "average": None}
    us = KpiFact.__table__.c[f"{name}_us"]
    column = KpiFact.__table__.c[f"{name}_bucket"]

    def values(*where: Any) -> list[int]:
        return list(db.session.scalars(select(us).where(*population, us.is_not(None), *where).order_by(us)))

    lower, upper = (count + 1) // 2, count // 2 + 1  # 1-based ranks; equal when the count is odd
    found: dict[int, int] = {}
    below = 0
    for b in sorted(hist):
        n = hist[b]
        ranks = [r for r in (lower, upper) if below < r <= below + n]
        if ranks:
            in_bucket = values(column == b)
            if len(in_bucket) != n:
                # The months disagree with the facts: a bug to report, but the figure stays exact.
                log.error("kpi_months: %s bucket %s counts %s, the facts %s", name, b, n, len(in_bucket))
                ordered = values()
                found = {r: ordered[r - 1] for r in (lower, upper)}
                break
            found.update({r: in_bucket[r - below - 1] for r in ranks})
        below += n
    low, high = found[lower] / MICROSECONDS_PER_HOUR, found[upper] / MICROSECONDS_PER_HOUR
    # statistics.median: the middle value, or the mean of the two middle values; (x + x)/2 == x.
    return {"count": count, "median": round((low + high) / 2, 2), "average": _average(total_us, count, values)}


def _average(total_us: int, count: int, values: Callable[[], list[int]]) -> float:
    """``round(statistics.fmean(hours), 2)`` from the exact sum of the hours' microseconds.

    fmean rounds the exact sum of the float hours once (math.fsum), then divides: it lies
    within 4·2⁻⁵³ of the exact mean, relatively. Rounded to two decimals both agree unless the
    exact mean is that close to a rounding boundary (x.xx5); then the hours themselves decide.
    """
    exact = Fraction(total_us, count * MICROSECONDS_PER_HOUR)
    boundary = (math.floor(exact * 100) + Fraction(1, 2)) / 100
    if abs(exact - boundary) > exact * Fraction(1, 10**14):
        return round(float(exact), 2)
    return round(statistics.fmean(us / MICROSECONDS_PER_HOUR for us in values()), 2)


def due_soon_until(cal: WorkCalendar, now: datetime, hours: float) -> datetime | None:
    """The latest deadline that is due soon at `now`: for a deadline `due` >= now,
    ``cal.working_hours_between(now, due) <= hours`` exactly when ``due <= due_soon_until(...)``.

    None when no deadline can be (negative hours). Working time only grows in office hours:
    the moment `hours` are reached, or, if that is an interval's end, the next interval's start.
    """
    if hours < 0:
        return None
    # The most whole microseconds whose hours (as the calendar divides them) do not exceed `hours`.
    micro = int(hours * MICROSECONDS_PER_HOUR)
    while (micro + 1) / MICROSECONDS_PER_HOUR <= hours:
        micro += 1
    while micro / MICROSECONDS_PER_HOUR > hours:
        micro -= 1
    reached = cal.add_working_hours(now, micro / MICROSECONDS_PER_HOUR)
    for start, end in cal.office_intervals(cal.local_date(reached)):
        if end <= reached:
            continue
        return max(reached, start)
    raise AssertionError("unreachable: office_intervals never ends")


def _snapshot(
    units: list[int],
    categories: list[int] | None,
    now: datetime,
    cal: WorkCalendar,
    response_hours: float,
    resolution_hours: float,
) -> dict[str, int]:
    """Open, due-soon and overdue tickets counted in SQL (the rule of `deadline_status`)."""
    t = Ticket.__table__.c

    def before(column: Any, moment: datetime | None, *, inclusive: bool = False) -> ColumnElement[bool]:
        # Never NULL: a missing deadline is neither overdue nor due soon.
        if moment is None:
            return false()
        bound = _moment(moment)
        return and_(column.is_not(None), column <= bound if inclusive else column < bound)

    dispatched, accepted = t.state == State.DISPATCHED, t.state == State.ACCEPTED
    overdue = or_(
        and_(dispatched, or_(before(t.response_due_at, now), before(t.resolution_due_at, now))),
        and_(accepted, before(t.resolution_due_at, now)),
    )
    respond_by = due_soon_until(cal, now, response_hours)
    resolve_by = due_soon_until(cal, now, resolution_hours)
    soon = or_(
        and_(dispatched, or_(before(t.response_due_at, respond_by, inclusive=True),
                             before(t.resolution_due_at, resolve_by, inclusive=True))),
        and_(accepted, before(t.resolution_due_at, resolve_by, inclusive=True)),
    )
    # The same state list as the partial index ix_tickets_open_work, so the planner can use it.
    where: list[Any] = [t.handling_unit_id.in_(units), t.state.in_([State.DISPATCHED, State.ACCEPTED, State.RETURNED])]
    if categories is not None:
        where.append(t.category_id.in_(categories))
    opened, overdue_n, soon_n = db.session.execute(
        select(func.count(), func.count().filter(overdue), func.count().filter(and_(not_(overdue), soon))).where(*where)
    ).one()
    return {"open": opened, "due_soon": soon_n, "overdue": overdue_n}


OVERDUE = "overdue"
DUE_SOON = "due_soon"


def deadline_status(
    state: State,
    response_due: datetime | None,
    resolution_due: datetime | None,
    now: datetime,
    cal: WorkCalendar,
    response_hours: float,
    resolution_hours: float,
) -> str | None:
    """One ticket's ``OVERDUE``, ``DUE_SOON`` or None, by the rule of the snapshot counts (module
    docstring): the dashboards list ticket by ticket what those counts count."""
    if state not in (State.DISPATCHED, State.ACCEPTED):
        return None  # returned: the decision is with the supervisor; other states owe no work
    response_due, resolution_due = _utc(response_due), _utc(resolution_due)
    checks: list[tuple[datetime | None, float]] = [(resolution_due, resolution_hours)]
    if state == State.DISPATCHED:
        checks.insert(0, (response_due, response_hours))
    deadlines = [(due, hours) for due, hours in checks if due is not None]
    if any(due < now for due, _ in deadlines):
        return OVERDUE
    if any(cal.working_hours_between(now, due) <= hours for due, hours in deadlines):
        return DUE_SOON
    return None


# ------------------------------------------------------------------- the reference: walking the events


def compute_from_events(
    kpi_filter: KpiFilter,
    now: datetime,
    settings: TicketSettings,
    *,
    due_soon_response_hours: float = 1.0,
    due_soon_resolution_hours: float = 4.0,
) -> dict[str, Any]:
    """`compute` by walking the population's events in Python: O(events), the reference; reads only."""
    units = subtree_ids(kpi_filter.unit_id)
    cal = kpi_facts.work_calendar(db.session, settings)
    category_clause = (
        Ticket.category_id.in_(select(Category.id).where(Category.code == kpi_filter.category_code))
        if kpi_filter.category_code
        else true()
    )
    dispatched_here = (
        select(TicketEvent.ticket_id)
        .where(
            TicketEvent.handling_unit_id.in_(units),
            TicketEvent.at >= kpi_filter.start,
            TicketEvent.at < kpi_filter.end,
            TicketEvent.to_state == State.DISPATCHED,
            TicketEvent.action.in_([*DISPATCH_ACTIONS, Action.RATE]),
        )
        .distinct()
    )
    tickets = {
        t.id: t for t in db.session.scalars(select(Ticket).where(Ticket.id.in_(dispatched_here), category_clause))
    }
    trail: dict[int, list[TicketEvent]] = defaultdict(list)
    if tickets:
        for ev in db.session.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id.in_(list(tickets))).order_by(TicketEvent.at, TicketEvent.id)
        ):
            trail[ev.ticket_id].append(ev)
    last_round = dict(
        db.session.execute(
            select(Rating.ticket_id, Rating.round).where(Rating.ticket_id.in_(list(tickets))).order_by(Rating.round)
        ).all()
    ) if tickets else {}

    unit_set = set(units)
    population: list[Dispatch] = []
    excluded = 0
    for ticket_id, ticket in tickets.items():
        deadlines_for = kpi_facts.category_deadlines(
            cal, ticket.category.response_hours, ticket.category.resolution_days
        )
        mine = [
            d
            for d in kpi_facts.dispatches(ticket_id, trail[ticket_id], deadlines_for)
            if d.unit_id in unit_set and kpi_filter.start <= d.at < kpi_filter.end
        ]
        if kpi_facts.is_excluded(ticket.state, ticket.closed_reason):
            excluded += len(mine)
            continue
        population.extend(mine)

    return {
        "dispatches": len(population),
        "excluded": excluded,
        **_rates(population, last_round, now),
        "response_hours": _durations(
            [cal.working_hours_between(d.at, d.accepted_at) for d in population if d.accepted_at]
        ),
        "resolution_hours": _durations(
            [cal.working_hours_between(d.at, d.resolved_at) for d in population if d.resolved_at]
        ),
        **_snapshot_by_ticket(units, category_clause, now, cal, due_soon_response_hours, due_soon_resolution_hours),
    }


def _rates(population: list[Dispatch], last_round: dict[int, int], now: datetime) -> dict[str, Any]:
    resp_num = resp_den = ontime_num = ontime_den = 0
    for d in population:
        lasted_until = d.ended_at or now
        if d.accepted_at is not None:
            resp_den += 1
            resp_num += 1 if d.response_due is None or d.accepted_at <= d.response_due else 0
        elif d.response_due is not None and d.response_due < lasted_until:
            resp_den += 1
        if d.resolved_at is not None:
            ontime_den += 1
            ontime_num += 1 if d.resolution_due is None or d.resolved_at <= d.resolution_due else 0
        elif d.resolution_due is not None and d.resolution_due < lasted_until:
            ontime_den += 1
    first = [score for d in population for rnd, score in d.ratings if rnd == 1]
    final = [
        score for d in population for rnd, score in d.ratings if last_round.get(d.ticket_id) == rnd
    ]
    resolved = [d for d in population if d.resolved_at is not None]
    return {
        "response_rate": rate(resp_num, resp_den),
        "on_time_rate": rate(ontime_num, ontime_den),
        "resolution_rate": rate(len(resolved), len(population)),
        "satisfaction_first_round": rate(sum(s in SATISFIED for s in first), len(first)),
        "satisfaction_final": rate(sum(s in SATISFIED for s in final), len(final)),
        "rehandling_rate": rate(sum(d.rehandled for d in resolved), len(resolved)),
        "return_rate": rate(sum(d.returned for d in population), len(population)),
        "doubtful_evidence_rate": rate(
            sum(d.evidence_flagged for d in population), sum(d.evidence_steps for d in population)
        ),
    }


def _snapshot_by_ticket(
    units: list[int],
    category_clause: Any,
    now: datetime,
    cal: WorkCalendar,
    response_hours: float,
    resolution_hours: float,
) -> dict[str, int]:
    rows = db.session.execute(
        select(Ticket.state, Ticket.response_due_at, Ticket.resolution_due_at).where(
            Ticket.handling_unit_id.in_(units), Ticket.state.in_(OPEN_WORK), category_clause
        )
    ).all()
    overdue = due_soon = 0
    for state, response_due, resolution_due in rows:
        status = deadline_status(state, response_due, resolution_due, now, cal, response_hours, resolution_hours)
        overdue += status == OVERDUE
        due_soon += status == DUE_SOON
    return {"open": len(rows), "due_soon": due_soon, "overdue": overdue}


def differences(
    kpi_filter: KpiFilter, now: datetime, settings: TicketSettings, **due_soon: float
) -> dict[str, tuple[Any, Any]]:
    """Where `compute` and `compute_from_events` disagree: name → (facts, events); empty when consistent."""
    facts = compute(kpi_filter, now, settings, **due_soon)
    events = compute_from_events(kpi_filter, now, settings, **due_soon)
    return {name: (facts.get(name), events.get(name)) for name in facts.keys() | events.keys()
            if facts.get(name) != events.get(name)}
