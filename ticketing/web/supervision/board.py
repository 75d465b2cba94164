"""The read side of the supervisor's pages: the filter from the query string, and every table shown.

Each table is built by one function here into a ``Screen`` (title, columns, rows); the page
renders those rows and the export link writes the same ``Screen`` through
``ticketing.tabular``, so an export is exactly what is on screen: same filter parameters, same
rows, same order, same headings in the same language. Rows are dicts whose column keys hold
what is shown (labels already translated, local times as aware datetimes); keys starting with
``_`` carry what the page needs besides (the ticket, its status) and are never exported.

What the supervisor sees is the subtree of the chosen unit (their own by default, or any unit
below it), never more than ``services.access`` lets them see. Deadline statuses follow the rule
of the KPI snapshot counts (``metrics.deadline_status``); overdue is ``queries.overdue``'s rule
and "escalated" is ``queries.escalated``'s (escalation level above 0 or under supervision).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import and_, func, select
from sqlalchemy.orm import selectinload

from ticketing import exports, metrics
from ticketing.errors import NotFound
from ticketing.extensions import db
from ticketing.models import (
    CandidateState,
    Category,
    Extension,
    OrgUnit,
    SupervisionCandidate,
    SupervisionItem,
    Ticket,
    TicketEvent,
    UnitKind,
    User,
)
from ticketing.models.tickets import ExtensionState
from ticketing.services import access, points, repeats, supervision
from ticketing.services import extensions as extension_service
from ticketing.services.orgtree import OrgTree
from ticketing.settings import TicketSettings
from ticketing.tabular import Column, Table
from ticketing.web.supervision import labels
from ticketing.workflow import Action, OPEN_STATES, Role, State
from ticketing.worktime import WorkCalendar, calendar_for

WORKING = (State.DISPATCHED, State.ACCEPTED)
STATUS_ORDER = {metrics.OVERDUE: 0, metrics.DUE_SOON: 1, None: 2}
FAR_FUTURE = datetime.max.replace(tzinfo=timezone.utc)


def localized(zh: str, en: str | None) -> str:
    """A stored name in the page's language: the English one when asked for and present."""
    from flask_babel import get_locale

    return en if en and str(get_locale()) == "en" else zh


def aware(moment: datetime | None) -> datetime | None:
    # SQLite hands datetimes back naive; they are UTC by convention.
    return moment.replace(tzinfo=timezone.utc) if moment is not None and moment.tzinfo is None else moment


# ---------------------------------------------------------------------------- the filter


@dataclass(frozen=True)
class Board:
    """One request's view: whose subtree, which category, how grouped, which period, as of when."""

    actor: User
    unit: OrgUnit
    category: Category | None
    group: str
    show: str
    items: str  # the supervision list: "active" items, or "all" with the removed ones
    first: date  # the KPI and points period: local dates, `last` exclusive
    last: date
    now: datetime
    settings: TicketSettings
    config: Mapping[str, Any] = field(repr=False)

    @property
    def period(self) -> tuple[datetime, datetime]:
        """[start, end) in UTC of the local dates."""
        return metrics.local_period(self.first, self.last, self.settings.timezone)

    @property
    def last_inclusive(self) -> date:
        return self.last - timedelta(days=1)

    @property
    def due_soon_hours(self) -> tuple[float, float]:
        """Working hours before the response and resolution deadlines that count as due soon (the reminders')."""
        return (
            float(self.config["REMIND_RESPONSE_BEFORE_HOURS"]),
            float(self.config["REMIND_RESOLUTION_BEFORE_HOURS"]),
        )

    def args(self, **override: str) -> dict[str, str]:
        """The query parameters that reproduce this view (for links, exports and the filter form)."""
        out = {
            "unit": self.unit.code,
            "category": self.category.code if self.category else "",
            "group": self.group,
            "show": self.show,
            "items": self.items,
            "from": self.first.isoformat(),
            "to": self.last.isoformat(),
        }
        out.update(override)
        return {k: v for k, v in out.items() if v}

    def calendar(self) -> WorkCalendar:
        return calendar_for(db.session, self.now, self.settings.office_hours, self.settings.timezone)


