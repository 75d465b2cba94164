"""The supervision list (挂牌督办, DESIGN.md §2, §4, §7): tickets and repeated-complaint clusters
put under a district's or the city's formal supervision, with weekly progress and the formal
《重点督办事项清单》 export. The rules (docs/supervision.md repeats them):

Who
    Supervisors (and admins) of a district or the city list and remove items; an admin without
    a unit acts for the city at the top of the subject's tree. The item's ``unit_id`` is that
    supervising unit: the item is on its list. A ticket may be listed by those who oversee its
    handling unit; a cluster (a repeated-complaint candidate) by those whose unit holds its
    district. Items are read by the supervisors and admins whose unit holds the item's unit
    (a district's list is seen by the district and the city).

Order of the checks (nothing is written before all pass)
    For a ticket: 404 not visible to the caller → 409 the ticket has ended (invalid,
    duplicate, closed (rated, unrated or withdrawn), declined: ``ticket_ended``) or is already
    actively listed (``already_listed``) → 403 not a district or city supervisor
    (``supervisors_only``, ``district_or_city_only``) or not overseeing the handling unit
    (``ticket_outside_scope``) → 422 bad reason, leader or review date.
    For a cluster and for items, the candidates' rule holds (``repeats.decide``): other roles get
    403 ``supervisors_only`` whatever the id, since they see no candidate and no item at all;
    then 404 outside the caller's area, 409 (``candidate_decided``, ``already_listed``,
    ``item_removed``), 403, 422. Giving both a ticket and a cluster, or neither, is 422
    ``one_subject_required`` before anything is looked up.

Input
    ``reason`` (督办理由, at most 2000 characters) and ``leader`` (责任领导, a name and post, at
    most 100) are trimmed and must not be empty; ``review_on`` (复核日期) is a date not before
    today's local date (the configured zone). A removal needs a note (销号说明, at most 2000).

Listing
    A ticket: ``supervised`` is set and a ``supervise`` event is written on its trail with
    ``data = {item_id, listed: true, reason, leader, review_on, unit, source}`` and the reason
    as its note; the notification rules for ``supervise`` tell its handlers and watchers. A
    cluster: listed through the candidate decision (``repeats.decide``): the candidate becomes
    ``listed`` and every member ticket gets the flag and such an event (with ``candidate_id``).
    The escalation level is left alone: it is the worker's ladder; the listing unit follows the
    item here. A ticket may be on the list once as itself and once more through its cluster.

Removal (销号)
    The item keeps its row with ``removed_at``, ``removed_by_id`` and the note: the list's
    history is evidence. Every covered ticket gets a ``supervise`` event with ``listed: false``
    and the note. Its ``supervised`` flag is cleared unless another active item still covers it
    (as itself or through a cluster) or the rules put it under supervision (a ``supervise`` event
    written by the system, e.g. the second 不满意): the list does not undo a rule. The event's
    ``still_supervised`` says which. A removed cluster's candidate stays ``listed``: it is not
    offered again, and listing it again is 409 ``candidate_decided`` (its tickets can be listed
    one by one). Tickets that end while listed stay on the list until removed: 销号 is a decision.

Weekly progress (``progress``)
    From the listing to the removal (or ``now``), by ISO week (Monday to Sunday in the configured
    zone). Per week: the covered tickets' trail events in the week and within that span, counted
    by action; the latest ``progress`` or ``resolve`` note among them; each ticket's state at the
    week's end (or at the end of the span, for its last week) and whether it was overdue then.
    Overdue is the KPIs' definition (``ticketing.metrics``): dispatched past its response or
    resolution deadline, or accepted past its resolution deadline, with the deadlines as the
    trail recorded them up to that moment (extensions included), read by the KPIs' own walk of
    a trail (``kpi_facts.dispatches``). Computed from the event trail: no extra table.

Services flush, never commit: the caller commits.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import exists, or_, select

from ticketing.errors import Conflict, Forbidden, InvalidInput, NotFound
from ticketing.extensions import db
from ticketing.models import (
    CandidateState,
    Category,
    OrgUnit,
    SupervisionCandidate,
    SupervisionCandidateTicket,
    SupervisionItem,
    Ticket,
    TicketEvent,
    UnitKind,
    User,
)
from ticketing.services import dispatch, kpi_facts, repeats
from ticketing.services import tickets as ticket_service
from ticketing.settings import TicketSettings
from ticketing.tabular import Column, Table
from ticketing.workflow import Action, Relation, Role, State

MAX_REASON = 2000
MAX_LEADER = 100  # the column's length
MAX_NOTE = 2000
# Levels whose supervisors keep a supervision list.
LISTING_KINDS = frozenset({UnitKind.DISTRICT, UnitKind.CITY})
# A ticket in one of these has ended: there is nothing left to supervise.
ENDED_STATES = frozenset({State.CLOSED, State.INVALID, State.DUPLICATE, State.DECLINED})
PROGRESS_ACTIONS = frozenset({Action.PROGRESS, Action.RESOLVE})


# ---------------------------------------------------------------------------- listing


def add(
    actor: User,
    *,
    ticket_number: str | None = None,
    candidate_id: int | None = None,
    reason: str,
    leader: str,
    review_on: date | None,
    now: datetime,
    settings: TicketSettings,
) -> SupervisionItem:
    """Put a ticket (by number or id) or a repeated-complaint cluster on the caller's list; flushes.

    Exactly one of `ticket_number` and `candidate_id`. Checks in the module's order, then
    writes the item, the `supervised` flags and one `supervise` event per covered ticket.
    """
    if (ticket_number is None) == (candidate_id is None):
        raise InvalidInput("give exactly one of ticket and candidate_id", code="one_subject_required")
    if ticket_number is not None:
        return _add_ticket(actor, str(ticket_number), reason, leader, review_on, now, settings)
    assert candidate_id is not None
    return _add_candidate(actor, candidate_id, reason, leader, review_on, now, settings)


def _add_ticket(
    actor: User, key: str, reason: str, leader: str, review_on: date | None, now: datetime, settings: TicketSettings
) -> SupervisionItem:
    ticket, rel = ticket_service.get_visible(actor, key)
    if ticket.state in ENDED_STATES:
        raise Conflict(
            f"the ticket has ended ({ticket.state.value}); there is nothing to supervise",
            code="ticket_ended",
            details={
                "state": ticket.state.value,
                "closed_reason": ticket.closed_reason.value if ticket.closed_reason else None,
            },
        )
    _not_listed_yet(SupervisionItem.ticket_id == ticket.id)
    _require_lister(actor)
    if Relation.SUPERVISOR not in rel:
        raise Forbidden(
            "the ticket's handling unit is outside your area", code="ticket_outside_scope"
        )
    text = _checked(reason, leader, review_on, now, settings)
    unit = _listing_unit(actor, ticket.handling_unit)
    item = _new_item(actor, unit, now, text, ticket_id=ticket.id)
    _flag(ticket, actor, now, note=item.reason, data=_listing_data(item, unit))
    db.session.flush()
    return item


def _add_candidate(
    actor: User, candidate_id: int, reason: str, leader: str, review_on: date | None, now: datetime,
    settings: TicketSettings,
) -> SupervisionItem:
    _require_supervisor(actor)
    candidate = db.session.get(SupervisionCandidate, candidate_id)
    district = db.session.get(OrgUnit, candidate.district_unit_id) if candidate is not None else None
    if candidate is None or district is None or (actor.unit is not None and not district.is_within(actor.unit)):
        raise NotFound("no such candidate", code="candidate_not_found")
    if candidate.state != CandidateState.OPEN:
        raise Conflict(
            f"the candidate is already {candidate.state.value}",
            code="candidate_decided",
            details={"state": candidate.state.value},
        )
    _not_listed_yet(SupervisionItem.candidate_id == candidate.id)
    _require_lister(actor)
    text = _checked(reason, leader, review_on, now, settings)
    unit = _listing_unit(actor, district)
    item = _new_item(actor, unit, now, text, candidate_id=candidate.id)
    repeats.decide(candidate.id, actor, True, now, note=item.reason, data=_listing_data(item, unit))
    return item


@dataclass(frozen=True)
class _Text:
    reason: str
    leader: str
    review_on: date


def _checked(reason: str, leader: str, review_on: date | None, now: datetime, settings: TicketSettings) -> _Text:
    """The trimmed reason and leader and the review date, or 422 with the first problem."""
    reason_t = _required_text(reason, "reason", MAX_REASON)
    leader_t = _required_text(leader, "leader", MAX_LEADER)
    if review_on is None:
        raise InvalidInput("a review date (review_on) is required", code="review_on_required")
    today = now.astimezone(ZoneInfo(settings.timezone)).date()
    if review_on < today:
        raise InvalidInput(
            "the review date is in the past",
            code="review_on_past",
            details={"review_on": review_on.isoformat(), "today": today.isoformat()},
        )
    return _Text(reason_t, leader_t, review_on)


def _required_text(value: str | None, name: str, limit: int) -> str:
    text = (value or "").strip()
    if not text:
        raise InvalidInput(f"{name} is required", code=f"{name}_required")
    if len(text) > limit:
        raise InvalidInput(
            f"{name} is longer than {limit} characters", code=f"{name}_too_long", details={"max": limit}
        )
    return text


def _not_listed_yet(subject: Any) -> None:
    """409 if an active item already covers this subject (the partial unique index backs this)."""
    found = db.session.scalar(select(SupervisionItem).where(subject, SupervisionItem.removed_at.is_(None)))
    if found is not None:
        unit = db.session.get(OrgUnit, found.unit_id)
        raise Conflict(
            "it is already on the supervision list",
            code="already_listed",
            details={"item_id": found.id, "unit": unit.code if unit else None},
        )


def _require_supervisor(actor: User) -> None:
    if actor.role not in (Role.SUPERVISOR, Role.ADMIN):
        raise Forbidden("only supervisors keep the supervision list", code="supervisors_only")
    if actor.role == Role.SUPERVISOR and actor.unit is None:
        raise Forbidden("a supervisor without a unit oversees nothing", code="supervisors_only")


def _require_lister(actor: User) -> None:
    """403 unless a supervisor (or admin) of a district or the city, or an admin without a unit."""
    _require_supervisor(actor)
    if actor.unit is not None and actor.unit.kind not in LISTING_KINDS:
        raise Forbidden(
            "only district and city supervisors keep a supervision list",
            code="district_or_city_only",
            details={"unit": actor.unit.code},
        )


def _listing_unit(actor: User, subject_unit: OrgUnit) -> OrgUnit:
    """The caller's unit; for an admin without one, the top of the subject's tree (the city)."""
    if actor.unit is not None:
        return actor.unit
    root = db.session.get(OrgUnit, subject_unit.ancestor_ids()[0])
    assert root is not None
    return root


def _new_item(actor: User, unit: OrgUnit, now: datetime, text: _Text, **subject: int) -> SupervisionItem:
    item = SupervisionItem(
        unit_id=unit.id,
        reason=text.reason,
        leader=text.leader,
        review_on=text.review_on,
        listed_by_id=actor.id,
        listed_at=now,
        removal_note="",
        **subject,
    )
    db.session.add(item)
    db.session.flush()  # the id goes into the events; the unique index refuses a racing twin here
    return item


def _listing_data(item: SupervisionItem, unit: OrgUnit) -> dict[str, Any]:
    return {
        "item_id": item.id,
        "listed": True,
        "reason": item.reason,
        "leader": item.leader,
        "review_on": item.review_on.isoformat(),
        "unit": unit.code,
        "source": "supervision_list",
    }


def _flag(ticket: Ticket, actor: User, now: datetime, *, note: str, data: dict[str, Any]) -> None:
    ticket.supervised = True
    ticket.updated_at = now
    ticket.next_check_at = now  # as for every change: the worker recomputes the ticket's next moment
    ticket_service._event(
        ticket, Action.SUPERVISE, actor, now, from_state=ticket.state, to_state=ticket.state, note=note, data=data
    )


# ---------------------------------------------------------------------------- removal


def remove(item_id: int, actor: User, note: str, now: datetime) -> SupervisionItem:
    """Take an active item off the list (销号) with a note; flushes. See the module's rules."""
    _require_supervisor(actor)
    item = _visible_item(actor, item_id)
    if item.removed_at is not None:
        raise Conflict("the item was already removed", code="item_removed",
                       details={"removed_at": _utc(item.removed_at).isoformat()})
    text = _required_text(note, "note", MAX_NOTE)
    item.removed_at = now
    item.removed_by_id = actor.id
    item.removal_note = text
    db.session.flush()  # from here the item no longer counts as active
    unit = db.session.get(OrgUnit, item.unit_id)
    for ticket in subjects([item])[item.id]:
        still = _covered_elsewhere(ticket.id) or _supervised_by_rule(ticket.id)
        ticket.supervised = still
        ticket.updated_at = now
        ticket.next_check_at = now
        data: dict[str, Any] = {
            "item_id": item.id,
            "listed": False,
            "unit": unit.code if unit else None,
            "still_supervised": still,
            "source": "supervision_list",
        }
        if item.candidate_id is not None:
            data["candidate_id"] = item.candidate_id
        ticket_service._event(
            ticket, Action.SUPERVISE, actor, now, from_state=ticket.state, to_state=ticket.state, note=text, data=data
        )
    db.session.flush()
    return item


