"""The citizen channel's pages with the plain test client: the QR form and its answer, the tracking
page with its photos and rating form, the deputy's QR card and review pages; 404s that say
nothing, no caching, user text escaped, and the per-address limit on reports."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import NOW, TIANSHUI, jpeg
from ticketing.demo import DEMO_PASSWORD
from ticketing.extensions import db
from ticketing.models import CitizenCode, CitizenReport, Ticket, User
from ticketing.workflow import State

EVIL = '<script>alert("x")</script>'
PHONE = "13912345678"
LINK = re.compile(r'id="tracking-link"[^>]*value="[^"]*(/t/[A-Za-z0-9_-]+)"')


def _user(username: str) -> User:
    return db.session.scalar(select(User).where(User.username == username))  # type: ignore[return-value]


def _code(username: str = "deputy_wang") -> str:
    from ticketing.services import citizen

    code = citizen.live_code(_user(username), NOW).code
    db.session.commit()
    return code


def _form_key(page: str) -> str:
    found = re.search(r'name="form_key" value="([0-9a-f]{32})"', page)
    assert found, "the form carries a one-time key"
    return found.group(1)


def sign_in(client: Any, username: str) -> None:
    resp = client.post("/login", data={"username": username, "password": DEMO_PASSWORD})
    assert resp.status_code == 302


def send(client: Any, code: str, photos: list[bytes] | None = None, **fields: Any) -> Any:
    """Post the citizen's form (fields as the page has them, a fresh form key unless given)."""
    data: dict[str, Any] = {"category": "city.litter", "description": "小区门口污水横流", "lon": str(TIANSHUI[0]),
                            "lat": str(TIANSHUI[1]), "address": "", "name": "", "phone": ""}
    if "form_key" not in fields:
        data["form_key"] = _form_key(client.get(f"/c/{code}").get_data(as_text=True))
    data.update(fields)
    data["photos"] = [(io.BytesIO(p), f"p{i}.jpg") for i, p in enumerate([jpeg()] if photos is None else photos)]
    return client.post(f"/c/{code}", data=data, content_type="multipart/form-data")


def link_of(resp: Any) -> str:
    found = LINK.search(resp.get_data(as_text=True))
    assert found, resp.get_data(as_text=True)
    return found.group(1)


def counts() -> tuple[int, int]:
    return (db.session.scalar(select(func.count()).select_from(Ticket)) or 0,
            db.session.scalar(select(func.count()).select_from(CitizenReport)) or 0)


def ticket_of(path: str) -> Ticket:
    from ticketing.services import citizen

    found = citizen.by_token(path.rsplit("/", 1)[1], NOW)
    return db.session.get(Ticket, found.ticket_id)  # type: ignore[return-value]


@pytest.fixture(autouse=True)
def frozen(clock: Any) -> Any:
    clock.set(NOW)
    return clock


# ---------------------------------------------------------------------------- the form


def test_the_qr_form_is_public_names_the_deputy_and_is_never_cached(client):
    code = _code()
    resp = client.get(f"/c/{code}")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "王" in _user("deputy_wang").display_name and _user("deputy_wang").display_name in page
    assert "代表随手拍" in page and 'name="phone"' in page and 'capture="environment"' in page
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["Referrer-Policy"] == "same-origin"
    assert "noindex" in resp.headers["X-Robots-Tag"]
    english = client.get(f"/c/{code}?lang=en").get_data(as_text=True)
    assert "Report a problem to Deputy 王代表" in english


def test_an_unknown_or_revoked_code_is_a_plain_404(client):
    from ticketing.services import citizen

    code = _code()
    citizen.renew_code(_user("deputy_wang"), NOW)
    db.session.commit()
    for path in (f"/c/{code}", "/c/nope", f"/c/{_user('deputy_wang').id}"):
        resp = client.get(path)
        assert resp.status_code == 404 and "二维码已停用" in resp.get_data(as_text=True)
        assert resp.headers["Cache-Control"] == "no-store"
    assert send(client, code, form_key="0" * 32).status_code == 404


def test_sending_the_form_makes_a_pending_report_and_shows_the_link_once(client):
    code = _code()
    before = counts()
    resp = send(client, code, name="李四", phone="139 1234 5678", description=EVIL)
    assert resp.status_code == 200
    page = resp.get_data(as_text=True)
    assert "请保存此链接" in page and EVIL not in page
    path = link_of(resp)
    assert counts() == (before[0] + 1, before[1] + 1)
    t = ticket_of(path)
    assert t.state == State.PENDING_REVIEW and t.deputy_id == _user("deputy_wang").id
    found = db.session.get(CitizenReport, t.id)
    assert (found.name, found.phone) == ("李四", PHONE)
    assert path.rsplit("/", 1)[1] not in found.token_hash
    assert resp.headers["Cache-Control"] == "no-store"


def test_the_same_form_sent_twice_is_one_report_with_the_same_link(client):
    code = _code()
    key = _form_key(client.get(f"/c/{code}").get_data(as_text=True))
    before = counts()
    first = send(client, code, form_key=key)
    second = send(client, code, form_key=key)
    assert first.status_code == second.status_code == 200
    assert link_of(first) == link_of(second)
    assert counts() == (before[0] + 1, before[1] + 1)