def default_unit(actor: User) -> OrgUnit:
    """The actor's own unit; for an admin without one, the first top-level unit."""
    if actor.unit is not None:
        return actor.unit
    root = db.session.scalar(select(OrgUnit).where(OrgUnit.parent_id.is_(None)).order_by(OrgUnit.code))
    if root is None:
        raise NotFound("no units yet", code="unit_not_found")
    return root


def read_board(
    actor: User, args: Mapping[str, str], now: datetime, settings: TicketSettings, config: Mapping[str, Any]
) -> tuple[Board, list[str]]:
    """The view the query string asks for, and messages for the parameters that were refused.

    A refused parameter falls back to its default, so a stale bookmark still shows a page.
    """
    errors: list[str] = []
    today = now.astimezone(ZoneInfo(settings.timezone)).date()
    board = Board(
        actor=actor,
        unit=default_unit(actor),
        category=None,
        group="street",
        show="attention",
        items="active",
        first=today.replace(day=1),
        last=today + timedelta(days=1),
        now=now,
        settings=settings,
        config=config,
    )
    code = (args.get("unit") or "").strip()
    if code:
        try:
            board = replace(board, unit=metrics.visible_unit(actor, code))
        except NotFound:
            errors.append(_("That unit is not among those you supervise."))
    category = (args.get("category") or "").strip()
    if category:
        found = db.session.scalar(select(Category).where(Category.code == category))
        if found is None:
            errors.append(_("There is no such category."))
        else:
            board = replace(board, category=found)
    group = args.get("group") or board.group
    if group in labels.GROUPS:
        board = replace(board, group=group)
    else:
        errors.append(_("Group by street, handling unit or category."))
    show = args.get("show") or board.show
    if show in labels.SHOW:
        board = replace(board, show=show)
    else:
        errors.append(_("Show the tickets that need attention, or every open ticket."))
    items = args.get("items") or board.items
    if items in labels.ITEMS:
        board = replace(board, items=items)
    else:
        errors.append(_("Show the items on the list, or all of them with the removed ones."))
    try:
        first = date.fromisoformat(args["from"]) if args.get("from") else board.first
        last = date.fromisoformat(args["to"]) if args.get("to") else board.last
    except ValueError:
        errors.append(_("Dates are written like 2026-03-01."))
    else:
        if last <= first:
            errors.append(_("The end of the period must come after its start."))
        else:
            board = replace(board, first=first, last=last)
    return board, errors


def unit_choices(actor: User) -> list[tuple[OrgUnit, int]]:
    """The units the actor may choose (their subtree, or all for an admin without a unit), in tree
    order, each with its depth below the top one (for indenting)."""
    query = select(OrgUnit)
    if actor.unit is not None:
        query = query.where(OrgUnit.path.startswith(actor.unit.path, autoescape=True))
    units = list(db.session.scalars(query))
    by_id = {u.id: u for u in units}

    def key(u: OrgUnit) -> tuple[str, ...]:
        return tuple(by_id[i].code if i in by_id else "" for i in u.ancestor_ids())

    top = min((len(u.ancestor_ids()) for u in units), default=0)
    return [(u, len(u.ancestor_ids()) - top) for u in sorted(units, key=key)]


def working_units(board: Board) -> list[OrgUnit]:
    """Units of the actor's subtree that take work orders (where a ticket can be sent)."""
    from ticketing.services.tickets import WORKING_UNIT_KINDS

    return [u for u, _depth in unit_choices(board.actor) if u.kind in WORKING_UNIT_KINDS]


def category_choices() -> list[Category]:
    """Active categories, each domain followed by its sub-categories."""
    cats = list(db.session.scalars(select(Category).where(Category.active.is_(True)).order_by(Category.sort, Category.code)))
    domains = [c for c in cats if c.parent_id is None]
    out: list[Category] = []
    for d in domains:
        out.append(d)
        out.extend(c for c in cats if c.parent_id == d.id)
    return out


# ---------------------------------------------------------------------------- screens


@dataclass
class Screen:
    """One table of a page: what the page renders and the export writes."""

    name: str
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)

    def table(self, timezone_name: str) -> Table:
        return Table(self.title, self.columns, self.rows, self.notes, timezone_name)


