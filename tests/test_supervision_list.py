"""The supervision list (挂牌督办, issue 5 item 3): items, removal, weekly progress, the formal export.

Tickets are reported at real 下城区 points through the API; clusters come from the
repeated-complaint detection (tests/test_repeats.py has the points and their distances).
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from tests.conftest import NOW, jpeg
from tests.test_repeats import E155, E159, E171, E172, candidates, detect, report, ticket, user

CST = ZoneInfo("Asia/Shanghai")
ITEMS = "/api/v1/supervision/items"
GOOD = {"reason": "群众反映强烈，久拖未决", "leader": "区城管局 李局长", "review_on": "2026-03-16"}


def cst(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=CST)


def list_ticket(api: Any, number: str, as_: str = "supervisor_district", **overrides: Any) -> Any:
    return api.post(ITEMS, as_, json={"ticket": number, **GOOD, **overrides})


def listed(api: Any, number: str, as_: str = "supervisor_district") -> dict[str, Any]:
    resp = list_ticket(api, number, as_)
    assert resp.status_code == 201, resp.json
    return resp.json  # type: ignore[no-any-return]


def cluster(ctx: Any, api: Any) -> tuple[Any, list[str]]:
    numbers = [report(api, p) for p in (E159, E172, E171)]
    detect(ctx)
    [c] = candidates()
    return c, numbers


def supervise_events(number: str) -> list[Any]:
    from ticketing.extensions import db
    from ticketing.models import TicketEvent

    return list(db.session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket(number).id, TicketEvent.action == "supervise")
        .order_by(TicketEvent.id)
    ))


def counts() -> dict[str, int]:
    """Rows that a refused request must leave untouched."""
    from ticketing.extensions import db
    from ticketing.models import Notification, SupervisionItem, Ticket, TicketEvent

    def n(model: Any, *where: Any) -> int:
        return db.session.scalar(select(func.count()).select_from(model).where(*where))  # type: ignore[return-value]

    return {
        "items": n(SupervisionItem),
        "supervise_events": n(TicketEvent, TicketEvent.action == "supervise"),
        "notifications": n(Notification),
        "supervised": n(Ticket, Ticket.supervised.is_(True)),
    }


@pytest.fixture
def other_district(ctx: Any) -> str:
    """上城区 beside 下城区, with a supervisor of its own: supervisor_shangcheng."""
    from ticketing.demo import DEMO_PASSWORD
    from ticketing.services import auth, org

    org.add_unit(code="330102", name="上城区", name_en="Shangcheng District", kind="district", parent_code="330100")
    auth.create_user(username="supervisor_shangcheng", password=DEMO_PASSWORD, display_name="上城区人大 督办",
                     role="supervisor", unit_code="330102", now=NOW)
    return "supervisor_shangcheng"


# ---------------------------------------------------------------------------- listing a ticket


def test_listing_a_ticket_flags_it_and_writes_a_supervise_event_that_notifies(ctx, api, clock):
    from ticketing.extensions import db
    from ticketing.models import Notification, SupervisionItem

    number = report(api, E159)
    resp = list_ticket(api, number)
    assert resp.status_code == 201, resp.json
    body = resp.json
    assert resp.headers["Location"].endswith(f"{ITEMS}/{body['id']}")
    assert body["subject"] == "ticket" and body["unit"]["code"] == "330103" and body["active"] is True
    assert body["ticket"]["number"] == number and body["ticket"]["supervised"] is True
    assert (body["reason"], body["leader"], body["review_on"]) == (GOOD["reason"], GOOD["leader"], "2026-03-16")
    assert body["listed_by"] == "supervisor_district" and body["removed_at"] is None

    item = db.session.get(SupervisionItem, body["id"])
    t = ticket(number)
    assert (item.ticket_id, item.candidate_id, item.listed_at) == (t.id, None, NOW)
    assert item.unit_id == user("supervisor_district").unit_id
    assert t.supervised is True
    [event] = supervise_events(number)
    assert event.actor_id == user("supervisor_district").id and event.note == GOOD["reason"]
    assert event.from_state == event.to_state == t.state
    assert event.data == {"item_id": item.id, "listed": True, "reason": GOOD["reason"], "leader": GOOD["leader"],
                          "review_on": "2026-03-16", "unit": "330103", "source": "supervision_list"}
    # The existing rule for `supervise`: the handling unit's handlers and its watching supervisors.
    told = {n.user_id: n.subject for n in db.session.scalars(
        select(Notification).where(Notification.event_id == event.id))}
    assert set(told) == {user(u).id for u in ("handler_tianshui", "handler_tianshui2", "supervisor_tianshui")}
    assert all(s == f"工单 {number} 列入挂牌督办" for s in told.values())
    trail = api.get(f"/api/v1/tickets/{number}", "deputy_wang").json["events"]
    assert trail[-1]["action"] == "supervise" and trail[-1]["data"]["listed"] is True


def test_a_ticket_may_be_given_by_id_and_an_admin_without_unit_lists_for_the_city(ctx, api, clock):
    number = report(api, E159)
    body = listed(api, str(ticket(number).id), "admin")
    assert body["ticket"]["number"] == number and body["unit"]["code"] == "330100"
    assert listed(api, report(api, E172), "supervisor_city")["unit"]["code"] == "330100"


def test_a_ticket_already_on_the_list_is_409_and_can_be_listed_again_after_removal(ctx, api, clock):
    number = report(api, E159)
    first = listed(api, number)
    before = counts()
    again = list_ticket(api, number, "supervisor_city")
    assert again.status_code == 409
    assert again.json["error"]["code"] == "already_listed"
    assert again.json["error"]["details"] == {"item_id": first["id"], "unit": "330103"}
    assert counts() == before
    assert api.post(f"{ITEMS}/{first['id']}/remove", "supervisor_district", json={"note": "已解决"}).status_code == 200
    assert listed(api, number)["id"] != first["id"]


@pytest.mark.parametrize("end", ["invalid", "withdrawn", "duplicate"])
def test_an_ended_ticket_cannot_be_listed(ctx, api, clock, end):
    from ticketing.services import tickets as svc

    number = report(api, E159)
    t = ticket(number)
    if end == "invalid":
        svc.mark_invalid(t, user("supervisor_district"), NOW, reason="不属实")
    elif end == "withdrawn":
        svc.withdraw(t, user("deputy_wang"), NOW, note="拍错了")
    else:
        svc.mark_duplicate(t, user("supervisor_district"), NOW, original_number=report(api, E172))
    before = counts()
    resp = list_ticket(api, number)
    assert resp.status_code == 409
    assert resp.json["error"]["code"] == "ticket_ended"
    assert resp.json["error"]["details"]["state"] == {"withdrawn": "closed"}.get(end, end)
    assert counts() == before


def test_a_retried_listing_with_the_same_idempotency_key_lists_once(ctx, api, clock):
    number = report(api, E159)
    body = {"ticket": number, **GOOD}
    headers = {"Idempotency-Key": "list-once"}
    first = api.post(ITEMS, "supervisor_district", json=body, headers=headers)
    second = api.post(ITEMS, "supervisor_district", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true" and second.json["id"] == first.json["id"]
    assert counts()["items"] == 1 and len(supervise_events(number)) == 1


# ---------------------------------------------------------------------------- bad input


DROP = "<absent>"


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"reason": "   "}, 422, "reason_required"),
        ({"reason": DROP}, 422, "reason_required"),
        ({"reason": None}, 422, "validation_failed"),
        ({"leader": ""}, 422, "leader_required"),
        ({"leader": "李" * 101}, 422, "validation_failed"),
        ({"review_on": DROP}, 422, "review_on_required"),
        ({"review_on": "2026-03-01"}, 422, "review_on_past"),
        ({"review_on": "2026-02-30"}, 422, "validation_failed"),
        ({"ticket": "2026-999999"}, 404, "ticket_not_found"),
        ({"ticket": DROP}, 422, "one_subject_required"),
        ({"candidate_id": 1}, 422, "one_subject_required"),
        ({"candidate_id": "1"}, 422, "validation_failed"),
        ({"candidate_id": 2**31}, 422, "validation_failed"),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(ctx, api, clock, change, status, code):
    number = report(api, E159)
    before = counts()
    body = {k: v for k, v in {"ticket": number, **GOOD, **change}.items() if v != DROP}
    resp = api.post(ITEMS, "supervisor_district", json=body)
    assert resp.status_code == status, resp.json
    assert resp.json["error"]["code"] == code
    assert counts() == before
    assert ticket(number).supervised is False


def test_the_review_date_is_checked_against_the_local_date(ctx, api, clock):
    number = report(api, E159)
    # 2 March 17:00 UTC is already 3 March in Shanghai: 2 March is in the past there.
    clock.set(datetime(2026, 3, 2, 17, 0, tzinfo=timezone.utc))
    assert list_ticket(api, number, review_on="2026-03-02").json["error"]["code"] == "review_on_past"
    today = list_ticket(api, number, review_on="2026-03-03")
    assert today.status_code == 201  # today is fine, and the review is due
    assert today.json["review_due"] is True
    assert listed(api, report(api, E172))["review_due"] is False  # GOOD reviews on 16 March


def test_reason_and_leader_are_trimmed(ctx, api, clock):
    body = list_ticket(api, report(api, E159), reason="  久拖未决 \n", leader=" 李局长 ").json
    assert (body["reason"], body["leader"]) == ("久拖未决", "李局长")


# ---------------------------------------------------------------------------- who may


def test_who_may_list_a_ticket(ctx, api, clock, other_district):
    number = report(api, E159)  # 天水街道
    before = counts()
    expected = {
        other_district: (404, "ticket_not_found"),  # another district's supervisor does not see it
        "handler_wulin": (404, "ticket_not_found"),  # another street's handler neither
        "handler_tianshui": (403, "supervisors_only"),  # its own handler sees it, may not list it
        "deputy_wang": (403, "supervisors_only"),  # its reporter neither
        "supervisor_tianshui": (403, "district_or_city_only"),  # a street keeps no list
    }
    for who, (status, code) in expected.items():
        resp = list_ticket(api, number, who)
        assert (resp.status_code, resp.json["error"]["code"]) == (status, code), who
    # Visibility comes first: an invisible ticket is 404 even with bad input.
    assert list_ticket(api, number, other_district, reason="").status_code == 404
    assert list_ticket(api, number, "handler_tianshui", reason="").status_code == 403
    assert api.post(ITEMS, None, json={"ticket": number, **GOOD}).status_code == 401
    assert counts() == before


def test_items_are_seen_by_their_unit_and_the_levels_above(ctx, api, clock, other_district):
    item = listed(api, report(api, E159))
    url = f"{ITEMS}/{item['id']}"
    for who in ("supervisor_district", "supervisor_city", "admin"):
        assert [i["id"] for i in api.get(ITEMS, who).json["items"]] == [item["id"]], who
        assert api.get(url, who).status_code == 200, who
    for who in (other_district, "supervisor_tianshui"):
        assert api.get(ITEMS, who).json["items"] == []
        assert api.get(url, who).status_code == 404
        assert api.post(f"{url}/remove", who, json={"note": "x"}).status_code == 404
    for who in ("handler_tianshui", "deputy_wang"):
        assert api.get(ITEMS, who).json["error"]["code"] == "supervisors_only"
        assert api.get(url, who).status_code == 403
        assert api.post(f"{url}/remove", who, json={"note": "x"}).status_code == 403
    assert api.get(f"{ITEMS}/999999", "supervisor_district").json["error"]["code"] == "item_not_found"
    assert api.get(f"{ITEMS}/99999999999", "supervisor_district").status_code == 404
    # The unit filter: a list within the caller's area, else 404.
    assert [i["id"] for i in api.get(f"{ITEMS}?unit=330103", "supervisor_city").json["items"]] == [item["id"]]
    assert api.get(f"{ITEMS}?unit=330100", "supervisor_district").json["error"]["code"] == "unit_not_found"
    assert api.get(f"{ITEMS}?unit=nope", "supervisor_district").status_code == 404
    assert api.get(f"{ITEMS}?unit=330102", "supervisor_city").json["items"] == []


# ---------------------------------------------------------------------------- listing a cluster


def test_listing_a_cluster_lists_the_candidate_and_supervises_every_member(ctx, api, clock):
    from ticketing.extensions import db
    from ticketing.models import SupervisionItem

    c, numbers = cluster(ctx, api)
    resp = api.post(ITEMS, "supervisor_district", json={"candidate_id": c.id, **GOOD})
    assert resp.status_code == 201, resp.json
    body = resp.json
    assert body["subject"] == "cluster" and body["ticket"] is None
    assert body["candidate"]["id"] == c.id and body["candidate"]["state"] == "listed"
    assert body["candidate"]["category"] == "city.litter" and body["candidate"]["district"]["code"] == "330103"
    assert [t["number"] for t in body["tickets"]] == numbers
    item = db.session.get(SupervisionItem, body["id"])
    assert (item.candidate_id, item.ticket_id) == (c.id, None)
    assert candidates()[0].state.value == "listed"
    for number in numbers:
        assert ticket(number).supervised is True
        [event] = supervise_events(number)
        assert event.note == GOOD["reason"]
        assert event.data["item_id"] == item.id and event.data["candidate_id"] == c.id
        assert event.data["listed"] is True and event.data["leader"] == GOOD["leader"]
    listed_candidates = api.get("/api/v1/supervision/candidates?state=listed", "supervisor_district").json["items"]
    assert [x["item_id"] for x in listed_candidates] == [item.id]

    again = api.post(ITEMS, "supervisor_city", json={"candidate_id": c.id, **GOOD})
    assert (again.status_code, again.json["error"]["code"]) == (409, "candidate_decided")


def test_who_may_list_a_cluster(ctx, api, clock, other_district):
    c, _ = cluster(ctx, api)
    before = counts()
    for who, status in ((other_district, 404), ("supervisor_tianshui", 404), ("handler_tianshui", 403),
                        ("deputy_wang", 403)):
        assert api.post(ITEMS, who, json={"candidate_id": c.id, **GOOD}).status_code == status, who
    assert api.post(ITEMS, "supervisor_district", json={"candidate_id": 999999, **GOOD}).status_code == 404
    bad = api.post(ITEMS, "supervisor_district", json={"candidate_id": c.id, **GOOD, "leader": " "})
    assert (bad.status_code, bad.json["error"]["code"]) == (422, "leader_required")
    assert counts() == before
    assert candidates()[0].state.value == "open"


def test_deciding_listed_needs_a_leader_and_review_date_and_creates_the_item(ctx, api, clock):
    c, numbers = cluster(ctx, api)
    url = f"/api/v1/supervision/candidates/{c.id}/decide"
    before = counts()
    resp = api.post(url, "supervisor_district", json={"listed": True, "note": "列入"})
    assert (resp.status_code, resp.json["error"]["code"]) == (422, "leader_required")
    resp = api.post(url, "supervisor_district", json={"listed": True, "note": "列入", "leader": "李局长"})
    assert (resp.status_code, resp.json["error"]["code"]) == (422, "review_on_required")
    assert counts() == before and candidates()[0].state.value == "open"

    resp = api.post(url, "supervisor_district",
                    json={"listed": True, "reason": "反复投诉", "leader": "李局长", "review_on": "2026-03-09"})
    assert resp.status_code == 200, resp.json
    assert resp.json["state"] == "listed" and resp.json["item_id"] is not None
    item = api.get(f"{ITEMS}/{resp.json['item_id']}", "supervisor_district").json
    assert (item["reason"], item["leader"], item["review_on"]) == ("反复投诉", "李局长", "2026-03-09")
    assert all(ticket(n).supervised for n in numbers)


def test_the_service_refuses_to_list_a_candidate_without_an_item(ctx, api, clock):
    from ticketing.services import repeats

    c, _ = cluster(ctx, api)
    with pytest.raises(ValueError):
        repeats.decide(c.id, user("supervisor_district"), True, NOW)


# ---------------------------------------------------------------------------- removal


def test_removal_writes_an_event_clears_the_flag_and_keeps_the_row(ctx, api, clock):
    from ticketing.extensions import db
    from ticketing.models import Notification

    number = report(api, E159)
    item = listed(api, number)
    url = f"{ITEMS}/{item['id']}/remove"
    clock.advance(days=2)
    before = counts()
    for body, code in (({}, "note_required"), ({"note": "  "}, "note_required")):
        resp = api.post(url, "supervisor_district", json=body)
        assert (resp.status_code, resp.json["error"]["code"]) == (422, code)
    assert counts() == before

    resp = api.post(url, "supervisor_city", json={"note": "问题已解决，同意销号"})
    assert resp.status_code == 200, resp.json
    body = resp.json
    assert body["active"] is False and body["removed_by"] == "supervisor_city"
    assert body["removal_note"] == "问题已解决，同意销号"
    assert datetime.fromisoformat(body["removed_at"]) == NOW + timedelta(days=2)
    assert ticket(number).supervised is False
    listing, removal = supervise_events(number)
    assert removal.note == "问题已解决，同意销号" and removal.at == NOW + timedelta(days=2)
    assert removal.data == {"item_id": item["id"], "listed": False, "unit": "330103", "still_supervised": False,
                            "source": "supervision_list"}
    subjects = {n.subject for n in db.session.scalars(select(Notification).where(Notification.event_id == removal.id))}
    assert subjects == {f"工单 {number} 挂牌督办已销号"}

    again = api.post(url, "supervisor_district", json={"note": "再销一次"})
    assert (again.status_code, again.json["error"]["code"]) == (409, "item_removed")
    assert [i["id"] for i in api.get(f"{ITEMS}?active=false", "supervisor_district").json["items"]] == [item["id"]]
    assert api.get(f"{ITEMS}?active=true", "supervisor_district").json["items"] == []
    assert len(api.get(ITEMS, "supervisor_district").json["items"]) == 1


def test_a_ticket_stays_supervised_while_another_item_covers_it(ctx, api, clock):
    c, numbers = cluster(ctx, api)
    alone = listed(api, numbers[0])
    group = api.post(ITEMS, "supervisor_district", json={"candidate_id": c.id, **GOOD}).json
    assert len(supervise_events(numbers[0])) == 2  # once as itself, once through its cluster

    api.post(f"{ITEMS}/{alone['id']}/remove", "supervisor_district", json={"note": "并入集中督办"})
    assert ticket(numbers[0]).supervised is True
    assert supervise_events(numbers[0])[-1].data["still_supervised"] is True

    api.post(f"{ITEMS}/{group['id']}/remove", "supervisor_district", json={"note": "已整治"})
    assert not any(ticket(n).supervised for n in numbers)
    assert all(supervise_events(n)[-1].data["listed"] is False for n in numbers)
    assert candidates()[0].state.value == "listed"  # a removed cluster is not offered again
    relist = api.post(ITEMS, "supervisor_district", json={"candidate_id": c.id, **GOOD})
    assert (relist.status_code, relist.json["error"]["code"]) == (409, "candidate_decided")


def test_removal_does_not_undo_the_supervision_of_a_second_unsatisfied_rating(ctx, api, clock):
    from ticketing.services import supervision
    from ticketing.services import tickets as svc
    from ticketing.services.photos import Upload

    settings, store = ctx.extensions["ticket_settings"], ctx.extensions["photo_store"]
    number = report(api, E159)
    t = ticket(number)
    handler, deputy = user("handler_tianshui"), user("deputy_wang")
    when = NOW + timedelta(hours=1)
    for _round in (1, 2):
        svc.accept(t, handler, when, note="收到")
        svc.resolve(t, handler, when + timedelta(hours=1), outcome="solved",
                    evidence=svc.Evidence("处理", [Upload("c.jpg", jpeg())]), settings=settings, store=store)
        svc.rate(t, deputy, when + timedelta(hours=2), score="unsatisfied", settings=settings)
        when += timedelta(days=1)
    assert t.supervised is True  # by the rule, not by the list
    item = supervision.add(user("supervisor_district"), ticket_number=number, reason="二次不满意",
                           leader="李局长", review_on=date(2026, 3, 20), now=when, settings=settings)
    supervision.remove(item.id, user("supervisor_district"), "复核完毕", when + timedelta(hours=1))
    assert t.supervised is True
    assert supervise_events(number)[-1].data["still_supervised"] is True


# ---------------------------------------------------------------------------- weekly progress


def test_weekly_progress_on_a_hand_built_trail(ctx, api, clock):
    number = report(api, E159)  # Monday 2 March 09:00, before the listing: not counted
    t = ticket(number)
    clock.set(cst(3, 2, 10))
    item = listed(api, number)
    url = f"{ITEMS}/{item['id']}"
    # The deadlines these answers rest on: response due Monday afternoon, resolution within week 10.
    assert cst(3, 2, 10) < t.response_due_at < cst(3, 3)
    assert cst(3, 3) < t.resolution_due_at < cst(3, 9)

    [w10] = api.get(url, "supervisor_district").json["weeks"]
    assert w10["week"] == "2026-W10" and (w10["start"], w10["end"]) == ("2026-03-02", "2026-03-08")
    assert datetime.fromisoformat(w10["as_of"]) == cst(3, 2, 10)  # now, in the running week
    assert w10["events"] == {"supervise": 1}
    assert w10["states"] == {number: "dispatched"} and w10["overdue"] is False and w10["latest_note"] is None

    clock.set(cst(3, 3, 10))
    assert api.post(f"/api/v1/tickets/{number}/accept", "handler_tianshui", json={"note": "收到"}).status_code == 200
    for day, note in ((4, "已清理一半"), (5, "清运完毕待验收")):
        clock.set(cst(3, day, 10))
        resp = api.post(f"/api/v1/tickets/{number}/progress", "handler_tianshui", data={"note": note},
                        photos=[jpeg((day * 20, 90, 90))])
        assert resp.status_code == 200, resp.json
    clock.set(cst(3, 9, 0))  # Monday 00:00 of week 11 belongs to week 11
    assert api.post(f"/api/v1/tickets/{number}/urge", "supervisor_district", json={}).status_code == 200
    now_item = api.get(url, "supervisor_district").json
    assert now_item["overdue"] is True and now_item["tickets"][0]["overdue"] is True
    clock.set(cst(3, 17, 10))
    resp = api.post(f"/api/v1/tickets/{number}/resolve", "handler_tianshui",
                    data={"note": "已全部清理", "outcome": "solved"}, photos=[jpeg((9, 9, 200))])
    assert resp.status_code == 200, resp.json
    clock.set(cst(3, 18, 10))
    assert api.post(f"{url}/remove", "supervisor_district", json={"note": "已办结，销号"}).status_code == 200
    clock.set(cst(3, 23, 10))  # a week later: the progress ends with the removal week

    weeks = api.get(url, "supervisor_district").json["weeks"]
    assert [w["week"] for w in weeks] == ["2026-W10", "2026-W11", "2026-W12"]
    w10, w11, w12 = weeks
    assert datetime.fromisoformat(w10["as_of"]) == cst(3, 9)
    assert w10["events"] == {"accept": 1, "progress": 2, "supervise": 1}
    assert w10["latest_note"] == "清运完毕待验收" and w10["latest_note_ticket"] == number
    assert datetime.fromisoformat(w10["latest_note_at"]) == cst(3, 5, 10)
    assert w10["states"] == {number: "accepted"} and w10["state_counts"] == {"accepted": 1}
    assert w10["overdue"] is True and w10["overdue_tickets"] == [number]  # resolution due on Thursday

    assert w11["events"] == {"urge": 1} and w11["latest_note"] is None
    assert w11["states"] == {number: "accepted"} and w11["overdue"] is True

    assert datetime.fromisoformat(w12["as_of"]) == cst(3, 18, 10)  # the removal
    assert w12["events"] == {"resolve": 1, "supervise": 1}
    assert w12["latest_note"] == "已全部清理"
    assert w12["states"] == {number: "resolved"} and w12["overdue"] is False


def test_weekly_progress_of_a_cluster_sums_its_members(ctx, api, clock):
    from ticketing.extensions import db
    from ticketing.models import SupervisionItem
    from ticketing.services import supervision

    c, numbers = cluster(ctx, api)
    clock.set(cst(3, 2, 10))
    item_id = api.post(ITEMS, "supervisor_district", json={"candidate_id": c.id, **GOOD}).json["id"]
    clock.set(cst(3, 3, 10))
    api.post(f"/api/v1/tickets/{numbers[1]}/accept", "handler_tianshui", json={"note": "收到"})
    clock.set(cst(3, 4, 10))
    api.post(f"/api/v1/tickets/{numbers[1]}/progress", "handler_tianshui", data={"note": "已联系物业"},
             photos=[jpeg()])

    rows = supervision.progress(db.session.get(SupervisionItem, item_id), cst(3, 10, 12),
                                ctx.extensions["ticket_settings"])
    assert [r.week for r in rows] == ["2026-W10", "2026-W11"]
    assert rows[0].events == {"accept": 1, "progress": 1, "supervise": 3}
    assert (rows[0].latest_note, rows[0].latest_note_ticket) == ("已联系物业", numbers[1])
    assert rows[0].state_counts() == {"dispatched": 2, "accepted": 1}
    # Every member was past a deadline at the end of week 10: two never accepted, one not resolved.
    assert rows[0].overdue_tickets == numbers
    assert rows[1].events == {} and rows[1].as_of == cst(3, 10, 12)


# ---------------------------------------------------------------------------- export


def _export_world(ctx: Any, api: Any, clock: Any) -> tuple[str, list[str]]:
    single = report(api, E155)  # a kilometre from the cluster
    listed(api, single)
    c, numbers = cluster(ctx, api)
    clock.advance(minutes=5)
    api.post(ITEMS, "supervisor_district", json={"candidate_id": c.id, "reason": "同类投诉反复出现",
                                                 "leader": "天水街道 王主任", "review_on": "2026-03-20"})
    return single, numbers


def test_export_xlsx_is_the_formal_list(ctx, api, clock):
    single, numbers = _export_world(ctx, api, clock)
    resp = api.get(f"{ITEMS}/export?format=xlsx", "supervisor_district")
    assert resp.status_code == 200, resp.data[:200]
    assert resp.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    name = quote("下城区重点督办事项清单_20260302.xlsx")
    assert f"filename*=UTF-8''{name}" in resp.headers["Content-Disposition"]

    sheet = load_workbook(io.BytesIO(resp.data)).active
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert values[0][0] == "下城区重点督办事项清单（2026年3月2日）"
    assert values[1][0].startswith("截至 2026-03-02 09:05")
    assert values[2] == ["序号", "事项", "类别", "责任单位", "督办理由", "责任领导", "挂牌日期", "复核日期",
                         "当前状态", "本周进展", "是否超期", "挂牌单位", "销号日期", "销号说明"]
    first, second = values[3], values[4]
    assert len(values) == 5
    assert first[0] == 1 and first[1].startswith(single) and first[2] == "垃圾乱扔"
    assert first[3] == ticket(single).handling_unit.name
    assert first[4:8] == [GOOD["reason"], GOOD["leader"], datetime(2026, 3, 2), datetime(2026, 3, 16)]
    assert first[8:12] == ["待受理", "本周无办理进展", "否", "下城区"]
    assert first[12] is None
    assert second[0] == 2 and second[1] == f"重复投诉：下城区垃圾乱扔 3 件（{'、'.join(numbers)}）"
    assert second[3] == "天水街道" and second[8] == "待受理 3" and second[9] == "本周无办理进展"
    assert second[4:6] == ["同类投诉反复出现", "天水街道 王主任"]


def test_export_csv_has_a_bom_and_chinese_headings_and_follows_the_filters(ctx, api, clock):
    single, numbers = _export_world(ctx, api, clock)
    resp = api.get(f"{ITEMS}/export?format=csv", "supervisor_city")
    assert resp.status_code == 200
    assert resp.mimetype == "text/csv"
    assert resp.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(resp.data.decode("utf-8-sig"))))
    assert rows[0][:4] == ["序号", "事项", "类别", "责任单位"]
    assert [r[0] for r in rows[1:]] == ["1", "2"] and rows[1][1].startswith(single)
    assert quote("杭州市重点督办事项清单_20260302.csv") in resp.headers["Content-Disposition"]

    # Removed items are left out by default and shown with active=false, with their removal.
    item_id = api.get(f"{ITEMS}?active=true", "supervisor_district").json["items"][-1]["id"]
    api.post(f"{ITEMS}/{item_id}/remove", "supervisor_district", json={"note": "已整改"})
    rows = list(csv.reader(io.StringIO(api.get(f"{ITEMS}/export?format=csv", "supervisor_district")
                                       .data.decode("utf-8-sig"))))
    assert len(rows) == 2 and "重复投诉" in rows[1][1]
    rows = list(csv.reader(io.StringIO(api.get(f"{ITEMS}/export?format=csv&active=false", "supervisor_district")
                                       .data.decode("utf-8-sig"))))
    assert len(rows) == 2 and rows[1][1].startswith(single)
    assert rows[1][12:] == ["2026-03-02", "已整改"]

    english = api.get(f"{ITEMS}/export?format=csv&lang=en", "supervisor_district")
    head = next(csv.reader(io.StringIO(english.data.decode("utf-8-sig"))))
    assert head[:3] == ["No.", "Item", "Category"]
    assert "key-supervision-list_330103_20260302.csv" in english.headers["Content-Disposition"]


def test_export_is_refused_to_other_roles_and_bad_formats(ctx, api, clock):
    assert api.get(f"{ITEMS}/export", "handler_tianshui").status_code == 403
    assert api.get(f"{ITEMS}/export?format=pdf", "supervisor_district").status_code == 422
    assert api.get(f"{ITEMS}/export?unit=330100", "supervisor_district").status_code == 404
    empty = api.get(f"{ITEMS}/export", "supervisor_district")
    sheet = load_workbook(io.BytesIO(empty.data)).active
    assert sheet.max_row == 3  # title, note, headings


# ---------------------------------------------------------------------------- the API document


def test_openapi_documents_the_supervision_list(client):
    spec = client.get("/api/v1/openapi.json").json
    paths = spec["paths"]
    assert "post" in paths["/api/v1/supervision/items"] and "get" in paths["/api/v1/supervision/items"]
    assert "get" in paths["/api/v1/supervision/items/{item_id}"]
    assert "post" in paths["/api/v1/supervision/items/{item_id}/remove"]
    export = paths["/api/v1/supervision/items/export"]["get"]
    assert set(export["responses"]["200"]["content"]) >= {
        "text/csv; charset=utf-8", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
    schemas = spec["components"]["schemas"]
    item_in = set(schemas["SupervisionItemIn"]["properties"])
    assert {"reason", "leader", "review_on", "ticket", "candidate_id"} <= item_in
    assert "weeks" in schemas["SupervisionItemDetailOut"]["properties"]
    assert {"week", "events", "latest_note", "states", "overdue"} <= set(schemas["SupervisionWeekOut"]["properties"])
