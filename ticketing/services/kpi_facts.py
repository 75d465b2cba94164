"""The KPI rollups: a ticket's trail split into dispatches, the facts kept from it, and their months.

`dispatches` is the one definition of a dispatch (what `ticketing.metrics` measures): both
the event walk (`metrics.compute_from_events`, the reference) and the fact rows use it.

`refresh` brings the rollups up to date: every ticket queued by the trigger on
`ticket_events` since the last refresh gets its facts deleted and inserted again, in
set-based batches of Core rows, and its old facts' share of `kpi_months`/`kpi_month_hist`
moved to the new ones. The worker runs it every minute (`workers.jobs.kpi_facts`);
`metrics.compute` runs it too before it reads, so a KPI query is exact right after an
action, and pays only for what changed since the worker's last run.

Why a queue filled by a trigger, and not a watermark on `ticket_events.id`: ids are handed
out when a row is inserted, but transactions commit in any order. A refresh that saw event
101 committed while 100 was still in flight would move the watermark past 100 and never
see it. A queue row commits with its event; a refresh deletes a ticket's queue rows before
it reads the trail, so every row it deletes belongs to an event it will see.

Besides the events, facts depend on the working calendar and office hours (working hours,
a redispatch's computed deadlines) and on the categories' time limits (those deadlines).
These inputs are recorded in `KpiFactState`; when they change, the facts they touched are
queued again: the days that changed find the facts whose times span them, a category's new
limits the computed deadlines of its tickets; new office hours, timezone or bucket edges
empty the rollups and queue every ticket.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Protocol, cast
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ARRAY,
    DateTime,
    Integer,
    String,
    Table,
    any_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from ticketing.extensions import db
from ticketing.models import (
    CalendarDay,
    CalendarYear,
    Category,
    KpiFact,
    KpiFactQueue,
    KpiFactState,
    KpiMonth,
    KpiMonthHist,
    Rating,
    Ticket,
    TicketEvent,
)
from ticketing.settings import TicketSettings
from ticketing.workflow import Action, ClosedReason, Score, State
from ticketing.worktime import WorkCalendar, compute_deadlines

DISPATCH_ACTIONS = frozenset({Action.REPORT, Action.FORWARD, Action.REDISPATCH, Action.TRANSFER, Action.REOPEN})
EVIDENCE_ACTIONS = frozenset({Action.PROGRESS, Action.RESOLVE})
SATISFIED = frozenset({Score.SATISFIED, Score.BASICALLY_SATISFIED})
EXCLUDED_STATES = frozenset({State.INVALID, State.DUPLICATE})
# Queue rows handled per batch (and per worker commit); a ticket has about ten events.
BATCH = 2000
# The most queue rows a KPI query catches up on itself (about 10 s); beyond, during a backfill
# or when the worker has been stopped long, it walks the events of its population instead.
CATCH_UP_LIMIT = 10_000
STATE_ID = 1
MICROSECONDS_PER_HOUR = 3_600_000_000


class EventLike(Protocol):
    """What the walk reads of an event: a `TicketEvent` or a Core row of the same columns."""

    action: Action
    at: datetime
    to_state: State | None
    round: int
    handling_unit_id: int | None
    data: dict[str, Any]


@dataclass
class Dispatch:
    """One hand-over of a ticket to a unit and what happened during it (times aware UTC)."""

    ticket_id: int
    unit_id: int | None
    at: datetime
    response_due: datetime | None
    resolution_due: datetime | None
    deadlines_computed: bool = False
    ended_at: datetime | None = None
    accepted_at: datetime | None = None
    resolved_at: datetime | None = None
    returned: bool = False
    rehandled: bool = False
    ratings: list[tuple[int, Score]] = field(default_factory=list)
    evidence_steps: int = 0
    evidence_flagged: int = 0


def _utc(moment: datetime | None) -> datetime | None:
    # SQLite hands datetimes back naive; they are UTC by convention.
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment


def _parse(value: Any) -> datetime | None:
    return _utc(datetime.fromisoformat(value)) if value else None


def is_dispatch(event: EventLike) -> bool:
    """Whether the event hands the ticket to a unit (starts a dispatch)."""
    if event.action in DISPATCH_ACTIONS:
        return event.to_state == State.DISPATCHED
    return event.action == Action.RATE and event.to_state == State.DISPATCHED


def is_excluded(state: State, closed_reason: ClosedReason | None) -> bool:
    """Tickets now invalid, duplicate or withdrawn are left out of the KPIs."""
    return state in EXCLUDED_STATES or closed_reason == ClosedReason.WITHDRAWN


DeadlinesFor = Callable[[datetime], tuple[datetime | None, datetime | None]]


def dispatches(ticket_id: int, events: Iterable[EventLike], deadlines_for: DeadlinesFor) -> list[Dispatch]:
    """Split one ticket's trail (ordered by time, then id) into its dispatches.

    `deadlines_for(at)` gives the deadlines of a dispatch whose event records none (a
    redispatch): the category's limits on the working calendar, as the service computed them.
    """
    out: list[Dispatch] = []
    current: Dispatch | None = None
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
        if is_dispatch(ev):
            if current is not None and current.ended_at is None:
                current.ended_at = at
            deadlines = ev.data.get("deadlines") or {}
            response_due = _parse(deadlines.get("response_due_at"))
            resolution_due = _parse(deadlines.get("resolution_due_at"))
            computed = not deadlines
            if computed:
                response_due, resolution_due = deadlines_for(at)
            current = Dispatch(ticket_id, ev.handling_unit_id, at, response_due, resolution_due, computed)
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


def category_deadlines(cal: WorkCalendar, response_hours: float, resolution_days: int) -> DeadlinesFor:
    """`deadlines_for` of a ticket in a category with these limits (`dispatch.deadlines_from`'s rule)."""

    def deadlines_for(at: datetime) -> tuple[datetime | None, datetime | None]:
        d = compute_deadlines(cal, at, response_hours, resolution_days)
        return _utc(d.response_due_at), _utc(d.resolution_due_at)

    return deadlines_for


def work_calendar(session: Session, settings: TicketSettings) -> WorkCalendar:
    """The working calendar with every year's rows: a figure must not depend on the year of `now`."""
    return load_inputs(session, settings).calendar


@dataclass(frozen=True)
class Inputs:
    """What facts depend on besides the events, read in three queries: as JSON (recorded in
    `KpiFactState` to find what a change affects), as a calendar, and as category limits."""

    recorded: dict[str, Any]
    calendar: WorkCalendar
    limits: dict[int, tuple[int, int]]
    tz: ZoneInfo


def load_inputs(session: Session, settings: TicketSettings) -> Inputs:
    """Calendar days and years, office hours, timezone and category limits as they are now."""
    days = session.execute(select(CalendarDay.day, CalendarDay.is_workday).order_by(CalendarDay.day)).all()
    years = session.scalars(select(CalendarYear.year)).all()
    limits = {
        i: (h, r)
        for i, h, r in session.execute(
            select(Category.id, Category.response_hours, Category.resolution_days).order_by(Category.id)
        )
    }
    calendar = WorkCalendar({d: bool(w) for d, w in days}, years, settings.office_hours, ZoneInfo(settings.timezone))
    recorded = {
        "office_hours": [list(pair) for pair in settings.office_hours],
        "timezone": settings.timezone,
        "calendar": {d.isoformat(): bool(w) for d, w in days},
        "categories": {str(i): [h, r] for i, (h, r) in limits.items()},
        # New bucket edges (a code change) mean new facts and months everywhere.
        "buckets": [len(BUCKET_EDGES), BUCKET_EDGES[1], BUCKET_EDGES[-1]],
    }
    return Inputs(recorded, calendar, limits, ZoneInfo(settings.timezone))


def working_microseconds(cal: WorkCalendar, start: datetime, end: datetime) -> int:
    """Working time from start to end in whole microseconds: ``us / MICROSECONDS_PER_HOUR`` is
    exactly ``cal.working_hours_between(start, end)``, the float every KPI hour is."""
    hours = cal.working_hours_between(start, end)
    micro = round(hours * MICROSECONDS_PER_HOUR)
    # The calendar divides whole microseconds by an hour's: the float maps back to them exactly.
    assert micro / MICROSECONDS_PER_HOUR == hours, (start, end, hours)
    return micro


# Histogram buckets of working time, for exact medians over whole months (`ticketing.metrics`):
# bucket 0 is under a minute, then each bucket is 22% wider than the last, up to 4,000 hours
# in bucket 63. Coarse enough that a month's histogram is a few dozen rows per unit, fine
# enough that the middle bucket of a population holds a small share of it.
BUCKETS = 64
BUCKET_EDGES: tuple[int, ...] = (0, *(round(60_000_000 * (240_000 ** (k / (BUCKETS - 2)))) for k in range(BUCKETS - 1)))


def bucket(micro: int | None) -> int | None:
    """The histogram bucket of a working time in microseconds (None for None)."""
    if micro is None:
        return None
    return bisect_right(BUCKET_EDGES, micro) - 1


# ------------------------------------------------------------------- fact rows


def fact_rows(
    ticket_id: int,
    state: State,
    closed_reason: ClosedReason | None,
    category_id: int,
    found: Sequence[Dispatch],
    last_round: int | None,
    cal: WorkCalendar,
) -> list[dict[str, Any]]:
    """The `kpi_facts` rows of one ticket's dispatches."""
    excluded = is_excluded(state, closed_reason)
    rows = []
    for seq, d in enumerate(found, start=1):
        response = working_microseconds(cal, d.at, d.accepted_at) if d.accepted_at else None
        resolution = working_microseconds(cal, d.at, d.resolved_at) if d.resolved_at else None
        depends = [m for m in (d.accepted_at, d.resolved_at) if m is not None]
        if d.deadlines_computed:
            depends += [m for m in (d.response_due, d.resolution_due) if m is not None]
        first = [score for rnd, score in d.ratings if rnd == 1]
        final = [score for rnd, score in d.ratings if last_round is not None and rnd == last_round]
        rows.append({
            "ticket_id": ticket_id,
            "seq": seq,
            "unit_id": d.unit_id,
            "category_id": category_id,
            "excluded": excluded,
            "dispatched_at": d.at,
            "response_due": d.response_due,
            "resolution_due": d.resolution_due,
            "accepted_at": d.accepted_at,
            "resolved_at": d.resolved_at,
            "ended_at": d.ended_at,
            "returned": d.returned,
            "rehandled": d.rehandled,
            "evidence_steps": d.evidence_steps,
            "evidence_flagged": d.evidence_flagged,
            "first_rated": len(first),
            "first_satisfied": sum(s in SATISFIED for s in first),
            "final_rated": len(final),
            "final_satisfied": sum(s in SATISFIED for s in final),
            "response_us": response,
            "resolution_us": resolution,
            "response_bucket": bucket(response),
            "resolution_bucket": bucket(resolution),
            "deadlines_computed": d.deadlines_computed,
            "calendar_until": max(depends) if depends else None,
        })
    return rows


# Enum and UTC-datetime result processing cost more than the walk itself, at ten events a
# ticket: the walk compares plain strings (a StrEnum equals its value) and `_utc` marks naive
# SQLite datetimes as UTC.
_EVENT_COLUMNS = (
    TicketEvent.ticket_id,
    type_coerce(TicketEvent.action, String).label("action"),
    type_coerce(TicketEvent.at, DateTime(timezone=True)).label("at"),
    type_coerce(TicketEvent.to_state, String).label("to_state"),
    TicketEvent.round,
    TicketEvent.handling_unit_id,
    TicketEvent.data,
)


def rebuild(session: Session, ticket_ids: Sequence[int], inputs: Inputs) -> int:
    """Replace the facts of these tickets by facts from their trails now, and move the monthly
    sums from their old facts to their new ones; returns the fact rows written. Flushes."""
    if not ticket_ids:
        return 0
    ids = list(ticket_ids)
    # Core rows on the session's connection: no ORM objects for a few thousand tickets a batch.
    conn = session.connection()
    postgres = conn.dialect.name == "postgresql"
    tickets = conn.execute(
        select(Ticket.id, Ticket.state, Ticket.closed_reason, Ticket.category_id).where(_among(Ticket.id, ids, postgres))
    ).all()
    trails: dict[int, list[Any]] = defaultdict(list)
    for ev in conn.execute(
        select(*_EVENT_COLUMNS).where(_among(TicketEvent.ticket_id, ids, postgres)).order_by(
            TicketEvent.ticket_id, TicketEvent.at, TicketEvent.id
        )
    ).all():
        trails[ev.ticket_id].append(ev)
    last_round = dict(
        conn.execute(
            select(Rating.ticket_id, func.max(Rating.round))
            .where(_among(Rating.ticket_id, ids, postgres))
            .group_by(Rating.ticket_id)
        ).all()
    )
    cal = inputs.calendar
    rows: list[dict[str, Any]] = []
    for t in tickets:
        hours, days = inputs.limits[t.category_id]
        found = dispatches(t.id, trails.get(t.id, ()), category_deadlines(cal, hours, days))
        rows += fact_rows(t.id, t.state, t.closed_reason, t.category_id, found, last_round.get(t.id), cal)
    facts = _table(KpiFact)
    old = conn.execute(select(*(facts.c[name] for name in _MONTH_INPUTS)).where(
        _among(facts.c.ticket_id, ids, postgres))).all()
    _move_months(conn, [r._asdict() for r in old], rows, inputs.tz)
    conn.execute(delete(facts).where(_among(facts.c.ticket_id, ids, postgres)))
    if rows and postgres:
        _copy(conn, facts, rows)
    elif rows:
        conn.execute(insert(facts), rows)
    return len(rows)


def _among(column: Any, ids: list[int], postgres: bool) -> Any:
    # PostgreSQL: one array parameter, not thousands of placeholders to send and parse.
    if postgres:
        return column == any_(bindparam("ids", ids, type_=ARRAY(Integer)))
    return column.in_(ids)


def _copy(conn: Any, table: Any, rows: list[dict[str, Any]]) -> None:
    """COPY the rows into the table on the connection's transaction (PostgreSQL's fastest way in)."""
    names = [c.name for c in table.columns]
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[name] for name in names])


