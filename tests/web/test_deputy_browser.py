"""The deputy's pages in headless Chromium at phone size: report with a photo and the phone's
position, the offline queue (exactly one ticket, even when an answer is lost on the way back),
the trail with the rating form, and screenshots of every page (var/screenshots/deputy-*.png)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import TIANSHUI, Api, jpeg
from tests.web.conftest import DESKTOP, PHONE, shot, sign_in
from ticketing.extensions import db
from ticketing.models import Ticket

# The phone stands on the TIANSHUI grid-event point, inside 天水街道.
HERE = {"latitude": TIANSHUI[1], "longitude": TIANSHUI[0], "accuracy": 12}


@pytest.fixture
def api(live_app: Any) -> Iterator[Api]:
    """The API of the live app, called in-process with bearer tokens (to make each test's own tickets)."""
    yield Api(live_app.test_client())


def tickets_described(live_app: Any, text: str) -> list[Ticket]:
    with live_app.app_context():
        rows = list(db.session.scalars(select(Ticket).where(Ticket.description == text)))
        for t in rows:
            _ = (t.handling_unit.code, len(t.photos))  # load what the test reads before the session ends
        db.session.remove()
    return rows


def report_days_ago(live_app: Any, days: int, description: str) -> str:
    """deputy_wang's report made `days` ago through the service (the API's clock is the real one)."""
    from ticketing.models import User
    from ticketing.services import tickets as svc
    from ticketing.services.photos import Upload

    with live_app.app_context():
        user = db.session.scalar(select(User).where(User.username == "deputy_wang"))
        ticket = svc.report(actor=user, category_code="city.litter", description=description, lon=TIANSHUI[0],
                            lat=TIANSHUI[1], uploads=[Upload("old.jpg", jpeg((90, 30, 30)))],
                            now=datetime.now(timezone.utc) - timedelta(days=days),
                            settings=live_app.extensions["ticket_settings"], store=live_app.extensions["photo_store"])
        db.session.commit()
        number = ticket.number
        db.session.remove()
    return number


def phone(new_page: Any) -> Any:
    return new_page(viewport=PHONE, geolocation=HERE, permissions=["geolocation"])


def photo(name: str, color: tuple[int, int, int]) -> dict[str, Any]:
    return {"name": name, "mimeType": "image/jpeg", "buffer": jpeg(color, size=(640, 480))}


def fill_report(page: Any, description: str) -> None:
    """Photos (two, one removed, one more), the phone's position, 城市管理 → 垃圾乱扔, a description."""
    page.goto("/deputy/report")
    page.wait_for_function("document.getElementById('lon').value !== ''")
    assert "已定位" in page.locator("#loc-status").inner_text()
    page.set_input_files("#photos", files=[photo("a.jpg", (200, 40, 40)), photo("b.jpg", (40, 40, 200))])
    assert page.locator("#previews li").count() == 2
    page.click("#previews li:nth-child(2) button")  # remove one
    assert page.locator("#previews li").count() == 1
    page.set_input_files("#photos", files=[photo("c.jpg", (40, 160, 40))])  # a second shot adds to the first
    assert page.locator("#previews li").count() == 2
    page.click("label[for=domain-city]")
    page.click("label.chip:has-text('垃圾乱扔')")
    page.fill("#description", description)


def test_deputy_reports_from_her_phone_and_the_ticket_goes_to_tianshui(new_page, api, live_app):
    # Someone else's open report of the same kind a few metres away: offered as "same problem?".
    other = api.report("deputy_li", description="隔壁的垃圾堆", lon=TIANSHUI[0] + 0.0003, lat=TIANSHUI[1])
    assert other.status_code == 201, other.json
    page = phone(new_page)
    sign_in(page, "deputy_wang")
    description = f"小区门口垃圾堆积 {uuid.uuid4().hex[:8]}"
    fill_report(page, description)
    offer = page.locator("#nearby")
    offer.wait_for(state="visible")
    assert other.json["number"] in offer.inner_text() and "改为关注" in offer.inner_text()
    shot(page, "deputy-report-phone-zh")

    page.click("#submit")
    page.wait_for_url("**/deputy/tickets/*")
    (ticket,) = tickets_described(live_app, description)
    assert ticket.handling_unit.code == "330105012" and len(ticket.photos) == 2
    assert page.locator("#handling-unit").inner_text() == "天水街道"
    assert page.locator("#timeline li").count() == 1 and "已上报" in page.locator("#timeline").inner_text()
    page.wait_for_function("[...document.querySelectorAll('.before-after img')].every(i => i.naturalWidth > 0)")
    shot(page, "deputy-ticket-new-phone-zh")


def test_offline_report_waits_on_the_phone_and_is_created_exactly_once(new_page, live_app):
    page = phone(new_page)
    sign_in(page, "deputy_wang")
    description = f"离线上报 {uuid.uuid4().hex[:8]}"
    fill_report(page, description)

    page.context.set_offline(True)
    page.click("#submit")
    page.wait_for_function("document.getElementById('queue-count').textContent.includes('1 条随手拍等待发送')")
    assert page.locator("#offline").is_visible()
    assert page.locator("#previews li").count() == 0  # the form is free for the next report
    shot(page, "deputy-report-offline-phone-zh")
    assert tickets_described(live_app, description) == []

    # Back online, the first answer is lost on its way back (the server did create the ticket):
    # the page retries with the same Idempotency-Key and gets the first answer again.
    calls: list[dict[str, Any]] = []

    def lose_first_answer(route: Any) -> None:
        response = route.fetch()
        calls.append({"key": route.request.headers.get("idempotency-key"), "status": response.status,
                      "replayed": response.headers.get("idempotent-replayed")})
        if len(calls) == 1:
            route.abort("connectionreset")
        else:
            route.fulfill(response=response)

    page.route("**/api/v1/tickets", lose_first_answer)
    page.context.set_offline(False)
    page.wait_for_function("document.getElementById('sent').textContent.includes('已发送')", timeout=30_000)
    assert len(calls) == 2 and calls[0]["key"] == calls[1]["key"] and calls[0]["key"]
    assert calls[0]["status"] == calls[1]["status"] == 201 and calls[1]["replayed"] == "true"
    (ticket,) = tickets_described(live_app, description)
    assert ticket.handling_unit.code == "330105012" and ticket.number in page.locator("#sent").inner_text()
    page.locator("#queue").wait_for(state="hidden")  # it leaves the queue once the server has answered
    # A reload finds nothing left to send.
    page.unroute("**/api/v1/tickets")
    page.reload()
    page.wait_for_timeout(500)
    assert page.locator("#queue").is_hidden() and len(tickets_described(live_app, description)) == 1


def test_the_trail_the_rating_and_every_page_at_phone_and_desktop_size(new_page, api, live_app):
    description = f"路灯不亮 {uuid.uuid4().hex[:8]}"
    number = api.report(category="facilities.lights", description=description,
                        photos=[jpeg((30, 30, 30)), jpeg((60, 60, 60))]).json["number"]
    for verb, kw in (("accept", {"json": {"note": "已收到，安排电工"}}),
                     ("progress", {"data": {"note": "已排查线路"}, "photos": [jpeg((90, 90, 20))]}),
                     ("resolve", {"data": {"note": "更换灯泡，恢复照明", "outcome": "solved"},
                                  "photos": [jpeg((250, 250, 200))]})):
        resp = api.post(f"/api/v1/tickets/{number}/{verb}", "handler_tianshui", **kw)
        assert resp.status_code == 200, resp.json

    page = phone(new_page)
    sign_in(page, "deputy_wang")
    page.goto(f"/deputy/tickets/{number}")
    timeline = page.locator("#timeline")
    assert timeline.locator("li").count() == 4
    assert "承办单位已办结" in timeline.locator("li").first.inner_text()  # newest first
    assert "天水街道" in timeline.inner_text() and "更换灯泡" in timeline.inner_text()
    # The thumbnails load lazily: bring each into view, as a reader scrolling the trail would.
    for img in page.locator("main img").all():
        img.scroll_into_view_if_needed()
    page.wait_for_function("[...document.querySelectorAll('main img')].every(i => i.complete && i.naturalWidth > 0)")
    shot(page, "deputy-ticket-resolved-phone-zh")

    page.click("label.score-unsatisfied")
    page.fill("#rating textarea", "晚上还是黑的")
    page.click("#rating button[type=submit]")
    page.wait_for_selector(".flash.ok")
    assert "第 2 轮" in page.locator(".flash.ok").inner_text()
    assert "待受理" in page.locator("#state").inner_text()
    assert "晚上还是黑的" in page.locator("#timeline li").first.inner_text()
    shot(page, "deputy-ticket-round2-phone-zh")

    overdue = report_days_ago(live_app, 9, f"早就该处理的垃圾 {uuid.uuid4().hex[:8]}")
    page.goto("/deputy/tickets")
    assert page.locator("#my-points").inner_text() and "名" in page.locator("#my-rank").inner_text()
    first = page.locator(".ticket-item").first  # overdue first, in red, and saying so in words
    assert overdue in first.inner_text() and "已超时" in first.inner_text()
    assert "is-overdue" in first.get_attribute("class")
    assert first.locator(".countdown").evaluate("e => getComputedStyle(e).color") == "rgb(185, 28, 28)"
    shot(page, "deputy-tickets-phone-zh")

    desk = new_page(viewport=DESKTOP, geolocation=HERE, permissions=["geolocation"])
    sign_in(desk, "deputy_wang")
    for path, name in (("/deputy/report", "report"), ("/deputy/tickets", "tickets"),
                       (f"/deputy/tickets/{number}", "ticket")):
        desk.goto(path)
        desk.wait_for_load_state("networkidle")
        shot(desk, f"deputy-{name}-desktop-zh")
    desk.goto(f"/deputy/tickets/{number}?lang=en")
    assert "Handling trail" in desk.content() and "Resolved by the handling unit" in desk.content()
    shot(desk, "deputy-ticket-desktop-en")
    page.goto("/deputy/report?lang=en")
    page.wait_for_function("document.getElementById('lon').value !== ''")
    assert "Snap and report" in page.locator("h1").inner_text()
    shot(page, "deputy-report-phone-en")


def test_without_javascript_the_form_still_reports(new_page, live_app):
    page = new_page(viewport=PHONE, java_script_enabled=False)
    sign_in(page, "deputy_wang")
    page.goto("/deputy/report")
    assert page.locator(".domains").is_hidden()  # the domain tiles need the script; the categories do not
    description = f"无脚本上报 {uuid.uuid4().hex[:8]}"
    page.set_input_files("#photos", files=[photo("a.jpg", (120, 60, 20))])
    page.click("#coords summary")  # typed coordinates; without them the photo's GPS position would count
    page.fill("#lon", str(TIANSHUI[0]))
    page.fill("#lat", str(TIANSHUI[1]))
    page.check("input[name=category][value='city.litter']")
    page.fill("#description", description)
    shot(page, "deputy-report-nojs-phone-zh")
    page.click("#submit")
    page.wait_for_url("**/deputy/tickets/*")
    assert "已上报" in page.locator(".flash.ok").inner_text()
    (ticket,) = tickets_described(live_app, description)
    assert ticket.handling_unit.code == "330105012" and len(ticket.photos) == 1
