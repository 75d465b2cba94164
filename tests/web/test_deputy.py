"""The deputy's pages with the plain test client: snap and report (the form that works without
JavaScript), nearby offers and following, my tickets with points and countdowns, the trail, the
rating form. Chinese by default, English on request; user text escaped; deputies only."""

from __future__ import annotations

import io
import re
from typing import Any

from sqlalchemy import func, select

from tests.conftest import NOW, TIANSHUI, jpeg
from tests.photo_files import phone_jpeg
from ticketing.demo import DEMO_PASSWORD
from ticketing.extensions import db
from ticketing.models import Ticket, TicketFollower
from ticketing.workflow import State

EVIL = '<script>alert("x")</script> & <b>bold</b>'


def sign_in(client: Any, username: str = "deputy_wang") -> None:
    resp = client.post("/login", data={"username": username, "password": DEMO_PASSWORD})
    assert resp.status_code == 302


def form_post(client: Any, path: str, photos: list[bytes] | None = None, **fields: Any) -> Any:
    data: dict[str, Any] = dict(fields)
    if photos is not None:
        data["photos"] = [(io.BytesIO(p), f"p{i}.jpg") for i, p in enumerate(photos)]
    return client.post(path, data=data, content_type="multipart/form-data")


def report_fields(**overrides: Any) -> dict[str, Any]:
    fields = {"category": "city.litter", "description": "路边垃圾堆积", "lon": str(TIANSHUI[0]),
              "lat": str(TIANSHUI[1]), "address": "", "report_key": ""}
    fields.update(overrides)
    return fields


def tickets_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Ticket)) or 0


def act(api: Any, number: str, verb: str, user: str, **kw: Any) -> dict[str, Any]:
    resp = api.post(f"/api/v1/tickets/{number}/{verb}", user, **kw)
    assert resp.status_code == 200, (verb, resp.json)
    return resp.json  # type: ignore[no-any-return]


def resolved(api: Any, **report: Any) -> str:
    """A report by deputy_wang in 天水街道, accepted and resolved by the street's handler."""
    resp = api.report(**report)
    assert resp.status_code == 201, resp.json
    number = resp.json["number"]
    act(api, number, "accept", "handler_tianshui", json={"note": "收到，马上处理"})
    act(api, number, "resolve", "handler_tianshui", data={"note": "已清运完毕", "outcome": "solved"},
        photos=[jpeg((10, 120, 10))])
    return number  # type: ignore[no-any-return]


def list_item(client: Any, number: str, show: str = "open") -> str:
    """The <li> of a ticket in the deputy's list, looked for page by page."""
    for n in range(1, 50):
        body = page(client, f"/deputy/tickets?show={show}&page={n}")
        if f">{number}</a>" in body:
            start = body.rindex("<li", 0, body.index(f">{number}</a>"))
            return body[start:body.index("</li>", start)]
        if "下一页" not in body:
            break
    raise AssertionError(f"{number} is not in the {show} list")


def page(client: Any, path: str) -> str:
    resp = client.get(path)
    assert resp.status_code == 200, resp.status_code
    return resp.get_data(as_text=True)


# ---------------------------------------------------------------------------- snap and report


def test_report_page_is_chinese_by_default_and_english_on_request(client):
    sign_in(client)
    body = page(client, "/deputy/report")
    assert "随手拍" in body and "我的工单" in body  # the header links of a deputy
    assert 'capture="environment"' in body and 'accept="image/*"' in body and "multiple" in body
    # The seven domains, then their sub-categories from the Category table.
    for name in ("城市管理", "交通出行", "生态环境", "市政设施", "公共安全", "物业小区", "民生服务", "垃圾乱扔"):
        assert name in body
    assert "提交" in body and "Submit report" not in body
    english = page(client, "/deputy/report?lang=en")
    assert "Snap and report" in english and "City management" in english and "Litter" in english
    assert "Submit report" in english and "城市管理" not in english