@pytest.mark.parametrize(
    ("fields", "photos", "message"),
    [
        ({}, [], "请至少添加一张照片"),
        ({"phone": "not a phone"}, None, "电话号码"),
        ({"sms": "yes"}, None, "短信"),
        ({"category": "nope"}, None, "nope"),
        ({"lon": "abc"}, None, "坐标"),
        ({"description": "长" * 5001}, None, "5000"),
    ],
)
def test_bad_input_shows_the_form_again_with_a_message_and_writes_nothing(client, fields, photos, message):
    code = _code()
    before = counts()
    resp = send(client, code, photos=photos, name="王五", **fields)
    page = resp.get_data(as_text=True)
    assert resp.status_code in (400, 413, 422), resp.status_code
    assert message in page and 'value="王五"' in page  # what was typed is kept
    assert counts() == before


# ---------------------------------------------------------------------------- tracking


def test_the_tracking_page_shows_the_progress_in_public_words(client):
    code = _code()
    path = link_of(send(client, code, description=EVIL))
    resp = client.get(path)
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "等待代表审核" in page and "您提交了反映" in page
    assert EVIL not in page and "&lt;script&gt;" in page
    assert resp.headers["Cache-Control"] == "no-store" and resp.headers["Referrer-Policy"] == "same-origin"
    assert 'id="rating"' not in page
    # The citizen's photo, as a metadata-free copy through the link only.
    photo = re.search(r'src="(/t/[^"]+/photos/\d+/thumb)"', page).group(1)
    img = client.get(photo)
    assert img.status_code == 200 and img.mimetype == "image/jpeg"
    assert client.get(photo.replace("/thumb", "/original")).status_code == 404
    assert client.get(re.sub(r"/t/[^/]+/", "/t/wrong/", photo)).status_code == 404


def test_a_wrong_or_expired_link_is_a_plain_404(client, frozen):
    path = link_of(send(client, _code()))
    for bad in (path[:-1] + ("A" if path[-1] != "A" else "B"), "/t/", "/t/x", path + "x"):
        resp = client.get(bad)
        assert resp.status_code == 404, bad
    frozen.advance(days=366)
    resp = client.get(path)
    assert resp.status_code == 404 and "不存在或已过期" in resp.get_data(as_text=True)


def test_a_photo_of_another_report_is_not_found_through_a_link(client):
    code = _code()
    a, b = link_of(send(client, code)), link_of(send(client, code))
    other = ticket_of(b).photos[0].id
    assert client.get(f"{a}/photos/{other}/thumb").status_code == 404
    assert client.get(f"{b}/photos/{other}/thumb").status_code == 200


# ---------------------------------------------------------------------------- the deputy's pages


def test_the_deputy_prints_a_qr_card_and_can_replace_the_code(client):
    sign_in(client, "deputy_wang")
    page = client.get("/deputy/qr").get_data(as_text=True)
    code = db.session.scalar(select(CitizenCode.code).where(CitizenCode.deputy_id == _user("deputy_wang").id,
                                                             CitizenCode.revoked_at.is_(None)))
    assert f"/c/{code}" in page and "<svg" in page and "代表随手拍" in page
    assert _user("deputy_wang").display_name in page
    png = client.get("/deputy/qr.png")
    assert png.status_code == 200 and png.data[:8] == b"\x89PNG\r\n\x1a\n"
    svg = client.get("/deputy/qr.svg")
    assert svg.status_code == 200 and b"<svg" in svg.data
    assert client.get("/deputy/qr.gif").status_code == 404

    resp = client.post("/deputy/qr/renew")
    assert resp.status_code == 302
    assert client.get(f"/c/{code}").status_code == 404
    new = client.get("/deputy/qr").get_data(as_text=True)
    assert f"/c/{code}" not in new


def test_only_deputies_see_the_qr_and_review_pages(client):
    sign_in(client, "handler_tianshui")
    assert client.get("/deputy/qr").status_code == 403
    assert client.get("/deputy/citizen").status_code == 403