# ------------------------------------------------------------------- the monthly rollup

MONTH_SUMS = (
    "dispatches", "excluded", "resp_num", "resp_den", "ontime_num", "ontime_den", "resolved", "first_ok", "first_n",
    "final_ok", "final_n", "rehandled", "returned", "flagged", "steps", "response_n", "response_us", "resolution_n",
    "resolution_us",
)
MEASURES = {"response": 1, "resolution": 2}
_MONTH_INPUTS = (
    "unit_id", "excluded", "dispatched_at", "response_due", "resolution_due", "accepted_at", "resolved_at", "ended_at",
    "returned", "rehandled", "evidence_steps", "evidence_flagged", "first_rated", "first_satisfied", "final_rated",
    "final_satisfied", "response_us", "resolution_us", "response_bucket", "resolution_bucket",
)


def _table(model: type[Any]) -> Table:
    return cast(Table, model.__table__)


def local_month(moment: datetime, tz: ZoneInfo) -> date:
    """The first day of the local month of an instant."""
    local = moment.astimezone(tz)
    return date(local.year, local.month, 1)


def month_sums(fact: dict[str, Any]) -> dict[str, int]:
    """What one fact adds to its unit's month: the rules of `metrics` for what does not depend
    on `now` (a lasting dispatch's deadline is judged by the query, from the fact itself)."""
    if fact["excluded"]:
        return {"excluded": 1}
    accepted, resolved, ended = (_utc(fact[k]) for k in ("accepted_at", "resolved_at", "ended_at"))
    respond_by, resolve_by = _utc(fact["response_due"]), _utc(fact["resolution_due"])
    return {
        "dispatches": 1,
        "resp_num": int(accepted is not None and (respond_by is None or accepted <= respond_by)),
        "resp_den": int(accepted is not None or (ended is not None and respond_by is not None and respond_by < ended)),
        "ontime_num": int(resolved is not None and (resolve_by is None or resolved <= resolve_by)),
        "ontime_den": int(resolved is not None or (ended is not None and resolve_by is not None and resolve_by < ended)),
        "resolved": int(resolved is not None),
        "first_ok": fact["first_satisfied"],
        "first_n": fact["first_rated"],
        "final_ok": fact["final_satisfied"],
        "final_n": fact["final_rated"],
        "rehandled": int(resolved is not None and bool(fact["rehandled"])),
        "returned": int(bool(fact["returned"])),
        "flagged": fact["evidence_flagged"],
        "steps": fact["evidence_steps"],
        "response_n": int(fact["response_us"] is not None),
        "response_us": fact["response_us"] or 0,
        "resolution_n": int(fact["resolution_us"] is not None),
        "resolution_us": fact["resolution_us"] or 0,
    }


