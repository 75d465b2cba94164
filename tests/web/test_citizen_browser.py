"""The citizen QR flow in headless Chromium, from scanning to rating: a citizen opens a deputy's QR
address on a phone, reports with a photo and the phone's position, keeps the tracking link; the
deputy forwards it; the street's handler resolves it (through the services, to keep it short);
the citizen opens the link again and rates. Screenshots: var/screenshots/citizen-*.png."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select

from tests.conftest import TIANSHUI, jpeg
from tests.web.conftest import DESKTOP, PHONE, shot, sign_in
from ticketing.extensions import db
from ticketing.models import CitizenReport, Ticket, User
from ticketing.workflow import State

HERE = {"latitude": TIANSHUI[1], "longitude": TIANSHUI[0], "accuracy": 15}
PHONE_NUMBER = "13700001111"


def _code(live_app: Any) -> str:
    from ticketing.services import citizen

    with live_app.app_context():
        wang = db.session.scalar(select(User).where(User.username == "deputy_wang"))
        code = citizen.live_code(wang, datetime.now(timezone.utc)).code
        db.session.commit()
        db.session.remove()
    return code


def _ticket(live_app: Any, description: str) -> dict[str, Any]:
    with live_app.app_context():
        t = db.session.scalar(select(Ticket).where(Ticket.description == description))
        found = db.session.get(CitizenReport, t.id) if t is not None else None
        out = {"number": t.number, "state": t.state, "unit": t.handling_unit.code,
               "photos": len(t.photos), "phone": found.phone if found else None} if t else {}
        db.session.remove()
    return out


def _display_name(live_app: Any, username: str) -> str:
    with live_app.app_context():
        name = db.session.scalar(select(User.display_name).where(User.username == username))
        db.session.remove()
    return str(name)


def _handler_resolves(live_app: Any, number: str) -> None:
    from ticketing.services import tickets
    from ticketing.services.photos import Upload

    with live_app.app_context():
        handler = db.session.scalar(select(User).where(User.username == "handler_tianshui"))
        t = db.session.scalar(select(Ticket).where(Ticket.number == number))
        now = datetime.now(timezone.utc)
        tickets.accept(t, handler, now - timedelta(seconds=2), note="收到，今天处理")
        tickets.resolve(t, handler, now - timedelta(seconds=1), outcome="solved",
                        evidence=tickets.Evidence("井盖已更换", [Upload("after.jpg", jpeg((220, 220, 220), (640, 480)))]),
                        settings=live_app.extensions["ticket_settings"], store=live_app.extensions["photo_store"])
        db.session.commit()
        db.session.remove()


def test_a_citizen_scans_reports_follows_and_rates(new_page, live_app):
    code = _code(live_app)
    description = f"人行道井盖松动，踩上去会翻 {uuid.uuid4().hex[:6]}"

    # Scanning the card opens the deputy's form on the citizen's phone: no account.
    citizen = new_page(viewport=PHONE, geolocation=HERE, permissions=["geolocation"])
    citizen.goto(f"/c/{code}")
    citizen.wait_for_function("document.getElementById('lon').value !== ''")
    assert "已定位" in citizen.locator("#loc-status").inner_text()
    assert "代表随手拍" in citizen.inner_text("body")
    citizen.set_input_files("#photos", files=[{"name": "well.jpg", "mimeType": "image/jpeg",
                                               "buffer": jpeg((90, 90, 100), (640, 480))}])
    assert citizen.locator("#previews img").count() == 1
    citizen.select_option("#category", "facilities")
    citizen.fill("#description", description)
    citizen.fill("input[name=name]", "赵女士")
    citizen.fill("input[name=phone]", PHONE_NUMBER)
    citizen.wait_for_function("[...document.querySelectorAll('#previews img')].every(i => i.naturalWidth > 0)")
    shot(citizen, "citizen-report-phone-zh")
    citizen.click("#submit")
    citizen.locator("#tracking-link").wait_for()
    link = citizen.locator("#tracking-link").input_value()
    assert "/t/" in link and "请保存此链接" in citizen.inner_text("body")
    shot(citizen, "citizen-received-phone-zh")
    made = _ticket(live_app, description)
    assert made["state"] == State.PENDING_REVIEW and made["photos"] == 1 and made["phone"] == PHONE_NUMBER

    # The deputy reviews it with the citizen's contact, and forwards it (letting the citizen rate).
    deputy = new_page(viewport=PHONE)
    sign_in(deputy, "deputy_wang")
    deputy.goto("/deputy/citizen")
    deputy.click(f"a:has-text('{made['number']}')")
    assert PHONE_NUMBER in deputy.locator("#contact").inner_text()
    assert deputy.locator("#forward-form input[name=may_rate]").is_checked()
    deputy.wait_for_function("[...document.querySelectorAll('#citizen-photos img')].every(i => i.naturalWidth > 0)")
    shot(deputy, "citizen-deputy-review-phone-zh")
    deputy.fill("#forward-form textarea[name=note]", "请尽快更换井盖")
    deputy.click("#forward")
    deputy.wait_for_url(f"**/deputy/tickets/{made['number']}")
    assert _ticket(live_app, description)["state"] == State.DISPATCHED

    # Between, the citizen's link shows the forward and the unit, no handler's name.
    citizen.goto(link)
    assert "代表已转交承办单位" in citizen.locator("#timeline").inner_text()
    assert citizen.locator("#handling-unit").inner_text() == "天水街道"

    _handler_resolves(live_app, made["number"])

    # The citizen opens the link again: resolved, before/after photos, and the rating form.
    citizen.goto(link)
    assert citizen.locator("#state").inner_text() == "已办结"
    citizen.wait_for_function("[...document.querySelectorAll('.before-after img')].every(i => i.naturalWidth > 0)")
    assert citizen.locator(".before-after img").count() == 2
    body = citizen.inner_text("body")
    assert _display_name(live_app, "handler_tianshui") not in body  # units answer, never a handler by name
    assert "井盖已更换" in body and "天水街道" in citizen.locator("#timeline").inner_text()
    shot(citizen, "citizen-track-rate-phone-zh")
    citizen.click("label.score-satisfied")
    citizen.fill("#rating textarea[name=comment]", "换得很快，谢谢")
    citizen.click("#rating button[type=submit]")
    citizen.wait_for_load_state("networkidle")
    assert "感谢您的评价" in citizen.inner_text("body")
    assert citizen.locator("#state").inner_text() == "已关闭"
    assert _ticket(live_app, description)["state"] == State.CLOSED
    shot(citizen, "citizen-track-closed-phone-zh")

    citizen.goto(link + "?lang=en")
    assert citizen.locator("#state").inner_text() == "Closed"
    assert "You sent the report" in citizen.locator("#timeline").inner_text()
    shot(citizen, "citizen-track-phone-en")


def test_the_deputy_prints_the_qr_card(new_page, live_app):
    _code(live_app)
    page = new_page(viewport=DESKTOP)
    sign_in(page, "deputy_wang")
    page.goto("/deputy/qr")
    card = page.locator("#qr-card")
    assert "代表随手拍" in card.inner_text() and "/c/" in page.locator("#card-url").inner_text()
    box = page.locator("#qr-card svg").bounding_box()
    assert box is not None and box["width"] > 150 and abs(box["width"] - box["height"]) < 2
    shot(page, "citizen-qr-card-desktop-zh")
    # The printed page is the card alone, on A6.
    page.emulate_media(media="print")
    assert not page.locator("header.top").is_visible() and not page.locator(".qr-tools").is_visible()
    page.emulate_media(media="screen")
    # The card's address opens the form.
    url = page.locator("#card-url").inner_text()
    phone = new_page(viewport=PHONE)
    phone.goto(url)
    assert "反映问题" in phone.locator("h1").inner_text()
