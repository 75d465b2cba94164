"""The KPI facts (one row per dispatch) and how they are kept: the queue, the worker, the inputs.

The world is the one of tests/test_metrics.py (tickets A–G at 天水街道 and 武林街道); the
reference for every figure is `metrics.compute_from_events`, the event walk.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import func, insert, select, update

from tests.test_metrics import (
    DISTRICT_CODE,
    END,
    MEASURED,
    SH,
    START,
    TIANSHUI_CODE,
    WULIN_CODE,
    World,
    at,
    build,
    unit_id,
    user,
)
from ticketing.extensions import db
from ticketing.models import (
    CalendarDay,
    Category,
    KpiFact,
    KpiFactQueue,
    KpiFactState,
    KpiMonth,
    KpiMonthHist,
)
from ticketing.services import kpi_facts


@pytest.fixture
def world(ctx: Any) -> dict[str, Any]:
    return build(ctx)


def settings(ctx: Any) -> Any:
    return ctx.extensions["ticket_settings"]


def refresh(ctx: Any, now: datetime = MEASURED) -> kpi_facts.RefreshCounts:
    return kpi_facts.refresh(settings(ctx), now)


def facts_of(ticket: Any) -> list[KpiFact]:
    db.session.expire_all()
    return list(db.session.scalars(select(KpiFact).where(KpiFact.ticket_id == ticket.id).order_by(KpiFact.seq)))


def queued() -> set[int]:
    return set(db.session.scalars(select(KpiFactQueue.ticket_id)))


def same_as_the_event_walk(ctx: Any, code: str, now: datetime = MEASURED, **kw: Any) -> dict[str, Any]:
    from ticketing.metrics import KpiFilter, differences

    start, end = kw.pop("start", START), kw.pop("end", END)
    kf = KpiFilter(unit_id(code), start, end, kw.pop("category_code", None))
    assert differences(kf, now, settings(ctx), **kw) == {}
    from ticketing.metrics import compute

    return compute(kf, now, settings(ctx), **kw)


# ------------------------------------------------------------------- the rows


def test_every_event_queues_its_ticket_through_the_trigger(ctx: Any) -> None:
    ticket = World(ctx).report(at(3, 2, 9))
    assert ticket.id in queued()
    refresh(ctx)
    assert ticket.id not in queued()
    World(ctx).accept(ticket, "handler_tianshui", at(3, 2, 10))
    assert ticket.id in queued()


def test_returned_and_redispatched_ticket_has_one_fact_per_unit(ctx: Any, world: dict[str, Any]) -> None:
    refresh(ctx)
    first, second = facts_of(world["C"])
    assert (first.unit_id, second.unit_id) == (unit_id(TIANSHUI_CODE), unit_id(WULIN_CODE))
    assert first.returned and first.ended_at == at(3, 2, 10) and first.accepted_at is None
    assert not first.deadlines_computed
    # The redispatch records no deadlines: they are worked out from the category (4 working hours).
    assert second.deadlines_computed and second.response_due == at(3, 2, 16)
    assert second.accepted_at == at(3, 2, 13, 30) and second.ended_at is None
    assert second.response_us == 5_400_000_000  # 11:00 → 13:30 is 1.5 working hours (lunch does not count)


def test_transferred_ticket_is_judged_per_unit(ctx: Any, world: dict[str, Any]) -> None:
    refresh(ctx)
    tianshui, wulin = facts_of(world["E"])
    assert tianshui.ended_at == at(3, 2, 9, 30) and tianshui.accepted_at is None and not tianshui.returned
    assert wulin.unit_id == unit_id(WULIN_CODE) and wulin.resolved_at == at(3, 2, 11)
    assert wulin.resolution_us == 5_400_000_000


def test_reopened_ticket_marks_its_first_dispatch_rehandled(ctx: Any, world: dict[str, Any]) -> None:
    refresh(ctx)
    g1, g2 = facts_of(world["G"])
    assert g1.rehandled and not g2.rehandled
    # Its only rating (round 1, 满意) judged g1; the ticket's last rated round is 1, so it is final too.
    assert (g1.first_rated, g1.first_satisfied, g1.final_rated, g1.final_satisfied) == (1, 1, 1, 1)
    assert (g2.first_rated, g2.final_rated) == (0, 0)
    b1, b2 = facts_of(world["B"])
    assert (b1.first_rated, b1.first_satisfied, b1.final_rated) == (1, 0, 0)
    assert (b2.final_rated, b2.final_satisfied) == (1, 1)
    assert b1.evidence_flagged == 1 and b2.evidence_flagged == 0


def test_invalid_ticket_is_excluded_and_a_later_invalidation_excludes_its_facts(ctx: Any, world: dict[str, Any]) -> None:
    refresh(ctx)
    assert [f.excluded for f in facts_of(world["F"])] == [True]
    assert [f.excluded for f in facts_of(world["D"])] == [False]
    before = same_as_the_event_walk(ctx, TIANSHUI_CODE)
    World(ctx).svc.mark_invalid(world["D"], user("supervisor_district"), at(4, 8, 9), reason="非公共事务")
    after = same_as_the_event_walk(ctx, TIANSHUI_CODE, now=at(4, 10, 9))
    assert (after["dispatches"], after["excluded"]) == (before["dispatches"] - 1, before["excluded"] + 1)
    assert [f.excluded for f in facts_of(world["D"])] == [True]


def test_hours_are_stored_exactly_as_the_calendar_computes_them(ctx: Any, world: dict[str, Any]) -> None:
    from ticketing.metrics import MICROSECONDS_PER_HOUR

    refresh(ctx)
    cal = kpi_facts.work_calendar(db.session, settings(ctx))
    for fact in db.session.scalars(select(KpiFact).where(KpiFact.response_us.is_not(None))):
        hours = cal.working_hours_between(fact.dispatched_at, fact.accepted_at)
        assert fact.response_us / MICROSECONDS_PER_HOUR == hours


# ------------------------------------------------------------------- keeping them fresh


def test_new_events_rebuild_only_their_ticket(ctx: Any, world: dict[str, Any]) -> None:
    refresh(ctx)
    assert queued() == set()
    untouched = {f.ticket_id: f.dispatched_at for f in facts_of(world["A"])}
    from tests.conftest import jpeg

    World(ctx).resolve(world["D"], "handler_tianshui", at(4, 8, 10), jpeg((20, 160, 60), size=(64, 48)))
    assert queued() == {world["D"].id}
    counts = refresh(ctx, at(4, 8, 11))
    assert (counts.tickets, counts.facts) == (1, 1) and queued() == set()
    (d,) = facts_of(world["D"])
    assert d.resolved_at == at(4, 8, 10) and d.ended_at == at(4, 8, 10)
    assert {f.ticket_id: f.dispatched_at for f in facts_of(world["A"])} == untouched
    k = same_as_the_event_walk(ctx, TIANSHUI_CODE, now=at(4, 10, 9))
    assert k["resolution_rate"]["numerator"] == 5


def test_compute_is_exact_right_after_an_action_without_the_worker(ctx: Any, world: dict[str, Any]) -> None:
    from ticketing.metrics import KpiFilter, compute

    kf = KpiFilter(unit_id(WULIN_CODE), START, END)
    before = compute(kf, MEASURED, settings(ctx))
    assert queued() == set()  # compute refreshed first
    World(ctx).svc.return_(world["C"], user("handler_wulin"), at(4, 10, 9, 30), reason="不属于本街道")
    after = compute(kf, at(4, 10, 10), settings(ctx))
    assert after["return_rate"]["numerator"] == before["return_rate"]["numerator"] + 1
    same_as_the_event_walk(ctx, WULIN_CODE, now=at(4, 10, 10))


def test_a_refresh_with_nothing_pending_writes_nothing(ctx: Any, world: dict[str, Any]) -> None:
    refresh(ctx)
    assert not kpi_facts.pending(db.session, kpi_facts.load_inputs(db.session, settings(ctx)))
    assert kpi_facts.ensure_fresh(settings(ctx), MEASURED)
    assert kpi_facts.backlog(db.session, kpi_facts.load_inputs(db.session, settings(ctx))) == 0


def test_a_query_far_behind_walks_the_events_and_leaves_the_backlog_to_the_worker(
    ctx: Any, world: dict[str, Any], monkeypatch: Any
) -> None:
    from ticketing.metrics import KpiFilter, compute, compute_from_events

    refresh(ctx)
    w = World(ctx)
    for name in "CDG":
        w.svc.urge(world[name], user("deputy_wang"), at(4, 10, 9), note="请尽快")
    monkeypatch.setattr(kpi_facts, "CATCH_UP_LIMIT", 2)
    kf = KpiFilter(unit_id(DISTRICT_CODE), START, END)
    assert compute(kf, MEASURED, settings(ctx)) == compute_from_events(kf, MEASURED, settings(ctx))
    assert queued() == {world[name].id for name in "CDG"}  # not caught up: the walk answered
    monkeypatch.setattr(kpi_facts, "CATCH_UP_LIMIT", 3)
    compute(kf, MEASURED, settings(ctx))
    assert queued() == set()


def test_the_worker_job_works_through_the_queue_in_batches(ctx: Any, world: dict[str, Any], monkeypatch: Any) -> None:
    from ticketing.models import WorkerSweep
    from workers import jobs

    assert len(queued()) == len(world)
    counts = jobs.kpi_facts(ctx, MEASURED)
    # No inputs recorded yet: the first run queues every ticket once, in place of their events' rows.
    assert counts["requeued"] == counts["tickets"] == len(world) and queued() == set()
    # A, B×2, C×2, D, E×2, F, G×2.
    assert db.session.scalar(select(func.count()).select_from(KpiFact)) == 11
    assert db.session.get(WorkerSweep, "kpi_facts") is not None
    assert jobs.kpi_facts(ctx, MEASURED)["examined"] == 0

    w = World(ctx)
    for name in "CDG":
        w.svc.urge(world[name], user("deputy_wang"), at(4, 10, 9), note="请尽快")
    monkeypatch.setitem(ctx.config, "KPI_FACTS_BATCH", 2)
    counts = jobs.kpi_facts(ctx, at(4, 10, 9, 1))
    assert (counts["examined"], counts["tickets"], counts["requeued"]) == (3, 3, 0) and queued() == set()
    assert "kpi_facts" in {job.name for job in jobs.JOBS}
    same_as_the_event_walk(ctx, DISTRICT_CODE)


def test_a_calendar_change_requeues_the_facts_spanning_the_day(ctx: Any, world: dict[str, Any]) -> None:
    refresh(ctx)
    # Tuesday 3 March becomes a holiday: B1's response (Mon 14:00 → Tue 14:00) loses Tuesday's 4 hours.
    db.session.add(CalendarDay(day=date(2026, 3, 3), is_workday=False, name="test", source="admin"))
    db.session.flush()
    assert kpi_facts.pending(db.session, kpi_facts.load_inputs(db.session, settings(ctx)))
    counts = refresh(ctx)
    b1 = facts_of(world["B"])[0]
    assert b1.response_us == 4 * 3_600_000_000
    # Only facts whose times span the day are queued: A, B, C (accepted), E (武林's part), G.
    # D (April) and F (no working time measured) are left alone.
    assert (counts.requeued, counts.tickets) == (5, 5)
    same_as_the_event_walk(ctx, TIANSHUI_CODE)


def test_new_category_limits_recompute_redispatch_deadlines(ctx: Any, world: dict[str, Any]) -> None:
    refresh(ctx)
    litter = db.session.scalar(select(Category).where(Category.code == "city.litter"))
    db.session.execute(update(Category).where(Category.id == litter.id).values(response_hours=1))
    db.session.expire_all()
    counts = refresh(ctx)
    # Only C's redispatch computed deadlines from the category: only C is rebuilt.
    assert (counts.requeued, counts.tickets) == (1, 1)
    second = facts_of(world["C"])[1]
    assert second.response_due == at(3, 2, 12)
    same_as_the_event_walk(ctx, WULIN_CODE)


def test_first_refresh_builds_every_ticket_even_without_queue_rows(ctx: Any, world: dict[str, Any]) -> None:
    refresh(ctx)
    db.session.execute(KpiFact.__table__.delete())
    db.session.execute(update(KpiFactState).values(inputs=None))  # as right after the migration
    counts = refresh(ctx)
    assert counts.requeued >= len(world)
    same_as_the_event_walk(ctx, DISTRICT_CODE)


# ------------------------------------------------------------------- the monthly rollup


def months_from_scratch(tz: Any) -> tuple[dict[tuple[int, date], dict[str, int]], dict[tuple[Any, ...], int]]:
    """`kpi_months` and `kpi_month_hist` as they should be: every current fact added up afresh."""
    sums: dict[tuple[int, date], dict[str, int]] = {}
    hist: dict[tuple[Any, ...], int] = {}
    for fact in db.session.execute(select(KpiFact.__table__)).mappings():
        if fact["unit_id"] is None:
            continue
        key = (fact["unit_id"], kpi_facts.local_month(fact["dispatched_at"], tz))
        cell = sums.setdefault(key, dict.fromkeys(kpi_facts.MONTH_SUMS, 0))
        for name, value in kpi_facts.month_sums(dict(fact)).items():
            cell[name] += value
        for name, measure in kpi_facts.MEASURES.items():
            if not fact["excluded"] and fact[f"{name}_bucket"] is not None:
                k = (*key, measure, fact[f"{name}_bucket"])
                hist[k] = hist.get(k, 0) + 1
    return sums, hist


def months_stored() -> tuple[dict[tuple[int, date], dict[str, int]], dict[tuple[Any, ...], int]]:
    sums = {
        (row["unit_id"], row["month"]): {name: row[name] for name in kpi_facts.MONTH_SUMS}
        for row in db.session.execute(select(KpiMonth.__table__)).mappings()
        if any(row[name] for name in kpi_facts.MONTH_SUMS)
    }
    hist = {
        (row.unit_id, row.month, row.measure, row.bucket): row.n
        for row in db.session.execute(select(KpiMonthHist.__table__)) if row.n
    }
    return sums, hist


def test_monthly_sums_follow_every_rebuild(ctx: Any, world: dict[str, Any]) -> None:
    from tests.conftest import jpeg

    refresh(ctx)
    assert months_stored() == months_from_scratch(SH)
    assert months_stored()[0]  # not vacuously
    w = World(ctx)
    # A resolution, an invalidation and a new round move facts between sums and months.
    w.resolve(world["D"], "handler_tianshui", at(4, 8, 10), jpeg((20, 160, 60), size=(64, 48)))
    w.svc.mark_invalid(world["C"], user("supervisor_district"), at(4, 8, 11), reason="非公共事务")
    w.rate(world["D"], "unsatisfied", at(4, 8, 12))
    w.report(at(4, 30, 23))  # late on 30 April local time: April's month, though 15:00 UTC
    refresh(ctx, at(4, 9, 9))
    assert months_stored() == months_from_scratch(SH)


@pytest.mark.parametrize(("first", "last"), [
    ((3, 1), (5, 1)),  # two whole months
    ((3, 15), (5, 1)),  # half a month, then a whole one
    ((2, 1), (4, 8)),  # a whole empty month, a whole one, a week
    ((4, 1), (4, 2)),  # a day: facts only
])
def test_whole_months_from_the_rollup_equal_the_facts_alone(
    ctx: Any, world: dict[str, Any], first: tuple[int, int], last: tuple[int, int]
) -> None:
    from ticketing.metrics import _aggregate, subtree_ids

    refresh(ctx)
    start, end = at(*first, 0), at(*last, 0)
    for code in (TIANSHUI_CODE, WULIN_CODE, DISTRICT_CODE):
        units = subtree_ids(unit_id(code))
        for now in (MEASURED, at(3, 2, 12), at(3, 3, 9, 30)):
            rollup = _aggregate(units, start, end, None, now, SH)
            facts = _aggregate(units, start, end, None, now, SH, months=False)
            assert rollup == facts, (code, now)
            same_as_the_event_walk(ctx, code, now=now, start=start, end=end)


def test_whole_months_are_the_local_ones(ctx: Any) -> None:
    from ticketing.metrics import whole_months

    assert whole_months(at(3, 1, 0), at(5, 1, 0), SH) == (date(2026, 3, 1), date(2026, 5, 1))
    assert whole_months(at(3, 1, 0, 1), at(5, 1, 0), SH) == (date(2026, 4, 1), date(2026, 5, 1))
    assert whole_months(at(3, 1, 0), at(3, 31, 0), SH) is None
    # UTC midnight on 1 March is 08:00 in Shanghai: March is not whole from there.
    assert whole_months(datetime(2026, 3, 1, tzinfo=timezone.utc), at(5, 1, 0), SH) == (date(2026, 4, 1), date(2026, 5, 1))
    assert whole_months(at(12, 1, 0), datetime(2027, 2, 1, tzinfo=SH), SH) == (date(2026, 12, 1), date(2027, 2, 1))


# ------------------------------------------------------------------- the aggregates
# ------------------------------------------------------------------- the aggregates


def test_medians_and_averages_in_sql_equal_statistics_on_the_floats(ctx: Any, world: dict[str, Any]) -> None:
    """Awkward hours (thirds, sevenths, a microsecond apart) and means on a rounding boundary."""
    import random
    import statistics

    from ticketing.metrics import MICROSECONDS_PER_HOUR, _aggregate

    refresh(ctx)
    ticket = world["A"]
    rng = random.Random(5)
    base = datetime(2025, 1, 6, 1, tzinfo=timezone.utc)
    cases = [
        # 508 and 1363.4 minutes: the exact mean is 15.595 h, but statistics.fmean gives 15.59
        # (its float sum lies just below): the exact sum alone would say 15.6.
        [30_480_000_000, 81_804_000_000],
        [3_600_000_000, 4_500_000_000],  # 1.125 h exactly: round half to even
        [12_300_000_000, 67_368_000_000],
    ]
    for count in (1, 2, 3, 4, 7, 10, 51):
        cases.append([rng.choice([MICROSECONDS_PER_HOUR // 3, MICROSECONDS_PER_HOUR // 7, rng.randrange(1, 10**11)])
                      + rng.randrange(0, 3) for _ in range(count)])
    for micros in cases:
        db.session.execute(KpiFact.__table__.delete().where(KpiFact.ticket_id == ticket.id))
        db.session.execute(insert(KpiFact), [{
            "ticket_id": ticket.id, "seq": seq, "unit_id": unit_id(TIANSHUI_CODE),
            "category_id": ticket.category_id, "excluded": False, "dispatched_at": base, "response_due": None,
            "resolution_due": None, "accepted_at": base + timedelta(hours=1), "resolved_at": None,
            "ended_at": None, "returned": False, "rehandled": False, "evidence_steps": 0, "evidence_flagged": 0,
            "first_rated": 0, "first_satisfied": 0, "final_rated": 0, "final_satisfied": 0, "response_us": us,
            "resolution_us": None, "response_bucket": kpi_facts.bucket(us), "resolution_bucket": None,
            "deadlines_computed": False, "calendar_until": None,
        } for seq, us in enumerate(micros, start=1)])
        got = _aggregate([unit_id(TIANSHUI_CODE)], base, base + timedelta(days=1), None, base, SH)
        hours = [us / MICROSECONDS_PER_HOUR for us in micros]
        assert got["response_hours"] == {
            "count": len(micros),
            "median": round(statistics.median(hours), 2),
            "average": round(statistics.fmean(hours), 2),
        }, micros
        assert got["dispatches"] == len(micros)
    assert got["resolution_hours"] == {"count": 0, "median": None, "average": None}


def test_due_soon_until_is_exactly_the_working_hours_rule(ctx: Any) -> None:
    from ticketing.metrics import due_soon_until

    cal = kpi_facts.work_calendar(db.session, settings(ctx))
    one = timedelta(microseconds=1)
    nows = [at(3, 2, 9), at(3, 2, 11, 30), at(3, 2, 12, 30), at(3, 2, 17, 59), at(3, 2, 19), at(4, 3, 17, 30),
            at(3, 7, 10), at(3, 2, 11)]
    for now in nows:
        for hours in (0.0, 0.5, 1.0, 1 / 3, 4.0, 0.25, 7.0, 10.0):
            until = due_soon_until(cal, now, hours)
            assert until is not None and until >= now.astimezone(timezone.utc)
            assert cal.working_hours_between(now, until) <= hours, (now, hours, until)
            assert cal.working_hours_between(now, until + one) > hours, (now, hours, until)
    assert due_soon_until(cal, at(3, 2, 9), -1) is None


def test_snapshot_counts_equal_the_per_ticket_rule_at_every_moment(ctx: Any, world: dict[str, Any]) -> None:
    from ticketing.metrics import KpiFilter, compute, compute_from_events

    w = World(ctx)
    for hour in (9, 10, 11, 13, 14, 15, 16, 17):
        w.report(at(4, 9, hour))
    kf = KpiFilter(unit_id(DISTRICT_CODE), START, END)
    for moment in (at(4, 9, 12), at(4, 9, 13, 30), at(4, 9, 17, 59), at(4, 10, 9), at(4, 10, 9, 30),
                   at(4, 10, 12, 30), at(4, 13, 9)):
        for soon in ((1.0, 4.0), (0.0, 0.0), (2.0, 8.0), (4.0, 24.0)):
            kw = {"due_soon_response_hours": soon[0], "due_soon_resolution_hours": soon[1]}
            facts, events = compute(kf, moment, settings(ctx), **kw), compute_from_events(kf, moment, settings(ctx), **kw)
            assert [facts[k] for k in ("open", "due_soon", "overdue")] == [events[k] for k in ("open", "due_soon", "overdue")]
    assert compute(kf, at(4, 9, 17, 59), settings(ctx))["due_soon"] > 0
