"""The supervisor's dashboard in a real headless Chromium (PostGIS only, the shared live server).

The district supervisor (下城区) finds overdue tickets first and on the map, re-dispatches a
returned ticket to another street through the form, answers an extension request, and sees the
supervision list with its candidates; at desktop and phone sizes, in Chinese and once in
English. The tickets are made here through the services, dated in the past where they must be
overdue, so the test depends on no other test's data (other tests' tickets may show too: the
assertions look for these). Screenshots: var/screenshots/supervision-*.png.

With the full Hangzhou demo (the cockpit test's own server and database), the dashboard's load
time is read from the browser's Navigation Timing and printed for docs/web.md, not asserted.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import TIANSHUI, jpeg
from tests.web.conftest import DESKTOP, PHONE, SHOTS, shot, sign_in
from tests.web.test_cockpit_browser import demo_app, demo_url  # noqa: F401  (the demo's own server)
from ticketing.extensions import db

WULIN = (120.153961, 30.267608)
# Real 2018 grid events of 天水街道, within 60 m of each other (tests/test_repeats.py).
NEARBY = ((120.1568697228, 30.2676808938), (120.1566646539, 30.2678078436), (120.1569445952, 30.2679539755))
MARK = "督办看板测试"


def _user(username: str) -> Any:
    from ticketing.models import User

    return db.session.scalar(select(User).where(User.username == username))


@pytest.fixture(scope="module")
def made(live_app: Any) -> dict[str, Any]:
    """This module's tickets, committed on the live server's database (times relative to now)."""
    from ticketing.services import extensions, repeats, supervision
    from ticketing.services import tickets as svc
    from ticketing.services.photos import Upload

    settings, store = live_app.extensions["ticket_settings"], live_app.extensions["photo_store"]
    now = datetime.now(timezone.utc)

    def report(when: datetime, point: tuple[float, float] = TIANSHUI, category: str = "city.litter",
               text: str = "垃圾堆积") -> Any:
        return svc.report(actor=_user("deputy_wang"), category_code=category, description=f"{MARK}：{text}",
                          lon=point[0], lat=point[1], uploads=[Upload("a.jpg", jpeg())], now=when,
                          settings=settings, store=store)

    with live_app.app_context():
        # Three weeks old and never accepted: overdue whatever the holidays in between.
        overdue = [report(now - timedelta(days=21), text="垃圾桶满溢"),
                   report(now - timedelta(days=20), WULIN, text="人行道堆放杂物"),
                   report(now - timedelta(days=19), category="environment.fumes", text="<b>油烟</b>直排")]
        returned = report(now - timedelta(hours=2), text="井边垃圾")
        svc.return_(returned, _user("handler_tianshui"), now - timedelta(hours=1), reason="此处属武林街道管辖")
        # A second returned ticket and extension request stay for the phone's screenshots.
        waiting = report(now - timedelta(hours=2), WULIN, text="路边废弃家具")
        svc.return_(waiting, _user("handler_wulin"), now - timedelta(minutes=30), reason="需执法局处理")
        extended = report(now - timedelta(hours=3), text="大件垃圾需清运")
        svc.accept(extended, _user("handler_tianshui"), now - timedelta(hours=2), note="收到")
        ext = extensions.request(extended, _user("handler_tianshui"), now - timedelta(hours=1), days=3,
                                 reason="需协调清运车辆", settings=settings)
        later = report(now - timedelta(hours=3), WULIN, text="绿化带垃圾")
        svc.accept(later, _user("handler_wulin"), now - timedelta(hours=2), note="收到")
        extensions.request(later, _user("handler_wulin"), now - timedelta(minutes=20), days=2,
                           reason="等待园林部门配合", settings=settings)
        cluster = [report(now - timedelta(days=2, minutes=i), p, category="facilities.manholes", text="井盖松动")
                   for i, p in enumerate(NEARBY)]
        repeats.detect(now, radius_m=250, window_days=30, min_count=3)
        item = supervision.add(_user("supervisor_district"), ticket_number=overdue[0].number,
                               reason="超期三周未签收", leader="下城区 李副区长",
                               review_on=date.today() + timedelta(days=7), now=now - timedelta(days=1),
                               settings=settings)
        db.session.commit()
        out = {
            "overdue": [t.number for t in overdue],
            "returned": returned.number,
            "extended": extended.number,
            "extension": ext.id,
            "cluster": [t.number for t in cluster],
            "item": item.id,
        }
        db.session.remove()
    return out


def _wait_for_map(page: Any) -> None:
    page.wait_for_selector("#ticket-map[data-points]")
    page.wait_for_load_state("networkidle")


def _state(live_app: Any, number: str) -> tuple[str, str]:
    from ticketing.models import Ticket

    with live_app.app_context():
        t = db.session.scalar(select(Ticket).where(Ticket.number == number))
        result = (t.state.value, t.handling_unit.code)
        db.session.remove()
    return result


def test_the_district_supervisor_works_the_dashboard_at_desktop_size(new_page, made, live_app):
    page = new_page(viewport=DESKTOP)
    sign_in(page, "supervisor_district")
    page.click("header nav >> text=督办看板")
    _wait_for_map(page)
    assert page.locator("h1").inner_text().startswith("督办看板")
    # Overdue first: these three are in overdue rows, each saying so in words, not only in red.
    for number in made["overdue"]:
        row = page.locator(f"table.attention tr[data-number='{number}']")
        assert "row-overdue" in row.get_attribute("class") and "超期" in row.locator("td.status").inner_text()
    assert int(page.get_attribute("#ticket-map", "data-points")) >= 3 + 1 + 1 + 3
    assert page.locator("#ticket-map path.leaflet-interactive").count() >= 8  # boundaries and points
    shot(page, "supervision-dashboard-zh-desktop")
    page.locator("#ticket-map").screenshot(path=str(SHOTS / "supervision-map-zh-desktop.png"))

    # The returned queue: re-dispatch to 武林街道 through the form.
    page.click("nav.tabs >> text=待决定")
    card = page.locator(f"article[data-number='{made['returned']}']")
    assert "此处属武林街道管辖" in card.inner_text()
    shot(page, "supervision-decisions-zh-desktop")
    card.locator("select[name=unit]").select_option(label="武林街道")
    card.locator("textarea[name=note]").fill("请武林街道三日内清理")
    card.locator("button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    assert "已改派。" in page.locator(".flash").inner_text()
    assert page.locator(f"article[data-number='{made['returned']}']").count() == 0
    assert _state(live_app, made["returned"]) == ("dispatched", "330105013")

    # The extension request: refusing needs a note (the browser's own check stays out of it here).
    card = page.locator(f"#extensions article[data-number='{made['extended']}']")
    card.locator("button[value=refuse]").click()
    page.wait_for_load_state("networkidle")
    assert page.locator(".flash.error").count() == 1
    card = page.locator(f"#extensions article[data-number='{made['extended']}']")
    card.locator("textarea[name=note]").fill("同意延期，请按新时限办结")
    card.locator("button[value=approve]").click()
    page.wait_for_load_state("networkidle")
    assert "已同意延期。" in page.locator(".flash").inner_text()

    # The supervision list with its weekly progress, and the repeated-complaint candidate.
    page.click("nav.tabs >> text=挂牌督办")
    item = page.locator(f"article[data-item='{made['item']}']")
    assert "超期三周未签收" in item.inner_text() and "下城区 李副区长" in item.inner_text()
    item.locator("details.weeks summary").click()
    candidate = page.locator("#candidates article", has_text=made["cluster"][0])
    assert candidate.count() == 1
    shot(page, "supervision-list-zh-desktop")

    page.click("nav.tabs >> text=考核排名")
    assert page.locator("table.kpis tr.total").count() == 1
    shot(page, "supervision-performance-zh-desktop")

    # A ticket: user text is escaped, the actions the workflow allows are offered.
    page.goto(f"/supervision/tickets/{made['overdue'][2]}")
    assert "<b>油烟</b>直排" in page.locator("p.description").inner_text()
    assert page.locator("details.action[data-action=invalid]").count() == 1
    shot(page, "supervision-ticket-zh-desktop")

    # And in English.
    page.goto("/supervision/")
    page.click("text=English")
    _wait_for_map(page)
    assert page.locator("h1").inner_text().startswith("Supervision dashboard")
    assert "Overdue" in page.locator(f"tr[data-number='{made['overdue'][0]}'] td.status").inner_text()
    shot(page, "supervision-dashboard-en-desktop")
    page.click("text=中文")


def test_the_pages_fit_a_phone(new_page, made):
    page = new_page(viewport=PHONE)
    sign_in(page, "supervisor_district")
    page.goto("/supervision/")
    _wait_for_map(page)
    # Nothing wider than the screen: wide tables scroll inside their own box.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "supervision-dashboard-zh-phone")
    page.locator("#ticket-map").screenshot(path=str(SHOTS / "supervision-map-zh-phone.png"))
    for tab, name in (("待决定", "decisions"), ("挂牌督办", "list"), ("考核排名", "performance")):
        page.click(f"nav.tabs >> text={tab}")
        page.wait_for_load_state("networkidle")
        if name == "decisions":
            assert page.locator("#returned article").count() >= 1 and page.locator("#extensions article").count() >= 1
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], name
        shot(page, f"supervision-{name}-zh-phone")
    page.goto(f"/supervision/tickets/{made['overdue'][0]}")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "supervision-ticket-zh-phone")


def _timing(page: Any) -> dict[str, float]:
    entry = json.loads(page.evaluate("JSON.stringify(performance.getEntriesByType('navigation')[0])"))
    return {
        "server_ms": round(entry["responseStart"] - entry["requestStart"], 1),
        "dom_ready_ms": round(entry["domContentLoadedEventEnd"] - entry["startTime"], 1),
        "load_ms": round(entry["loadEventEnd"] - entry["startTime"], 1),
        "bytes": entry.get("transferSize", 0),
    }


def test_dashboard_load_time_with_the_demo_data(browser, demo_url):  # noqa: F811
    context = browser.new_context(viewport=DESKTOP, base_url=demo_url)
    try:
        page = context.new_page()
        sign_in(page, "supervisor_district")
        timings = {}
        for path in ("/supervision/", "/supervision/", "/supervision/decisions", "/supervision/list",
                     "/supervision/performance"):
            page.goto(path)
            page.wait_for_load_state("networkidle")
            timings.setdefault(path, []).append(_timing(page))
        print(f"\nsupervision pages with the demo data (Navigation Timing): {json.dumps(timings, ensure_ascii=False)}")
        page.goto("/supervision/")
        _wait_for_map(page)
        assert int(page.get_attribute("#ticket-map", "data-points")) > 0
        shot(page, "supervision-dashboard-demo-zh-desktop")
    finally:
        context.close()
