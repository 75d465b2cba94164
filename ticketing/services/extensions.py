"""Deadline extensions (延期): the handling unit asks for more working days, the level above answers.

A request names its decider: the first level above the handling unit's own level
(`notify.escalation_chain`: a street's district, a district department's city), or the
handling unit itself when nothing is above it (a city dispatch desk, answered by the city's
supervisors). The decider has EXTENSION_DECISION_HOURS working hours; after that the worker
moves the request one level up (`escalate_overdue`). A request at the top level stays
pending until someone there answers it: there is nobody further to ask.

Approval moves the resolution deadline by the granted working days, counted from the old
deadline (not from the approval), so asking early costs nothing and answering late gives
nothing away. Refusal leaves the deadline alone. Every step writes an event; functions
flush, the caller commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select

from ticketing.errors import Conflict, EvidenceRequired, Forbidden, InvalidInput, NotFound
from ticketing.extensions import db
from ticketing.models import Extension, OrgUnit, Ticket, TicketEvent, User
from ticketing.models.tickets import ExtensionState
from ticketing.services import notify
from ticketing.services.bulk import insert_ignoring_duplicates
from ticketing.services.tickets import Evidence, _guard, _transition
from ticketing.settings import TicketSettings
from ticketing.workflow import Action, Role, rule_for
from ticketing.worktime import WorkCalendar, calendar_for

MIN_DAYS = 1
MAX_DAYS = 30  # a month of working days: anything longer is a new plan, not an extension
ESCALATION_REASON = "extension_unanswered"


def request(
    ticket: Ticket, actor: User, now: datetime, *, days: int, reason: str, settings: TicketSettings
) -> Extension:
    """The handling unit asks for `days` more working days with a reason; one pending request at a time."""
    rule = _guard(ticket, Action.EXTENSION_REQUEST, actor, Evidence(reason))
    if isinstance(days, bool) or not isinstance(days, int) or not MIN_DAYS <= days <= MAX_DAYS:
        raise InvalidInput(
            f"days must be a whole number from {MIN_DAYS} to {MAX_DAYS}",
            code="invalid_days",
            details={"days": days, "min": MIN_DAYS, "max": MAX_DAYS},
        )
    if pending_for(ticket) is not None:
        # Two concurrent requests both pass this check, but both also bump the ticket's
        # version in _transition, so the second flush fails as a concurrent update.
        raise Conflict("an extension request is already waiting for an answer", code="extension_pending")
    chain = notify.escalation_chain(ticket.handling_unit)
    decider = db.session.get(OrgUnit, chain[0]) if chain else ticket.handling_unit
    assert decider is not None
    ext = Extension(
        ticket_id=ticket.id,
        requested_by_id=actor.id,
        requested_at=now,
        days=days,
        reason=reason.strip(),
        state=ExtensionState.PENDING,
        decider_unit_id=decider.id,
        decide_by=_calendar(now, settings).add_working_hours(now, settings.extension_decision_hours),
        escalation_level=0,
    )
    db.session.add(ext)
    db.session.flush()
    event = _transition(
        ticket,
        rule,
        actor,
        now,
        None,
        note=reason,
        data={"extension_id": ext.id, "days": days, "decide_by": ext.decide_by.isoformat(), "decider": decider.code},
    )
    # The table's audience is the supervisors already watching the ticket; the decider may sit above them.
    _tell_supervisors(event, decider.id, now)
    return ext


def decide(
    ticket: Ticket,
    extension_id: int,
    actor: User,
    now: datetime,
    *,
    approve: bool,
    note: str = "",
    settings: TicketSettings,
) -> Extension:
    """A supervisor at or above the decider unit approves (the deadline moves) or refuses (with a note)."""
    rule = _guard(ticket, Action.EXTENSION_DECISION, actor, Evidence(note))
    # The row lock makes a decision and the worker's escalation of the same request take turns.
    ext = db.session.scalar(
        select(Extension).where(Extension.id == extension_id, Extension.ticket_id == ticket.id).with_for_update()
    )
    if ext is None:
        raise NotFound("no such extension request on this ticket", code="extension_not_found")
    if ext.state != ExtensionState.PENDING:
        raise Conflict(
            f"the extension request was already {ext.state.value}",
            code="extension_not_pending",
            details={"state": ext.state.value},
        )
    decider = db.session.get(OrgUnit, ext.decider_unit_id) if ext.decider_unit_id else None
    if not may_decide(actor, decider):
        raise Forbidden(
            "only a supervisor of the deciding level (or above it) may answer this request",
            code="not_the_decider",
            details={"decider": decider.code if decider else None},
        )
    if not approve and not note.strip():
        # A refusal sends the unit back to its old deadline: it is owed the reason.
        raise EvidenceRequired("a refusal needs a note", code="note_required", details={"action": rule.action.value})
    ext.state = ExtensionState.APPROVED if approve else ExtensionState.REFUSED
    ext.decided_by_id = actor.id
    ext.decided_at = now
    ext.decision_note = note.strip()
    data: dict[str, Any] = {
        "extension_id": ext.id,
        "approved": approve,
        "days": ext.days,
        "decider": decider.code if decider else None,
    }
    if approve:
        old_due = ticket.resolution_due_at
        cal = _calendar(now, settings)
        # A working ticket always has a deadline; were it missing, the days count from now.
        new_due = cal.end_of_working_days(old_due or now, ext.days)
        ticket.resolution_due_at = new_due
        ticket.extension_count += 1
        years = range(cal.local_date(old_due or now).year, cal.local_date(new_due).year + 1)
        ticket.deadline_fallback = ticket.deadline_fallback or any(not cal.is_known_year(y) for y in years)
        data.update(
            old_resolution_due_at=old_due.isoformat() if old_due else None,
            new_resolution_due_at=new_due.isoformat(),
        )
    # _transition sets next_check_at = now, so the worker re-plans reminders for the new deadline.
    _transition(ticket, rule, actor, now, None, note=note, data=data)
    return ext


def escalate_overdue(now: datetime, settings: TicketSettings) -> int:
    """Move each unanswered request past its decide_by one level up; returns how many moved. Flushes.

    Safe with two workers: rows are claimed with FOR UPDATE SKIP LOCKED on PostgreSQL, and
    each step's event has a unique dedupe key, so the extension changes only when its event
    was new. Requests of tickets that left the working states are not chased any more, and
    requests at the top level stay pending. The ticket row itself is not touched.
    """
    sources = rule_for(Action.EXTENSION_DECISION).sources
    due = list(
        db.session.scalars(
            select(Extension)
            .join(Ticket, Ticket.id == Extension.ticket_id)
            .where(
                Extension.state == ExtensionState.PENDING,
                Extension.decide_by <= now,
                Ticket.state.in_(sources),
            )
            .order_by(Extension.decide_by, Extension.id)
            .with_for_update(of=Extension, skip_locked=True)
        )
    )
    cal: WorkCalendar | None = None
    moved = 0
    for ext in due:
        current = db.session.get(OrgUnit, ext.decider_unit_id) if ext.decider_unit_id else None
        if current is None:
            continue
        above = notify.escalation_chain(current)
        if not above:
            continue  # the top level: nobody further to ask
        target = db.session.get(OrgUnit, above[0])
        assert target is not None
        ticket = db.session.get(Ticket, ext.ticket_id)
        assert ticket is not None
        level = ext.escalation_level + 1
        row = {
            "ticket_id": ticket.id,
            "action": Action.ESCALATE,
            "at": now,
            "actor_id": None,
            "actor_role": "system",
            "from_state": ticket.state,
            "to_state": ticket.state,
            "round": ticket.round,
            "handling_unit_id": ticket.handling_unit_id,
            "note": "",
            "data": {"extension_id": ext.id, "to_unit": target.code, "reason": ESCALATION_REASON},
            "dedupe_key": f"ext-escalate:{ext.id}:{level}",
        }
        inserted = insert_ignoring_duplicates(TicketEvent.__table__, [row], "dedupe_key", returning="id")
        if not inserted:
            continue  # another worker took this step already
        cal = cal or _calendar(now, settings)
        ext.decider_unit_id = target.id
        ext.escalation_level = level
        ext.decide_by = cal.add_working_hours(now, settings.extension_decision_hours)
        db.session.flush()
        event = db.session.get(TicketEvent, inserted[0])
        assert event is not None
        notify.for_event(event, now)
        _tell_supervisors(event, target.id, now)
        moved += 1
    return moved


# ---------------------------------------------------------------------------- reading


def for_ticket(ticket: Ticket) -> list[Extension]:
    """The ticket's extension requests, oldest first."""
    return list(db.session.scalars(select(Extension).where(Extension.ticket_id == ticket.id).order_by(Extension.id)))


