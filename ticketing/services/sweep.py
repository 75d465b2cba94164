"""The deadline sweep: due-soon reminders, escalation up the ladder, returned tickets left
undecided, and auto-close of unrated tickets (DESIGN.md §4–5).

Set-based: one batch reads the tickets whose `next_check_at` has come (an index range,
so the cost follows the due tickets, not the open ones), decides in Python against the
working-time calendar, and writes with a handful of bulk statements (on PostgreSQL one per
table and batch, the rows sent as arrays). Each worker step is an event with a
`dedupe_key` (ticket, step, round, dispatch) under a unique index, so a step happens at
most once even if two workers race or one dies mid-sweep; the ticket is only changed for
the events that were actually inserted. Flushes; the job commits per batch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import DateTime, Integer, Select, bindparam, case, cast, func, literal, select, update
from sqlalchemy.dialects.postgresql import ARRAY

from ticketing.bridge import webhooks
from ticketing.extensions import db
from ticketing.models import Ticket, TicketEvent, User
from ticketing.services import notify
from ticketing.services.bulk import insert_ignoring_duplicates
from ticketing.services.orgtree import OrgTree
from ticketing.workflow import Action, ClosedReason, Role, State
from ticketing.worktime import WorkCalendar, calendar_for

T = Ticket.__table__


@dataclass(frozen=True)
class SweepSettings:
    batch: int
    remind_response_before_hours: float
    remind_resolution_before_hours: float
    reescalate_after_hours: float
    return_decision_hours: float
    auto_close_days: int
    office_hours: tuple[tuple[str, str], ...]
    timezone: str

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SweepSettings:
        """Read the sweep's settings from the app config."""
        return cls(
            batch=int(config["SWEEP_BATCH"]),
            remind_response_before_hours=float(config["REMIND_RESPONSE_BEFORE_HOURS"]),
            remind_resolution_before_hours=float(config["REMIND_RESOLUTION_BEFORE_HOURS"]),
            reescalate_after_hours=float(config["REESCALATE_AFTER_HOURS"]),
            return_decision_hours=float(config["RETURN_DECISION_HOURS"]),
            auto_close_days=int(config["AUTO_CLOSE_DAYS"]),
            office_hours=tuple(tuple(p) for p in config["OFFICE_HOURS"]),  # type: ignore[misc]
            timezone=str(config["TIMEZONE"]),
        )


@dataclass
class Step:
    """One worker step planned for a ticket: an event to insert and what follows if it is new."""

    action: Action
    dedupe_key: str
    data: dict[str, Any]
    level: int | None = None  # escalations: the new level
    notify_units: tuple[int, ...] = ()
    notify_role: Role = Role.HANDLER
    subject_kind: str = ""


@dataclass
class Plan:
    steps: list[Step] = field(default_factory=list)
    next_check_at: datetime | None = None


# ------------------------------------------------------------------- deciding (pure)