def _notes(board: Board, *, period: bool = False) -> list[str]:
    """Lines under an export's title: the unit, the filters, the period when it matters, as of when."""
    tz = ZoneInfo(board.settings.timezone)
    notes = [_("Unit: %(unit)s (%(code)s)", unit=localized(board.unit.name, board.unit.name_en), code=board.unit.code)]
    if board.category is not None:
        notes.append(_("Category: %(name)s", name=localized(board.category.name, board.category.name_en)))
    if period:
        notes.append(_("Period: %(first)s to %(last)s", first=board.first.isoformat(),
                       last=(board.last - timedelta(days=1)).isoformat()))
    notes.append(_("As of: %(time)s", time=board.now.astimezone(tz).strftime("%Y-%m-%d %H:%M")))
    return notes


def _subtree(unit: OrgUnit) -> Any:
    return select(OrgUnit.id).where(OrgUnit.path.startswith(unit.path, autoescape=True))


def _ticket_scope(board: Board) -> list[Any]:
    """Tickets the actor may see, handled in the chosen unit's subtree, of the chosen category."""
    clauses = [access.visible_filter(board.actor), Ticket.handling_unit_id.in_(_subtree(board.unit))]
    if board.category is not None:
        clauses.append(Ticket.category_id == board.category.id)
    return clauses


@dataclass
class Line:
    """An open work order on the attention list."""

    ticket: Ticket
    status: str | None  # metrics.OVERDUE, metrics.DUE_SOON or None
    deadline: datetime | None  # the earliest deadline still running (passed when overdue)
    escalated_to: OrgUnit | None  # the highest level watching it, when escalated

    @property
    def escalated(self) -> bool:
        return self.ticket.escalation_level > 0 or self.ticket.supervised

    @property
    def street(self) -> OrgUnit | None:
        """The street where the problem is: the covering unit that routing found, else a street handling it."""
        for unit in (self.ticket.routed_unit, self.ticket.handling_unit):
            if unit is not None and unit.kind == UnitKind.STREET:
                return unit
        return None


def open_work(board: Board) -> list[Line]:
    """Every dispatched or accepted ticket of the view with its deadline status, most urgent first."""
    tickets = db.session.scalars(
        select(Ticket)
        .where(*_ticket_scope(board), Ticket.state.in_(WORKING))
        .options(
            selectinload(Ticket.category),
            selectinload(Ticket.handling_unit),
            selectinload(Ticket.routed_unit),
        )
    ).all()
    cal = board.calendar()
    response_hours, resolution_hours = board.due_soon_hours
    tree = OrgTree.load() if any(t.escalation_level for t in tickets) else None
    names: dict[int, OrgUnit] = {}
    lines = []
    for t in tickets:
        status = metrics.deadline_status(
            t.state, t.response_due_at, t.resolution_due_at, board.now, cal, response_hours, resolution_hours
        )
        running = [aware(t.resolution_due_at)]
        if t.state == State.DISPATCHED:
            running.append(aware(t.response_due_at))
        deadline = min((d for d in running if d is not None), default=None)
        above = None
        if tree is not None and t.escalation_level:
            chain = tree.chain(t.handling_unit_id)
            if chain:
                uid = chain[min(t.escalation_level, len(chain)) - 1]
                above = names.get(uid) or db.session.get(OrgUnit, uid)
                if above is not None:
                    names[uid] = above
        lines.append(Line(t, status, deadline, above))
    lines.sort(key=lambda x: (STATUS_ORDER[x.status], x.deadline or FAR_FUTURE, x.ticket.number))
    return lines


def needs_attention(line: Line) -> bool:
    return line.status is not None or line.escalated


def _group_of(board: Board, line: Line) -> str:
    if board.group == "category":
        return localized(line.ticket.category.name, line.ticket.category.name_en)
    if board.group == "unit":
        unit = line.ticket.handling_unit
        return localized(unit.name, unit.name_en)
    street = line.street
    return localized(street.name, street.name_en) if street else _("Outside any street")


def escalation_text(line: Line) -> str:
    """"Level 1: 下城区" when escalated; "Supervised" alone when only under supervision; else empty."""
    level = line.ticket.escalation_level
    if level and line.escalated_to is not None:
        return _("Level %(level)s: %(unit)s", level=level,
                 unit=localized(line.escalated_to.name, line.escalated_to.name_en))
    if level:
        return _("Level %(level)s", level=level)
    return ""