def pending_for(ticket: Ticket) -> Extension | None:
    """The request waiting for an answer, if any (there is at most one)."""
    return db.session.scalar(
        select(Extension).where(Extension.ticket_id == ticket.id, Extension.state == ExtensionState.PENDING)
    )


def may_decide(actor: User, decider: OrgUnit | None) -> bool:
    """Whether `actor` may answer a request whose deciding unit is `decider`: a supervisor there or above."""
    if actor.role == Role.ADMIN and actor.unit is None:
        return True  # an unscoped admin oversees every unit (as in access.relations)
    if actor.role not in (Role.SUPERVISOR, Role.ADMIN) or actor.unit is None or decider is None:
        return False
    return decider.is_within(actor.unit)


def applicable_actions(actions: Sequence[Action], extensions: Iterable[Extension], viewer: User) -> list[Action]:
    """Narrow the table's allowed actions by the requests: ask when none is pending, answer when you may."""
    pending = next((e for e in extensions if e.state == ExtensionState.PENDING), None)
    decider = db.session.get(OrgUnit, pending.decider_unit_id) if pending and pending.decider_unit_id else None
    out = []
    for action in actions:
        if action == Action.EXTENSION_REQUEST and pending is not None:
            continue
        if action == Action.EXTENSION_DECISION and (pending is None or not may_decide(viewer, decider)):
            continue
        out.append(action)
    return out


