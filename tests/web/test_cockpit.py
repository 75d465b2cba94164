"""The public cockpit: the city's figures for anyone, the same as the KPI API, and no personal data.

Each test builds its own tickets through the API at the frozen request time (Monday 2 March
2026), so "this year so far" is 1 January to 2 March and every ticket falls in it.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import TIANSHUI, jpeg
from ticketing.extensions import db
from ticketing.models import Ticket, User
from ticketing.web.cockpit import figures

WULIN = (120.153961, 30.267608)  # inside 武林街道, a few hundred metres from TIANSHUI
ELSEWHERE = (120.1650, 30.2760)
SECRET_DESCRIPTION = "楼下王阿姨家门口垃圾堆积"
SECRET_ADDRESS = "天水街道某某小区5幢"
SECRET_TITLE = "门口堆物"
DEPUTY_PHONE = "13800138000"


@pytest.fixture(autouse=True)
def fresh_cache(app):
    """Each test sees figures computed from its own tickets, not an earlier test's cached ones."""
    figures.cache_of(app).clear()
    yield
    figures.cache_of(app).clear()


def _report(api: Any, where: tuple[float, float], **fields: Any) -> str:
    resp = api.report(lon=where[0], lat=where[1], description=SECRET_DESCRIPTION, address=SECRET_ADDRESS,
                      title=SECRET_TITLE, **fields)
    assert resp.status_code == 201, resp.json
    return resp.json["number"]


def _post(api: Any, number: str, verb: str, user: str, **kw: Any) -> None:
    resp = api.post(f"/api/v1/tickets/{number}/{verb}", user, **kw)
    assert resp.status_code == 200, resp.json


def _close(api: Any, number: str, score: str = "satisfied") -> None:
    _post(api, number, "accept", "handler_tianshui", json={"note": "收到"})
    _post(api, number, "resolve", "handler_tianshui", data={"note": "已清理", "outcome": "solved"},
          photos=[jpeg((20, 160, 20))])
    _post(api, number, "rate", "deputy_wang", json={"score": score})


def _ticket(number: str) -> Ticket:
    return db.session.scalar(select(Ticket).where(Ticket.number == number))


def _publish_photos(number: str) -> list[int]:
    # No page sets Photo.public_ok yet (the reporter's or a supervisor's consent): the test does.
    ticket = _ticket(number)
    for photo in ticket.photos:
        photo.public_ok = True
    db.session.flush()
    return [p.id for p in ticket.photos]


@pytest.fixture
def world(api, clock) -> dict[str, Any]:
    """Three public reports in one cell, two in another, three private ones in a third; one case
    closed satisfied with published photos, one without, one rated unsatisfied."""
    here = [_report(api, TIANSHUI) for _ in range(3)]
    there = [_report(api, WULIN) for _ in range(2)]
    private = [_report(api, ELSEWHERE, visibility="private") for _ in range(3)]
    _close(api, here[0])
    published = _publish_photos(here[0])
    _close(api, here[1])
    _close(api, here[2], "unsatisfied")
    user = db.session.scalar(select(User).where(User.username == "deputy_wang"))
    user.phone = DEPUTY_PHONE
    db.session.flush()
    return {"here": here, "there": there, "private": private, "published": published}


def test_the_cockpit_is_public_and_linked_for_everyone(client):
    resp = client.get("/cockpit/")
    assert resp.status_code == 200
    body = resp.get_data(as_text=True)
    assert "数字驾驶舱" in body and "本年" in body
    # The page's header carries the visitor's name and CSRF token: no shared cache may keep it.
    assert "public" not in resp.headers.get("Cache-Control", "")
    assert client.get("/cockpit/heat.json").headers["Cache-Control"] == "public, max-age=60"
    assert 'href="/cockpit/"' in client.get("/").get_data(as_text=True)


def test_counts_are_the_period_reports_by_state(client, world):
    body = client.get("/cockpit/").get_data(as_text=True)

    def stat(name: str) -> int:
        match = re.search(rf'id="count-{name}">.*?<div class="value">(\d+)</div>', body, re.S)
        assert match, name
        return int(match.group(1))

    # 8 reports; 2 closed (satisfied), the unsatisfied one went back to work: 6 in progress.
    assert (stat("reported"), stat("open"), stat("resolved"), stat("closed")) == (8, 6, 0, 2)


def test_rates_are_those_of_the_kpi_api_for_the_city(client, api, world):
    body = client.get("/cockpit/").get_data(as_text=True)
    kpis = api.get("/api/v1/kpis?unit=330100&from=2026-01-01&to=2026-03-03", "supervisor_city").json
    for key in ("response_rate", "on_time_rate", "resolution_rate", "satisfaction_final"):
        match = re.search(rf'id="rate-{key}">.*?data-value="([^"]*)"', body, re.S)
        assert match, key
        shown = float(match.group(1)) if match.group(1) else None
        assert shown == kpis[key]["value"], key
    # The satisfaction figure is 2 of 3 ratings, as the API says.
    assert kpis["satisfaction_final"]["numerator"] == 2 and kpis["satisfaction_final"]["denominator"] == 3
    assert "66.7%" in body