ATTENTION_COLUMNS = (
    ("group", 16), ("number", 14), ("status", 10), ("deadline", 18), ("state", 16), ("category", 14),
    ("handling_unit", 20), ("street", 14), ("escalation", 16), ("supervised", 10), ("round", 8),
)


def attention(board: Board, lines: Sequence[Line]) -> tuple[Screen, list[tuple[str, list[dict[str, Any]]]]]:
    """The attention list: overdue, then due soon, then (escalated or, with show=open, every other)
    open work order, grouped by street, handling unit or category.

    Groups come in order of their overdue count, then due-soon count, then name; rows keep the
    urgency order within a group. `lines` are ``open_work(board)``. Returns the screen (flat rows
    in page order) and the groups.
    """
    if board.show == "attention":
        lines = [line for line in lines if needs_attention(line)]
    groups: dict[str, list[Line]] = {}
    for line in lines:
        groups.setdefault(_group_of(board, line), []).append(line)

    def weight(item: tuple[str, list[Line]]) -> tuple[int, int, str]:
        label, members = item
        return (-sum(m.status == metrics.OVERDUE for m in members),
                -sum(m.status == metrics.DUE_SOON for m in members), label)

    headings = {
        "group": labels.GROUPS[board.group], "number": _("Number"), "status": _("Deadline status"),
        "deadline": _("Deadline"), "state": _("State"), "category": _("Category"),
        "handling_unit": _("Handling unit"), "street": _("Street"), "escalation": _("Escalation"),
        "supervised": _("Supervised"), "round": _("Round"),
    }
    columns = [Column(key, str(headings[key]), width) for key, width in ATTENTION_COLUMNS]
    out_groups: list[tuple[str, list[dict[str, Any]]]] = []
    flat: list[dict[str, Any]] = []
    for label, members in sorted(groups.items(), key=weight):
        rows = []
        for line in members:
            t = line.ticket
            street = line.street
            rows.append({
                "group": label,
                "number": t.number,
                "status": str(labels.DEADLINES[line.status]),
                "deadline": line.deadline,
                "state": str(labels.STATES[t.state]),
                "category": localized(t.category.name, t.category.name_en),
                "handling_unit": localized(t.handling_unit.name, t.handling_unit.name_en),
                "street": localized(street.name, street.name_en) if street else "",
                "escalation": escalation_text(line),
                "supervised": _("Yes") if t.supervised else "",
                "round": t.round,
                "_line": line,
            })
        out_groups.append((label, rows))
        flat.extend(rows)
    title = _("Overdue and due soon") if board.show == "attention" else _("Open work orders")
    return Screen("attention", title, columns, flat, _notes(board)), out_groups


def summary(board: Board, lines: Sequence[Line]) -> dict[str, int]:
    """The counts at the top of the dashboard (of the whole view, whatever `show` is)."""
    returned = db.session.scalar(
        select(func.count()).select_from(Ticket).where(*_ticket_scope(board), Ticket.state == State.RETURNED)
    ) or 0
    return {
        "open": len(lines) + returned,
        "overdue": sum(1 for x in lines if x.status == metrics.OVERDUE),
        "due_soon": sum(1 for x in lines if x.status == metrics.DUE_SOON),
        "escalated": sum(1 for x in lines if x.escalated),
        "returned": returned,
        "extensions": len(pending_extensions(board)),
    }


# ---------------------------------------------------------------------------- the map


MAP_STATES = tuple(OPEN_STATES)


