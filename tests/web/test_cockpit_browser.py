"""The public cockpit in a real headless Chromium, on the full Hangzhou demo (228 replayed tickets).

The demo gets a PostGIS database and server of its own (the shared live server has only the
demo world, no history, and other tests' tickets): the figures are those a visitor of
``make run`` sees. How long the page takes is read from the browser's Navigation Timing and
printed (docs/web.md keeps the figure), not asserted.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.serving import make_server

from tests.conftest import own_postgis_app
from tests.web.conftest import DESKTOP, PHONE, shot
from ticketing.demo import HZ_USERS


@pytest.fixture(scope="module")
def demo_app(postgis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """The app on its own PostGIS database with the demo loaded as `flask demo load` does (dated to now)."""
    from ticketing import demo
    from ticketing.extensions import db
    from ticketing.models import Photo, Rating, Ticket
    from ticketing.services import kpi_facts
    from ticketing.workflow import ClosedReason, Score, State

    app = own_postgis_app(postgis_url, "suishoupai_cockpit", tmp_path_factory.mktemp("cockpit"))
    app.config["WTF_CSRF_ENABLED"] = True
    with app.app_context():
        now = datetime.now(timezone.utc)
        demo.load("hangzhou", now=now, settings=app.extensions["ticket_settings"], store=app.extensions["photo_store"])
        # `make run` runs the worker beside the web app, and it keeps the KPI facts fresh.
        kpi_facts.refresh(app.extensions["ticket_settings"], now)
        # Consent to publish (the reporter's or a supervisor's) is not recorded by any page yet:
        # publish the photos of the four newest satisfied cases, as such a consent would.
        newest = db.session.scalars(
            select(Ticket).join(Rating, Rating.id == Ticket.final_rating_id)
            .where(Ticket.state == State.CLOSED, Ticket.closed_reason == ClosedReason.RATED,
                   Rating.score.in_([Score.SATISFIED, Score.BASICALLY_SATISFIED]))
            .order_by(Ticket.closed_at.desc()).limit(4)
        ).all()
        for photo in db.session.scalars(select(Photo).where(Photo.ticket_id.in_([t.id for t in newest]))):
            photo.public_ok = True
        db.session.commit()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(scope="module")
def demo_url(demo_app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, demo_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def open_page(browser: Any, demo_url: str) -> Iterator[Any]:
    contexts: list[Any] = []

    def make(viewport: dict[str, int]) -> Any:
        context = browser.new_context(viewport=viewport, base_url=demo_url)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def _timing(page: Any) -> dict[str, float]:
    entry = json.loads(page.evaluate("JSON.stringify(performance.getEntriesByType('navigation')[0])"))
    return {
        "server_ms": round(entry["responseStart"] - entry["requestStart"], 1),
        "dom_ready_ms": round(entry["domContentLoadedEventEnd"] - entry["startTime"], 1),
        "load_ms": round(entry["loadEventEnd"] - entry["startTime"], 1),
        "bytes": entry.get("transferSize", 0),
    }


def _wait_for_map(page: Any) -> None:
    page.wait_for_selector("#heat-map[data-ready=true]")
    # The cases' photos load lazily: bring them into view before a full-page screenshot.
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    page.wait_for_load_state("networkidle")
    page.evaluate("window.scrollTo(0, 0)")


def test_cockpit_loads_fast_with_the_demo_data_and_shows_no_person(open_page, demo_app):
    import time

    from ticketing.web.cockpit import figures

    cache = figures.cache_of(demo_app)
    cache.clear()
    page = open_page(DESKTOP)
    timings = {}
    page.goto("/cockpit/")
    timings["first visit (nothing cached yet)"] = _timing(page)
    _wait_for_map(page)
    page.goto("/cockpit/")
    timings["within the cache minute"] = _timing(page)
    _wait_for_map(page)
    # Two minutes on: the figures are computed again, the charts (keyed by what they draw) are kept.
    cache.clock = lambda: time.monotonic() + 120
    page.goto("/cockpit/")
    timings["figures recomputed, same charts"] = _timing(page)
    _wait_for_map(page)
    print("\ncockpit with the demo data, Navigation Timing (ms):")
    for what, figure in timings.items():
        print(f"  {what}: {figure}")

    assert page.locator("h1").inner_text().startswith("数字驾驶舱")
    assert int(page.locator("#count-reported .value").inner_text()) == 228
    cells = int(page.get_attribute("#heat-map", "data-cells"))
    assert cells > 0 and page.locator("#heat-map path.leaflet-interactive").count() >= cells
    assert page.locator("article.case").count() == 4
    assert page.locator("article.case img").first.evaluate("img => img.complete && img.naturalWidth > 0")
    text = page.locator("body").inner_text()
    for person in HZ_USERS:
        assert person.display_name not in text
    assert "网格事件" not in text  # the demo descriptions
    shot(page, "cockpit-zh-desktop")


def test_cockpit_on_a_phone_in_both_languages(open_page):
    page = open_page(PHONE)
    page.goto("/cockpit/?period=month")
    _wait_for_map(page)
    assert page.locator(".periods a[aria-current=page]").inner_text() == "本月"
    # Nothing wider than the phone's screen (tables scroll inside their own box).
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "cockpit-zh-phone")
    page.click("text=English")
    _wait_for_map(page)
    assert page.locator("h1").inner_text().startswith("Digital cockpit")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "cockpit-en-phone")
    page.set_viewport_size(DESKTOP)
    page.goto("/cockpit/?period=year")
    _wait_for_map(page)
    shot(page, "cockpit-en-desktop")
