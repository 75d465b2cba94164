"""Shared fixtures of the web tests: CSRF switched on, and one live server with a headless Chromium.

Every browser test file uses the same server and database (session scope: the demo world is
built once), so each test makes its own tickets rather than relying on another test's.
Screenshots go to ``var/screenshots`` (kept after the run, for people to look at).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from tests.conftest import NOW, ROOT, own_postgis_app

CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "var" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}


@pytest.fixture
def csrf_on(app: Flask) -> Iterator[None]:
    """Forms and session-authenticated API calls checked for their CSRF token, as in production."""
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        yield
    finally:
        app.config["WTF_CSRF_ENABLED"] = False


@pytest.fixture(scope="session")
def live_app(postgis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """The app on a fresh PostGIS database of its own, demo world built, CSRF on."""
    from ticketing.demo import build_hangzhou
    from ticketing.extensions import db

    app = own_postgis_app(postgis_url, "suishoupai_browser", tmp_path_factory.mktemp("browser"))
    app.config["WTF_CSRF_ENABLED"] = True
    with app.app_context():
        build_hangzhou(NOW)
        db.session.commit()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(scope="session")
def live_url(live_app: Flask) -> Iterator[str]:
    """The live app served over HTTP on 127.0.0.1 (threaded)."""
    server = make_server("127.0.0.1", 0, live_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright (it cannot download its own here)."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: `make test` installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def new_page(browser: Any, live_url: str) -> Iterator[Callable[..., Any]]:
    """A factory of pages in fresh browser contexts (own cookies): ``new_page(viewport=PHONE)``."""
    contexts: list[Any] = []

    def make(viewport: dict[str, int] | None = None, **options: Any) -> Any:
        context = browser.new_context(viewport=viewport or DESKTOP, base_url=live_url, **options)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def sign_in(page: Any, username: str, password: str | None = None) -> None:
    """Sign in through the real form (CSRF token included by the page)."""
    from ticketing.demo import DEMO_PASSWORD

    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password or DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def shot(page: Any, name: str) -> Path:
    """A full-page screenshot under var/screenshots/<name>.png."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
