"""The figures of an assessment report (考核报告): one JSON-ready dict per unit and period.

A report is made for a district or a department (`REPORT_UNIT_KINDS`) and a month
(``2026-03``) or a year (``2026``) in local time. What `build` returns is stored with the
files (``AssessmentReport.data``) so that every number in the PDF can be traced back.
Everything is measured over the unit with its subtree:

kpis
    ``ticketing.metrics.compute`` for the period, as of `now` (definitions there).
volume
    Tickets received (派单) in the period: each ticket with a dispatch to the subtree in the
    period counts once, at its first such dispatch, in its category's domain and in the
    trend bucket (7-day blocks from the 1st for a month, months for a year) of that moment.
    Invalid, duplicate and withdrawn tickets are left out, as in the KPIs, and counted in
    ``excluded``. ``resolved`` in the trend counts ``resolve`` events of the subtree.
status
    Where those received tickets stand as of `now`: closed, resolved awaiting a rating,
    in progress, overdue (past a running deadline, as in the KPIs' snapshot), returned, or
    moved to a unit outside the subtree. The parts add up to ``volume.total``.
ranking
    The unit among its siblings (the districts of its city, the departments of its parent):
    each sibling's KPIs for the same period, ranked by the rule of the KPI exports
    (`ticketing.exports.rank`): on-time rate, then resolution rate, higher first; equal
    pairs share a rank; a unit with no on-time rate is not ranked (rank None, listed last).
supervision
    Supervision-list items (挂牌督办) active at some moment of the period whose ticket, or one
    of whose cluster's tickets, is handled in the subtree.
overdue_cases
    The `WORST_OVERDUE` tickets handled in the subtree that were past their (current
    round's) resolution deadline during the period: the deadline fell before the period's
    end (and before `now`), and the ticket was still unresolved after the deadline and after
    the period began. Ranked by working hours past the deadline until resolved (or `now`).
good_cases
    Up to `GOOD_CASES` typical good cases: public tickets handled in the subtree, closed in
    the period with 满意 in their first round, whose report has a photo and whose resolve has
    one with no doubtful-evidence flag (before/after), resolved fastest in working hours.

No reporter appears in the figures: no name, no account, and phone or ID numbers written
into a ticket's text are masked (`redact`).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, func, or_, select

from ticketing import exports, metrics
from ticketing.errors import InvalidInput
from ticketing.extensions import db
from ticketing.models import (
    Category,
    OrgUnit,
    Photo,
    Rating,
    ReportKind,
    SupervisionCandidate,
    SupervisionCandidateTicket,
    SupervisionItem,
    Ticket,
    TicketEvent,
    UnitKind,
)
from ticketing.models.tickets import Visibility
from ticketing.settings import TicketSettings
from ticketing.workflow import Action, ClosedReason, Score, State
from ticketing.worktime import WorkCalendar, calendar_for, parse_office_hours

REPORT_UNIT_KINDS = frozenset({UnitKind.DISTRICT, UnitKind.DEPARTMENT})
TITLE_TAIL = "人大代表随手拍办理情况考核报告"
WORST_OVERDUE = 5
GOOD_CASES = 3
SUMMARY_CHARS = 60
# Bump when the dict's shape changes, so that readers of stored reports can tell.
SCHEMA = 1
# The rates the ranking table shows beside the rank.
RANKING_RATES = ("on_time_rate", "resolution_rate", "satisfaction_final", "response_rate")

STATE_LABELS = {
    State.PENDING_REVIEW: "待代表转交",
    State.DECLINED: "已谢绝",
    State.DISPATCHED: "待受理",
    State.ACCEPTED: "办理中",
    State.RETURNED: "已退回",
    State.RESOLVED: "待评价",
    State.CLOSED: "已办结",
    State.INVALID: "无效",
    State.DUPLICATE: "重复",
}
# The parts of `status`, in the order the report lists them.
STATUS_LABELS = {
    "closed": "已办结",
    "resolved": "待评价",
    "in_progress": "办理中",
    "overdue": "已超期",
    "returned": "已退回",
    "moved": "已转出",
}

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_YEAR = re.compile(r"^(\d{4})$")
# Mobile numbers, landlines with an area code, and resident ID numbers typed into free text.
_PERSONAL_NUMBERS = re.compile(
    r"(?<!\d)(?:\d{17}[\dXx]|1[3-9]\d{9}|0\d{2,3}-?\d{7,8}|(?:\+?86[- ]?)1[3-9]\d{9})(?![\dXx])"
)


@dataclass(frozen=True)
class Period:
    """A report period in local dates: [first, last_exclusive)."""

    kind: ReportKind
    code: str
    first: date
    last_exclusive: date

    @property
    def label(self) -> str:
        """``2026年3月`` or ``2026年度``."""
        if self.kind == ReportKind.MONTHLY:
            return f"{self.first.year}年{self.first.month}月"
        return f"{self.first.year}年度"

    def bounds(self, tz_name: str) -> tuple[datetime, datetime]:
        """[start, end) in UTC."""
        return metrics.local_period(self.first, self.last_exclusive, tz_name)

    def buckets(self) -> list[tuple[str, date, date]]:
        """The trend's buckets (label, first, last_exclusive): 7-day blocks from the 1st, or months."""
        out: list[tuple[str, date, date]] = []
        if self.kind == ReportKind.MONTHLY:
            day = self.first
            while day < self.last_exclusive:
                end = min(day + timedelta(days=7), self.last_exclusive)
                out.append((f"{day.day}–{(end - timedelta(days=1)).day}日", day, end))
                day = end
            return out
        for month in range(1, 13):
            first = date(self.first.year, month, 1)
            out.append((f"{month}月", first, _next_month(first)))
        return out