def test_the_deputy_reviews_with_the_citizens_contact_and_forwards(client):
    path = link_of(send(client, _code(), name="李四", phone=PHONE, description=EVIL))
    t = ticket_of(path)
    sign_in(client, "deputy_wang")
    queue = client.get("/deputy/citizen").get_data(as_text=True)
    assert t.number in queue and EVIL not in queue
    page = client.get(f"/deputy/citizen/{t.number}").get_data(as_text=True)
    assert PHONE in page and "李四" in page and "只有您能看到" in page
    resp = client.post(f"/deputy/citizen/{t.number}/forward",
                       data={"category": "city.litter", "note": "请处理", "may_rate": "yes"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/deputy/tickets/{t.number}")
    db.session.refresh(t)
    assert t.state == State.DISPATCHED and db.session.get(CitizenReport, t.id).may_rate
    trail = client.get(f"/deputy/tickets/{t.number}").get_data(as_text=True)
    assert f"/deputy/citizen/{t.number}" in trail
    # The citizen sees the forward, and the unit it went to.
    tracking = client.get(path).get_data(as_text=True)
    assert "代表已转交承办单位" in tracking and "天水街道" in tracking and "请处理" in tracking


def test_another_deputy_or_a_handler_cannot_open_the_review(client):
    t = ticket_of(link_of(send(client, _code(), phone=PHONE)))
    sign_in(client, "deputy_li")
    assert client.get(f"/deputy/citizen/{t.number}").status_code == 404
    assert client.post(f"/deputy/citizen/{t.number}/forward", data={}).status_code == 404
    assert client.post(f"/deputy/citizen/{t.number}/decline", data={"reason": "x"}).status_code == 404
    db.session.refresh(t)
    assert t.state == State.PENDING_REVIEW


def test_declining_needs_a_reason_and_the_citizen_reads_it(client):
    path = link_of(send(client, _code()))
    t = ticket_of(path)
    sign_in(client, "deputy_wang")
    resp = client.post(f"/deputy/citizen/{t.number}/decline", data={"reason": " "}, follow_redirects=True)
    assert "decline needs a note" in resp.get_data(as_text=True) or "请填写" in resp.get_data(as_text=True)
    db.session.refresh(t)
    assert t.state == State.PENDING_REVIEW
    client.post(f"/deputy/citizen/{t.number}/decline", data={"reason": "属于物业纠纷<b>，请联系物业</b>"})
    db.session.refresh(t)
    assert t.state == State.DECLINED
    page = client.get(path).get_data(as_text=True)
    assert "代表未转交" in page and "属于物业纠纷&lt;b&gt;，请联系物业&lt;/b&gt;" in page


def test_the_citizen_rates_through_the_link_when_the_deputy_allows(client, api):
    path = link_of(send(client, _code()))
    t = ticket_of(path)
    sign_in(client, "deputy_wang")
    client.post(f"/deputy/citizen/{t.number}/forward", data={"category": "city.litter"})  # may_rate unchecked
    api.post(f"/api/v1/tickets/{t.number}/accept", "handler_tianshui", json={"note": "收到"})
    resp = api.post(f"/api/v1/tickets/{t.number}/resolve", "handler_tianshui",
                    data={"note": "已清理", "outcome": "solved"}, photos=[jpeg((250, 250, 250))])
    assert resp.status_code == 200, resp.json
    client.post("/logout")

    page = client.get(path).get_data(as_text=True)
    assert 'id="rating"' not in page and "由代表评价" in page
    refused = client.post(f"{path}/rate", data={"score": "unsatisfied"}, follow_redirects=True)
    assert "代表没有请您评价" in refused.get_data(as_text=True)
    db.session.refresh(t)
    assert t.state == State.RESOLVED

    sign_in(client, "deputy_wang")
    client.post(f"/deputy/citizen/{t.number}/rating", data={"allow": "yes"})
    client.post("/logout")
    page = client.get(path).get_data(as_text=True)
    assert 'id="rating"' in page and "满意" in page
    done = client.post(f"{path}/rate", data={"score": "satisfied", "comment": "谢谢"}, follow_redirects=True)
    assert "感谢您的评价" in done.get_data(as_text=True)
    db.session.refresh(t)
    assert t.state == State.CLOSED


# ---------------------------------------------------------------------------- limits and CSRF


def test_reports_per_address_are_limited(client, app):
    from ticketing.ratelimit import limiter

    code = _code()
    app.config.update(RATE_LIMITS_ENABLED=True, CITIZEN_LIMIT_PER_IP="2/hour")
    limiter.reset()
    try:
        assert send(client, code).status_code == 200
        assert send(client, code, photos=[]).status_code == 422  # a refused report does not count
        assert send(client, code).status_code == 200
        before = counts()
        resp = send(client, code)
        assert resp.status_code == 429 and "Retry-After" in resp.headers
        assert counts() == before
    finally:
        app.config.update(RATE_LIMITS_ENABLED=False, CITIZEN_LIMIT_PER_IP="10/hour")
        limiter.reset()


def test_a_form_without_its_csrf_token_is_refused(client, csrf_on):
    code = _code()
    before = counts()
    resp = send(client, code, form_key="0" * 32)
    assert resp.status_code == 400 and counts() == before


def test_the_handling_units_and_supervisors_pages_never_show_the_citizens_contact(client):
    path = link_of(send(client, _code(), name="钱七", phone=PHONE))
    t = ticket_of(path)
    sign_in(client, "deputy_wang")
    client.post(f"/deputy/citizen/{t.number}/forward", data={"category": "city.litter"})
    client.post("/logout")
    for user, page in (("handler_tianshui", f"/workbench/tickets/{t.number}"),
                       ("supervisor_city", f"/supervision/tickets/{t.number}")):
        sign_in(client, user)
        resp = client.get(page)
        body = resp.get_data(as_text=True)
        assert resp.status_code == 200 and t.number in body, (user, resp.status_code)
        assert PHONE not in body and "钱七" not in body, user
        client.post("/logout")
