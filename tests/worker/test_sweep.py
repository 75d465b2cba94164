"""The deadline sweep: reminders, the escalation ladder, returned tickets, auto-close, each once."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from tests.conftest import NOW
from ticketing.extensions import db
from ticketing.models import Notification, Ticket, TicketEvent, User
from ticketing.services import tickets as svc
from ticketing.services.sweep import SweepSettings, sweep_batch
from ticketing.workflow import Action

SH = ZoneInfo("Asia/Shanghai")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in March 2026, Shanghai time (2 March is a Monday)."""
    return datetime(2026, 3, day, hour, minute, tzinfo=SH)


@pytest.fixture
def settings(ctx):
    return SweepSettings.from_config(ctx.config)


def user(name: str) -> User:
    return db.session.scalar(select(User).where(User.username == name))


def report(ctx, category: str = "city.litter", when: datetime = NOW) -> Ticket:
    from tests.conftest import TIANSHUI, jpeg
    from ticketing.services.photos import Upload

    return svc.report(
        actor=user("deputy_wang"), category_code=category, description="测试", lon=TIANSHUI[0], lat=TIANSHUI[1],
        uploads=[Upload("a.jpg", jpeg())], now=when, settings=ctx.extensions["ticket_settings"],
        store=ctx.extensions["photo_store"],
    )


def worker_events(ticket: Ticket) -> list[tuple[str, dict]]:
    rows = db.session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket.id, TicketEvent.actor_id.is_(None))
        .order_by(TicketEvent.id)
    )
    return [(e.action.value, e.data) for e in rows]


def sweep_twice(now: datetime, settings: SweepSettings) -> dict:
    first = sweep_batch(now, settings)
    second = sweep_batch(now, settings)
    # Whatever the first did, the second finds nothing left to do at the same moment.
    assert second["reminded"] == second["escalated"] == second["auto_closed"] == 0
    return first


def test_the_whole_ladder_once_each(ctx, api, settings):
    t = report(ctx)  # Monday 09:00; response due 14:00 (4 working hours over lunch), resolution Thursday 18:00
    assert t.response_due_at == at(2, 14)
    assert sweep_twice(at(2, 9, 30), settings)["reminded"] == 0
    assert sweep_twice(at(2, 13, 5), settings)["reminded"] == 1  # one working hour before the response deadline
    counts = sweep_twice(at(2, 14, 1), settings)
    assert counts["escalated"] == 1
    db.session.refresh(t)
    assert t.escalation_level == 1
    assert sweep_twice(at(2, 17), settings)["escalated"] == 0  # not yet 8 working hours later
    assert sweep_twice(at(3, 14, 2), settings)["escalated"] == 1  # Tuesday 14:01 + 8 h of office time
    db.session.refresh(t)
    assert t.escalation_level == 2
    assert sweep_twice(at(6, 10), settings)["escalated"] == 0  # the city is the top
    steps = worker_events(t)
    assert [a for a, _ in steps] == ["remind", "escalate", "escalate"]
    assert [d.get("to_unit") for a, d in steps if a == "escalate"] == ["330103", "330100"]
    # Each level's supervisors were told, once.
    for name in ("supervisor_district", "supervisor_city"):
        n = db.session.scalar(select(func.count()).select_from(Notification).where(
            Notification.user_id == user(name).id, Notification.kind == "escalate"))
        assert n == 1, name
    reminded = db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user("handler_tianshui").id, Notification.kind == "remind"))
    assert reminded == 1
    # Read back through the API: the trail shows the worker's steps, and the city's overdue list has it.
    trail = api.get(f"/api/v1/tickets/{t.number}", "deputy_wang").json
    assert [e["action"] for e in trail["events"]][-3:] == ["remind", "escalate", "escalate"]
    assert trail["escalation_level"] == 2
    listed = api.get("/api/v1/tickets?escalated=true&overdue=true", "supervisor_city").json
    assert t.number in [i["number"] for i in listed["items"]]


def test_reminders_stop_once_accepted_and_resolution_escalates(ctx, settings):
    t = report(ctx)
    svc.accept(t, user("handler_tianshui"), at(2, 10), note="收到")
    assert sweep_twice(at(2, 14, 30), settings)["escalated"] == 0  # accepted in time: no response escalation
    counts = sweep_twice(at(5, 15), settings)  # Thursday 15:00: 4 working hours before the resolution deadline
    assert counts["reminded"] == 1
    counts = sweep_twice(at(5, 18, 1), settings)
    assert counts["escalated"] == 1
    assert [d.get("reason") for a, d in worker_events(t) if a == "escalate"] == ["resolution_overdue"]


def test_returned_ticket_not_redispatched_goes_to_the_district(ctx, settings):
    t = report(ctx)
    svc.return_(t, user("handler_tianshui"), at(2, 10), reason="不属于本街道")
    assert sweep_twice(at(2, 14, 30), settings)["escalated"] == 0  # 3.5 of the 4 working hours
    assert sweep_twice(at(2, 15, 1), settings)["escalated"] == 1
    (_, data), = [s for s in worker_events(t) if s[0] == "escalate"]
    assert data["reason"] == "returned_undecided" and data["to_unit"] == "330103"


def test_unrated_resolved_ticket_closes_after_seven_days(ctx, settings):
    from tests.conftest import jpeg
    from ticketing.services.photos import Upload

    t = report(ctx)
    handler = user("handler_tianshui")
    svc.accept(t, handler, at(2, 10), note="收到")
    svc.resolve(t, handler, at(2, 11), outcome="solved", evidence=svc.Evidence("已清理", [Upload("b.jpg", jpeg())]),
                settings=ctx.extensions["ticket_settings"], store=ctx.extensions["photo_store"])
    assert sweep_twice(at(9, 10, 59), settings)["auto_closed"] == 0
    assert sweep_twice(at(9, 11, 1), settings)["auto_closed"] == 1
    db.session.refresh(t)
    assert t.state.value == "closed" and t.closed_reason.value == "unrated"
    assert t.next_check_at is None
    told = db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user("deputy_wang").id, Notification.kind == "auto_close"))
    assert told == 1


def test_second_unsatisfied_rating_puts_the_ticket_under_district_supervision(ctx, settings):
    from tests.conftest import jpeg
    from ticketing.services.photos import Upload

    s = ctx.extensions["ticket_settings"]
    store = ctx.extensions["photo_store"]
    t = report(ctx)
    handler, deputy = user("handler_tianshui"), user("deputy_wang")
    when = at(2, 10)
    for _round in (1, 2):
        svc.accept(t, handler, when, note="收到")
        svc.resolve(t, handler, when + timedelta(hours=1), outcome="solved",
                    evidence=svc.Evidence("处理", [Upload("c.jpg", jpeg())]), settings=s, store=store)
        svc.rate(t, deputy, when + timedelta(hours=2), score="unsatisfied", settings=s)
        when += timedelta(days=1)
    assert t.round == 3
    assert t.supervised is True
    assert t.escalation_level == 1  # the district watches round 3
    kinds = [e.action for e in t.events]
    assert kinds.count(Action.SUPERVISE) == 1
    told = db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user("supervisor_district").id, Notification.kind == "supervise"))
    assert told == 1


def test_sweep_cost_follows_due_tickets(ctx, settings):
    report(ctx)
    sweep_batch(at(2, 9, 30), settings)
    # Nothing is due before the reminder at 13:00: the next sweep examines nothing.
    assert sweep_batch(at(2, 9, 45), settings)["examined"] == 0