def map_features(board: Board) -> dict[str, Any]:
    """The view's open tickets as a GeoJSON FeatureCollection of points, with what the map colours by."""
    rows = db.session.execute(
        select(
            Ticket.number, Ticket.state, Ticket.response_due_at, Ticket.resolution_due_at,
            Ticket.escalation_level, Ticket.supervised,
            func.ST_X(Ticket.location), func.ST_Y(Ticket.location),
            Category.name, Category.name_en, OrgUnit.name, OrgUnit.name_en,
        )
        .join(Category, Category.id == Ticket.category_id)
        .join(OrgUnit, OrgUnit.id == Ticket.handling_unit_id)
        .where(*_ticket_scope(board), Ticket.state.in_(MAP_STATES))
        .order_by(Ticket.id)
    ).all()
    cal = board.calendar()
    response_hours, resolution_hours = board.due_soon_hours
    features = []
    for number, state, response_due, resolution_due, level, supervised, lon, lat, cat, cat_en, unit, unit_en in rows:
        status = metrics.deadline_status(state, response_due, resolution_due, board.now, cal,
                                         response_hours, resolution_hours)
        features.append({
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [round(float(lon), 7), round(float(lat), 7)]},
            "properties": {
                "number": number,
                "state": state.value,
                "state_label": str(labels.STATES[state]),
                "deadline": status,
                "deadline_label": str(labels.DEADLINES[status]),
                "escalated": bool(level) or bool(supervised),
                "category": localized(cat, cat_en),
                "unit": localized(unit, unit_en),
            },
        })
    return {"type": "FeatureCollection", "features": features}


# ---------------------------------------------------------------------------- decisions


def returned_queue(board: Board) -> Screen:
    """Returned tickets (退单) waiting to be re-dispatched, oldest first, with the return's reason
    and the time by which the supervisor should decide (RETURN_DECISION_HOURS working hours)."""
    tickets = db.session.scalars(
        select(Ticket)
        .where(*_ticket_scope(board), Ticket.state == State.RETURNED)
        .options(selectinload(Ticket.category), selectinload(Ticket.handling_unit))
        .order_by(Ticket.returned_at, Ticket.id)
    ).all()
    reasons: dict[int, str] = {}
    if tickets:
        latest = (
            select(TicketEvent.ticket_id, func.max(TicketEvent.id).label("id"))
            .where(TicketEvent.ticket_id.in_([t.id for t in tickets]), TicketEvent.action == Action.RETURN)
            .group_by(TicketEvent.ticket_id)
            .subquery()
        )
        reasons = dict(db.session.execute(  # type: ignore[arg-type]
            select(TicketEvent.ticket_id, TicketEvent.note).join(latest, TicketEvent.id == latest.c.id)
        ).all())
    cal = board.calendar()
    hours = float(board.config["RETURN_DECISION_HOURS"])
    rows = []
    for t in tickets:
        returned_at = aware(t.returned_at)
        decide_by = cal.add_working_hours(returned_at, hours) if returned_at else None
        late = decide_by is not None and decide_by < board.now
        rows.append({
            "number": t.number,
            "category": localized(t.category.name, t.category.name_en),
            "returned_by": localized(t.handling_unit.name, t.handling_unit.name_en),
            "reason": reasons.get(t.id, ""),
            "returned_at": returned_at,
            "decide_by": decide_by,
            "late": _("Late") if late else "",
            "_ticket": t,
            "_late": late,
        })
    columns = [
        Column("number", _("Number"), 14), Column("category", _("Category"), 14),
        Column("returned_by", _("Returned by"), 20), Column("reason", _("Reason"), 40),
        Column("returned_at", _("Returned at"), 18), Column("decide_by", _("Decide by"), 18),
        Column("late", _("Decision late"), 10),
    ]
    return Screen("returned", _("Returned, to re-dispatch"), columns, rows, _notes(board))


def pending_extensions(board: Board) -> list[tuple[Extension, Ticket]]:
    """Pending extension requests of the view's tickets that the actor may answer, most pressing first."""
    rows = db.session.execute(
        select(Extension, Ticket)
        .join(Ticket, Ticket.id == Extension.ticket_id)
        .where(*_ticket_scope(board), Extension.state == ExtensionState.PENDING)
        .order_by(Extension.decide_by, Extension.id)
    ).all()
    deciders = {u.id: u for u in db.session.scalars(
        select(OrgUnit).where(OrgUnit.id.in_({e.decider_unit_id for e, _t in rows if e.decider_unit_id}))
    )} if rows else {}
    return [(e, t) for e, t in rows if extension_service.may_decide(board.actor, deciders.get(e.decider_unit_id))]