def _move_months(conn: Any, old: list[dict[str, Any]], new: list[dict[str, Any]], tz: ZoneInfo) -> None:
    """Subtract the old facts from their months and add the new ones (upserts of the differences)."""
    sums: dict[tuple[int, date], dict[str, int]] = defaultdict(lambda: dict.fromkeys(MONTH_SUMS, 0))
    hist: dict[tuple[int, date, int, int], int] = defaultdict(int)
    for facts, sign in ((old, -1), (new, 1)):
        for fact in facts:
            if fact["unit_id"] is None:
                continue  # in no unit's population
            key = (fact["unit_id"], local_month(_utc(fact["dispatched_at"]), tz))  # type: ignore[arg-type]
            cell = sums[key]
            for name, value in month_sums(fact).items():
                cell[name] += sign * value
            if not fact["excluded"]:
                for name, measure in MEASURES.items():
                    if fact[f"{name}_bucket"] is not None:
                        hist[(*key, measure, fact[f"{name}_bucket"])] += sign
    months = [{"unit_id": u, "month": m, **cell} for (u, m), cell in sums.items() if any(cell.values())]
    counts = [{"unit_id": u, "month": m, "measure": k, "bucket": b, "n": n} for (u, m, k, b), n in hist.items() if n]
    if months:
        _add(conn, _table(KpiMonth), ["unit_id", "month"], months, MONTH_SUMS)
    if counts:
        _add(conn, _table(KpiMonthHist), ["unit_id", "month", "measure", "bucket"], counts, ("n",))