def _covered_elsewhere(ticket_id: int) -> bool:
    """Whether an active item covers the ticket, as itself or through its cluster."""
    clusters = select(SupervisionCandidateTicket.candidate_id).where(SupervisionCandidateTicket.ticket_id == ticket_id)
    return bool(
        db.session.scalar(
            select(
                exists().where(
                    SupervisionItem.removed_at.is_(None),
                    or_(SupervisionItem.ticket_id == ticket_id, SupervisionItem.candidate_id.in_(clusters)),
                )
            )
        )
    )


def _supervised_by_rule(ticket_id: int) -> bool:
    """Whether the rules put the ticket under supervision: a `supervise` event of the system."""
    return bool(
        db.session.scalar(
            select(
                exists().where(
                    TicketEvent.ticket_id == ticket_id,
                    TicketEvent.action == Action.SUPERVISE,
                    TicketEvent.actor_id.is_(None),
                )
            )
        )
    )


# ---------------------------------------------------------------------------- reading


def visible_items(actor: User, active: bool | None = None, unit_code: str | None = None) -> list[SupervisionItem]:
    """The items on the lists of the caller's unit and the units below it, newest first.

    `active`: True only items on the list, False only removed ones, None both. `unit_code`
    narrows to the lists of that unit and its subtree (404 ``unit_not_found`` outside the
    caller's area).
    """
    _require_supervisor(actor)
    scope = actor.unit
    if unit_code is not None:
        scope = visible_unit(actor, unit_code)
    query = select(SupervisionItem)
    if scope is not None:
        in_subtree = select(OrgUnit.id).where(OrgUnit.path.startswith(scope.path, autoescape=True))
        query = query.where(SupervisionItem.unit_id.in_(in_subtree))
    if active is True:
        query = query.where(SupervisionItem.removed_at.is_(None))
    elif active is False:
        query = query.where(SupervisionItem.removed_at.is_not(None))
    return list(db.session.scalars(query.order_by(SupervisionItem.listed_at.desc(), SupervisionItem.id.desc())))


