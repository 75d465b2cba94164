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

Implementation: a few queries fetch the population's events, then Python aggregates. That
is fine for a district; at city scale a rollup table filled by the worker is the next step.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, true

from ticketing.errors import NotFound
from ticketing.extensions import db
from ticketing.models import Category, OrgUnit, Rating, Ticket, TicketEvent, User
from ticketing.services import dispatch
from ticketing.settings import TicketSettings
from ticketing.workflow import Action, ClosedReason, Role, Score, State
from ticketing.worktime import WorkCalendar, calendar_for

DISPATCH_ACTIONS = frozenset({Action.REPORT, Action.FORWARD, Action.REDISPATCH, Action.TRANSFER, Action.REOPEN})
EVIDENCE_ACTIONS = frozenset({Action.PROGRESS, Action.RESOLVE})
SATISFIED = frozenset({Score.SATISFIED, Score.BASICALLY_SATISFIED})
OPEN_WORK = frozenset({State.DISPATCHED, State.ACCEPTED, State.RETURNED})


@dataclass(frozen=True)
class KpiFilter:
    """Which dispatches to measure: a unit with its subtree, a period [start, end) (aware datetimes), a category."""

    unit_id: int
    start: datetime
    end: datetime
    category_code: str | None = None


@dataclass
class _Dispatch:
    ticket_id: int
    unit_id: int | None
    at: datetime
    response_due: datetime | None
    resolution_due: datetime | None
    ended_at: datetime | None = None
    accepted_at: datetime | None = None
    resolved_at: datetime | None = None
    returned: bool = False
    rehandled: bool = False
    ratings: list[tuple[int, Score]] = field(default_factory=list)
    evidence_steps: int = 0
    evidence_flagged: int = 0


def _is_dispatch(event: TicketEvent) -> bool:
    if event.action in DISPATCH_ACTIONS:
        return event.to_state == State.DISPATCHED
    return event.action == Action.RATE and event.to_state == State.DISPATCHED


def _utc(moment: datetime | None) -> datetime | None:
    # SQLite hands datetimes back naive; they are UTC by convention.
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment


def _parse(value: Any) -> datetime | None:
    return _utc(datetime.fromisoformat(value)) if value else None


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


def _dispatches(ticket: Ticket, events: list[TicketEvent], cal_settings: TicketSettings) -> list[_Dispatch]:
    """Split one ticket's trail into its dispatches, with what happened during each."""
    out: list[_Dispatch] = []
    current: _Dispatch | None = None
    for ev in events:
        at = _utc(ev.at)
        assert at is not None
        if ev.action == Action.RATE and current is not None:
            score = Score(ev.data.get("score"))
            current.ratings.append((int(ev.data.get("rated_round", ev.round)), score))
            if score == Score.UNSATISFIED:
                current.rehandled = True
        if ev.action == Action.REOPEN and out:
            out[-1].rehandled = True
        if _is_dispatch(ev):
            if current is not None and current.ended_at is None:
                current.ended_at = at
            deadlines = ev.data.get("deadlines") or {}
            response_due = _parse(deadlines.get("response_due_at"))
            resolution_due = _parse(deadlines.get("resolution_due_at"))
            if not deadlines:
                computed = dispatch.deadlines_from(at, ticket.category, cal_settings)
                response_due, resolution_due = _utc(computed.response_due_at), _utc(computed.resolution_due_at)
            current = _Dispatch(ticket.id, ev.handling_unit_id, at, response_due, resolution_due)
            out.append(current)
            continue
        if current is None or current.ended_at is not None:
            continue
        if ev.action == Action.ACCEPT and current.accepted_at is None:
            current.accepted_at = at
        elif ev.action in EVIDENCE_ACTIONS:
            current.evidence_steps += 1
            current.evidence_flagged += 1 if ev.data.get("evidence_flags") else 0
            if ev.action == Action.RESOLVE:
                current.resolved_at = at
                current.ended_at = at
        elif ev.action == Action.EXTENSION_DECISION and ev.data.get("new_resolution_due_at"):
            current.resolution_due = _parse(ev.data["new_resolution_due_at"])
        elif ev.action == Action.RETURN:
            current.returned = True
            current.ended_at = at
        elif ev.to_state in (State.INVALID, State.DUPLICATE, State.CLOSED, State.DECLINED):
            current.ended_at = at
    return out


def compute(
    kpi_filter: KpiFilter,
    now: datetime,
    settings: TicketSettings,
    *,
    due_soon_response_hours: float = 1.0,
    due_soon_resolution_hours: float = 4.0,
) -> dict[str, Any]:
    """Every KPI of the filter as of `now` (definitions in the module docstring); reads only."""
    units = subtree_ids(kpi_filter.unit_id)
    cal = calendar_for(db.session, now, settings.office_hours, settings.timezone)
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
    population: list[_Dispatch] = []
    excluded = 0
    for ticket_id, ticket in tickets.items():
        mine = [
            d
            for d in _dispatches(ticket, trail[ticket_id], settings)
            if d.unit_id in unit_set and kpi_filter.start <= d.at < kpi_filter.end
        ]
        if _is_excluded(ticket):
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
        **_snapshot(units, category_clause, now, cal, due_soon_response_hours, due_soon_resolution_hours),
    }


def _is_excluded(ticket: Ticket) -> bool:
    return ticket.state in (State.INVALID, State.DUPLICATE) or ticket.closed_reason == ClosedReason.WITHDRAWN


def _rates(population: list[_Dispatch], last_round: dict[int, int], now: datetime) -> dict[str, Any]:
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


def _snapshot(
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
        response_due, resolution_due = _utc(response_due), _utc(resolution_due)
        checks: list[tuple[datetime | None, float]] = [(resolution_due, resolution_hours)]
        if state == State.DISPATCHED:
            checks.insert(0, (response_due, response_hours))
        elif state == State.RETURNED:
            continue
        deadlines = [(due, hours) for due, hours in checks if due is not None]
        if any(due < now for due, _ in deadlines):
            overdue += 1
        elif any(cal.working_hours_between(now, due) <= hours for due, hours in deadlines):
            due_soon += 1
    return {"open": len(rows), "due_soon": due_soon, "overdue": overdue}
