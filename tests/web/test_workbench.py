"""The handler's workbench: the queue (order, filters, pages), the ticket page and its action forms."""

from __future__ import annotations

import io
import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import flask_babel
import pytest
from sqlalchemy import func, select

from tests.conftest import NOW, TIANSHUI, jpeg
from ticketing.demo import DEMO_PASSWORD
from ticketing.extensions import db
from ticketing.models import Extension, Ticket, TicketEvent
from ticketing.web.workbench import forms
from ticketing.web.workbench import queue as reads
from ticketing.workflow import Action, State

SH = ZoneInfo("Asia/Shanghai")


def _sign_in(client, username: str) -> None:
    client.post("/logout")
    resp = client.post("/login", data={"username": username, "password": DEMO_PASSWORD})
    assert resp.status_code == 302


def _report(api, **fields) -> str:
    resp = api.report(**fields)
    assert resp.status_code == 201, resp.json
    return resp.json["number"]


def _accept(api, number: str, as_: str = "handler_tianshui") -> None:
    resp = api.post(f"/api/v1/tickets/{number}/accept", as_, json={"note": "收到"})
    assert resp.status_code == 200, resp.json


def _ticket(number: str) -> Ticket:
    db.session.expire_all()
    return db.session.scalar(select(Ticket).where(Ticket.number == number))


def _events(number: str) -> list[TicketEvent]:
    return list(_ticket(number).events)


def _queue_numbers(body: str) -> list[str]:
    return re.findall(r'<tr class="[^"]*" data-number="([^"]+)"', body)


def _row(body: str, number: str) -> str:
    match = re.search(rf'<tr class="[^"]*" data-number="{re.escape(number)}">(.*?)</tr>', body, re.S)
    assert match, number
    return match.group(0)


def _photo(name: str = "p.jpg") -> tuple[io.BytesIO, str]:
    return io.BytesIO(jpeg()), name


@pytest.fixture
def world(api, clock):
    """Five tickets of 天水街道 at known distances from their deadlines, as of NOW (Mon 09:00).

    a: accepted on 10 Feb, resolution long past (overdue); b: dispatched Fri 27 Feb, response
    due that day (overdue); c: a fire hazard reported now, response due in one hour (due soon);
    d: litter reported now, response due at 14:00 (four office hours, lunch excluded); e: litter reported and accepted now.
    """
    clock.set(datetime(2026, 2, 10, 9, 0, tzinfo=SH))
    a = _report(api, description="旧的垃圾堆")
    _accept(api, a)
    clock.set(datetime(2026, 2, 27, 9, 0, tzinfo=SH))
    b = _report(api, description="上周五的垃圾")
    clock.set(NOW)
    c = _report(api, category="safety.fire", description="楼道堆放杂物")
    d = _report(api, description="路边垃圾")
    e = _report(api, description="垃圾桶满溢")
    _accept(api, e)
    return {"a": a, "b": b, "c": c, "d": d, "e": e}


# ---------------------------------------------------------------------------- the queue


def test_queue_lists_overdue_first_then_the_nearest_deadline(client, world):
    _sign_in(client, "handler_tianshui")
    resp = client.get("/workbench/")
    body = resp.get_data(as_text=True)
    assert resp.status_code == 200
    w = world
    assert _queue_numbers(body) == [w["a"], w["b"], w["c"], w["d"], w["e"]]
    # Overdue rows carry a text badge (not colour only); the one due within the hour is marked.
    for key in ("a", "b"):
        assert "超期" in _row(body, w[key]) and "is-overdue" in _row(body, w[key])
    assert "即将到期" in _row(body, w["c"]) and "超期" not in _row(body, w["c"])
    assert "超期" not in _row(body, w["d"]) and "即将到期" not in _row(body, w["d"])
    assert "2 件超期" in body