def visible_unit(actor: User, unit_code: str) -> OrgUnit:
    """A unit within the caller's area by code, else 404 ``unit_not_found``."""
    unit = db.session.scalar(select(OrgUnit).where(OrgUnit.code == unit_code))
    if unit is None or (actor.unit is not None and not unit.is_within(actor.unit)):
        raise NotFound("no such unit among those you may see", code="unit_not_found", details={"unit": unit_code})
    return unit


def get_item(actor: User, item_id: int) -> SupervisionItem:
    """One item the caller may read (403 for other roles, 404 outside their area)."""
    _require_supervisor(actor)
    return _visible_item(actor, item_id)


def _visible_item(actor: User, item_id: int) -> SupervisionItem:
    item = db.session.get(SupervisionItem, item_id) if 0 < item_id <= ticket_service.MAX_ID else None
    unit = db.session.get(OrgUnit, item.unit_id) if item is not None else None
    if item is None or unit is None or (actor.unit is not None and not unit.is_within(actor.unit)):
        raise NotFound("no such item on the supervision lists you may see", code="item_not_found")
    return item


def subjects(items: Sequence[SupervisionItem]) -> dict[int, list[Ticket]]:
    """item id → the tickets it covers (its ticket, or its cluster's members in id order)."""
    out: dict[int, list[Ticket]] = {}
    members = repeats.member_tickets(sorted({i.candidate_id for i in items if i.candidate_id is not None}))
    for item in items:
        if item.ticket_id is not None:
            ticket = db.session.get(Ticket, item.ticket_id)
            out[item.id] = [ticket] if ticket is not None else []
        else:
            out[item.id] = list(members.get(item.candidate_id or 0, []))
    return out