def _next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def parse_period(kind: str, code: str) -> Period:
    """The period named by `kind` (monthly|annual) and `code` (``2026-03`` | ``2026``); 422 `invalid_period`."""
    try:
        report_kind = ReportKind(kind)
    except ValueError:
        raise InvalidInput("kind must be monthly or annual", code="invalid_report_kind",
                           details={"kind": kind}) from None
    pattern = _MONTH if report_kind == ReportKind.MONTHLY else _YEAR
    match = pattern.match(code or "")
    year = int(match.group(1)) if match else 0
    if not match or not 2000 <= year <= 2999:
        example = "2026-03" if report_kind == ReportKind.MONTHLY else "2026"
        raise InvalidInput(
            f"a {report_kind.value} period is written like {example}",
            code="invalid_period",
            details={"kind": report_kind.value, "period": code},
        )
    if report_kind == ReportKind.MONTHLY:
        first = date(year, int(match.group(2)), 1)
        return Period(report_kind, code, first, _next_month(first))
    return Period(report_kind, code, date(year, 1, 1), date(year + 1, 1, 1))


def previous_period(kind: ReportKind, today: date) -> Period:
    """The last whole month (or year) before the one `today` lies in."""
    if kind == ReportKind.MONTHLY:
        last_month = today.replace(day=1) - timedelta(days=1)
        return parse_period(kind.value, f"{last_month.year:04d}-{last_month.month:02d}")
    return parse_period(kind.value, f"{today.year - 1:04d}")


def title(unit: OrgUnit, period: Period) -> str:
    """The report's title, e.g. 《下城区2026年3月人大代表随手拍办理情况考核报告》."""
    return f"《{unit.name}{period.label}{TITLE_TAIL}》"


def redact(text: str, limit: int = SUMMARY_CHARS) -> str:
    """`text` on one line, phone and ID numbers masked, cut to `limit` characters."""
    flat = " ".join((text or "").split())
    masked = _PERSONAL_NUMBERS.sub("[号码已隐去]", flat)
    return masked if len(masked) <= limit else masked[: limit - 1] + "…"