# ---------------------------------------------------------------------------- internals


def _calendar(now: datetime, settings: TicketSettings) -> WorkCalendar:
    return calendar_for(db.session, now, settings.office_hours, settings.timezone)


def _tell_supervisors(event: TicketEvent, unit_id: int, now: datetime) -> int:
    """Queue the event's message to the supervisors of `unit_id` (deduplicated against for_event's rows)."""
    ticket = event.ticket
    users = [u for u in notify.unit_users([unit_id], Role.SUPERVISOR) if u.id != event.actor_id]
    message = notify.Message(
        kind=event.action.value,
        subject=_subject(event).format(number=ticket.number),
        body=_body(ticket, event),
        # The same base as notify.for_event: one message per person per event, whoever queues it.
        dedupe_base=f"event:{event.id}",
        ticket_id=ticket.id,
        event_id=event.id,
    )
    return notify.insert_rows(notify.rows_for(message, users, now))


def _subject(event: TicketEvent) -> str:
    if event.action == Action.ESCALATE:
        return "工单 {number} 延期申请超时未答复，已上报"
    return notify.SUBJECTS.get(event.action.value, "工单 {number}")


def _body(ticket: Ticket, event: TicketEvent) -> str:
    days = event.data.get("days")
    lines = [f"{ticket.number} {ticket.category.name}：{ticket.description[:120]}"]
    if event.action == Action.EXTENSION_REQUEST:
        lines.append(f"{ticket.handling_unit.name} 申请延期 {days} 个工作日：{event.note[:500]}")
        lines.append(f"请在 {event.data['decide_by']} 前答复。")
    else:
        lines.append(f"延期申请（#{event.data.get('extension_id')}）下级未及时答复，请您答复。")
    return "\n".join(lines)