def extension_requests(board: Board) -> Screen:
    """Extension requests (延期) for the actor to approve or refuse."""
    rows = []
    for ext, t in pending_extensions(board):
        decide_by = aware(ext.decide_by)
        rows.append({
            "number": t.number,
            "handling_unit": localized(t.handling_unit.name, t.handling_unit.name_en),
            "days": ext.days,
            "reason": ext.reason,
            "requested_at": aware(ext.requested_at),
            "resolution_due": aware(t.resolution_due_at),
            "decide_by": decide_by,
            "late": _("Late") if decide_by is not None and decide_by < board.now else "",
            "_extension": ext,
            "_ticket": t,
        })
    columns = [
        Column("number", _("Number"), 14), Column("handling_unit", _("Handling unit"), 20),
        Column("days", _("Working days asked"), 10), Column("reason", _("Reason"), 40),
        Column("requested_at", _("Requested at"), 18), Column("resolution_due", _("Current deadline"), 18),
        Column("decide_by", _("Decide by"), 18), Column("late", _("Decision late"), 10),
    ]
    return Screen("extensions", _("Extension requests"), columns, rows, _notes(board))


def candidates(board: Board) -> Screen:
    """Open repeated-complaint candidates (the worker's suggestions for the supervision list) of the
    districts that overlap the view."""
    found = repeats.visible_candidates(board.actor, CandidateState.OPEN) if board.actor.role in (
        Role.SUPERVISOR, Role.ADMIN) else []
    if found:
        districts = {u.id: u for u in db.session.scalars(
            select(OrgUnit).where(OrgUnit.id.in_({c.district_unit_id for c in found}))
        )}
        found = [c for c in found if c.district_unit_id in districts and (
            districts[c.district_unit_id].is_within(board.unit) or board.unit.is_within(districts[c.district_unit_id])
        )]
    if board.category is not None:
        found = [c for c in found if c.category_id == board.category.id]
    members = repeats.member_tickets([c.id for c in found])
    cats = {c.id: c for c in db.session.scalars(select(Category))} if found else {}
    rows = []
    for c in found:
        district = db.session.get(OrgUnit, c.district_unit_id)
        cat = cats.get(c.category_id)
        rows.append({
            "district": localized(district.name, district.name_en) if district else "",
            "category": localized(cat.name, cat.name_en) if cat else "",
            "ticket_count": c.ticket_count,
            "tickets": " ".join(t.number for t in members.get(c.id, [])),
            "radius_m": c.radius_m,
            "window_days": c.window_days,
            "created_at": aware(c.created_at),
            "_candidate": c,
            "_tickets": members.get(c.id, []),
        })
    columns = [
        Column("district", _("District"), 14), Column("category", _("Category"), 14),
        Column("ticket_count", _("Complaints"), 10), Column("tickets", _("Tickets"), 40),
        Column("radius_m", _("Within metres"), 10), Column("window_days", _("Within days"), 10),
        Column("created_at", _("Found at"), 18),
    ]
    return Screen("candidates", _("Repeated complaints"), columns, rows, _notes(board))


# ---------------------------------------------------------------------------- the supervision list


def page_lang() -> str:
    from flask_babel import get_locale

    return "en" if str(get_locale()) == "en" else "zh"


@dataclass
class ListView:
    """The supervision list of the view: its items, the formal rows (``services.supervision``),
    each item's weekly progress and covered tickets."""

    items: list[SupervisionItem]
    rows: list[dict[str, Any]]
    columns: list[Column]
    weeks: dict[int, list[Any]]
    tickets: dict[int, list[Ticket]]

    def table(self, board: Board) -> Table:
        """The formal 《重点督办事项清单》 of these very items, as the export writes it."""
        return supervision.export_table(self.items, board.now, board.settings, unit=board.unit, lang=page_lang())


def supervision_items(board: Board) -> ListView:
    """Items on the lists of the chosen unit and below (``supervision.visible_items``), newest first;
    with a category chosen, only those about it (a ticket of it, or a cluster of it)."""
    items = supervision.visible_items(
        board.actor, active=True if board.items == "active" else None, unit_code=board.unit.code
    )
    covered = supervision.subjects(items)
    if board.category is not None:
        clusters = {c.id: c.category_id for c in db.session.scalars(
            select(SupervisionCandidate).where(SupervisionCandidate.id.in_(
                [i.candidate_id for i in items if i.candidate_id is not None]))
        )} if items else {}
        items = [
            i for i in items
            if (i.candidate_id is not None and clusters.get(i.candidate_id) == board.category.id)
            or (i.ticket_id is not None and any(t.category_id == board.category.id for t in covered[i.id]))
        ]
    return ListView(
        items=items,
        rows=supervision.list_rows(items, board.now, board.settings, page_lang()),
        columns=supervision.export_columns(page_lang()),
        weeks=supervision.progress_many(items, board.now, board.settings),
        tickets={i.id: covered[i.id] for i in items},
    )