def plan_ticket(row: Any, now: datetime, cal: WorkCalendar, s: SweepSettings, ladder: list[int]) -> Plan:
    """What the clock demands of one ticket now, and when to look at it next.

    `row` carries the ticket's columns; `ladder` is its handling unit's escalation chain.
    When the worker was away and several moments have passed, only the latest applies:
    an overdue ticket escalates and is not reminded any more.
    """
    state = State(row.state)
    if state == State.RESOLVED:
        close_at = row.resolved_at + timedelta(days=s.auto_close_days)
        if now >= close_at:
            return Plan([Step(Action.AUTO_CLOSE, f"auto_close:{row.id}:{row.round}",
                              {"after_days": s.auto_close_days}, subject_kind="auto_close")])
        return Plan(next_check_at=close_at)
    if state not in (State.DISPATCHED, State.ACCEPTED, State.RETURNED):
        return Plan()

    stamp = int(row.dispatched_at.timestamp()) if row.dispatched_at else 0
    moments: list[datetime] = []
    overdue: str | None = None
    if state == State.RETURNED:
        decide_by = cal.add_working_hours(row.returned_at or row.dispatched_at, s.return_decision_hours)
        if now >= decide_by:
            overdue = "returned"
        else:
            moments.append(decide_by)
    else:
        if state == State.DISPATCHED and row.response_due_at is not None:
            if now >= row.response_due_at:
                overdue = "response"
            else:
                moments.append(row.response_due_at)
        if row.resolution_due_at is not None:
            if now >= row.resolution_due_at:
                overdue = overdue or "resolution"
            else:
                moments.append(row.resolution_due_at)

    plan = Plan()
    level = row.escalation_level
    if overdue:
        escalated_at = row.escalated_at
        if level < len(ladder):
            due_again = (
                escalated_at is None
                or level == 0
                or now >= cal.add_working_hours(escalated_at, s.reescalate_after_hours)
            )
            if due_again:
                level += 1
                target = ladder[level - 1]
                plan.steps.append(Step(
                    Action.ESCALATE,
                    f"escalate:{row.id}:{row.round}:{stamp}:{level}",
                    {"level": level, "reason": f"{overdue}_overdue" if overdue != "returned" else "returned_undecided",
                     "to_unit_id": target},
                    level=level,
                    notify_units=(target,),
                    notify_role=Role.SUPERVISOR,
                    subject_kind="escalate",
                ))
                escalated_at = now
        if level < len(ladder) and escalated_at is not None:
            moments.append(cal.add_working_hours(escalated_at, s.reescalate_after_hours))
    else:
        reminders = []
        if state == State.DISPATCHED and row.response_due_at is not None:
            reminders.append(("response", row.response_due_at, s.remind_response_before_hours))
        if state in (State.DISPATCHED, State.ACCEPTED) and row.resolution_due_at is not None:
            reminders.append(("resolution", row.resolution_due_at, s.remind_resolution_before_hours))
        for kind, due, before in reminders:
            remind_at = cal.subtract_working_hours(due, before)
            if now >= remind_at:
                plan.steps.append(Step(
                    Action.REMIND,
                    f"remind:{row.id}:{kind}:{row.round}:{stamp}",
                    {"deadline": kind, "due_at": due.isoformat()},
                    notify_units=(row.handling_unit_id,),
                    notify_role=Role.HANDLER,
                    subject_kind="remind",
                ))
            else:
                moments.append(remind_at)
    future = [m for m in moments if m > now]
    plan.next_check_at = min(future) if future else None
    return plan


# ------------------------------------------------------------------- one batch


def due_query(now: datetime, limit: int, *, postgresql: bool) -> Select[Any]:
    """The batch's claim: up to `limit` due tickets, earliest check first (a range scan of the
    partial index ix_tickets_next_check); on PostgreSQL the rows are locked, skipping those
    another worker holds. The caller executes it."""
    query = (
        select(
            T.c.id, T.c.number, T.c.state, T.c.round, T.c.handling_unit_id, T.c.dispatched_at,
            T.c.response_due_at, T.c.resolution_due_at, T.c.escalation_level, T.c.escalated_at,
            T.c.returned_at, T.c.resolved_at,
        )
        .where(T.c.next_check_at <= now)
        .order_by(T.c.next_check_at)
        .limit(limit)
    )
    if postgresql:
        # A second worker skips what this one holds instead of waiting for it. FOR NO KEY UPDATE
        # (what an UPDATE takes anyway): a plain FOR UPDATE would also skip every ticket that some
        # transaction merely references (an insert into a table with a foreign key to tickets takes
        # FOR KEY SHARE on the ticket), so a busy repeats job or outbox could hide due tickets.
        query = query.with_for_update(skip_locked=True, key_share=True)
    return query