def test_the_plain_form_reports_and_routes_to_the_street_once(client):
    sign_in(client)
    before = tickets_count()
    key = re.search(r'name="report_key" value="([0-9a-f]+)"', page(client, "/deputy/report")).group(1)
    resp = form_post(client, "/deputy/report", photos=[jpeg(), jpeg((1, 2, 3))], **report_fields(report_key=key))
    assert resp.status_code == 302
    number = resp.headers["Location"].rsplit("/", 1)[1]
    ticket = db.session.scalar(select(Ticket).where(Ticket.number == number))
    assert ticket.handling_unit.code == "330105012" and ticket.state == State.DISPATCHED
    assert len(ticket.photos) == 2 and ticket.reporter.username == "deputy_wang"
    body = page(client, resp.headers["Location"])
    assert "天水街道" in body and "已上报" in body
    # The same form posted again (a double tap, a reload) is the same report.
    again = form_post(client, "/deputy/report", photos=[jpeg()], **report_fields(report_key=key))
    assert again.status_code == 302 and again.headers["Location"] == resp.headers["Location"]
    assert tickets_count() == before + 1


def test_without_coordinates_the_photo_gps_position_locates_the_report(client):
    sign_in(client)
    photo = phone_jpeg(2, lon=TIANSHUI[0], lat=TIANSHUI[1])
    resp = form_post(client, "/deputy/report", photos=[photo], **report_fields(lon="", lat=""))
    assert resp.status_code == 302
    ticket = db.session.scalar(select(Ticket).order_by(Ticket.id.desc()))
    assert ticket.handling_unit.code == "330105012"
    assert ticket.events[0].data["location_source"] == "photo_exif"
    assert "照片" in page(client, resp.headers["Location"])  # "located by the photo's GPS position"


def test_the_plain_form_refuses_bad_input_and_writes_nothing(client):
    sign_in(client)
    before = tickets_count()
    no_photo = form_post(client, "/deputy/report", photos=[], **report_fields(description="留着这段话"))
    assert no_photo.status_code == 422
    body = no_photo.get_data(as_text=True)
    assert "请至少添加一张照片" in body and "留着这段话" in body  # what was typed is kept
    no_place = form_post(client, "/deputy/report", photos=[jpeg()], **report_fields(lon="", lat=""))
    assert no_place.status_code == 422 and "位置" in no_place.get_data(as_text=True)
    bad_number = form_post(client, "/deputy/report", photos=[jpeg()], **report_fields(lon="east"))
    assert bad_number.status_code == 422
    unknown = form_post(client, "/deputy/report", photos=[jpeg()], **report_fields(category="nonsense"))
    assert unknown.status_code == 422
    assert tickets_count() == before


def test_pages_are_for_deputies_only(client):
    assert client.get("/deputy/report").status_code == 302  # to sign in
    sign_in(client, "handler_tianshui")
    for path in ("/deputy/report", "/deputy/tickets", "/deputy/report/nearby", "/deputy/csrf-token"):
        assert client.get(path).status_code == 403, path
    assert form_post(client, "/deputy/report", photos=[jpeg()], **report_fields()).status_code == 403
    assert "/deputy/report" not in page(client, "/")  # no deputy links in a handler's header


# ---------------------------------------------------------------------------- nearby and following


