"""KPIs on hand-built histories with known answers (DESIGN.md §7, docs/metrics.md).

The world: seven tickets reported at 天水街道 (city.litter: respond within 4 working hours,
resolve within 3 working days; office hours 09–12 and 13–18), driven through the services
at explicit local times, then measured on 2026-04-10 09:00:

A  on time: accepted after 1 h, resolved after 9 working hours, 满意.
B  accepted late (8 h), resolved (13 h) with the report's own photo (doubtful), 不满意;
   round 2 accepted after 0.5 h, resolved (3 h), 满意.
C  returned by 天水 before its response deadline, re-dispatched to 武林 (accepted after 1.5 h), still open.
D  reported Friday 2026-04-03 17:00 before Qingming (4–6 April): accepted Tuesday 10:00 = 2 working hours, on time.
E  transferred by 天水 to 武林 after 30 minutes; 武林 accepts after 0.5 h and resolves after 1.5 h.
F  marked invalid: excluded.
G  accepted (0.5 h), resolved (2 h), 满意, then reopened by the supervisor: round 2 never accepted.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from tests.conftest import TIANSHUI, jpeg

SH = ZoneInfo("Asia/Shanghai")
TIANSHUI_CODE, WULIN_CODE, DISTRICT_CODE = "330105012", "330105013", "330103"
START, END = datetime(2026, 3, 1, tzinfo=SH), datetime(2026, 5, 1, tzinfo=SH)
MEASURED = datetime(2026, 4, 10, 9, 0, tzinfo=SH)
REPORT_PHOTO = jpeg((200, 40, 40))


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SH)


def user(username: str) -> Any:
    from ticketing.extensions import db
    from ticketing.models import User

    return db.session.scalar(select(User).where(User.username == username))


def unit_id(code: str) -> int:
    from ticketing.extensions import db
    from ticketing.models import OrgUnit

    return db.session.scalar(select(OrgUnit.id).where(OrgUnit.code == code))  # type: ignore[return-value]


class World:
    """Plain factory steps over the ticket services, each at an explicit time."""

    def __init__(self, ctx: Any):
        from ticketing.services import tickets as svc

        self.svc = svc
        self.settings = ctx.extensions["ticket_settings"]
        self.store = ctx.extensions["photo_store"]

    def report(self, when: datetime) -> Any:
        from ticketing.services.photos import Upload

        return self.svc.report(
            actor=user("deputy_wang"),
            category_code="city.litter",
            description="垃圾堆积",
            lon=TIANSHUI[0],
            lat=TIANSHUI[1],
            uploads=[Upload("a.jpg", REPORT_PHOTO)],
            now=when,
            settings=self.settings,
            store=self.store,
        )

    def accept(self, t: Any, who: str, when: datetime) -> None:
        self.svc.accept(t, user(who), when, note="收到")

    def resolve(self, t: Any, who: str, when: datetime, photo: bytes) -> None:
        from ticketing.services.photos import Upload
        from ticketing.services.tickets import Evidence

        evidence = Evidence("已清理", [Upload("done.jpg", photo)])
        self.svc.resolve(
            t, user(who), when, outcome="solved", evidence=evidence, settings=self.settings, store=self.store
        )

    def rate(self, t: Any, score: str, when: datetime) -> None:
        self.svc.rate(t, user("deputy_wang"), when, score=score, settings=self.settings)


def build(ctx: Any) -> dict[str, Any]:
    w = World(ctx)
    clean = jpeg((20, 160, 60), size=(64, 48))
    out: dict[str, Any] = {}

    a = out["A"] = w.report(at(3, 2, 9))
    w.accept(a, "handler_tianshui", at(3, 2, 10))
    w.resolve(a, "handler_tianshui", at(3, 3, 10), clean)
    w.rate(a, "satisfied", at(3, 3, 11))

    b = out["B"] = w.report(at(3, 2, 14))
    w.accept(b, "handler_tianshui", at(3, 3, 14))
    w.resolve(b, "handler_tianshui", at(3, 4, 10), REPORT_PHOTO)  # the report's own photo: doubtful
    w.rate(b, "unsatisfied", at(3, 4, 11))
    w.accept(b, "handler_tianshui", at(3, 4, 11, 30))
    w.resolve(b, "handler_tianshui", at(3, 4, 15), clean)
    w.rate(b, "satisfied", at(3, 4, 16))

    c = out["C"] = w.report(at(3, 2, 9))
    w.svc.return_(c, user("handler_tianshui"), at(3, 2, 10), reason="不属于本街道")
    supervisor = user("supervisor_district")
    w.svc.redispatch(c, supervisor, at(3, 2, 11), note="改派武林", unit_code=WULIN_CODE, settings=w.settings)
    w.accept(c, "handler_wulin", at(3, 2, 13, 30))

    d = out["D"] = w.report(at(4, 3, 17))
    w.accept(d, "handler_tianshui", at(4, 7, 10))

    e = out["E"] = w.report(at(3, 2, 9))
    w.svc.transfer(e, user("handler_tianshui"), at(3, 2, 9, 30), unit_code=WULIN_CODE, note="转武林", settings=w.settings)
    w.accept(e, "handler_wulin", at(3, 2, 10))
    w.resolve(e, "handler_wulin", at(3, 2, 11), clean)

    f = out["F"] = w.report(at(3, 2, 9))
    w.svc.mark_invalid(f, user("supervisor_district"), at(3, 2, 10), reason="非公共事务")

    g = out["G"] = w.report(at(3, 2, 9))
    w.accept(g, "handler_tianshui", at(3, 2, 9, 30))
    w.resolve(g, "handler_tianshui", at(3, 2, 11), clean)
    w.rate(g, "satisfied", at(3, 2, 11, 30))
    w.svc.reopen(g, user("supervisor_district"), at(3, 3, 9), reason="群众反映仍有垃圾", settings=w.settings)
    return out


def kpis(ctx: Any, code: str, **kw: Any) -> dict[str, Any]:
    from ticketing.metrics import KpiFilter, compute

    return compute(KpiFilter(unit_id(code), START, END, **kw), MEASURED, ctx.extensions["ticket_settings"])


def parts(result: dict[str, Any], name: str) -> tuple[int, int]:
    return result[name]["numerator"], result[name]["denominator"]


@pytest.fixture
def world(ctx: Any) -> dict[str, Any]:
    return build(ctx)


def test_the_holiday_is_where_the_test_assumes(ctx: Any) -> None:
    from ticketing.extensions import db
    from ticketing.worktime import calendar_for

    cal = calendar_for(db.session, MEASURED)
    assert cal.is_workday(at(4, 3, 9).date()) and cal.is_workday(at(4, 7, 9).date())
    assert not any(cal.is_workday(at(4, day, 9).date()) for day in (4, 5, 6))


def test_street_figures_count_each_dispatch_it_received(ctx: Any, world: dict[str, Any]) -> None:
    k = kpis(ctx, TIANSHUI_CODE)
    # A, B×2 rounds, C (before its return), D, E (before its transfer), G×2 rounds; F excluded.
    assert (k["dispatches"], k["excluded"]) == (8, 1)
    # Judged: A, B1 (late), B2, D (on time thanks to Qingming), G1, G2 (never accepted);
    # C and E left before their response deadline and are not judged.
    assert parts(k, "response_rate") == (4, 6)
    assert k["response_rate"]["value"] == pytest.approx(0.6667)
    # Resolved in time: A, B1, B2, G1; overdue unresolved: D and G2.
    assert parts(k, "on_time_rate") == (4, 6)
    assert parts(k, "resolution_rate") == (4, 8)
    assert parts(k, "satisfaction_first_round") == (2, 3)  # A, G 满意; B 不满意
    assert parts(k, "satisfaction_final") == (3, 3)  # B's last round was 满意
    assert parts(k, "rehandling_rate") == (2, 4)  # B1 (不满意) and G1 (reopened)
    assert parts(k, "return_rate") == (1, 8)
    # Accepts: A 1, B1 8, B2 0.5, D 2 (Friday 17–18, Tuesday 9–10), G1 0.5.
    assert k["response_hours"] == {"count": 5, "median": 1.0, "average": 2.4}
    # Resolutions: A 9, B1 13, B2 3, G1 2.
    assert k["resolution_hours"] == {"count": 4, "median": 6.0, "average": 6.75}
    # Now open: D (accepted) and G (round 2), both past a deadline.
    assert (k["open"], k["due_soon"], k["overdue"]) == (2, 0, 2)


def test_moved_tickets_count_for_the_unit_that_received_them(ctx: Any, world: dict[str, Any]) -> None:
    k = kpis(ctx, WULIN_CODE)
    assert (k["dispatches"], k["excluded"]) == (2, 0)
    assert parts(k, "response_rate") == (2, 2)
    # E resolved within the deadline it carried over from its report; C is open past its new one.
    assert parts(k, "on_time_rate") == (1, 2)
    assert parts(k, "resolution_rate") == (1, 2)
    assert parts(k, "return_rate") == (0, 2)
    assert k["response_hours"] == {"count": 2, "median": 1.0, "average": 1.0}
    assert k["resolution_hours"] == {"count": 1, "median": 1.5, "average": 1.5}
    assert parts(k, "satisfaction_first_round") == (0, 0)
    assert k["satisfaction_first_round"]["value"] is None
    assert (k["open"], k["overdue"]) == (1, 1)


def test_the_district_rolls_up_its_streets(ctx: Any, world: dict[str, Any]) -> None:
    k = kpis(ctx, DISTRICT_CODE)
    assert (k["dispatches"], k["excluded"]) == (10, 1)
    assert parts(k, "response_rate") == (6, 8)
    assert parts(k, "on_time_rate") == (5, 8)
    assert parts(k, "resolution_rate") == (5, 10)
    assert parts(k, "return_rate") == (1, 10)
    assert parts(k, "rehandling_rate") == (2, 5)
    assert (k["open"], k["overdue"]) == (3, 3)


def test_a_category_or_period_without_tickets_gives_no_values(ctx: Any, world: dict[str, Any]) -> None:
    other = kpis(ctx, DISTRICT_CODE, category_code="city.vendors")
    assert other["dispatches"] == 0 and other["response_rate"]["value"] is None
    from ticketing.metrics import KpiFilter, compute

    before = KpiFilter(unit_id(DISTRICT_CODE), datetime(2026, 2, 1, tzinfo=SH), START)
    assert compute(before, MEASURED, ctx.extensions["ticket_settings"])["dispatches"] == 0


def test_doubtful_evidence_is_flagged_steps_over_all_steps(ctx: Any, world: dict[str, Any]) -> None:
    from ticketing.extensions import db
    from ticketing.models import TicketEvent
    from ticketing.workflow import Action

    ids = [t.id for name, t in world.items() if name != "F"]
    steps = list(
        db.session.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id.in_(ids), TicketEvent.action == Action.RESOLVE)
        )
    )
    flagged = sum(bool(ev.data.get("evidence_flags")) for ev in steps)
    k = kpis(ctx, DISTRICT_CODE)
    assert parts(k, "doubtful_evidence_rate") == (flagged, len(steps)) == (1, 5)  # B round 1
    assert parts(kpis(ctx, TIANSHUI_CODE), "doubtful_evidence_rate") == (1, 4)


def test_due_soon_counts_open_tickets_near_a_deadline(ctx: Any) -> None:
    w = World(ctx)
    w.report(at(3, 2, 9))  # response due 14:00 (4 working hours, lunch excluded)
    from ticketing.metrics import KpiFilter, compute

    kf = KpiFilter(unit_id(TIANSHUI_CODE), START, END)
    settings = ctx.extensions["ticket_settings"]
    early, near, late = (compute(kf, moment, settings) for moment in (at(3, 2, 10), at(3, 2, 13, 30), at(3, 2, 14, 30)))
    assert (early["open"], early["due_soon"], early["overdue"]) == (1, 0, 0)
    assert (near["due_soon"], near["overdue"]) == (1, 0)
    assert (late["due_soon"], late["overdue"]) == (0, 1)
    # Not accepted yet, but its response deadline has not passed either: not judged.
    assert parts(early, "response_rate") == (0, 0)
    assert parts(late, "response_rate") == (0, 1)


def test_the_api_returns_the_same_numbers(ctx: Any, world: dict[str, Any], api: Any, clock: Any) -> None:
    clock.set(MEASURED)
    query = f"/api/v1/kpis?unit={TIANSHUI_CODE}&from=2026-03-01&to=2026-05-01"
    resp = api.get(query, "supervisor_district")
    assert resp.status_code == 200, resp.json
    expected = kpis(ctx, TIANSHUI_CODE)
    body = resp.json
    assert body["filter"] == {"unit": TIANSHUI_CODE, "from": "2026-03-01", "to": "2026-05-01", "category": None}
    for name in ("dispatches", "response_rate", "on_time_rate", "satisfaction_final", "response_hours", "overdue"):
        assert body[name] == expected[name], name
    own = api.get(query, "handler_tianshui")
    assert own.status_code == 200 and own.json["dispatches"] == 8


@pytest.mark.parametrize(
    ("who", "code"),
    [("handler_wulin", TIANSHUI_CODE), ("handler_tianshui", DISTRICT_CODE), ("deputy_wang", TIANSHUI_CODE)],
)
def test_units_outside_the_callers_reach_are_not_found(api: Any, who: str, code: str) -> None:
    resp = api.get(f"/api/v1/kpis?unit={code}&from=2026-03-01&to=2026-04-01", who)
    assert resp.status_code == 404
    assert resp.json["error"]["code"] == "unit_not_found"


def test_the_period_is_local_dates_with_an_exclusive_end() -> None:
    from ticketing.metrics import local_period

    start, end = local_period(at(3, 1, 0).date(), at(4, 1, 0).date(), "Asia/Shanghai")
    assert start == at(3, 1, 0) and end == at(4, 1, 0)
    assert end - start == timedelta(days=31)


# ------------------------------------------------------------------- the facts path vs the event walk


def test_the_facts_give_the_event_walks_numbers_for_every_filter(ctx: Any, world: dict[str, Any]) -> None:
    """`compute` (the rollup in SQL) against `compute_from_events` (the reference walk)."""
    from ticketing.extensions import db
    from ticketing.metrics import KpiFilter, differences
    from ticketing.models import OrgUnit

    settings = ctx.extensions["ticket_settings"]
    periods = [(START, END), (at(4, 1, 0), END), (at(3, 2, 9, 30), at(3, 2, 11))]
    checked = 0
    for unit in db.session.scalars(select(OrgUnit.id).order_by(OrgUnit.code)).all():
        for start, end in periods:
            for category, now in ((None, MEASURED), ("city.litter", at(3, 2, 12)), (None, at(3, 4, 10, 30))):
                assert differences(KpiFilter(unit, start, end, category), now, settings) == {}, (unit, start, now)
                checked += 1
    assert checked >= 100


def test_due_soon_thresholds_give_the_event_walks_counts(ctx: Any, world: dict[str, Any]) -> None:
    from ticketing.metrics import KpiFilter, differences

    kf = KpiFilter(unit_id(DISTRICT_CODE), START, END)
    for hours in ((0.0, 0.0), (2.0, 10.0), (40.0, 200.0)):
        for now in (at(4, 7, 10), at(4, 7, 12, 30), at(4, 9, 17, 59)):
            kw = {"due_soon_response_hours": hours[0], "due_soon_resolution_hours": hours[1]}
            assert differences(kf, now, ctx.extensions["ticket_settings"], **kw) == {}


def test_working_hours_do_not_depend_on_the_year_of_the_query(ctx: Any, world: dict[str, Any]) -> None:
    # D crossed Qingming 2026: measured two years later, the holiday still does not count.
    later = datetime(2028, 4, 10, 9, 0, tzinfo=SH)
    from ticketing.metrics import KpiFilter, compute

    k = compute(KpiFilter(unit_id(TIANSHUI_CODE), START, END), later, ctx.extensions["ticket_settings"])
    assert k["response_hours"] == kpis(ctx, TIANSHUI_CODE)["response_hours"] == {"count": 5, "median": 1.0, "average": 2.4}