def test_the_clock_moves_tickets_into_the_overdue_group(client, world, clock):
    _sign_in(client, "handler_tianshui")
    clock.set(datetime(2026, 3, 2, 14, 30, tzinfo=SH))  # c (10:00) and d (14:00) missed their response
    body = client.get("/workbench/").get_data(as_text=True)
    w = world
    assert _queue_numbers(body) == [w["a"], w["b"], w["c"], w["d"], w["e"]]
    assert "超期" in _row(body, w["d"])
    assert "4 件超期" in body


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("state=accepted", ["a", "e"]),
        ("overdue=1", ["a", "b"]),
        ("mine=1", ["a", "e"]),
        ("category=safety", ["c"]),
        ("state=dispatched&category=city", ["b", "d"]),
    ],
)
def test_queue_filters(client, world, query, expected):
    _sign_in(client, "handler_tianshui")
    body = client.get(f"/workbench/?{query}").get_data(as_text=True)
    assert _queue_numbers(body) == [world[k] for k in expected]


def test_queue_searches_by_number_and_can_show_closed_tickets(client, api, world):
    _sign_in(client, "handler_tianshui")
    number = world["d"]
    body = client.get(f"/workbench/?q={number[-4:]}").get_data(as_text=True)
    assert _queue_numbers(body) == [number]
    assert api.post(f"/api/v1/tickets/{number}/withdraw", "deputy_wang", json={}).status_code == 200
    assert number not in _queue_numbers(client.get("/workbench/").get_data(as_text=True))
    assert number in _queue_numbers(client.get("/workbench/?state=all").get_data(as_text=True))
    assert number in _queue_numbers(client.get("/workbench/?state=closed").get_data(as_text=True))
    # Nonsense filters fall back to the defaults rather than failing.
    assert client.get("/workbench/?state=nope&page=x&category=zzz").status_code == 200


def test_queue_pages(client, world, monkeypatch):
    monkeypatch.setattr(reads, "PAGE_SIZE", 2)
    _sign_in(client, "handler_tianshui")
    first = client.get("/workbench/").get_data(as_text=True)
    assert _queue_numbers(first) == [world["a"], world["b"]]
    assert "第 1 / 3 页" in first and "page=2" in first
    second = client.get("/workbench/?page=2&overdue=").get_data(as_text=True)
    assert _queue_numbers(second) == [world["c"], world["d"]]
    assert "overdue=&amp;page=3" in second or "page=3&amp;overdue=" in second  # filters kept in the links
    assert _queue_numbers(client.get("/workbench/?page=99").get_data(as_text=True)) == [world["e"]]


def test_another_units_ticket_is_not_found(client, api):
    number = _report(api)
    _sign_in(client, "handler_wulin")
    assert number not in client.get("/workbench/").get_data(as_text=True)
    assert client.get(f"/workbench/tickets/{number}").status_code == 404
    assert client.post(f"/workbench/tickets/{number}/accept", data={"note": "抢单"}).status_code == 404
    assert client.get("/workbench/tickets/no-such").status_code == 404
    assert _ticket(number).state == State.DISPATCHED


def test_only_handlers_get_in(client):
    assert client.get("/workbench/").status_code == 302  # anonymous: to the sign-in page
    _sign_in(client, "deputy_wang")
    assert client.get("/workbench/").status_code == 403
    assert "/workbench/" not in client.get("/").get_data(as_text=True)
    _sign_in(client, "handler_tianshui")
    home = client.get("/").get_data(as_text=True)
    assert 'href="/workbench/"' in home and "工作台" in home


# ---------------------------------------------------------------------------- the ticket page


def test_ticket_page_shows_photos_map_trail_and_the_forms_the_state_allows(client, api):
    number = _report(api, description="井盖缺失", address="体育场路 1 号")
    _sign_in(client, "handler_tianshui")
    body = client.get(f"/workbench/tickets/{number}").get_data(as_text=True)
    assert "井盖缺失" in body and "体育场路 1 号" in body
    t = _ticket(number)
    assert f"/api/v1/photos/{t.photos[0].id}/thumb" in body  # the reporter's photo, through the photo endpoint
    assert 'id="ticket-map"' in body and "leaflet.js" in body and '"current": true' in body
    assert "上报" in body  # the trail's first event
    offered = set(re.findall(r'id="form-([a-z]+)"', body))
    assert offered == {"accept", "return", "assign", "cohandle", "extension"}

    _accept(api, number)
    offered = set(re.findall(r'id="form-([a-z]+)"', client.get(f"/workbench/tickets/{number}").get_data(as_text=True)))
    assert offered == {"progress", "resolve", "return", "assign", "cohandle", "extension"}

    client.post(f"/workbench/tickets/{number}/resolve",
                data={"outcome": "solved", "note": "已清理", "photos": [_photo()]}, content_type="multipart/form-data")
    body = client.get(f"/workbench/tickets/{number}").get_data(as_text=True)
    assert not re.findall(r'id="form-([a-z]+)"', body)
    assert 'id="no-actions"' in body


