"""The workbench in a real Chromium: a 天水街道 handler finds a new ticket, accepts it and resolves it with a photo.

PostGIS only (the shared live server). The ticket is made here, through the API with a bearer
token, so the test depends on no other test's data. Screenshots: var/screenshots/workbench-*.png.
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from tests.conftest import TIANSHUI, jpeg
from tests.web.conftest import DESKTOP, PHONE, shot, sign_in
from ticketing.demo import DEMO_PASSWORD
from ticketing.extensions import db
from ticketing.models import Ticket
from ticketing.workflow import Action, Outcome, State


def _report(live_app, description: str) -> str:
    client = live_app.test_client()
    token = client.post("/api/v1/auth/token", json={"username": "deputy_wang", "password": DEMO_PASSWORD}).json["token"]
    resp = client.post(
        "/api/v1/tickets",
        data={"category": "city.litter", "description": description, "lon": TIANSHUI[0], "lat": TIANSHUI[1],
              "address": "天水街道 体育场路", "photos": [(io.BytesIO(jpeg()), "report.jpg")]},
        headers={"Authorization": f"Bearer {token}"},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 201, resp.json
    return resp.json["number"]


def _report_days_ago(live_app, days: int, description: str) -> str:
    """A report made `days` ago (the service takes the time as an argument), so it is overdue now."""
    from ticketing.models import User
    from ticketing.services import tickets as svc
    from ticketing.services.photos import Upload

    with live_app.app_context():
        deputy = db.session.scalar(select(User).where(User.username == "deputy_li"))
        t = svc.report(actor=deputy, category_code="city.litter", description=description, lon=TIANSHUI[0] + 0.0005,
                       lat=TIANSHUI[1], uploads=[Upload("old.jpg", jpeg((90, 90, 90)))],
                       now=datetime.now(timezone.utc) - timedelta(days=days),
                       settings=live_app.extensions["ticket_settings"], store=live_app.extensions["photo_store"])
        db.session.commit()
        number = t.number
        db.session.remove()
    return number


def _ticket(live_app, number: str) -> tuple[State, Outcome | None, list[tuple[Action, int]]]:
    with live_app.app_context():
        t = db.session.scalar(select(Ticket).where(Ticket.number == number))
        assert t is not None
        result = (t.state, t.outcome, [(e.action, len(e.photos)) for e in t.events])
        db.session.remove()
    return result


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_handler_accepts_and_resolves_with_a_photo(new_page, live_app, tmp_path, size):
    late = _report_days_ago(live_app, 10, f"十天前的垃圾（{size}）")
    number = _report(live_app, f"路边垃圾堆积（{size}）")
    photo = tmp_path / "after.jpg"
    photo.write_bytes(jpeg((40, 160, 60), (640, 480)))
    page = new_page(viewport=DESKTOP if size == "desktop" else PHONE)
    sign_in(page, "handler_tianshui")

    page.click("header nav >> text=工作台")
    page.wait_for_selector("#queue, #queue-empty")
    assert page.locator("h1").inner_text().startswith("工作台")
    shot(page, f"workbench-queue-{size}")
    # Other tests share this server's database, so look each ticket up by its number.
    page.check("input[name=overdue]")
    page.fill("input[name=q]", late)
    page.click("form.wb-filters button[type=submit]")
    assert "超期" in page.locator(f"tr[data-number='{late}']").inner_text()
    page.uncheck("input[name=overdue]")
    page.fill("input[name=q]", number)
    page.click("form.wb-filters button[type=submit]")
    page.wait_for_selector(f"tr[data-number='{number}']")
    assert page.locator("#queue tbody tr").count() == 1

    page.click(f"tr[data-number='{number}'] a")
    page.wait_for_selector("#form-accept")
    page.wait_for_load_state("networkidle")  # the map's boundary layer
    assert page.locator("#report-photos img").count() == 1
    assert page.locator("#ticket-map .leaflet-pane").count() > 0  # Leaflet drew the map
    shot(page, f"workbench-ticket-{size}")

    page.fill("#accept-note", "今天下午到现场")
    page.click("#form-accept button[type=submit]")
    page.wait_for_selector("#form-resolve")
    assert page.locator("#ticket-state").inner_text() == "已受理"

    page.click("#form-resolve summary")
    page.check("#form-resolve input[name=outcome][value=solved]")
    page.fill("#resolve-note", "已清运，现场恢复整洁")
    page.set_input_files("#resolve-photos", str(photo))
    assert page.locator("#form-resolve .wb-previews img").count() == 1  # the preview of the shot
    page.click("#form-resolve button[type=submit]")
    page.wait_for_selector("#no-actions")
    assert page.locator("#ticket-state").inner_text() == "已办结"
    assert "已清运，现场恢复整洁" in page.locator("#trail").inner_text()
    shot(page, f"workbench-resolved-{size}")

    state, outcome, events = _ticket(live_app, number)
    assert state == State.RESOLVED and outcome == Outcome.SOLVED
    assert events[-1] == (Action.RESOLVE, 1) and events[-2] == (Action.ACCEPT, 0)

    if size == "desktop":
        page.goto(f"/workbench/tickets/{number}?lang=en")
        assert page.locator("#ticket-state").inner_text() == "Resolved"
        shot(page, "workbench-ticket-desktop-en")
        page.goto(f"/workbench/?lang=en&state=all&q={number}")
        assert "Workbench" in page.locator("h1").inner_text()
        shot(page, "workbench-queue-desktop-en")
