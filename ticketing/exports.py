"""Exports: tickets with the times derived from their trail, and the KPI ranking of a unit's children.

Two public row builders return plain dicts (codes rather than labels, aware UTC datetimes),
which dashboards and reports can reuse; two table builders turn them into
``ticketing.tabular.Table``s with Chinese (default) or English headings and labels, which the
API (``ticketing.api.exports``) renders as CSV or XLSX. Both only read.

Ticket rows (``ticket_rows``)
    Which tickets: those the caller may see (``services.access.visible_filter``, the rule of
    the ticket lists) whose handling unit is in the subtree of the given unit, created in
    ``[start, end)``, in the category (the ticket's current one, matched exactly as the KPIs
    do) and state when given; oldest first.

    Times from the event trail (one GROUP BY query over the tickets' events):

    ``dispatched_at``
        start of the current dispatch: the latest report/forward, re-dispatch, transfer,
        不满意 rating or reopen that made the ticket ``dispatched``. ``response_due_at`` and
        ``resolution_due_at`` are that dispatch's deadlines as the ticket carries them
        (approved extensions included).
    ``first_accepted_at``
        the first ``accept`` ever (the first time a unit took the report on).
    ``accepted_at``
        the first ``accept`` of the ticket's current round.
    ``resolved_at``
        the last ``resolve``, of any round: in an open later round it is the previous round's.
    ``closed_at``
        the last event that closed the ticket (a 满意/基本满意 rating, ``close``,
        ``auto_close``, ``withdraw``), shown only while the ticket is closed: a reopened
        ticket is not closed any more.
    ``response_hours`` / ``resolution_hours``
        working hours (office hours on working days, ``ticketing.worktime``) from the first
        dispatch to the first accept / to the last resolve: how long the reporter waited.
        The KPIs measure each dispatch separately instead (``ticketing.metrics``).
    ``response_overdue``
        the current dispatch was accepted after its response deadline, or is still waiting
        (``dispatched``) past it at ``now``.
    ``resolution_overdue``
        the current dispatch was resolved after its resolution deadline, or is still being
        worked (``dispatched``/``accepted``) past it at ``now``. Returned tickets are neither:
        the decision is with the supervisor (as in ``ticketing.queries.overdue``).
    ``last_rating``
        the score of the latest rated round (``satisfied``, ``basically_satisfied``,
        ``unsatisfied``), or None.

    Privacy (DESIGN.md §2, §4: reports are public without the reporter's identity): the
    ``deputy`` column (the deputy who reported, or whose QR code a citizen used) is filled
    only for supervisors and admins, who oversee the deputies' work; handlers get no such
    column. Phone numbers, e-mail addresses, descriptions and locations are never exported:
    a spreadsheet travels further than the system's own pages.

KPI rows (``kpi_rows``)
    One row per child unit of the parent (``metrics.compute`` over the child's subtree), then
    a total row for the parent's own subtree. Every figure is flattened: a rate ``r`` gives
    ``r`` (its value), ``r_numerator`` and ``r_denominator``; a duration ``d`` gives
    ``d_count``, ``d_median`` and ``d_average``; counts stay as they are.

    Ranking: by on-time rate, then resolution rate, both higher first and compared as exact
    fractions (not their rounded values); units with equal pairs share a rank (1, 1, 3) and
    are listed by code. A unit with no on-time rate (nothing was due or resolved) is not
    ranked: it has rank None and comes after the ranked ones. The total row has rank None.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import aliased

from ticketing import metrics
from ticketing.extensions import db
from ticketing.models import Category, OrgUnit, Rating, Ticket, TicketEvent, User
from ticketing.services import access
from ticketing.settings import TicketSettings
from ticketing.tabular import Column, Table
from ticketing.workflow import Action, Outcome, Role, Score, State
from ticketing.worktime import WorkCalendar

# A hand-over to a unit, as the KPIs define it: these actions when they lead to `dispatched`
# (a rating does only when it is 不满意).
DISPATCHING = frozenset({*metrics.DISPATCH_ACTIONS, Action.RATE})
CLOSING = frozenset({Action.RATE, Action.CLOSE, Action.AUTO_CLOSE, Action.WITHDRAW})
TRAIL_ACTIONS = DISPATCHING | CLOSING | {Action.ACCEPT, Action.RESOLVE}
LANGUAGES = ("zh", "en")


# ---------------------------------------------------------------------------- ticket rows


def shows_deputy(actor: User) -> bool:
    """Whether `actor`'s exports name the reporting deputy (supervisors and admins only)."""
    return actor.role in (Role.SUPERVISOR, Role.ADMIN)