def test_nearby_history_lists_earlier_tickets_at_the_spot(client, api, clock):
    clock.set(NOW - timedelta(days=20))
    old = _report(api, description="上个月的同一处")
    clock.set(NOW - timedelta(days=10))
    far = _report(api, lon=TIANSHUI[0] + 0.01, description="一公里外")  # ~960 m east
    clock.set(NOW)
    current = _report(api, category="facilities.lights", description="路灯不亮")
    later = _report(api, description="之后的一件")
    _sign_in(client, "handler_tianshui")
    body = client.get(f"/workbench/tickets/{current}").get_data(as_text=True)
    nearby = re.search(r'<ul class="wb-nearby" id="nearby">(.*?)</ul>', body, re.S).group(1)
    assert old in nearby and "0 米" in nearby
    assert far not in nearby and later not in nearby and current not in nearby
    # The oldest ticket has no history before it.
    assert 'id="nearby-empty"' in client.get(f"/workbench/tickets/{old}").get_data(as_text=True)


def test_user_text_is_escaped(client, api):
    number = _report(api, description="<script>alert('x')</script>", title="<b>标题</b>")
    api.post(f"/api/v1/tickets/{number}/accept", "handler_tianshui", json={"note": "<img src=x onerror=alert(1)>"})
    _sign_in(client, "handler_tianshui")
    for path in ("/workbench/", f"/workbench/tickets/{number}"):
        body = client.get(path).get_data(as_text=True)
        assert "<script>alert" not in body and "<b>标题</b>" not in body and "<img src=x" not in body
    body = client.get(f"/workbench/tickets/{number}").get_data(as_text=True)
    assert "&lt;script&gt;" in body and "&lt;img src=x onerror=alert(1)&gt;" in body


def test_chinese_by_default_english_on_request(client, api):
    number = _report(api)
    _sign_in(client, "handler_tianshui")
    zh = client.get(f"/workbench/tickets/{number}").get_data(as_text=True)
    assert "受理" in zh and "退单" in zh and "办理轨迹" in zh and "已派单" in zh
    flask_babel.refresh()  # the test's app context outlives each request, and with it Babel's cached locale
    en = client.get(f"/workbench/tickets/{number}?lang=en").get_data(as_text=True)
    assert "Accept" in en and "Trail" in en and "Dispatched" in en and "办理轨迹" not in en
    assert "Workbench" in client.get("/workbench/?lang=en").get_data(as_text=True)


# ---------------------------------------------------------------------------- the action forms