def is_overdue(ticket: Ticket, now: datetime) -> bool:
    """Overdue now, as the KPIs count it: dispatched past either deadline, accepted past resolution."""
    dues = [ticket.resolution_due_at]
    if ticket.state == State.DISPATCHED:
        dues.append(ticket.response_due_at)
    elif ticket.state != State.ACCEPTED:
        return False
    return any(due is not None and _utc(due) < now for due in dues)


def is_active(item: SupervisionItem) -> bool:
    return item.removed_at is None


def review_due(item: SupervisionItem, now: datetime, settings: TicketSettings) -> bool:
    """An active item whose review date (复核日期) has come (today or earlier, local date)."""
    return is_active(item) and item.review_on <= now.astimezone(ZoneInfo(settings.timezone)).date()


# ---------------------------------------------------------------------------- weekly progress


@dataclass
class WeekRow:
    """One ISO week of an item's progress (see the module docstring)."""

    week: str  # "2026-W10"
    start: date  # its Monday
    end: date  # its Sunday
    as_of: datetime  # the moment states and overdue are taken at: the week's end, or the span's
    events: dict[str, int] = field(default_factory=dict)  # action → count
    latest_note: str | None = None
    latest_note_at: datetime | None = None
    latest_note_ticket: str | None = None
    states: dict[str, str] = field(default_factory=dict)  # ticket number → state at `as_of`
    overdue_tickets: list[str] = field(default_factory=list)

    @property
    def overdue(self) -> bool:
        return bool(self.overdue_tickets)

    def state_counts(self) -> dict[str, int]:
        """state → number of tickets in it, in the workflow's order of states."""
        counts = Counter(self.states.values())
        return {s.value: counts[s.value] for s in State if counts[s.value]}