def test_nearby_open_tickets_of_the_category_are_offered_and_followed(client, api):
    public = api.report(description="同一堆垃圾").json["number"]
    private = api.report(description="私密的", visibility="private").json["number"]
    other_kind = api.report(category="traffic.road", description="路面坑洼").json["number"]
    sign_in(client, "deputy_li")
    near = f"/deputy/report/nearby?category=city.litter&lon={TIANSHUI[0] + 0.001}&lat={TIANSHUI[1]}"
    body = page(client, near)
    assert public in body and private not in body and other_kind not in body
    assert "同一堆垃圾" in body and "王代表" not in body  # public tickets without their reporter
    assert "关注" in body and f"/deputy/tickets/{public}/follow" in body
    # Far away, or without a usable point: nothing.
    assert page(client, f"/deputy/report/nearby?category=city.litter&lon={TIANSHUI[0] + 0.01}&lat={TIANSHUI[1]}") == ""
    assert page(client, "/deputy/report/nearby?category=city.litter&lon=nan&lat=1") == ""
    assert page(client, "/deputy/report/nearby?category=nope&lon=120.1&lat=30.2") == ""

    assert client.get(f"/deputy/tickets/{public}").status_code == 404  # not hers to see yet
    resp = client.post(f"/deputy/tickets/{public}/follow")
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/deputy/tickets/{public}")
    trail = page(client, resp.headers["Location"])
    assert "同一堆垃圾" in trail and "取消关注" in trail and "评价" not in trail.split("办理轨迹")[0]
    assert public in page(client, "/deputy/tickets?show=following")
    assert "您已关注" in page(client, near)  # the offer now says she follows it
    assert f"/deputy/tickets/{public}/follow" not in page(client, near)
    # Private tickets cannot be followed by guessing their number.
    assert client.post(f"/deputy/tickets/{private}/follow").status_code == 404

    resp = client.post(f"/deputy/tickets/{public}/unfollow")
    assert resp.status_code == 302
    assert client.get(f"/deputy/tickets/{public}").status_code == 404
    assert db.session.scalar(select(func.count()).select_from(TicketFollower)) == 0


def test_a_deputy_cannot_follow_her_own_report(client, api):
    number = api.report().json["number"]
    sign_in(client)
    resp = client.post(f"/deputy/tickets/{number}/follow", follow_redirects=True)
    assert "这是您上报的工单" in resp.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(TicketFollower)) == 0


# ---------------------------------------------------------------------------- my tickets and the trail


def test_my_tickets_show_countdowns_overdue_in_red_and_points(client, api, clock):
    clock.set(NOW)
    number = api.report(description="待受理的工单").json["number"]
    sign_in(client)
    body = page(client, "/deputy/tickets")
    assert 'id="my-points"' in body and 'id="my-rank"' in body and "本季度积分" in body
    item = list_item(client, number)
    assert "待受理" in item and "剩余" in item and "is-overdue" not in item
    clock.advance(days=3)
    item = list_item(client, number)
    assert "is-overdue" in item and "countdown overdue" in item and "已超时" in item
    english = page(client, "/deputy/tickets?lang=en")
    assert "overdue by" in english and "Points this quarter" in english
    for bad in ("page=99999999999999999999999", "page=-3", "page=x", "show=nonsense"):
        assert client.get(f"/deputy/tickets?{bad}").status_code == 200, bad


def test_the_trail_shows_every_event_with_its_unit_note_and_photos(client, api):
    number = resolved(api, photos=[jpeg((200, 0, 0)), jpeg((0, 0, 200))])
    sign_in(client)
    body = page(client, f"/deputy/tickets/{number}")
    trail = body[body.index('id="timeline"'):]
    for text in ("已上报", "承办单位已受理", "已办结", "收到，马上处理", "已清运完毕", "天水街道"):
        assert text in trail, text
    ticket = db.session.scalar(select(Ticket).where(Ticket.number == number))
    for photo in ticket.photos:  # every photo, as a thumbnail from the photo endpoint
        assert f"/api/v1/photos/{photo.id}/thumb" in body
    before_after = body[body.index('class="before-after"'):body.index('id="trail-h"')]
    assert before_after.count("/thumb") == 3  # two before, one after
    assert client.get(f"/api/v1/photos/{ticket.photos[0].id}/thumb").status_code == 200


def test_user_text_is_escaped_everywhere(client, api):
    number = api.report(description=EVIL).json["number"]
    act(api, number, "accept", "handler_tianshui", json={"note": EVIL})
    sign_in(client)
    for path in (f"/deputy/tickets/{number}", "/deputy/tickets"):
        body = page(client, path)
        assert "<script>alert" not in body and "<b>bold</b>" not in body, path
        assert "&lt;script&gt;" in body, path
    sign_in(client, "deputy_li")
    near = page(client, f"/deputy/report/nearby?category=city.litter&lon={TIANSHUI[0]}&lat={TIANSHUI[1]}")
    assert number in near and "<script>alert" not in near and "&lt;script&gt;" in near