def test_accept_form(client, api):
    number = _report(api)
    _sign_in(client, "handler_tianshui")
    resp = client.post(f"/workbench/tickets/{number}/accept", data={"note": "今天下午到现场"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/workbench/tickets/{number}")
    t = _ticket(number)
    assert t.state == State.ACCEPTED
    assert (t.events[-1].action, t.events[-1].note) == (Action.ACCEPT, "今天下午到现场")
    assert "已受理" in client.get(resp.headers["Location"]).get_data(as_text=True)


def test_return_form_with_a_reason(client, api):
    number = _report(api)
    _sign_in(client, "handler_tianshui")
    resp = client.post(f"/workbench/tickets/{number}/return", data={"reason": "不属于本街道辖区"})
    assert resp.status_code == 302
    t = _ticket(number)
    assert t.state == State.RETURNED and t.events[-1].action == Action.RETURN
    assert t.events[-1].note == "不属于本街道辖区"


def test_return_without_a_reason_is_refused_and_writes_nothing(client, api):
    number = _report(api)
    before = len(_events(number))
    _sign_in(client, "handler_tianshui")
    resp = client.post(f"/workbench/tickets/{number}/return", data={"reason": "  "})
    body = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert 'class="flash error"' in body and "退单须填写原因" in body
    assert re.search(r'<details class="wb-action" id="form-return" open>', body)  # the form stays open
    assert _ticket(number).state == State.DISPATCHED and len(_events(number)) == before


def test_assign_form_gives_it_to_a_colleague(client, api):
    number = _report(api)
    _sign_in(client, "handler_tianshui")
    body = client.get(f"/workbench/tickets/{number}").get_data(as_text=True)
    assert 'value="handler_tianshui2"' in body and 'value="handler_wulin"' not in body  # colleagues only
    assert client.post(f"/workbench/tickets/{number}/assign",
                       data={"assignee": "handler_tianshui2", "note": "请陈跟进"}).status_code == 302
    t = _ticket(number)
    assert t.assignee.username == "handler_tianshui2" and t.events[-1].action == Action.ASSIGN
    assert "天水街道 陈" in client.get(f"/workbench/tickets/{number}").get_data(as_text=True)
    refused = client.post(f"/workbench/tickets/{number}/assign", data={"assignee": "handler_wulin"})
    assert refused.status_code == 422 and _ticket(number).assignee.username == "handler_tianshui2"


def test_progress_form_with_photos(client, api):
    number = _report(api)
    _accept(api, number)
    _sign_in(client, "handler_tianshui")
    resp = client.post(f"/workbench/tickets/{number}/progress",
                       data={"note": "已联系环卫", "photos": [_photo("1.jpg"), _photo("2.jpg")]},
                       content_type="multipart/form-data")
    assert resp.status_code == 302
    t = _ticket(number)
    assert t.state == State.ACCEPTED
    assert t.events[-1].action == Action.PROGRESS and len(t.events[-1].photos) == 2


def test_resolve_form_with_an_outcome_and_a_photo(client, api):
    number = _report(api)
    _accept(api, number)
    _sign_in(client, "handler_tianshui")
    resp = client.post(f"/workbench/tickets/{number}/resolve",
                       data={"outcome": "explained", "note": "属私人地块，已告知业主", "photos": [_photo()]},
                       content_type="multipart/form-data")
    assert resp.status_code == 302
    t = _ticket(number)
    assert t.state == State.RESOLVED and t.outcome.value == "explained"
    assert t.events[-1].action == Action.RESOLVE and len(t.events[-1].photos) == 1
    assert "已解释说明" in client.get(f"/workbench/tickets/{number}").get_data(as_text=True)


def test_resolve_without_a_photo_is_refused(client, api):
    number = _report(api)
    _accept(api, number)
    before = len(_events(number))
    _sign_in(client, "handler_tianshui")
    resp = client.post(f"/workbench/tickets/{number}/resolve", data={"outcome": "solved", "note": "好了"},
                       content_type="multipart/form-data")
    body = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "办结须至少上传一张照片" in body
    assert "好了</textarea>" in body  # what was typed is kept
    assert _ticket(number).state == State.ACCEPTED and len(_events(number)) == before


def test_cohandle_form_puts_it_in_the_other_units_queue(client, api):
    number = _report(api)
    _accept(api, number)
    _sign_in(client, "handler_tianshui")
    assert client.post(f"/workbench/tickets/{number}/cohandle",
                       data={"units": ["330105013", "330103-ZF"], "note": "需执法配合"}).status_code == 302
    t = _ticket(number)
    assert sorted(c.unit.code for c in t.co_handlers) == ["330103-ZF", "330105013"]
    assert t.events[-1].action == Action.COHANDLE
    assert "武林街道" in client.get(f"/workbench/tickets/{number}").get_data(as_text=True)

    _sign_in(client, "handler_wulin")
    queue = client.get("/workbench/").get_data(as_text=True)
    assert number in _queue_numbers(queue) and "协办" in _row(queue, number)
    page = client.get(f"/workbench/tickets/{number}").get_data(as_text=True)
    # A co-handling unit records progress; accepting, resolving and returning stay with the lead unit.
    assert set(re.findall(r'id="form-([a-z]+)"', page)) == {"progress"}
    assert client.post(f"/workbench/tickets/{number}/resolve",
                       data={"outcome": "solved", "note": "x", "photos": [_photo()]},
                       content_type="multipart/form-data").status_code == 403
    assert _ticket(number).state == State.ACCEPTED


def test_extension_form_asks_for_the_working_days_up_to_the_date(client, api):
    number = _report(api)
    _accept(api, number)
    t = _ticket(number)
    due = t.resolution_due_at.astimezone(SH).date()  # Thursday 5 March
    _sign_in(client, "handler_tianshui")
    wanted = due + timedelta(days=4)  # Monday 9 March: Friday and Monday are two working days
    resp = client.post(f"/workbench/tickets/{number}/extension",
                       data={"until": wanted.isoformat(), "reason": "需协调物业"})
    assert resp.status_code == 302
    ext = db.session.scalar(select(Extension).where(Extension.ticket_id == t.id))
    assert ext.days == 2 and ext.reason == "需协调物业"
    assert _events(number)[-1].action == Action.EXTENSION_REQUEST
    body = client.get(f"/workbench/tickets/{number}").get_data(as_text=True)
    assert 'id="form-extension"' not in body and "等待答复" in body  # one pending request at a time


def test_extension_date_that_adds_no_working_day_is_refused(client, api):
    number = _report(api)
    _sign_in(client, "handler_tianshui")
    due = _ticket(number).resolution_due_at.astimezone(SH).date()
    for until in (due.isoformat(), "not-a-date", ""):
        resp = client.post(f"/workbench/tickets/{number}/extension", data={"until": until, "reason": "忙"})
        assert resp.status_code == 422
    assert db.session.scalar(select(func.count()).select_from(Extension)) == 0
    assert _events(number)[-1].action == Action.REPORT


def test_extension_days_count_working_days_only(ctx):
    from ticketing.worktime import calendar_for

    cal = calendar_for(db.session, NOW, (("09:00", "12:00"), ("13:00", "18:00")), "Asia/Shanghai")
    friday_evening = datetime(2026, 3, 6, 18, 0, tzinfo=SH)
    assert forms.extension_days(cal, friday_evening, NOW, date(2026, 3, 9)) == 1  # Monday
    assert forms.extension_days(cal, friday_evening, NOW, date(2026, 3, 8)) == 0  # Sunday adds nothing
    assert forms.extension_days(cal, friday_evening, NOW, date(2026, 3, 13)) == 5
    # 2026's Labour Day: 1–5 May off, Saturday 9 May worked (调休).
    assert forms.extension_days(cal, datetime(2026, 4, 30, 18, 0, tzinfo=SH), NOW, date(2026, 5, 9)) == 4  # 6, 7, 8 and 9 May
    assert forms.extension_days(cal, friday_evening, NOW, date(2099, 1, 1)) > 30  # stops counting early


def test_forms_need_the_csrf_token(client, api, csrf_on):
    number = _report(api)
    login_page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', login_page).group(1)
    client.post("/login", data={"username": "handler_tianshui", "password": DEMO_PASSWORD, "csrf_token": token})
    page = client.get(f"/workbench/tickets/{number}").get_data(as_text=True)
    token = re.search(r'id="form-accept".*?name="csrf_token" value="([^"]+)"', page, re.S).group(1)
    assert client.post(f"/workbench/tickets/{number}/accept", data={"note": "x"}).status_code == 400
    assert client.post(f"/workbench/tickets/{number}/accept",
                       data={"note": "x", "csrf_token": "forged"}).status_code == 400
    assert _ticket(number).state == State.DISPATCHED
    assert client.post(f"/workbench/tickets/{number}/accept",
                       data={"note": "x", "csrf_token": token}).status_code == 302
    assert _ticket(number).state == State.ACCEPTED