def progress(item: SupervisionItem, now: datetime, settings: TicketSettings) -> list[WeekRow]:
    """The item's weekly progress, oldest week first; reads only."""
    return progress_many([item], now, settings)[item.id]


def progress_many(
    items: Sequence[SupervisionItem], now: datetime, settings: TicketSettings
) -> dict[int, list[WeekRow]]:
    """item id → its weekly progress, with one query for every covered ticket's trail."""
    covered = subjects(items)
    ids = sorted({t.id for tickets in covered.values() for t in tickets})
    trails: dict[int, list[TicketEvent]] = defaultdict(list)
    if ids:
        for ev in db.session.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id.in_(ids)).order_by(TicketEvent.at, TicketEvent.id)
        ):
            trails[ev.ticket_id].append(ev)
    zone = ZoneInfo(settings.timezone)
    return {item.id: _weeks(item, covered[item.id], trails, now, settings, zone) for item in items}


def _weeks(
    item: SupervisionItem,
    tickets: list[Ticket],
    trails: dict[int, list[TicketEvent]],
    now: datetime,
    settings: TicketSettings,
    zone: ZoneInfo,
) -> list[WeekRow]:
    start = _utc(item.listed_at)
    end = max(_utc(item.removed_at) if item.removed_at is not None else now, start)
    first = start.astimezone(zone).date()
    monday = first - timedelta(days=first.weekday())
    rows: list[WeekRow] = []
    while True:
        week_start = datetime.combine(monday, time(0), zone).astimezone(timezone.utc)
        if week_start > end:
            break
        week_end = datetime.combine(monday + timedelta(days=7), time(0), zone).astimezone(timezone.utc)
        year, number, _ = monday.isocalendar()
        as_of = min(week_end, end)
        row = WeekRow(f"{year}-W{number:02d}", monday, monday + timedelta(days=6), as_of)
        counts: Counter[str] = Counter()
        latest: tuple[datetime, int, str, str] | None = None
        for ticket in tickets:
            trail = trails.get(ticket.id, [])
            # Events at the week's end belong to the next week; the span's own end is included.
            upto = [e for e in trail if _utc(e.at) < week_end and _utc(e.at) <= end]
            for ev in upto:
                at = _utc(ev.at)
                if at < week_start or at < start:
                    continue
                counts[ev.action.value] += 1
                if ev.action in PROGRESS_ACTIONS and ev.note and (latest is None or (at, ev.id) > latest[:2]):
                    latest = (at, ev.id, ev.note, ticket.number)
            state = upto[-1].to_state if upto and upto[-1].to_state is not None else ticket.state
            row.states[ticket.number] = state.value
            if _overdue_at(ticket, state, upto, as_of, settings):
                row.overdue_tickets.append(ticket.number)
        row.events = dict(sorted(counts.items()))
        if latest is not None:
            row.latest_note_at, row.latest_note, row.latest_note_ticket = latest[0], latest[2], latest[3]
        rows.append(row)
        monday += timedelta(days=7)
    return rows