def may_list(actor: User) -> bool:
    """Whether the actor keeps a supervision list (district or city supervisors, unit-less admins)."""
    if actor.role not in (Role.SUPERVISOR, Role.ADMIN):
        return False
    return actor.unit is None or actor.unit.kind in supervision.LISTING_KINDS


def listed_item(ticket: Ticket) -> SupervisionItem | None:
    """The active supervision-list item of the ticket itself, if any."""
    return db.session.scalar(select(SupervisionItem).where(
        SupervisionItem.ticket_id == ticket.id, SupervisionItem.removed_at.is_(None)))


# ---------------------------------------------------------------------------- performance


def kpi_rows(board: Board) -> list[dict[str, Any]]:
    """The KPI ranking of the chosen unit's children and its total (``exports.kpi_rows``)."""
    start, end = board.period
    response_hours, resolution_hours = board.due_soon_hours
    return exports.kpi_rows(
        board.unit, start, end, board.now, board.settings, board.category.code if board.category else None,
        due_soon_response_hours=response_hours, due_soon_resolution_hours=resolution_hours,
    )


def kpi_table(board: Board, rows: list[dict[str, Any]], lang: str) -> Table:
    """The KPI rows as the export writes them: each rate with its numerator and denominator."""
    start, _end = board.period
    notes = exports.filter_notes(
        lang=lang, unit=board.unit, first=board.first, last_exclusive=board.last, now=board.now,
        timezone=board.settings.timezone, category=board.category.code if board.category else None,
    )
    return exports.kpi_table(rows, lang=lang, notes=notes, timezone=board.settings.timezone)


def deputy_points(board: Board) -> Screen:
    """The deputies of the chosen unit's subtree ranked by points in the period (``services.points``)."""
    points.ranking_scope(board.actor)  # Forbidden for anyone but supervisors and admins
    start, end = board.period
    ranking = points.points(
        start, end, per_valid=board.config["POINTS_PER_VALID"], per_solved=board.config["POINTS_PER_SOLVED"],
        scope=board.unit,
    )
    rows = [
        {
            "rank": r.rank,
            "deputy": r.user.display_name,
            "unit": localized(r.user.unit.name, r.user.unit.name_en) if r.user.unit else "",
            "valid": r.valid,
            "solved": r.solved,
            "points": r.points,
        }
        for r in ranking
    ]
    columns = [
        Column("rank", _("Rank"), 6), Column("deputy", _("Deputy"), 16), Column("unit", _("Unit"), 18),
        Column("valid", _("Valid issues"), 10), Column("solved", _("Solved issues"), 10),
        Column("points", _("Points"), 10),
    ]
    return Screen("points", _("Deputies' points"), columns, rows, _notes(board, period=True))


def decider_of(ext: Extension) -> OrgUnit | None:
    return db.session.get(OrgUnit, ext.decider_unit_id) if ext.decider_unit_id else None


def co_handler_choices(board: Board, ticket: Ticket) -> list[OrgUnit]:
    """Streets and departments of the actor's subtree that do not handle the ticket yet (吹哨)."""
    present = {ticket.handling_unit_id, *(c.unit_id for c in ticket.co_handlers)}
    return [u for u, _d in unit_choices(board.actor)
            if u.kind in (UnitKind.STREET, UnitKind.DEPARTMENT) and u.id not in present]


def handler_choices(ticket: Ticket) -> list[User]:
    """Active handlers of the ticket's handling unit (to assign it to one)."""
    return list(db.session.scalars(
        select(User).where(and_(User.unit_id == ticket.handling_unit_id, User.role == Role.HANDLER,
                                User.active.is_(True))).order_by(User.username)
    ))
