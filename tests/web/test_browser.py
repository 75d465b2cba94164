"""The sign-in page in a real headless Chromium (PostGIS only, a database of its own)."""

from __future__ import annotations

import pytest

from tests.web.conftest import SHOTS
from ticketing.demo import DEMO_PASSWORD


@pytest.fixture
def page(new_page):
    return new_page()


def test_deputy_signs_in_through_the_browser(page, live_url):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(f"{live_url}/login")
    assert page.locator("h1").inner_text() == "登录"
    page.fill("input[name=username]", "deputy_wang")
    page.fill("input[name=password]", "wrong-password")
    page.click("button[type=submit]")
    assert "用户名或密码错误" in page.locator(".flash").inner_text()
    page.fill("input[name=username]", "deputy_wang")
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#whoami")
    assert "王代表" in page.locator("#whoami").inner_text()
    page.screenshot(path=str(SHOTS / "signed-in-zh.png"))
    page.click("text=English")
    page.wait_for_selector("#whoami")
    assert "Signed in as" in page.locator("#whoami").inner_text()
    page.screenshot(path=str(SHOTS / "signed-in-en.png"))