def _overdue_at(
    ticket: Ticket, state: State, events: list[TicketEvent], moment: datetime, settings: TicketSettings
) -> bool:
    """Overdue at `moment` by the deadlines the trail recorded up to then (as the KPIs read them)."""
    if state not in (State.DISPATCHED, State.ACCEPTED):
        return False

    def deadlines_for(at: datetime) -> tuple[datetime | None, datetime | None]:
        # A redispatch records no deadlines: the category's, from then, as the service computed them.
        d = dispatch.deadlines_from(at, ticket.category, settings)
        return d.response_due_at, d.resolution_due_at

    # The KPIs' own reading of a trail into dispatches, so that the list and the KPIs agree.
    dispatches = kpi_facts.dispatches(ticket.id, events, deadlines_for)
    if not dispatches:
        return False
    last = dispatches[-1]
    dues = [last.resolution_due] + ([last.response_due] if state == State.DISPATCHED else [])
    return any(due is not None and _utc(due) < moment for due in dues)


# ---------------------------------------------------------------------------- export


STATE_LABELS: dict[str, tuple[str, str]] = {
    State.PENDING_REVIEW.value: ("待代表审核", "awaiting the deputy"),
    State.DECLINED.value: ("未转交", "declined"),
    State.DISPATCHED.value: ("待受理", "dispatched"),
    State.ACCEPTED.value: ("办理中", "in hand"),
    State.RETURNED.value: ("已退回", "returned"),
    State.RESOLVED.value: ("已办结待评价", "resolved, awaiting rating"),
    State.CLOSED.value: ("已关闭", "closed"),
    State.INVALID.value: ("无效", "invalid"),
    State.DUPLICATE.value: ("重复", "duplicate"),
}

# key, Chinese heading (the formal form), English heading, XLSX width.
EXPORT_COLUMNS: tuple[tuple[str, str, str, int], ...] = (
    ("index", "序号", "No.", 6),
    ("subject", "事项", "Item", 40),
    ("category", "类别", "Category", 12),
    ("units", "责任单位", "Responsible unit", 20),
    ("reason", "督办理由", "Reason", 36),
    ("leader", "责任领导", "Responsible leader", 16),
    ("listed_on", "挂牌日期", "Listed on", 12),
    ("review_on", "复核日期", "Review date", 12),
    ("state", "当前状态", "Current state", 16),
    ("this_week", "本周进展", "Progress this week", 40),
    ("overdue", "是否超期", "Overdue", 10),
    ("list_unit", "挂牌单位", "Listed by", 14),
    ("removed_on", "销号日期", "Removed on", 12),
    ("removal_note", "销号说明", "Removal note", 30),
)


def export_columns(lang: str = "zh") -> list[Column]:
    """The export's columns, with Chinese headings unless `lang` is "en"."""
    return [Column(key, en if lang == "en" else zh, width) for key, zh, en, width in EXPORT_COLUMNS]