def build(
    unit: OrgUnit,
    period: Period,
    now: datetime,
    settings: TicketSettings,
    *,
    due_soon_response_hours: float = 1.0,
    due_soon_resolution_hours: float = 4.0,
) -> dict[str, Any]:
    """Every figure of `unit`'s report for `period` as of `now` (see the module docstring).

    Writes nothing of its own (`metrics.compute` may bring its KPI facts up to date).

    Raises 422 `report_unit_kind` for a unit that is neither a district nor a department.
    """
    if unit.kind not in REPORT_UNIT_KINDS:
        raise InvalidInput(
            "reports are made for districts and departments",
            code="report_unit_kind",
            details={"unit": unit.code, "kind": unit.kind.value},
        )
    start, end = period.bounds(settings.timezone)
    units = metrics.subtree_ids(unit.id)
    cal = calendar_for(db.session, now, settings.office_hours, settings.timezone)
    due_soon = {
        "due_soon_response_hours": due_soon_response_hours,
        "due_soon_resolution_hours": due_soon_resolution_hours,
    }
    kpis = metrics.compute(metrics.KpiFilter(unit.id, start, end), now, settings, **due_soon)
    received, excluded = _received(units, start, end)
    hours_per_day = sum(
        (b.hour * 60 + b.minute - a.hour * 60 - a.minute) / 60 for a, b in parse_office_hours(settings.office_hours)
    )
    return {
        "schema": SCHEMA,
        "title": title(unit, period),
        "unit": _unit(unit),
        "parent": _unit(unit.parent) if unit.parent else None,
        "kind": period.kind.value,
        "period": period.code,
        "period_label": period.label,
        "from": period.first.isoformat(),
        "to": period.last_exclusive.isoformat(),
        "timezone": settings.timezone,
        "as_of": now.isoformat(),
        "complete": now >= end,
        "hours_per_day": hours_per_day,
        "kpis": kpis,
        "volume": _volume(received, excluded, units, period, start, end, settings.timezone),
        "status": _status(received, units, now),
        "ranking": _ranking(unit, kpis, start, end, now, settings, due_soon),
        "supervision": _supervision(units, start, end),
        "overdue_cases": _overdue_cases(units, start, end, now, cal, hours_per_day),
        "good_cases": _good_cases(units, start, end, cal),
    }


# ---------------------------------------------------------------------------- parts


def _unit(unit: OrgUnit) -> dict[str, Any]:
    return {"id": unit.id, "code": unit.code, "name": unit.name, "kind": unit.kind.value}


def _utc(moment: datetime) -> datetime:
    # SQLite hands datetimes back naive; they are UTC by convention.
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def _iso(moment: datetime | None) -> str | None:
    return _utc(moment).isoformat() if moment is not None else None


def _valid() -> ColumnElement[bool]:
    """Tickets the KPIs count: not invalid, duplicate or withdrawn (metrics' exclusion rule)."""
    return and_(
        Ticket.state.not_in([State.INVALID, State.DUPLICATE]),
        or_(Ticket.closed_reason.is_(None), Ticket.closed_reason != ClosedReason.WITHDRAWN),
    )


def _received(units: list[int], start: datetime, end: datetime) -> tuple[dict[int, tuple[datetime, Ticket]], int]:
    """Valid tickets dispatched to the subtree in [start, end), with their first such dispatch; and how many
    tickets were left out as invalid, duplicate or withdrawn."""
    first_dispatch = (
        select(TicketEvent.ticket_id, func.min(TicketEvent.at).label("at"))
        .where(
            TicketEvent.handling_unit_id.in_(units),
            TicketEvent.at >= start,
            TicketEvent.at < end,
            TicketEvent.to_state == State.DISPATCHED,
            TicketEvent.action.in_([*metrics.DISPATCH_ACTIONS, Action.RATE]),
        )
        .group_by(TicketEvent.ticket_id)
        .subquery()
    )
    rows = db.session.execute(
        select(Ticket, first_dispatch.c.at).join(first_dispatch, first_dispatch.c.ticket_id == Ticket.id)
    ).all()
    received = {t.id: (_utc(at), t) for t, at in rows if not _excluded(t)}
    return received, len(rows) - len(received)


def _excluded(ticket: Ticket) -> bool:
    """The same rule as `_valid`, on a loaded ticket."""
    return ticket.state in (State.INVALID, State.DUPLICATE) or ticket.closed_reason == ClosedReason.WITHDRAWN