def ticket_scope(
    actor: User,
    unit: OrgUnit,
    start: datetime,
    end: datetime,
    *,
    category: str | None = None,
    state: State | None = None,
) -> list[ColumnElement[bool]]:
    """WHERE clauses on Ticket: visible to `actor`, handled in `unit`'s subtree, created in [start, end)."""
    subtree = select(OrgUnit.id).where(OrgUnit.path.startswith(unit.path, autoescape=True))
    clauses = [
        access.visible_filter(actor),
        Ticket.handling_unit_id.in_(subtree),
        Ticket.created_at >= start,
        Ticket.created_at < end,
    ]
    if category is not None:
        clauses.append(Ticket.category_id.in_(select(Category.id).where(Category.code == category)))
    if state is not None:
        clauses.append(Ticket.state == state)
    return clauses


@dataclass
class _Trail:
    """What the event aggregates say about one ticket."""

    first_dispatch: datetime | None = None
    current_dispatch: datetime | None = None
    first_accept: datetime | None = None
    last_accept: datetime | None = None
    round_accepts: dict[int, datetime] = field(default_factory=dict)
    last_resolve: datetime | None = None
    last_close: datetime | None = None

    def add(self, action: Action, rnd: int, to_state: State | None, first: datetime, last: datetime) -> None:
        if action in DISPATCHING and to_state == State.DISPATCHED:
            self.first_dispatch = _earliest(self.first_dispatch, first)
            self.current_dispatch = _latest(self.current_dispatch, last)
        if action in CLOSING and to_state == State.CLOSED:
            self.last_close = _latest(self.last_close, last)
        if action == Action.ACCEPT:
            self.first_accept = _earliest(self.first_accept, first)
            self.last_accept = _latest(self.last_accept, last)
            self.round_accepts[rnd] = _earliest(self.round_accepts.get(rnd), first)
        elif action == Action.RESOLVE:
            self.last_resolve = _latest(self.last_resolve, last)

    def since_current_dispatch(self, moment: datetime | None) -> datetime | None:
        """`moment` if it happened during the current dispatch (a dispatch is accepted and resolved at most once)."""
        if moment is None or self.current_dispatch is None or moment < self.current_dispatch:
            return None
        return moment