def sweep_batch(now: datetime, s: SweepSettings) -> dict[str, int]:
    """Handle up to `s.batch` due tickets; returns counts. The caller commits, then calls again
    while `examined` equals the batch size."""
    session = db.session
    postgresql = session.get_bind().dialect.name == "postgresql"
    rows = session.execute(due_query(now, s.batch, postgresql=postgresql)).all()
    counts = {"examined": len(rows), "reminded": 0, "escalated": 0, "auto_closed": 0, "notifications": 0}
    if not rows:
        return counts

    cal = calendar_for(session, now, s.office_hours, s.timezone)
    tree = OrgTree.load()
    plans = {r.id: plan_ticket(r, now, cal, s, tree.chain(r.handling_unit_id)) for r in rows}
    by_id = {r.id: r for r in rows}

    steps = {step.dedupe_key: (ticket_id, step) for ticket_id, p in plans.items() for step in p.steps}
    inserted: dict[str, int] = {}
    if steps:
        event_rows = [
            {
                "ticket_id": ticket_id,
                "action": step.action,
                "at": now,
                "actor_id": None,
                "actor_role": "system",
                "from_state": State(by_id[ticket_id].state),
                "to_state": State.CLOSED if step.action == Action.AUTO_CLOSE else State(by_id[ticket_id].state),
                "round": by_id[ticket_id].round,
                "handling_unit_id": by_id[ticket_id].handling_unit_id,
                "note": "",
                "data": _with_codes(step.data, tree),
                "dedupe_key": key,
            }
            for key, (ticket_id, step) in steps.items()
        ]
        result = insert_ignoring_duplicates(TicketEvent.__table__, event_rows, "dedupe_key", returning=("dedupe_key", "id"))
        inserted = {key: event_id for key, event_id in result}

    _apply(now, rows, plans, steps, inserted, counts)
    counts["notifications"] = _notify(now, steps, inserted, by_id, tree)
    # Auto-close is the sweep's one state change: partners following the ticket hear of it.
    webhooks.for_event_ids((i for k, i in inserted.items() if steps[k][1].action == Action.AUTO_CLOSE), now)
    # The writes bypassed the ORM: objects a caller holds in this session must reload.
    session.expire_all()
    return counts


def _with_codes(data: dict[str, Any], tree: OrgTree) -> dict[str, Any]:
    if "to_unit_id" in data:
        data = {**data, "to_unit": tree.nodes[data["to_unit_id"]].code}
    return data


def _apply(
    now: datetime,
    rows: list[Any],
    plans: dict[int, Plan],
    steps: dict[str, tuple[int, Step]],
    inserted: dict[str, int],
    counts: dict[str, int],
) -> None:
    """Change the tickets for the steps that happened, and store every ticket's next check."""
    levels: dict[int, int] = {}  # escalated ticket -> its new level
    closed: set[int] = set()
    for key in inserted:
        ticket_id, step = steps[key]
        if step.action == Action.ESCALATE:
            levels[ticket_id] = step.level  # type: ignore[assignment]
            counts["escalated"] += 1
        elif step.action == Action.AUTO_CLOSE:
            closed.add(ticket_id)
            counts["auto_closed"] += 1
        else:
            counts["reminded"] += 1
    session = db.session
    if closed:
        session.execute(
            update(T).where(T.c.id.in_(sorted(closed)), T.c.state == State.RESOLVED.value).values(
                state=State.CLOSED.value, closed_reason=ClosedReason.UNRATED.value, closed_at=now,
                updated_at=now, version=T.c.version + 1,
            )
        )
    # Every examined ticket gets its next check, and the escalated ones their new level: one
    # UPDATE per ticket (one ticket climbs at most once per batch). A step that lost the race
    # (its event existed already) still leaves the next check right.
    changes = [
        {"b_id": r.id, "b_next": None if r.id in closed else plans[r.id].next_check_at, "b_level": levels.get(r.id)}
        for r in rows
    ]
    if session.get_bind().dialect.name == "postgresql":
        # One statement for the whole batch: an array per column, joined through unnest.
        v = func.unnest(
            cast(bindparam("ids"), ARRAY(Integer)),
            cast(bindparam("nexts"), ARRAY(DateTime(timezone=True))),
            cast(bindparam("levels"), ARRAY(Integer)),
        ).table_valued("id", "next_check", "level").render_derived(name="v")
        session.execute(
            update(T).where(T.c.id == v.c.id).values(_ticket_changes(now, v.c.level, v.c.next_check)),
            {
                "ids": [c["b_id"] for c in changes],
                "nexts": [None if c["b_next"] is None else c["b_next"].astimezone(timezone.utc) for c in changes],
                "levels": [c["b_level"] for c in changes],
            },
        )
    else:
        level, next_check = bindparam("b_level", type_=Integer), bindparam("b_next", type_=T.c.next_check_at.type)
        session.execute(
            update(T).where(T.c.id == bindparam("b_id")).values(_ticket_changes(now, level, next_check)), changes
        )