def _volume(
    received: dict[int, tuple[datetime, Ticket]],
    excluded: int,
    units: list[int],
    period: Period,
    start: datetime,
    end: datetime,
    tz_name: str,
) -> dict[str, Any]:
    tz = ZoneInfo(tz_name)
    categories = {c.id: c for c in db.session.scalars(select(Category))}
    domains = sorted(
        (c for c in categories.values() if c.parent_id is None),
        key=lambda c: (c.sort, c.code),
    )

    def domain_of(category_id: int) -> Category:
        category = categories[category_id]
        while category.parent_id is not None:
            category = categories[category.parent_id]
        return category

    per_domain = Counter(domain_of(t.category_id).id for _, t in received.values())
    buckets = period.buckets()

    def bucket_of(moment: datetime) -> int:
        day = moment.astimezone(tz).date()
        return next(i for i, (_, first, last) in enumerate(buckets) if first <= day < last)

    received_per_bucket = Counter(bucket_of(at) for at, _ in received.values())
    resolved_at = db.session.scalars(
        select(TicketEvent.at)
        .join(Ticket, Ticket.id == TicketEvent.ticket_id)
        .where(
            TicketEvent.action == Action.RESOLVE,
            TicketEvent.handling_unit_id.in_(units),
            TicketEvent.at >= start,
            TicketEvent.at < end,
            _valid(),
        )
    ).all()
    resolved_per_bucket = Counter(bucket_of(_utc(at)) for at in resolved_at)
    return {
        "total": len(received),
        "excluded": excluded,
        "by_category": [
            {"code": d.code, "name": d.name, "count": per_domain.get(d.id, 0)}
            for d in domains
            if d.active or per_domain.get(d.id)
        ],
        "trend": [
            {
                "label": label,
                "from": first.isoformat(),
                "to": last.isoformat(),
                "received": received_per_bucket.get(i, 0),
                "resolved": resolved_per_bucket.get(i, 0),
            }
            for i, (label, first, last) in enumerate(buckets)
        ],
    }


def _status(received: dict[int, tuple[datetime, Ticket]], units: list[int], now: datetime) -> dict[str, Any]:
    inside = set(units)
    counts = Counter({key: 0 for key in STATUS_LABELS})
    for _, ticket in received.values():
        counts[_status_of(ticket, inside, now)] += 1
    return {"parts": [{"key": k, "label": label, "count": counts[k]} for k, label in STATUS_LABELS.items()]}


def _status_of(ticket: Ticket, inside: set[int], now: datetime) -> str:
    if ticket.handling_unit_id not in inside:
        return "moved"
    if ticket.state == State.CLOSED:
        return "closed"
    if ticket.state == State.RESOLVED:
        return "resolved"
    if ticket.state == State.RETURNED:
        return "returned"
    deadlines = [ticket.resolution_due_at]
    if ticket.state == State.DISPATCHED:
        deadlines.append(ticket.response_due_at)
    if any(due is not None and _utc(due) < now for due in deadlines):
        return "overdue"
    return "in_progress"


def _ranking(
    unit: OrgUnit,
    own: dict[str, Any],
    start: datetime,
    end: datetime,
    now: datetime,
    settings: TicketSettings,
    due_soon: dict[str, float],
) -> dict[str, Any]:
    """The unit among its siblings of the same kind, ranked by the exports' rule (`ticketing.exports.rank`).

    Not `exports.kpi_rows`: that measures every child of the parent (streets and dispatch
    desks too) and the parent's whole subtree, e.g. the entire city for a district's report;
    only the siblings are needed here.
    """
    siblings = (
        db.session.scalars(
            select(OrgUnit)
            .where(OrgUnit.parent_id == unit.parent_id, OrgUnit.kind == unit.kind)
            .order_by(OrgUnit.code)
        ).all()
        if unit.parent_id is not None
        else [unit]
    )
    figures = {
        s.code: own if s.id == unit.id else _sibling_kpis(s, start, end, now, settings, due_soon) for s in siblings
    }
    names = {s.code: s.name for s in siblings}
    ranked = exports.rank([{"unit": code, "rank": None, **exports.flatten(f)} for code, f in figures.items()])
    rows = []
    for flat in ranked:
        f = figures[flat["unit"]]
        rows.append(
            {
                "code": flat["unit"],
                "name": names[flat["unit"]],
                "self": flat["unit"] == unit.code,
                "rank": flat["rank"],
                "dispatches": f["dispatches"],
                **{key: f[key] for key in RANKING_RATES},
                "overdue": f["overdue"],
            }
        )
    return {"scope": _unit(unit.parent) if unit.parent else None, "rows": rows}