def _earliest(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b < a else a


def _latest(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b > a else a


def _hours(cal: WorkCalendar, start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round(cal.working_hours_between(start, end), 2)


def _calendar(start: datetime, now: datetime, settings: TicketSettings) -> WorkCalendar:
    # calendar_for() loads last, this and next year around `now`; an export of an older period
    # needs its own years too, or their holidays would count as working days.
    tz = ZoneInfo(settings.timezone)
    this_year = now.astimezone(tz).year
    first_year = min(start.astimezone(tz).year, this_year - 1)
    return WorkCalendar.load(db.session, first_year, this_year + 1, settings.office_hours, tz)


def ticket_rows(
    actor: User,
    unit: OrgUnit,
    start: datetime,
    end: datetime,
    now: datetime,
    settings: TicketSettings,
    *,
    category: str | None = None,
    state: State | None = None,
) -> list[dict[str, Any]]:
    """One row per ticket `actor` may see in `unit`'s subtree created in [start, end) (definitions above).

    Three queries whatever the number of tickets (tickets, event aggregates, last ratings).
    The caller checks that `actor` may look at `unit` (``metrics.visible_unit``); tickets
    outside the actor's view are left out here anyway.
    """
    scope = ticket_scope(actor, unit, start, end, category=category, state=state)
    ids = select(Ticket.id).where(*scope)
    # Aliases: the scope's subqueries select from OrgUnit and Category themselves, and must
    # not be correlated with the joined rows.
    handling, cat, deputy = aliased(OrgUnit), aliased(Category), aliased(User)
    tickets = db.session.execute(
        select(
            Ticket.id,
            Ticket.number,
            cat.code.label("category"),
            cat.name.label("category_name"),
            cat.name_en.label("category_name_en"),
            Ticket.reporter_kind,
            deputy.display_name.label("deputy"),
            handling.code.label("unit"),
            handling.name.label("unit_name"),
            handling.name_en.label("unit_name_en"),
            Ticket.state,
            Ticket.round,
            Ticket.outcome,
            Ticket.created_at,
            Ticket.response_due_at,
            Ticket.resolution_due_at,
            Ticket.escalation_level,
            Ticket.supervised,
        )
        .join(cat, cat.id == Ticket.category_id)
        .join(handling, handling.id == Ticket.handling_unit_id)
        .outerjoin(deputy, deputy.id == func.coalesce(Ticket.deputy_id, Ticket.reporter_id))
        .where(*scope)
        .order_by(Ticket.created_at, Ticket.id)
    ).all()
    if not tickets:
        return []

    trails: dict[int, _Trail] = {}
    for ticket_id, action, rnd, to_state, first, last in db.session.execute(
        select(
            TicketEvent.ticket_id,
            TicketEvent.action,
            TicketEvent.round,
            TicketEvent.to_state,
            func.min(TicketEvent.at),
            func.max(TicketEvent.at),
        )
        .where(TicketEvent.ticket_id.in_(ids), TicketEvent.action.in_(TRAIL_ACTIONS))
        .group_by(TicketEvent.ticket_id, TicketEvent.action, TicketEvent.round, TicketEvent.to_state)
    ):
        trails.setdefault(ticket_id, _Trail()).add(action, rnd, to_state, first, last)

    latest = (
        select(Rating.ticket_id, func.max(Rating.round).label("round"))
        .where(Rating.ticket_id.in_(ids))
        .group_by(Rating.ticket_id)
        .subquery()
    )
    last_rating: dict[int, Score] = dict(
        db.session.execute(  # type: ignore[arg-type]
            select(Rating.ticket_id, Rating.score).join(
                latest, and_(Rating.ticket_id == latest.c.ticket_id, Rating.round == latest.c.round)
            )
        ).all()
    )

    cal = _calendar(start, now, settings)
    with_deputy = shows_deputy(actor)
    rows: list[dict[str, Any]] = []
    for t in tickets:
        trail = trails.get(t.id, _Trail())
        current_accept = trail.since_current_dispatch(trail.last_accept)
        current_resolve = trail.since_current_dispatch(trail.last_resolve)
        response_due, resolution_due = t.response_due_at, t.resolution_due_at
        row: dict[str, Any] = {
            "number": t.number,
            "category": t.category,
            "category_name": t.category_name,
            "category_name_en": t.category_name_en,
            "channel": t.reporter_kind.value,
            "handling_unit": t.unit,
            "handling_unit_name": t.unit_name,
            "handling_unit_name_en": t.unit_name_en,
            "state": t.state.value,
            "round": t.round,
            "outcome": t.outcome.value if t.outcome else None,
            "created_at": t.created_at,
            "dispatched_at": trail.current_dispatch,
            "response_due_at": response_due,
            "resolution_due_at": resolution_due,
            "first_accepted_at": trail.first_accept,
            "accepted_at": trail.round_accepts.get(t.round),
            "resolved_at": trail.last_resolve,
            "closed_at": trail.last_close if t.state == State.CLOSED else None,
            "response_hours": _hours(cal, trail.first_dispatch, trail.first_accept),
            "resolution_hours": _hours(cal, trail.first_dispatch, trail.last_resolve),
            "response_overdue": response_due is not None
            and (
                (current_accept is not None and current_accept > response_due)
                or (t.state == State.DISPATCHED and now > response_due)
            ),
            "resolution_overdue": resolution_due is not None
            and (
                (current_resolve is not None and current_resolve > resolution_due)
                or (t.state in (State.DISPATCHED, State.ACCEPTED) and now > resolution_due)
            ),
            "escalation_level": t.escalation_level,
            "supervised": bool(t.supervised),
            "last_rating": last_rating[t.id].value if t.id in last_rating else None,
        }
        if with_deputy:
            row["deputy"] = t.deputy
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------- KPI rows


def flatten(result: dict[str, Any]) -> dict[str, Any]:
    """`metrics.compute`'s result as flat columns: rates → value, _numerator, _denominator; durations → _count, …"""
    out: dict[str, Any] = {}
    for key, value in result.items():
        if isinstance(value, dict) and "denominator" in value:
            out[key] = value["value"]
            out[f"{key}_numerator"] = value["numerator"]
            out[f"{key}_denominator"] = value["denominator"]
        elif isinstance(value, dict) and "count" in value:
            for part in ("count", "median", "average"):
                out[f"{key}_{part}"] = value[part]
        else:
            out[key] = value
    return out


def _fraction(row: dict[str, Any], name: str) -> Fraction | None:
    denominator = row.get(f"{name}_denominator")
    return Fraction(row[f"{name}_numerator"], denominator) if denominator else None


def rank(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sort unit rows for the ranking and set their `rank` (ranking rule in the module docstring)."""
    ranked = [r for r in rows if _fraction(r, "on_time_rate") is not None]
    unranked = sorted((r for r in rows if _fraction(r, "on_time_rate") is None), key=lambda r: r["unit"])

    def key(r: dict[str, Any]) -> tuple[Fraction, Fraction]:
        on_time = _fraction(r, "on_time_rate")
        assert on_time is not None
        # No resolution rate (no dispatches at all) sorts below every real one.
        return on_time, _fraction(r, "resolution_rate") or Fraction(-1)

    ranked.sort(key=lambda r: r["unit"])
    ranked.sort(key=key, reverse=True)  # stable: equal keys stay in code order
    previous: tuple[Fraction, Fraction] | None = None
    for position, r in enumerate(ranked, start=1):
        if key(r) != previous:
            current = position
            previous = key(r)
        r["rank"] = current
    for r in unranked:
        r["rank"] = None
    return ranked + unranked


def kpi_rows(
    parent_unit: OrgUnit,
    start: datetime,
    end: datetime,
    now: datetime,
    settings: TicketSettings,
    category: str | None = None,
    *,
    due_soon_response_hours: float = 1.0,
    due_soon_resolution_hours: float = 4.0,
) -> list[dict[str, Any]]:
    """The ranking table: one row per child unit of `parent_unit`, ranked, then the parent's total row.

    Each row has ``unit`` (code), ``unit_name``, ``unit_name_en``, ``unit_kind``, ``rank``,
    ``total`` (True on the last row only) and `flatten(metrics.compute(...))` for that unit's
    subtree, category and [start, end) as of `now`. The caller decides who may see `parent_unit`.
    """
    children = db.session.scalars(
        select(OrgUnit).where(OrgUnit.parent_id == parent_unit.id).order_by(OrgUnit.code)
    ).all()

    def row(unit: OrgUnit, total: bool) -> dict[str, Any]:
        result = metrics.compute(
            metrics.KpiFilter(unit.id, start, end, category),
            now,
            settings,
            due_soon_response_hours=due_soon_response_hours,
            due_soon_resolution_hours=due_soon_resolution_hours,
        )
        head = {
            "rank": None,
            "unit": unit.code,
            "unit_name": unit.name,
            "unit_name_en": unit.name_en,
            "unit_kind": unit.kind.value,
            "total": total,
        }
        return {**head, **flatten(result)}

    return [*rank([row(child, False) for child in children]), row(parent_unit, True)]


# ---------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class Heading:
    """A column in both languages."""

    key: str
    zh: str
    en: str
    width: int = 14

    def column(self, lang: str) -> Column:
        return Column(self.key, self.en if lang == "en" else self.zh, self.width)


TICKET_HEADINGS: tuple[Heading, ...] = (
    Heading("number", "工单编号", "Number", 14),
    Heading("category", "问题类别", "Category", 16),
    Heading("channel", "来源渠道", "Channel", 10),
    Heading("deputy", "代表", "Deputy", 12),
    Heading("handling_unit", "承办单位", "Handling unit", 22),
    Heading("handling_unit_code", "承办单位代码", "Unit code", 14),
    Heading("state", "状态", "State", 12),
    Heading("round", "办理轮次", "Round", 8),
    Heading("outcome", "办理结果", "Outcome", 12),
    Heading("created_at", "提交时间", "Reported at", 18),
    Heading("dispatched_at", "本次派单时间", "Dispatched at", 18),
    Heading("response_due_at", "响应时限", "Response due", 18),
    Heading("resolution_due_at", "办结时限", "Resolution due", 18),
    Heading("first_accepted_at", "首次签收时间", "First accepted at", 18),
    Heading("accepted_at", "本轮签收时间", "Accepted (this round) at", 18),
    Heading("resolved_at", "办结时间", "Resolved at", 18),
    Heading("closed_at", "关闭时间", "Closed at", 18),
    Heading("response_hours", "响应用时（工作小时）", "Response (working h)", 12),
    Heading("resolution_hours", "办结用时（工作小时）", "Resolution (working h)", 12),
    Heading("response_overdue", "响应超时", "Response overdue", 10),
    Heading("resolution_overdue", "办结超时", "Resolution overdue", 10),
    Heading("escalation_level", "升级层级", "Escalation level", 10),
    Heading("supervised", "挂牌督办", "Supervised", 10),
    Heading("last_rating", "最近评价", "Last rating", 12),
)

STATE_LABELS: dict[str, tuple[str, str]] = {
    State.PENDING_REVIEW: ("待代表审核", "pending review"),
    State.DECLINED: ("未转交", "declined"),
    State.DISPATCHED: ("已派单", "dispatched"),
    State.ACCEPTED: ("办理中", "accepted"),
    State.RETURNED: ("已退单", "returned"),
    State.RESOLVED: ("已办结待评价", "resolved"),
    State.CLOSED: ("已关闭", "closed"),
    State.INVALID: ("无效", "invalid"),
    State.DUPLICATE: ("重复", "duplicate"),
}
CHANNEL_LABELS: dict[str, tuple[str, str]] = {"deputy": ("代表", "deputy"), "citizen": ("群众", "citizen")}
SCORE_LABELS: dict[str, tuple[str, str]] = {
    Score.SATISFIED: ("满意", "satisfied"),
    Score.BASICALLY_SATISFIED: ("基本满意", "basically satisfied"),
    Score.UNSATISFIED: ("不满意", "unsatisfied"),
}
OUTCOME_LABELS: dict[str, tuple[str, str]] = {
    Outcome.SOLVED: ("已解决", "solved"),
    Outcome.EXPLAINED: ("已解释说明", "explained"),
    Outcome.REFERRED: ("已转其他渠道", "referred"),
}
YES_NO = {True: ("是", "yes"), False: ("否", "no")}


def _label(labels: dict[Any, tuple[str, str]], value: Any, lang: str) -> Any:
    if value is None or value not in labels:
        return value
    zh, en = labels[value]
    return en if lang == "en" else zh


def _name(zh: str, en: str, lang: str) -> str:
    return en if lang == "en" and en else zh


def ticket_table(
    rows: Iterable[dict[str, Any]],
    *,
    lang: str = "zh",
    notes: Sequence[str] = (),
    timezone: str = "Asia/Shanghai",
    with_deputy: bool = False,
) -> Table:
    """The ticket rows as a table with labels in `lang` ("zh" or "en"); the deputy column only `with_deputy`."""

    def display(r: dict[str, Any]) -> dict[str, Any]:
        return {
            **r,
            "category": _name(r["category_name"], r["category_name_en"], lang),
            "channel": _label(CHANNEL_LABELS, r["channel"], lang),
            "handling_unit": _name(r["handling_unit_name"], r["handling_unit_name_en"], lang),
            "handling_unit_code": r["handling_unit"],
            "state": _label(STATE_LABELS, r["state"], lang),
            "outcome": _label(OUTCOME_LABELS, r["outcome"], lang),
            "response_overdue": _label(YES_NO, r["response_overdue"], lang),
            "resolution_overdue": _label(YES_NO, r["resolution_overdue"], lang),
            "supervised": _label(YES_NO, r["supervised"], lang),
            "last_rating": _label(SCORE_LABELS, r["last_rating"], lang),
        }

    headings = [h for h in TICKET_HEADINGS if with_deputy or h.key != "deputy"]
    return Table(
        title="Tickets" if lang == "en" else "工单明细",
        columns=[h.column(lang) for h in headings],
        rows=(display(r) for r in rows),
        notes=list(notes),
        timezone=timezone,
    )


RATE_HEADINGS: tuple[tuple[str, str, str], ...] = (
    ("response_rate", "响应率", "Response rate"),
    ("on_time_rate", "按时办结率", "On-time rate"),
    ("resolution_rate", "办结率", "Resolution rate"),
    ("satisfaction_first_round", "首轮满意率", "Satisfaction (first round)"),
    ("satisfaction_final", "最终满意率", "Satisfaction (final)"),
    ("rehandling_rate", "重办率", "Re-handling rate"),
    ("return_rate", "退单率", "Return rate"),
    ("doubtful_evidence_rate", "存疑佐证率", "Doubtful-evidence rate"),
)
DURATION_HEADINGS: tuple[tuple[str, str, str], ...] = (
    ("response_hours", "响应用时", "Response hours"),
    ("resolution_hours", "办结用时", "Resolution hours"),
)


def _kpi_headings() -> tuple[Heading, ...]:
    out = [
        Heading("rank", "排名", "Rank", 6),
        Heading("unit_label", "单位", "Unit", 22),
        Heading("unit", "单位代码", "Unit code", 12),
        Heading("dispatches", "派单数", "Dispatches", 10),
        Heading("excluded", "剔除派单数", "Excluded", 10),
    ]
    for key, zh, en in RATE_HEADINGS:
        out += [
            Heading(key, zh, en, 12),
            Heading(f"{key}_numerator", f"{zh}分子", f"{en}: numerator", 10),
            Heading(f"{key}_denominator", f"{zh}分母", f"{en}: denominator", 10),
        ]
    for key, zh, en in DURATION_HEADINGS:
        out += [
            Heading(f"{key}_count", f"{zh}件数", f"{en}: count", 10),
            Heading(f"{key}_median", f"{zh}中位数（工作小时）", f"{en}: median", 12),
            Heading(f"{key}_average", f"{zh}平均（工作小时）", f"{en}: average", 12),
        ]
    out += [
        Heading("open", "在办", "Open", 8),
        Heading("due_soon", "临期", "Due soon", 8),
        Heading("overdue", "超期", "Overdue", 8),
    ]
    return tuple(out)


KPI_HEADINGS = _kpi_headings()


def kpi_table(
    rows: Iterable[dict[str, Any]],
    *,
    lang: str = "zh",
    notes: Sequence[str] = (),
    timezone: str = "Asia/Shanghai",
) -> Table:
    """The KPI rows as a ranking table in `lang`; the total row is labelled 合计 / Total."""

    def display(r: dict[str, Any]) -> dict[str, Any]:
        name = _name(r["unit_name"], r["unit_name_en"], lang)
        if r["total"]:
            name = f"Total ({name})" if lang == "en" else f"合计（{name}）"
        return {**r, "unit_label": name}

    return Table(
        title="KPI ranking" if lang == "en" else "考核指标排名",
        columns=[h.column(lang) for h in KPI_HEADINGS],
        rows=(display(r) for r in rows),
        notes=list(notes),
        timezone=timezone,
    )


def filter_notes(
    *,
    lang: str,
    unit: OrgUnit,
    first: date,
    last_exclusive: date,
    now: datetime,
    timezone: str,
    category: str | None = None,
    state: str | None = None,
) -> list[str]:
    """Lines under an export's title saying what it covers: unit, local dates (inclusive), filters, as-of time."""
    last = last_exclusive - timedelta(days=1)
    as_of = now.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M")
    if lang == "en":
        notes = [
            f"Unit: {_name(unit.name, unit.name_en, lang)} ({unit.code})",
            f"Period: {first.isoformat()} to {last.isoformat()}",
        ]
        notes += [f"Category: {category}"] if category else []
        notes += [f"State: {_label(STATE_LABELS, state, lang)}"] if state else []
        return [*notes, f"As of: {as_of} ({timezone})"]
    notes = [f"单位：{unit.name}（{unit.code}）", f"期间：{first.isoformat()} 至 {last.isoformat()}"]
    notes += [f"类别：{category}"] if category else []
    notes += [f"状态：{_label(STATE_LABELS, state, lang)}"] if state else []
    return [*notes, f"统计时间：{as_of}（{timezone}）"]


def filename(table: Table, unit: OrgUnit, first: date, last_exclusive: date, fmt: str, lang: str) -> str:
    """The download's name: title, unit and inclusive local dates (``工单明细_下城区_20260301-20260331.xlsx``)."""
    last = last_exclusive - timedelta(days=1)
    name = _name(unit.name, unit.name_en, lang)
    return f"{table.title}_{name}_{first:%Y%m%d}-{last:%Y%m%d}.{fmt}".replace(" ", "_")
