"""Deadline extensions (延期) through /api/v1, and the worker step that chases unanswered ones (DESIGN.md §4–5).

The ticket is 天水街道's (a street of 下城区 330103 in 杭州市 330100), reported on Monday
2 March 2026 at 09:00: its resolution deadline is Thursday 5 March, 18:00 (3 working days).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from tests.conftest import NOW

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


# ---------------------------------------------------------------------------- helpers


def reported(api: Any) -> str:
    resp = api.report()
    assert resp.status_code == 201, resp.json
    assert resp.json["handling_unit"]["code"] == "330105012"
    return resp.json["number"]  # type: ignore[no-any-return]


def ask(api: Any, number: str, days: Any = 2, reason: str = "需协调产权单位", as_: str = "handler_tianshui") -> Any:
    return api.post(f"/api/v1/tickets/{number}/extension", as_, json={"days": days, "reason": reason})


def answer(api: Any, number: str, ext_id: int, as_: str, *, approve: bool, note: str = "同意") -> Any:
    return api.post(f"/api/v1/tickets/{number}/extension/{ext_id}/decide", as_,
                    json={"approve": approve, "note": note})


def asked(api: Any, number: str, days: int = 2, as_: str = "handler_tianshui") -> dict[str, Any]:
    resp = ask(api, number, days, as_=as_)
    assert resp.status_code == 200, resp.json
    return resp.json["extensions"][-1]  # type: ignore[no-any-return]


def error(resp: Any, status: int, code: str) -> None:
    assert resp.status_code == status, resp.json
    assert resp.json["error"]["code"] == code, resp.json


def trail(number: str) -> list[Any]:
    from ticketing.extensions import db
    from ticketing.models import Ticket, TicketEvent

    return list(db.session.scalars(
        select(TicketEvent).join(Ticket).where(Ticket.number == number).order_by(TicketEvent.id)
    ))


def settings() -> Any:
    from flask import current_app

    return current_app.extensions["ticket_settings"]


def escalate(at: datetime) -> int:
    from ticketing.extensions import db
    from ticketing.services import extensions

    moved = extensions.escalate_overdue(at.astimezone(timezone.utc), settings())
    db.session.flush()
    return moved


def user_id(username: str) -> int:
    from ticketing.extensions import db
    from ticketing.models import User

    return db.session.scalar(select(User.id).where(User.username == username))  # type: ignore[return-value]


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value)


# ---------------------------------------------------------------------------- asking


def test_handler_asks_for_an_extension_the_district_decides_within_working_hours(api, clock):
    n = reported(api)
    resp = ask(api, n, 2)
    assert resp.status_code == 200, resp.json
    ext = resp.json["extensions"][0]
    assert (ext["days"], ext["state"], ext["decider"], ext["escalation_level"]) == (2, "pending", "330103", 0)
    # 8 working hours from Monday 09:00: Monday 18:00.
    assert parse(ext["decide_by"]) == local(2026, 3, 2, 18, 0)
    assert resp.json["state"] == "dispatched"
    assert "extension_request" not in resp.json["allowed_actions"]  # one at a time

    last = trail(n)[-1]
    assert last.action.value == "extension_request"
    assert (last.from_state.value, last.to_state.value) == ("dispatched", "dispatched")
    assert last.note == "需协调产权单位"
    assert last.data == {"extension_id": ext["id"], "days": 2, "decide_by": last.data["decide_by"], "decider": "330103"}
    assert parse(last.data["decide_by"]) == local(2026, 3, 2, 18, 0)

    seen = api.get(f"/api/v1/tickets/{n}", "supervisor_district").json
    assert "extension_decision" in seen["allowed_actions"]
    # The street's own supervisor watches the ticket but does not decide for the level above it.
    assert "extension_decision" not in api.get(f"/api/v1/tickets/{n}", "supervisor_tianshui").json["allowed_actions"]


def test_the_deciding_level_is_told_of_the_request(api, clock):
    from ticketing.extensions import db
    from ticketing.models import Notification

    n = reported(api)
    ext = asked(api, n)
    event_id = trail(n)[-1].id
    told = set(db.session.scalars(select(Notification.user_id).where(Notification.event_id == event_id)))
    assert user_id("supervisor_district") in told
    assert user_id("handler_tianshui") not in told
    assert ext["state"] == "pending"


def test_a_reason_is_required(api, clock):
    n = reported(api)
    before = len(trail(n))
    error(ask(api, n, 2, reason="   "), 422, "note_required")
    assert len(trail(n)) == before


@pytest.mark.parametrize("days", [0, -1, 31, "many"])
def test_days_must_lie_between_one_and_thirty(api, clock, days):
    n = reported(api)
    before = len(trail(n))
    error(ask(api, n, days), 422, "validation_failed")
    assert len(trail(n)) == before


def test_the_service_refuses_days_out_of_range_for_any_caller(api, clock):
    from ticketing.errors import InvalidInput
    from ticketing.extensions import db
    from ticketing.models import Ticket, User
    from ticketing.services import extensions

    n = reported(api)
    ticket = db.session.scalar(select(Ticket).where(Ticket.number == n))
    handler = db.session.scalar(select(User).where(User.username == "handler_tianshui"))
    for days in (0, 31):
        with pytest.raises(InvalidInput) as caught:
            extensions.request(ticket, handler, NOW, days=days, reason="x", settings=settings())
        assert caught.value.code == "invalid_days"
    assert extensions.request(ticket, handler, NOW, days=30, reason="x", settings=settings()).days == 30


def test_one_pending_request_per_ticket(api, clock):
    n = reported(api)
    asked(api, n)
    before = len(trail(n))
    error(ask(api, n, 3), 409, "extension_pending")
    assert len(trail(n)) == before


def test_the_deputy_cannot_ask_for_an_extension(api, clock):
    n = reported(api)
    error(ask(api, n, 2, as_="deputy_wang"), 403, "action_forbidden")


def test_a_supervisor_cannot_ask_for_an_extension(api, clock):
    n = reported(api)
    error(ask(api, n, 2, as_="supervisor_district"), 403, "action_forbidden")


def test_another_unit_cannot_even_see_the_ticket(api, clock):
    n = reported(api)
    error(ask(api, n, 2, as_="handler_wulin"), 404, "ticket_not_found")


def test_no_extension_once_resolved(api, clock):
    from tests.conftest import jpeg

    n = reported(api)
    assert api.post(f"/api/v1/tickets/{n}/accept", "handler_tianshui", json={"note": "收到"}).status_code == 200
    resolved = api.post(f"/api/v1/tickets/{n}/resolve", "handler_tianshui",
                        data={"outcome": "solved", "note": "已清理"}, photos=[jpeg()])
    assert resolved.status_code == 200, resolved.json
    error(ask(api, n), 409, "transition_not_allowed")


# ---------------------------------------------------------------------------- deciding


def test_approval_moves_the_deadline_by_working_days_across_the_weekend(api, clock):
    n = reported(api)
    before = api.get(f"/api/v1/tickets/{n}", "handler_tianshui").json
    assert parse(before["resolution_due_at"]) == local(2026, 3, 5, 18, 0)  # Thursday
    ext = asked(api, n, 2)

    clock.at = NOW + timedelta(hours=3)
    resp = answer(api, n, ext["id"], "supervisor_district", approve=True, note="同意延期两天")
    assert resp.status_code == 200, resp.json
    # Friday, then (skipping Saturday and Sunday) Monday 9 March.
    assert parse(resp.json["resolution_due_at"]) == local(2026, 3, 9, 18, 0)
    assert resp.json["extensions"][0]["state"] == "approved"
    assert resp.json["extensions"][0]["decided_at"] is not None

    from ticketing.extensions import db
    from ticketing.models import Extension, Ticket

    ticket = db.session.scalar(select(Ticket).where(Ticket.number == n))
    assert ticket.extension_count == 1
    assert ticket.next_check_at == clock.at  # the worker re-plans against the new deadline
    row = db.session.get(Extension, ext["id"])
    assert (row.decided_by_id, row.decision_note) == (user_id("supervisor_district"), "同意延期两天")

    last = trail(n)[-1]
    assert last.action.value == "extension_decision"
    assert last.data["approved"] is True
    assert parse(last.data["old_resolution_due_at"]) == local(2026, 3, 5, 18, 0)
    assert parse(last.data["new_resolution_due_at"]) == local(2026, 3, 9, 18, 0)
    # The handling unit hears the answer.
    from ticketing.models import Notification

    told = set(db.session.scalars(select(Notification.user_id).where(Notification.event_id == last.id)))
    assert user_id("handler_tianshui") in told

    # Answered: a second answer is a conflict, and a new request may be made.
    error(answer(api, n, ext["id"], "supervisor_district", approve=False, note="改主意"), 409, "extension_not_pending")
    again = asked(api, n, 1)
    assert again["state"] == "pending"


def test_refusal_leaves_the_deadline_and_needs_a_note(api, clock):
    n = reported(api)
    ext = asked(api, n, 2)
    error(answer(api, n, ext["id"], "supervisor_district", approve=False, note=""), 422, "note_required")
    resp = answer(api, n, ext["id"], "supervisor_district", approve=False, note="期限内可以办结")
    assert resp.status_code == 200, resp.json
    assert parse(resp.json["resolution_due_at"]) == local(2026, 3, 5, 18, 0)
    assert resp.json["extensions"][0]["state"] == "refused"
    last = trail(n)[-1]
    assert (last.action.value, last.data["approved"], last.note) == ("extension_decision", False, "期限内可以办结")
    assert "new_resolution_due_at" not in last.data

    from ticketing.extensions import db
    from ticketing.models import Ticket

    assert db.session.scalar(select(Ticket.extension_count).where(Ticket.number == n)) == 0


def test_a_street_supervisor_cannot_decide_for_the_level_above(api, clock):
    n = reported(api)
    ext = asked(api, n)
    before = len(trail(n))
    error(answer(api, n, ext["id"], "supervisor_tianshui", approve=True), 403, "not_the_decider")
    assert len(trail(n)) == before


def test_a_handler_cannot_decide(api, clock):
    n = reported(api)
    ext = asked(api, n)
    error(answer(api, n, ext["id"], "handler_tianshui", approve=True), 403, "action_forbidden")


def test_the_city_above_the_decider_may_decide_too(api, clock):
    n = reported(api)
    ext = asked(api, n)
    assert answer(api, n, ext["id"], "supervisor_city", approve=True).status_code == 200


def test_an_unknown_request_is_not_found(api, clock):
    n = reported(api)
    ext = asked(api, n)
    other = reported(api)
    error(answer(api, other, ext["id"], "supervisor_district", approve=True), 404, "extension_not_found")
    error(answer(api, n, ext["id"] + 1000, "supervisor_district", approve=True), 404, "extension_not_found")


# ---------------------------------------------------------------------------- unanswered: up one level


def test_an_unanswered_request_goes_up_to_the_city_once(api, clock):
    from ticketing.extensions import db
    from ticketing.models import Extension, Notification, TicketEvent

    n = reported(api)
    ext = asked(api, n)
    assert escalate(local(2026, 3, 2, 17, 59)) == 0  # not yet due

    at = local(2026, 3, 3, 10, 0)
    assert escalate(at) == 1
    row = db.session.get(Extension, ext["id"])
    db.session.refresh(row)
    assert row.state.value == "pending" and row.escalation_level == 1
    # 8 working hours from Tuesday 10:00: 7 on Tuesday (after lunch too), 1 on Wednesday.
    assert row.decide_by == local(2026, 3, 4, 10, 0)
    assert api.get(f"/api/v1/tickets/{n}", "handler_tianshui").json["extensions"][0]["decider"] == "330100"

    last = trail(n)[-1]
    assert last.action.value == "escalate" and last.actor_id is None
    assert last.data == {"extension_id": ext["id"], "to_unit": "330100", "reason": "extension_unanswered"}
    assert last.dedupe_key == f"ext-escalate:{ext['id']}:1"
    told = set(db.session.scalars(select(Notification.user_id).where(Notification.event_id == last.id)))
    assert user_id("supervisor_city") in told

    # Running the step again (the same moment, or by a second worker) adds nothing.
    events = db.session.scalar(select(func.count()).select_from(TicketEvent))
    notes = db.session.scalar(select(func.count()).select_from(Notification))
    assert escalate(at) == 0
    assert db.session.scalar(select(func.count()).select_from(TicketEvent)) == events
    assert db.session.scalar(select(func.count()).select_from(Notification)) == notes

    # The district is no longer the decider; the city is.
    error(answer(api, n, ext["id"], "supervisor_district", approve=True), 403, "not_the_decider")
    clock.at = at.astimezone(timezone.utc)
    resp = answer(api, n, ext["id"], "supervisor_city", approve=True, note="同意")
    assert resp.status_code == 200, resp.json
    assert parse(resp.json["resolution_due_at"]) == local(2026, 3, 9, 18, 0)


def test_a_stale_claim_cannot_escalate_the_same_step_twice(api, clock):
    """A second worker that read the request before the first one's change finds the step taken."""
    from ticketing.extensions import db
    from ticketing.models import Extension, OrgUnit, TicketEvent

    n = reported(api)
    ext = asked(api, n)
    at = local(2026, 3, 3, 10, 0)
    assert escalate(at) == 1
    # Put the request back as the second worker saw it: with the district, overdue.
    row = db.session.get(Extension, ext["id"])
    row.decider_unit_id = db.session.scalar(select(OrgUnit.id).where(OrgUnit.code == "330103"))
    row.escalation_level = 0
    row.decide_by = local(2026, 3, 2, 18, 0)
    db.session.flush()
    events = db.session.scalar(select(func.count()).select_from(TicketEvent))
    assert escalate(at) == 0
    assert db.session.scalar(select(func.count()).select_from(TicketEvent)) == events
    db.session.refresh(row)
    assert row.escalation_level == 0  # the extension changes only when its event was new