def _sibling_kpis(
    unit: OrgUnit, start: datetime, end: datetime, now: datetime, settings: TicketSettings, due_soon: dict[str, float]
) -> dict[str, Any]:
    return metrics.compute(metrics.KpiFilter(unit.id, start, end), now, settings, **due_soon)


def _supervision(units: list[int], start: datetime, end: datetime) -> list[dict[str, Any]]:
    here = select(Ticket.id).where(Ticket.handling_unit_id.in_(units))
    clusters_here = select(SupervisionCandidateTicket.candidate_id).where(
        SupervisionCandidateTicket.ticket_id.in_(here)
    )
    items = db.session.scalars(
        select(SupervisionItem)
        .where(
            or_(SupervisionItem.ticket_id.in_(here), SupervisionItem.candidate_id.in_(clusters_here)),
            SupervisionItem.listed_at < end,
            or_(SupervisionItem.removed_at.is_(None), SupervisionItem.removed_at >= start),
        )
        .order_by(SupervisionItem.listed_at, SupervisionItem.id)
    ).all()
    out = []
    for item in items:
        removed = _utc(item.removed_at) if item.removed_at else None
        row: dict[str, Any] = {
            "id": item.id,
            "reason": redact(item.reason, 200),
            "leader": item.leader,
            "review_on": item.review_on.isoformat(),
            "listed_at": _iso(item.listed_at),
            # As of the period's end: an item removed later was still on the list then.
            "removed_at": removed.isoformat() if removed and removed < end else None,
            "status": "已销号" if removed and removed < end else "督办中",
        }
        if item.ticket_id is not None:
            ticket = db.session.get(Ticket, item.ticket_id)
            assert ticket is not None
            row.update(subject="ticket", **_case(ticket))
        else:
            row.update(subject="cluster", **_cluster(item.candidate_id))  # type: ignore[arg-type]
        out.append(row)
    return out


def _case(ticket: Ticket) -> dict[str, Any]:
    """What the report shows of a ticket: never its reporter."""
    category = ticket.category
    domain = category.parent.name if category.parent else None
    return {
        "number": ticket.number,
        "category": f"{domain}·{category.name}" if domain else category.name,
        "summary": redact(ticket.title or ticket.description),
        "address": redact(ticket.address, 80),
        "handling_unit": ticket.handling_unit.name,
        "state": ticket.state.value,
        "state_label": STATE_LABELS[ticket.state],
        "round": ticket.round,
    }


def _cluster(candidate_id: int) -> dict[str, Any]:
    candidate = db.session.get(SupervisionCandidate, candidate_id)
    assert candidate is not None
    category = db.session.get(Category, candidate.category_id)
    members = db.session.scalars(
        select(Ticket)
        .join(SupervisionCandidateTicket, SupervisionCandidateTicket.ticket_id == Ticket.id)
        .where(SupervisionCandidateTicket.candidate_id == candidate_id)
        .order_by(Ticket.number)
    ).all()
    open_count = sum(t.state in (State.DISPATCHED, State.ACCEPTED, State.RETURNED) for t in members)
    return {
        "number": ", ".join(t.number for t in members[:3]) + (" 等" if len(members) > 3 else ""),
        "category": category.name if category else "",
        "summary": f"重复投诉：{candidate.radius_m} 米、{candidate.window_days} 天内 {candidate.ticket_count} 件",
        "address": redact(next((t.address for t in members if t.address), ""), 80),
        "handling_unit": "、".join(sorted({t.handling_unit.name for t in members})),
        "state": "open" if open_count else "done",
        "state_label": f"{open_count} 件未办结" if open_count else "均已办结",
        "round": None,
    }