def test_the_figures_are_metrics_compute_for_the_root_unit(ctx, world, clock):
    from ticketing import metrics
    from ticketing.models import OrgUnit

    period = figures.period_for("year", date(2026, 3, 2))
    settings = ctx.extensions["ticket_settings"]
    found = figures.compute(period, clock.at, settings, due_soon_response_hours=1.0, due_soon_resolution_hours=4.0)
    city = db.session.scalar(select(OrgUnit).where(OrgUnit.code == "330100"))
    start, end = metrics.local_period(date(2026, 1, 1), date(2026, 3, 3), settings.timezone)
    expected = metrics.compute(metrics.KpiFilter(city.id, start, end), clock.at, settings,
                               due_soon_response_hours=1.0, due_soon_resolution_hours=4.0)
    assert found.kpis == expected
    assert found.unit["code"] == "330100"


def test_no_names_phones_descriptions_addresses_or_numbers_appear(client, world):
    pages = [client.get(path).get_data(as_text=True)
             for path in ("/cockpit/", "/cockpit/?period=month", "/cockpit/?lang=en", "/cockpit/heat.json")]
    assert "Digital cockpit" in pages[2]
    people = db.session.execute(select(User.display_name, User.username)).all()
    numbers = world["here"] + world["there"] + world["private"]
    for body in pages:
        for display_name, username in people:
            assert display_name not in body and username not in body
        for secret in (DEPUTY_PHONE, SECRET_DESCRIPTION, SECRET_ADDRESS, SECRET_TITLE, *numbers):
            assert secret not in body
        # Not even the first decimals of a ticket's exact position.
        assert str(TIANSHUI[0])[:9] not in body and str(WULIN[0])[:9] not in body


def test_heat_map_shows_only_cells_with_at_least_three_public_reports(client, world):
    assert figures.cell_of(*TIANSHUI, 200) != figures.cell_of(*WULIN, 200)
    data = client.get("/cockpit/heat.json").get_json()
    assert data["min_count"] == 3 and data["cell_m"] == 200
    assert [f["properties"]["count"] for f in data["features"]] == [3]
    # The two 武林 reports are withheld (counted only as a total); the three private ones are not counted at all.
    assert data["hidden_reports"] == 2
    west, south = data["features"][0]["geometry"]["coordinates"][0][0]
    east, north = data["features"][0]["geometry"]["coordinates"][0][2]
    assert west <= TIANSHUI[0] <= east and south <= TIANSHUI[1] <= north


def _metres(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance (haversine, mean Earth radius)."""
    import math

    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(a))


def test_heat_cells_are_squares_of_about_200_m():
    row, col = figures.cell_of(*TIANSHUI, 200)
    west, south, east, north = figures.cell_bounds(row, col, 200)
    width = _metres(west, (south + north) / 2, east, (south + north) / 2)
    height = _metres(west, south, west, north)
    assert 195 < width < 205 and 195 < height < 205
    assert west <= TIANSHUI[0] < east and south <= TIANSHUI[1] < north


def test_period_switcher_and_unknown_period(client, world):
    body = client.get("/cockpit/?period=month").get_data(as_text=True)
    assert "2026-03-01 至 2026-03-02" in body and 'aria-current="page">本月' in body
    assert "按周趋势" in body
    body = client.get("/cockpit/?period=quarter").get_data(as_text=True)
    assert "2026-01-01 至 2026-03-02" in body
    body = client.get("/cockpit/?period=decade").get_data(as_text=True)
    assert 'aria-current="page">本年' in body and "按月趋势" in body


def test_period_bounds():
    today = date(2026, 8, 15)
    assert figures.period_for("month", today) == figures.Period("month", date(2026, 8, 1), date(2026, 8, 16))
    assert figures.period_for("quarter", today).first == date(2026, 7, 1)
    assert figures.period_for("year", today).first == date(2026, 1, 1)
    assert figures.period_for("nonsense", today).key == "year"


def test_every_day_of_a_period_falls_in_one_of_its_trend_buckets():
    from datetime import timedelta

    for key in figures.PERIODS:
        for today in (date(2026, 3, 2), date(2026, 1, 1), date(2026, 12, 31), date(2026, 6, 14)):
            period = figures.period_for(key, today)
            buckets = figures._buckets(period)
            assert buckets[0] == period.first and buckets == sorted(set(buckets))
            day = period.first
            while day < period.last:
                assert figures._bucket_of(period, day) in buckets, (key, today, day)
                day += timedelta(days=1)
    # Weeks start on Mondays after a first partial week: 1 March 2026 is a Sunday.
    assert figures._buckets(figures.period_for("month", date(2026, 3, 2))) == [date(2026, 3, 1), date(2026, 3, 2)]


def test_trend_counts_the_reports_of_each_week_and_month(client, world):
    def rows(path: str) -> list[tuple[str, int, int]]:
        body = client.get(path).get_data(as_text=True)
        table = re.search(r'<table id="trend-table">(.*?)</table>', body, re.S).group(1)
        return [(a, int(b), int(c)) for a, b, c in re.findall(r"<tr><td>(.*?)</td><td>(\d+)</td><td>(\d+)</td></tr>", table)]

    assert rows("/cockpit/?period=month") == [("3/1", 0, 0), ("3/2", 8, 3)]
    assert rows("/cockpit/?period=year") == [("1月", 0, 0), ("2月", 0, 0), ("3月", 8, 3)]


def test_cases_show_satisfied_public_tickets_with_their_published_photos(client, world):
    body = client.get("/cockpit/").get_data(as_text=True)
    cases = re.findall(r'<article class="card case">(.*?)</article>', body, re.S)
    # Two closed satisfied; the unsatisfied one is back at work; the one with photos comes first.
    assert len(cases) == 2
    first = cases[0]
    assert "城市管理 · 垃圾乱扔" in first and "天水街道" in first and "满意" in first
    before, after = world["published"]
    assert f"/cockpit/photos/{before}/thumb" in first and f"/cockpit/photos/{after}/thumb" in first
    assert "该案例暂无公开照片" in cases[1]


def test_published_photos_are_served_and_nothing_else(client, world):
    before, after = world["published"]
    resp = client.get(f"/cockpit/photos/{after}/display")
    assert resp.status_code == 200 and resp.mimetype == "image/jpeg" and resp.data[:3] == b"\xff\xd8\xff"
    assert client.get(f"/cockpit/photos/{before}/thumb").status_code == 200
    # The original (with its EXIF) never, whatever the variant name.
    assert client.get(f"/cockpit/photos/{before}/original").status_code == 404
    # An unpublished photo of a satisfied case, and a published one of an unsatisfied ticket: 404.
    unpublished = _ticket(world["here"][1]).photos[0].id
    assert client.get(f"/cockpit/photos/{unpublished}/thumb").status_code == 404
    reopened = _publish_photos(world["here"][2])
    assert client.get(f"/cockpit/photos/{reopened[0]}/thumb").status_code == 404
    assert client.get("/cockpit/photos/999999/thumb").status_code == 404


def test_a_private_ticket_is_never_a_case(client, api, world):
    number = world["private"][0]
    _close(api, number)
    for photo_id in _publish_photos(number):
        assert client.get(f"/cockpit/photos/{photo_id}/thumb").status_code == 404
    body = client.get("/cockpit/").get_data(as_text=True)
    assert len(re.findall(r'<article class="card case">', body)) == 2


def test_figures_are_cached_for_a_while(client, api, clock, app):
    moments = [0.0]
    app.extensions["cockpit_cache"] = figures.Cache(clock=lambda: moments[0])
    try:
        _report(api, TIANSHUI)

        def reported() -> int:
            body = client.get("/cockpit/").get_data(as_text=True)
            return int(re.search(r'id="count-reported">.*?<div class="value">(\d+)</div>', body, re.S).group(1))

        assert reported() == 1
        _report(api, TIANSHUI)
        moments[0] = 59.0
        assert reported() == 1
        moments[0] = 61.0
        assert reported() == 2
    finally:
        app.extensions["cockpit_cache"] = figures.Cache()


def test_cache_seconds_zero_means_no_cache(client, api, clock, app):
    app.config["COCKPIT_CACHE_SECONDS"] = 0
    try:
        _report(api, TIANSHUI)
        assert client.get("/cockpit/heat.json").get_json()["hidden_reports"] == 1
        _report(api, TIANSHUI)
        assert client.get("/cockpit/heat.json").get_json()["hidden_reports"] == 2
    finally:
        app.config["COCKPIT_CACHE_SECONDS"] = 60


def test_english_on_request(client, world):
    body = client.get("/cockpit/?lang=en").get_data(as_text=True)
    assert "Digital cockpit" in body and "This year" in body and "Hangzhou" in body
    assert "City management · Litter" in body and "Satisfied" in body
    assert "数字驾驶舱" not in body


def test_charts_are_server_drawn_svg(client, world):
    import base64

    body = client.get("/cockpit/").get_data(as_text=True)
    images = re.findall(r'src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', body)
    assert len(images) == 3
    assert all(base64.b64decode(i).lstrip().startswith(b"<?xml") for i in images)
    assert "<script" not in base64.b64decode(images[0]).decode()


def test_empty_database_period_shows_zeroes(client, clock):
    body = client.get("/cockpit/").get_data(as_text=True)
    assert re.search(r'id="count-reported">.*?<div class="value">0</div>', body, re.S)
    assert "暂无可展示的办结案例" in body
    assert client.get("/cockpit/heat.json").get_json()["features"] == []