def test_rating_satisfied_closes_and_unsatisfied_starts_round_two(client, api):
    happy, unhappy = resolved(api), resolved(api)
    sign_in(client)
    body = page(client, f"/deputy/tickets/{happy}")
    assert 'id="rating"' in body and "满意" in body and "基本满意" in body and "不满意" in body
    resp = client.post(f"/deputy/tickets/{happy}/rate", data={"score": "satisfied", "comment": "很好"})
    assert resp.status_code == 302
    assert db.session.scalar(select(Ticket.state).where(Ticket.number == happy)) == State.CLOSED
    assert 'id="rating"' not in page(client, f"/deputy/tickets/{happy}")

    resp = client.post(f"/deputy/tickets/{unhappy}/rate", data={"score": "unsatisfied", "comment": "没清干净"},
                       follow_redirects=True)
    body = resp.get_data(as_text=True)
    ticket = db.session.scalar(select(Ticket).where(Ticket.number == unhappy))
    assert ticket.state == State.DISPATCHED and ticket.round == 2
    assert "第 2 轮" in body and "没清干净" in body and "不满意" in body
    # Rating again is refused and changes nothing.
    again = client.post(f"/deputy/tickets/{unhappy}/rate", data={"score": "satisfied"}, follow_redirects=True)
    assert "flash error" in again.get_data(as_text=True)
    assert db.session.scalar(select(Ticket.state).where(Ticket.number == unhappy)) == State.DISPATCHED


def test_a_bad_score_is_refused(client, api):
    number = resolved(api)
    sign_in(client)
    resp = client.post(f"/deputy/tickets/{number}/rate", data={"score": "meh"}, follow_redirects=True)
    assert "flash error" in resp.get_data(as_text=True)
    assert db.session.scalar(select(Ticket.state).where(Ticket.number == number)) == State.RESOLVED


def test_urging_adds_a_step_to_the_trail(client, api):
    number = api.report().json["number"]
    sign_in(client)
    resp = client.post(f"/deputy/tickets/{number}/urge", data={"note": "请尽快"}, follow_redirects=True)
    body = resp.get_data(as_text=True)
    assert "已向承办单位催办" in body and "请尽快" in body and "催办" in body.split("办理轨迹")[1]


def test_another_deputys_ticket_is_not_found(client, api):
    number = api.report(visibility="private").json["number"]
    sign_in(client, "deputy_li")
    assert client.get(f"/deputy/tickets/{number}").status_code == 404
    assert client.post(f"/deputy/tickets/{number}/rate", data={"score": "satisfied"}).status_code == 404
    assert client.get("/deputy/tickets/9999-999999").status_code == 404


def test_forms_need_the_csrf_token(client, api, csrf_on):
    number = resolved(api)
    login = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', login).group(1)
    client.post("/login", data={"username": "deputy_wang", "password": DEMO_PASSWORD, "csrf_token": token})
    assert client.post(f"/deputy/tickets/{number}/rate", data={"score": "satisfied"}).status_code == 400
    assert form_post(client, "/deputy/report", photos=[jpeg()], **report_fields()).status_code == 400
    assert db.session.scalar(select(Ticket.state).where(Ticket.number == number)) == State.RESOLVED
    body = page(client, f"/deputy/tickets/{number}")
    token = re.search(r'name="csrf_token" value="([^"]+)"', body).group(1)
    resp = client.post(f"/deputy/tickets/{number}/rate", data={"score": "satisfied", "csrf_token": token})
    assert resp.status_code == 302
    assert db.session.scalar(select(Ticket.state).where(Ticket.number == number)) == State.CLOSED
    # The queue refreshes its token from here when the page's has gone stale.
    fresh = client.get("/deputy/csrf-token")
    assert fresh.status_code == 200 and fresh.json["csrf_token"]


def test_countdown_words_follow_the_clock(client, api, clock):
    clock.set(NOW)
    number = api.report().json["number"]
    sign_in(client)
    body = page(client, f"/deputy/tickets/{number}?lang=en")
    assert "left" in body and "Response deadline" in body
    clock.advance(days=10)
    body = page(client, f"/deputy/tickets/{number}?lang=en")
    assert "overdue by" in body and 'class="countdown overdue"' in body