def _overdue_cases(
    units: list[int], start: datetime, end: datetime, now: datetime, cal: WorkCalendar, hours_per_day: float
) -> list[dict[str, Any]]:
    cutoff = min(end, now)
    tickets = db.session.scalars(
        select(Ticket).where(
            Ticket.handling_unit_id.in_(units),
            _valid(),
            Ticket.resolution_due_at < cutoff,
            or_(
                and_(Ticket.resolved_at.is_(None), Ticket.state.in_([State.DISPATCHED, State.ACCEPTED])),
                and_(Ticket.resolved_at > Ticket.resolution_due_at, Ticket.resolved_at >= start),
            ),
        )
    ).all()
    ranked = []
    for ticket in tickets:
        assert ticket.resolution_due_at is not None
        until = _utc(ticket.resolved_at) if ticket.resolved_at else now
        hours = cal.working_hours_between(_utc(ticket.resolution_due_at), until)
        ranked.append((hours, ticket.number, ticket))
    ranked.sort(key=lambda r: (-r[0], r[1]))
    return [
        {
            **_case(ticket),
            "dispatched_at": _iso(ticket.dispatched_at),
            "resolution_due_at": _iso(ticket.resolution_due_at),
            "resolved_at": _iso(ticket.resolved_at),
            "overdue_hours": round(hours, 1),
            "overdue_days": round(hours / hours_per_day, 1) if hours_per_day else None,
            "supervised": ticket.supervised,
        }
        for hours, _, ticket in ranked[:WORST_OVERDUE]
    ]


def _good_cases(units: list[int], start: datetime, end: datetime, cal: WorkCalendar) -> list[dict[str, Any]]:
    satisfied = select(Rating.id).where(Rating.score == Score.SATISFIED)
    tickets = db.session.scalars(
        select(Ticket).where(
            Ticket.handling_unit_id.in_(units),
            Ticket.state == State.CLOSED,
            Ticket.closed_reason == ClosedReason.RATED,
            Ticket.final_rating_id.in_(satisfied),
            Ticket.round == 1,
            Ticket.visibility == Visibility.PUBLIC,
            Ticket.closed_at >= start,
            Ticket.closed_at < end,
            Ticket.dispatched_at.is_not(None),
            Ticket.resolved_at.is_not(None),
        )
    ).all()
    fastest = sorted(
        (cal.working_hours_between(_utc(t.dispatched_at), _utc(t.resolved_at)), t.number, t)  # type: ignore[arg-type]
        for t in tickets
    )
    out: list[dict[str, Any]] = []
    for hours, _, ticket in fastest:
        pair = _before_after(ticket)
        if pair is None:
            continue
        before, after, resolve = pair
        out.append(
            {
                **_case(ticket),
                "dispatched_at": _iso(ticket.dispatched_at),
                "resolved_at": _iso(ticket.resolved_at),
                "resolution_hours": round(hours, 1),
                "resolve_note": redact(resolve.note, 120),
                "before_photo": before.id,
                "after_photo": after.id,
            }
        )
        if len(out) == GOOD_CASES:
            break
    return out


def _before_after(ticket: Ticket) -> tuple[Photo, Photo, TicketEvent] | None:
    """The report's first image and the last resolve's first image, unless that resolve is doubtful."""
    events = db.session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.at, TicketEvent.id)
    ).all()
    resolves = [e for e in events if e.action == Action.RESOLVE]
    if not resolves or resolves[-1].data.get("evidence_flags"):
        return None
    before = [p for e in events if e.action in (Action.REPORT, Action.ADD_INFO) for p in e.photos if p.display_key]
    after = [p for p in resolves[-1].photos if p.display_key]
    if not before or not after:
        return None
    return before[0], after[0], resolves[-1]
