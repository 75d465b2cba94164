"""The KPI rollups, kept by the worker from the event trail: one row per dispatch, and per unit and month.

`KpiFact` holds what `ticketing.metrics` needs of one dispatch (defined in its docstring),
worked out once from the ticket's events: the KPI queries then count and sum rows instead of
walking every event of the population. Nothing here depends on the moment of the query: the
parts that do (a deadline that passed while a dispatch lasted) stay SQL expressions of `now`.

`KpiMonth` sums the facts of one unit and local month, `KpiMonthHist` counts their working
times per bucket (for exact medians): a query over whole months reads a dozen rows per unit
instead of every dispatch. Both are kept by adding each rebuilt ticket's new facts and
subtracting its old ones, in the same transaction as the facts.

`KpiFactQueue` says which tickets' facts are out of date: a trigger on `ticket_events`
(migration d9e3f5a7b2c4) appends a row for every new event, so no writer has to remember
it. `KpiFactState` is one row: the lock that serialises refreshes, and the inputs the facts
were computed with besides the events (calendar, office hours, category time limits).
The tables are a cache: dropping every row and queueing every ticket rebuilds them.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from geo.models import Base
from ticketing.models.tickets import Ticket


class KpiFact(Base):
    """One dispatch of a ticket (see `ticketing.metrics`), as of the ticket's latest event.

    Deleted and re-inserted per ticket by `ticketing.services.kpi_facts`; never edited by hand.
    """

    __tablename__ = "kpi_facts"
    __table_args__ = (
        # A unit's subtree over a period: one index range per unit of the subtree.
        Index("ix_kpi_facts_unit_dispatched", "unit_id", "dispatched_at"),
        # Dispatches still lasting (their deadlines are judged against `now`): a few percent.
        Index(
            "ix_kpi_facts_lasting",
            "unit_id",
            "dispatched_at",
            postgresql_where=text("ended_at IS NULL"),
            sqlite_where=text("ended_at IS NULL"),
        ),
        # The working times of one bucket over a period: where a median is picked exactly.
        Index(
            "ix_kpi_facts_response_bucket",
            "response_bucket",
            "dispatched_at",
            postgresql_include=["unit_id", "excluded", "category_id", "response_us"],
        ),
        Index(
            "ix_kpi_facts_resolution_bucket",
            "resolution_bucket",
            "dispatched_at",
            postgresql_include=["unit_id", "excluded", "category_id", "resolution_us"],
        ),
    )

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True, autoincrement=False)
    # 1, 2, ... in the order of the ticket's trail.
    seq: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"))
    # The ticket's current category (the KPI filter's meaning), not the one at dispatch time.
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"))
    # The ticket is now invalid, duplicate or withdrawn: counted in `excluded` only.
    excluded: Mapped[bool] = mapped_column(Boolean)
    dispatched_at: Mapped[datetime]
    response_due: Mapped[datetime | None]
    resolution_due: Mapped[datetime | None]
    accepted_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    # Resolved, returned, ended or handed on; NULL while the dispatch lasts (then `now` counts).
    ended_at: Mapped[datetime | None]
    returned: Mapped[bool] = mapped_column(Boolean)
    rehandled: Mapped[bool] = mapped_column(Boolean)
    evidence_steps: Mapped[int] = mapped_column(Integer)
    evidence_flagged: Mapped[int] = mapped_column(Integer)
    # Ratings that judged this dispatch: of round 1, and of the ticket's last rated round.
    first_rated: Mapped[int] = mapped_column(SmallInteger)
    first_satisfied: Mapped[int] = mapped_column(SmallInteger)
    final_rated: Mapped[int] = mapped_column(SmallInteger)
    final_satisfied: Mapped[int] = mapped_column(SmallInteger)
    # Working time dispatch → accept / → resolve in whole microseconds: exact, summed exactly,
    # and `us / 3_600_000_000` is bit for bit the float hours the calendar computes.
    response_us: Mapped[int | None] = mapped_column(BigInteger)
    resolution_us: Mapped[int | None] = mapped_column(BigInteger)
    # Their histogram buckets (`ticketing.services.kpi_facts.bucket`).
    response_bucket: Mapped[int | None] = mapped_column(SmallInteger)
    resolution_bucket: Mapped[int | None] = mapped_column(SmallInteger)
    # What the working calendar and the category's limits decided here, so that a change of
    # either finds the facts it affects: deadlines worked out from the category (a redispatch
    # records none), and the last moment whose working-day status matters (NULL: none).
    deadlines_computed: Mapped[bool] = mapped_column(Boolean)
    calendar_until: Mapped[datetime | None]


class KpiMonth(Base):
    """The sums of one unit's facts dispatched in one local month (`month`: its first day).

    The `*_den` columns hold what does not depend on `now`; a query adds, from the facts of
    dispatches still lasting, those whose deadline has passed by then. `excluded` counts the
    excluded tickets' facts; every other column sums the others'.
    """

    __tablename__ = "kpi_months"

    unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), primary_key=True, autoincrement=False)
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    dispatches: Mapped[int] = mapped_column(Integer, default=0)
    excluded: Mapped[int] = mapped_column(Integer, default=0)
    resp_num: Mapped[int] = mapped_column(Integer, default=0)
    resp_den: Mapped[int] = mapped_column(Integer, default=0)
    ontime_num: Mapped[int] = mapped_column(Integer, default=0)
    ontime_den: Mapped[int] = mapped_column(Integer, default=0)
    resolved: Mapped[int] = mapped_column(Integer, default=0)
    first_ok: Mapped[int] = mapped_column(Integer, default=0)
    first_n: Mapped[int] = mapped_column(Integer, default=0)
    final_ok: Mapped[int] = mapped_column(Integer, default=0)
    final_n: Mapped[int] = mapped_column(Integer, default=0)
    rehandled: Mapped[int] = mapped_column(Integer, default=0)
    returned: Mapped[int] = mapped_column(Integer, default=0)
    flagged: Mapped[int] = mapped_column(Integer, default=0)
    steps: Mapped[int] = mapped_column(Integer, default=0)
    response_n: Mapped[int] = mapped_column(Integer, default=0)
    response_us: Mapped[int] = mapped_column(BigInteger, default=0)
    resolution_n: Mapped[int] = mapped_column(Integer, default=0)
    resolution_us: Mapped[int] = mapped_column(BigInteger, default=0)


class KpiMonthHist(Base):
    """How many of one unit's month's working times (1 response, 2 resolution) fall in a bucket."""

    __tablename__ = "kpi_month_hist"

    unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), primary_key=True, autoincrement=False)
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    measure: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    bucket: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    n: Mapped[int] = mapped_column(Integer, default=0)


class KpiFactQueue(Base):
    """A ticket whose facts may be out of date: one row per new event, written by a trigger.

    A refresh deletes exactly the rows it read, so a row added meanwhile (an event committed
    after the refresh read the trail) survives it and is handled by the next one.
    """

    __tablename__ = "kpi_fact_queue"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    # No foreign key: the trigger runs inside every event insert, and must cost next to nothing.
    ticket_id: Mapped[int] = mapped_column(Integer, index=True)


class KpiFactState(Base):
    """The single row (id 1) that refreshes lock, with the non-event inputs of the facts."""

    __tablename__ = "kpi_fact_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    # Calendar days, office hours, timezone, category limits as last applied; NULL: never built.
    inputs: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    refreshed_at: Mapped[datetime | None]


# The snapshot counts (open / due soon / overdue) read only tickets in a working state: a
# partial index over them, with the deadlines, answers them without touching closed tickets.
# Declared here, next to the KPI tables it serves, rather than in tickets.py.
OPEN_WORK_STATES_SQL = "state IN ('dispatched', 'accepted', 'returned')"
ix_tickets_open_work = Index(
    "ix_tickets_open_work",
    Ticket.__table__.c.handling_unit_id,
    Ticket.__table__.c.state,
    Ticket.__table__.c.category_id,
    Ticket.__table__.c.response_due_at,
    Ticket.__table__.c.resolution_due_at,
    postgresql_where=text(OPEN_WORK_STATES_SQL),
    sqlite_where=text(OPEN_WORK_STATES_SQL),
)