def _ticket_changes(now: datetime, level: Any, next_check: Any) -> dict[str, Any]:
    """The SET clause for one examined ticket: its next check; if `level` is not NULL, the escalation."""
    escalated = level.is_not(None)
    at = literal(now, T.c.escalated_at.type)
    return {
        "next_check_at": next_check,
        "escalation_level": func.coalesce(level, T.c.escalation_level),
        "escalated_at": case((escalated, at), else_=T.c.escalated_at),
        "updated_at": case((escalated, at), else_=T.c.updated_at),
        "version": T.c.version + case((escalated, 1), else_=0),
    }


def _notify(
    now: datetime,
    steps: dict[str, tuple[int, Step]],
    inserted: dict[str, int],
    by_id: dict[int, Any],
    tree: OrgTree,
) -> int:
    """Outbox rows for the steps that happened: reminders to the unit, escalations to the new level."""
    if not inserted:
        return 0
    wanted: dict[tuple[int, Role], list[User]] = defaultdict(list)
    needs = {(u, steps[k][1].notify_role) for k in inserted for u in steps[k][1].notify_units}
    if needs:
        units = {u for u, _ in needs}
        for user in db.session.scalars(select(User).where(User.unit_id.in_(units), User.active.is_(True))):
            wanted[(user.unit_id, user.role)].append(user)  # type: ignore[index]
    rows: list[dict[str, Any]] = []
    closing = [steps[k][0] for k in inserted if steps[k][1].action == Action.AUTO_CLOSE]
    reporters = _reporters(closing)
    for key, event_id in inserted.items():
        ticket_id, step = steps[key]
        ticket = by_id[ticket_id]
        users = [u for unit in step.notify_units for u in wanted.get((unit, step.notify_role), [])]
        if step.action == Action.AUTO_CLOSE:
            users = reporters.get(ticket_id, []) + wanted.get((ticket.handling_unit_id, Role.HANDLER), [])
        message = notify.Message(
            kind=step.action.value,
            subject=notify.SUBJECTS[step.subject_kind].format(number=ticket.number),
            body=_body(step, ticket, tree),
            dedupe_base=f"event:{event_id}",
            ticket_id=ticket_id,
            event_id=event_id,
        )
        rows += notify.rows_for(message, users, now)
    return notify.insert_rows(rows)


def _reporters(ticket_ids: list[int]) -> dict[int, list[User]]:
    if not ticket_ids:
        return {}
    pairs = db.session.execute(
        select(T.c.id, User).join(User, User.id == T.c.reporter_id).where(T.c.id.in_(ticket_ids))
    ).all()
    out: dict[int, list[User]] = defaultdict(list)
    for ticket_id, user in pairs:
        out[ticket_id].append(user)
    return out


def _body(step: Step, ticket: Any, tree: OrgTree) -> str:
    if step.action == Action.ESCALATE:
        reason = {"response_overdue": "超过响应时限", "resolution_overdue": "超过办结时限",
                  "returned_undecided": "退单未及时重新派发"}[step.data["reason"]]
        return f"工单 {ticket.number} {reason}，已升级至第 {step.level} 级督办。"
    if step.action == Action.REMIND:
        which = "响应" if step.data["deadline"] == "response" else "办结"
        return f"工单 {ticket.number} 的{which}时限即将到期（{step.data['due_at']}）。"
    return f"工单 {ticket.number} 办结后 {step.data['after_days']} 天未评价，已自动关闭。"


