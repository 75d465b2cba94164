"""The admin pages in a real headless Chromium on the shared live server (CSRF on).

The import leaves its generation inactive (other tests route on this database), and the
user created has a name no other test uses.
"""

from __future__ import annotations

from tests.conftest import ROOT
from tests.web.conftest import DESKTOP, PHONE, shot, sign_in

STREETS = ROOT / "data" / "hangzhou_xiacheng" / "xiacheng_streets.geojson"


def test_admin_imports_boundaries_and_previews_them_on_the_map(new_page):
    page = new_page(viewport=DESKTOP)
    sign_in(page, "admin")
    page.click("header nav >> text=系统管理")
    assert page.locator("h1").inner_text() == "系统管理"
    shot(page, "admin-overview-desktop")
    page.click(".admin-nav >> text=行政边界")
    page.set_input_files("input[name=file]", str(STREETS))
    page.fill("input[name=key_field]", "街道")
    page.select_option("select[name=match]", "name")
    page.fill("input[name=label]", "下城区街道（浏览器导入）")
    page.click("#import-form button[type=submit]")
    page.wait_for_selector("#preview-map[data-ready=true]")
    assert "已导入" in page.locator(".flash.ok").inner_text()
    assert page.get_attribute("#preview-map", "data-features") == "8"
    assert page.locator("#preview-map path.leaflet-interactive").count() >= 16  # 8 new over 8 active
    assert "已接受：8" in page.locator("main").inner_text()
    assert page.locator("#activate button").is_visible()
    shot(page, "admin-boundary-preview-desktop")

    phone = new_page(viewport=PHONE)
    sign_in(phone, "admin")
    phone.goto(page.url)
    phone.wait_for_selector("#preview-map[data-ready=true]")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(phone, "admin-boundary-preview-phone")
    phone.goto("/admin/boundaries")
    shot(phone, "admin-boundaries-phone")


def test_admin_pages_and_forms_in_both_languages(new_page):
    page = new_page(viewport=DESKTOP)
    sign_in(page, "admin")
    page.goto("/admin/users")
    page.fill("#create-user input[name=username]", "h8_browser_handler")
    page.fill("#create-user input[name=display_name]", "浏览器测试 承办人")
    page.select_option("#create-user select[name=role]", "handler")
    page.select_option("#create-user select[name=unit]", "330105013")
    page.fill("#create-user input[name=password]", "long-enough-1")
    page.click("#create-user button[type=submit]")
    assert "已创建用户 h8_browser_handler" in page.locator(".flash.ok").inner_text()
    assert page.locator("#user-h8_browser_handler").is_visible()
    shot(page, "admin-users-desktop")

    page.goto("/admin/tokens")
    page.fill("#issue-token input[name=username]", "h8_browser_handler")
    page.fill("#issue-token input[name=label]", "12345 热线")
    page.click("#issue-token button[type=submit]")
    token = page.input_value("#new-token")
    assert len(token) > 30
    shot(page, "admin-tokens-desktop")
    page.goto("/admin/tokens")
    assert token not in page.content()

    page.goto("/admin/categories")
    row = page.locator("#cat-city\\.litter")
    assert row.locator("input[name=response_hours]").input_value() == "4"
    shot(page, "admin-categories-desktop")
    page.goto("/admin/units")
    shot(page, "admin-units-desktop")

    phone = new_page(viewport=PHONE)
    sign_in(phone, "admin")
    for path, name in (("/admin/", "admin-overview"), ("/admin/users", "admin-users"),
                       ("/admin/categories", "admin-categories")):
        phone.goto(path)
        assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], path
        shot(phone, f"{name}-phone")
    phone.click("text=English")
    phone.wait_for_load_state("networkidle")
    assert phone.locator("h1").inner_text() == "Categories and deadlines"
    shot(phone, "admin-categories-en-phone")
    page.goto("/admin/?lang=en")
    assert page.locator("h1").inner_text() == "Admin"
    shot(page, "admin-overview-en-desktop")