def test_a_request_at_the_top_stays_pending(api, clock):
    from ticketing.extensions import db
    from ticketing.models import Extension

    n = reported(api)
    ext = asked(api, n)
    assert escalate(local(2026, 3, 3, 10, 0)) == 1
    assert escalate(local(2026, 3, 10, 10, 0)) == 0  # long past the city's decide_by: nobody above
    row = db.session.get(Extension, ext["id"])
    assert (row.state.value, row.escalation_level) == ("pending", 1)
    assert [e.action.value for e in trail(n)].count("escalate") == 1


def test_requests_of_tickets_no_longer_worked_on_are_not_chased(api, clock):
    n = reported(api)
    asked(api, n)
    resp = api.post(f"/api/v1/tickets/{n}/invalid", "supervisor_district", json={"reason": "非公共事务"})
    assert resp.status_code == 200, resp.json
    assert escalate(local(2026, 3, 3, 10, 0)) == 0


def test_a_district_department_asks_the_city_which_has_nobody_above(api, clock):
    from ticketing.extensions import db
    from ticketing.models import Extension

    resp = api.report(category="environment.fumes", description="餐馆油烟")
    assert resp.status_code == 201, resp.json
    n = resp.json["number"]
    assert resp.json["handling_unit"]["code"] == "330103-ZF"
    ext = asked(api, n, as_="handler_enforcement")
    # The bureau belongs to the district's own level: the level above it is the city.
    assert ext["decider"] == "330100"
    error(answer(api, n, ext["id"], "supervisor_district", approve=True), 403, "not_the_decider")
    assert escalate(local(2026, 3, 10, 10, 0)) == 0
    assert db.session.get(Extension, ext["id"]).state.value == "pending"
    assert answer(api, n, ext["id"], "supervisor_city", approve=False, note="请按期办结").status_code == 200



def test_a_pending_request_lapses_when_the_work_order_is_resolved(api):
    """A request left unanswered does not block, or move, the next round's deadline."""
    from tests.conftest import jpeg

    n = api.report().json["number"]
    api.post(f"/api/v1/tickets/{n}/accept", "handler_tianshui", json={"note": "收到"})
    r = api.post(f"/api/v1/tickets/{n}/extension", "handler_tianshui", json={"days": 2, "reason": "需要采购材料"})
    assert r.status_code == 200, r.json
    api.post(f"/api/v1/tickets/{n}/resolve", "handler_tianshui", data={"note": "已办", "outcome": "solved"},
             photos=[jpeg()])
    t = api.get(f"/api/v1/tickets/{n}", "deputy_wang").json
    assert [e["state"] for e in t["extensions"]] == ["refused"]
    api.post(f"/api/v1/tickets/{n}/rate", "deputy_wang", json={"score": "unsatisfied"})
    api.post(f"/api/v1/tickets/{n}/accept", "handler_tianshui", json={"note": "二次办理"})
    r = api.post(f"/api/v1/tickets/{n}/extension", "handler_tianshui", json={"days": 1, "reason": "仍需时间"})
    assert r.status_code == 200, r.json