def _add(conn: Any, table: Any, keys: list[str], rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    """INSERT the rows, or add them to the existing rows with the same keys."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert
    else:
        from sqlalchemy.dialects.sqlite import insert as upsert  # type: ignore[assignment]
    statement = upsert(table)
    statement = statement.on_conflict_do_update(
        index_elements=keys, set_={name: table.c[name] + statement.excluded[name] for name in columns}
    )
    conn.execute(statement, rows)


# ------------------------------------------------------------------- inputs besides the events


# Inputs whose change moves every fact's hours, month or bucket.
_EVERYTHING = ("office_hours", "timezone", "buckets")


def _requeue_for_inputs(session: Session, old: dict[str, Any] | None, new: dict[str, Any]) -> int:
    """Queue the tickets whose facts the change from `old` to `new` inputs affects; returns how many."""
    facts = _table(KpiFact).c
    queue = _table(KpiFactQueue)
    if old is None or any(old.get(k) != new[k] for k in _EVERYTHING):
        # Never built, or every working hour, month or bucket may have moved: start again from
        # nothing and queue every ticket once. The queue rows deleted here were committed, so
        # their tickets are among those queued again.
        for table in (KpiFact, KpiMonth, KpiMonthHist, KpiFactQueue):
            session.execute(delete(_table(table)))
        chosen = select(Ticket.id)
    else:
        conditions = []
        changed_days = {
            day for day in old["calendar"].keys() | new["calendar"].keys()
            if old["calendar"].get(day) != new["calendar"].get(day)
        }
        if changed_days:
            # A day's status matters to a fact whose times span it; a day of margin either side
            # covers the local date vs UTC.
            first = datetime.combine(date.fromisoformat(min(changed_days)), datetime.min.time(), timezone.utc)
            last = datetime.combine(date.fromisoformat(max(changed_days)), datetime.min.time(), timezone.utc)
            conditions.append(
                (facts.calendar_until.is_not(None))
                & (facts.calendar_until >= first - timedelta(days=1))
                & (facts.dispatched_at < last + timedelta(days=2))
            )
        changed_categories = [
            int(c) for c in old["categories"].keys() | new["categories"].keys()
            if old["categories"].get(c) != new["categories"].get(c)
        ]
        if changed_categories:
            conditions.append(facts.deadlines_computed & facts.category_id.in_(changed_categories))
        if not conditions:
            return 0
        chosen = select(facts.ticket_id).where(or_(*conditions)).distinct()
    statement = insert(queue).from_select(["ticket_id"], chosen)
    # An INSERT's row count is kept only when asked for (SQLAlchemy 2).
    result = cast(CursorResult[Any], session.execute(statement.execution_options(preserve_rowcount=True)))
    return int(result.rowcount or 0)


# ------------------------------------------------------------------- refreshing


def backlog(session: Session, inputs: Inputs, *, up_to: int = CATCH_UP_LIMIT) -> int:
    """How many queue rows a refresh would work through, counted up to `up_to` + 1 (when the
    inputs changed so that every ticket is rebuilt: the tickets); 0 when nothing is pending."""
    recorded = session.scalar(select(KpiFactState.inputs).where(KpiFactState.id == STATE_ID))
    if recorded is None or any(recorded.get(k) != inputs.recorded[k] for k in _EVERYTHING):
        rows = select(Ticket.id).limit(up_to + 1).subquery()  # every ticket will be queued
        return max(1, session.scalar(select(func.count()).select_from(rows)) or 0)
    queued = select(KpiFactQueue.id).limit(up_to + 1).subquery()
    count = session.scalar(select(func.count()).select_from(queued)) or 0
    # Changed calendar days or category limits queue a few facts more: counted as one row.
    return count + (1 if recorded != inputs.recorded else 0)


def pending(session: Session, inputs: Inputs) -> bool:
    """Whether a refresh has anything to do (queued tickets, or inputs changed); reads only."""
    return backlog(session, inputs, up_to=0) > 0


def _lock_state(session: Session) -> KpiFactState:
    """The state row, locked until the transaction ends: refreshes run one at a time."""
    table = _table(KpiFactState)
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert
    else:
        from sqlalchemy.dialects.sqlite import insert as upsert  # type: ignore[assignment]
    session.execute(upsert(table).values(id=STATE_ID).on_conflict_do_nothing(index_elements=["id"]))
    state = session.scalar(
        select(KpiFactState).where(KpiFactState.id == STATE_ID).with_for_update().execution_options(
            populate_existing=True
        )
    )
    assert state is not None
    return state


@dataclass
class RefreshCounts:
    """What one refresh did: queue rows read, tickets rebuilt, fact rows written, tickets re-queued."""

    examined: int = 0
    tickets: int = 0
    facts: int = 0
    requeued: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"examined": self.examined, "tickets": self.tickets, "facts": self.facts, "requeued": self.requeued}


def refresh(
    settings: TicketSettings, now: datetime, *, limit: int | None = None, batch: int = BATCH,
    inputs: Inputs | None = None,
) -> RefreshCounts:
    """Rebuild the facts of queued tickets (those of at most `limit` queue rows); flushes, the caller commits.

    Takes the state row's lock (PostgreSQL: held until the caller's transaction ends), checks
    the non-event inputs, then works through the queue oldest first: a batch takes the
    tickets of `batch` queue rows, deletes every queue row of those tickets (committed
    rows only, whose events the rebuild then reads), and rebuilds them. A caller that rolls
    back undoes the work and leaves the queue as it was.
    """
    session = db.session
    state = _lock_state(session)
    counts = RefreshCounts()
    inputs = inputs or load_inputs(session, settings)
    if state.inputs != inputs.recorded:
        counts.requeued = _requeue_for_inputs(session, state.inputs, inputs.recorded)
        state.inputs = inputs.recorded
    queue = _table(KpiFactQueue)
    conn = session.connection()
    while limit is None or counts.examined < limit:
        take = batch if limit is None else min(batch, limit - counts.examined)
        picked = conn.execute(select(queue.c.ticket_id).order_by(queue.c.id).limit(take)).scalars().all()
        if not picked:
            break
        ticket_ids = sorted(set(picked))
        # Claim first: a queue row committed after this DELETE stays for the next refresh.
        conn.execute(delete(queue).where(_among(queue.c.ticket_id, ticket_ids, conn.dialect.name == "postgresql")))
        counts.facts += rebuild(session, ticket_ids, inputs)
        counts.tickets += len(ticket_ids)
        counts.examined += len(picked)
        if len(picked) < take:
            break
    state.refreshed_at = now
    session.flush()
    return counts


def ensure_fresh(settings: TicketSettings, now: datetime, inputs: Inputs | None = None) -> bool:
    """Refresh what is pending, if at most CATCH_UP_LIMIT queue rows (`metrics.compute` calls
    this); False when the backlog is larger (a backfill under way): the caller must not use
    the rollups then, and catching up is left to the worker."""
    inputs = inputs or load_inputs(db.session, settings)
    waiting = backlog(db.session, inputs)
    if waiting > CATCH_UP_LIMIT:
        return False
    if waiting:
        refresh(settings, now, inputs=inputs)
    return True