def list_rows(
    items: Sequence[SupervisionItem], now: datetime, settings: TicketSettings, lang: str = "zh"
) -> list[dict[str, Any]]:
    """One export row per item, in the given order, numbered from 1; reads only.

    State, this week's progress and overdue come from the item's last weekly row: as of now
    for an item on the list, as of its removal for a removed one.
    """
    en = lang == "en"
    zone = ZoneInfo(settings.timezone)
    covered = subjects(items)
    weeks = progress_many(items, now, settings)
    categories = {c.id: c for c in db.session.scalars(select(Category))}
    units = {u.id: u for u in db.session.scalars(select(OrgUnit))}
    candidates = {
        c.id: c
        for c in db.session.scalars(
            select(SupervisionCandidate).where(
                SupervisionCandidate.id.in_([i.candidate_id for i in items if i.candidate_id is not None])
            )
        )
    }

    def unit_name(unit_id: int | None) -> str:
        unit = units.get(unit_id) if unit_id is not None else None
        return "" if unit is None else (unit.name_en or unit.name) if en else unit.name

    def category_name(category_id: int | None) -> str:
        cat = categories.get(category_id) if category_id is not None else None
        return "" if cat is None else (cat.name_en or cat.name) if en else cat.name

    rows = []
    for index, item in enumerate(items, start=1):
        tickets = covered[item.id]
        last = weeks[item.id][-1]
        if item.ticket_id is not None and tickets:
            t = tickets[0]
            subject = f"{t.number} {t.title or _short(t.description)}"
            category = category_name(t.category_id)
        else:
            candidate = candidates.get(item.candidate_id or 0)
            numbers = "、".join(t.number for t in tickets)
            category = category_name(candidate.category_id if candidate else None)
            district = unit_name(candidate.district_unit_id if candidate else None)
            subject = (
                f"Repeated complaints: {district}, {category}, {len(tickets)} tickets ({numbers})"
                if en
                else f"重复投诉：{district}{category} {len(tickets)} 件（{numbers}）"
            )
        handling = list(dict.fromkeys(unit_name(t.handling_unit_id) for t in tickets))
        rows.append(
            {
                "index": index,
                "subject": subject,
                "category": category,
                "units": ", ".join(handling) if en else "、".join(handling),
                "reason": item.reason,
                "leader": item.leader,
                "listed_on": _utc(item.listed_at).astimezone(zone).date(),
                "review_on": item.review_on,
                "state": _state_text(last, single=item.ticket_id is not None, en=en),
                "this_week": _progress_text(last, single=item.ticket_id is not None, en=en),
                "overdue": ("yes" if en else "是") if last.overdue else ("no" if en else "否"),
                "list_unit": unit_name(item.unit_id),
                "removed_on": _utc(item.removed_at).astimezone(zone).date() if item.removed_at else None,
                "removal_note": item.removal_note,
            }
        )
    return rows


def export_table(
    items: Sequence[SupervisionItem],
    now: datetime,
    settings: TicketSettings,
    *,
    unit: OrgUnit | None,
    lang: str = "zh",
) -> Table:
    """The formal 《重点督办事项清单》 of `unit` (None: every list) as of `now`, for ``tabular.render``."""
    en = lang == "en"
    local = now.astimezone(ZoneInfo(settings.timezone))
    name = "" if unit is None else (unit.name_en or unit.name) if en else unit.name
    if en:
        title = f"Key supervision list{' of ' + name if name else ''} ({local.date().isoformat()})"
        notes = [f"As of {local:%Y-%m-%d %H:%M} ({settings.timezone}); {len(items)} item(s)"]
    else:
        title = f"{name}重点督办事项清单（{local.year}年{local.month}月{local.day}日）"
        notes = [f"截至 {local:%Y-%m-%d %H:%M}（{settings.timezone}），共 {len(items)} 项"]
    return Table(
        title=title,
        columns=export_columns(lang),
        rows=list_rows(items, now, settings, lang),
        notes=notes,
        timezone=settings.timezone,
    )


def export_filename(unit: OrgUnit | None, now: datetime, settings: TicketSettings, fmt: str, lang: str = "zh") -> str:
    """The export's file name: 《{unit}重点督办事项清单_{yyyymmdd}》 (ASCII in English)."""
    day = now.astimezone(ZoneInfo(settings.timezone)).strftime("%Y%m%d")
    if lang == "en":
        return f"key-supervision-list{'_' + unit.code if unit else ''}_{day}.{fmt}"
    return f"{unit.name if unit else ''}重点督办事项清单_{day}.{fmt}"


def _state_text(row: WeekRow, *, single: bool, en: bool) -> str:
    labels = {k: (v[1] if en else v[0]) for k, v in STATE_LABELS.items()}
    if single:
        return "".join(labels[s] for s in row.states.values())
    parts = [f"{labels[s]} {n}" for s, n in row.state_counts().items()]
    return ", ".join(parts) if en else "、".join(parts)


def _progress_text(row: WeekRow, *, single: bool, en: bool) -> str:
    if row.latest_note is None:
        return "no progress recorded this week" if en else "本周无办理进展"
    if single:
        return row.latest_note
    return f"{row.latest_note_ticket}: {row.latest_note}" if en else f"{row.latest_note_ticket}：{row.latest_note}"


def _short(text: str, limit: int = 30) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _utc(moment: datetime) -> datetime:
    # SQLite hands datetimes back naive; they are UTC by convention.
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment
