"""The sign-in page in a real headless Chromium (PostGIS only, a database of its own)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url
from werkzeug.serving import make_server

from tests.conftest import NOW, ROOT, make_app
from ticketing.demo import DEMO_PASSWORD

CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "var" / "screenshots"  # kept after the run, for people to look at


@pytest.fixture(scope="module")
def live_url(postgis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app served over HTTP on 127.0.0.1, on a fresh PostGIS database of its own."""
    import flask_migrate

    from ticketing.demo import build_hangzhou
    from ticketing.extensions import db

    url = make_url(postgis_url)
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    name = "suishoupai_browser"
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {name}")
        c.execute(f"CREATE DATABASE {name}")
    own = url.set(database=name)
    with psycopg.connect(own.set(drivername="postgresql").render_as_string(hide_password=False), autocommit=True) as c:
        c.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    app = make_app(own.render_as_string(hide_password=False), tmp_path_factory.mktemp("browser"))
    with app.app_context():
        flask_migrate.upgrade()
        build_hangzhou(NOW)
        db.session.commit()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(scope="module")
def page(live_url: str) -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: `make test` installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        pg = browser.new_page()
        yield pg
        browser.close()


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
