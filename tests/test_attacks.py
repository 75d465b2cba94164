"""Attack tests (issue 8): guessing ids across units, path traversal in photo addresses, script
in descriptions and notes on every page that shows them, SQL meta-characters in every list
filter, and over-long fields.

Each attack must end in a clean answer (404 for what the caller may not see, a 4xx for bad input,
or 200 with nothing more than the caller may see) — never a 500, never a leak, nothing written.
Forged CSRF, revoked tokens and the login throttle are covered in tests/web/test_csrf.py and
tests/test_account_attacks.py.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from tests.conftest import NOW, TIANSHUI, jpeg
from ticketing.demo import DEMO_PASSWORD

WULIN = (120.153961, 30.267608)  # inside 武林街道
SCRIPT = "<script>xssmark()</script>"
ESCAPED = "&lt;script&gt;xssmark()&lt;/script&gt;"
IMG = '"><img src=x onerror=xssmark()>'


def _count(model: Any) -> int:
    from ticketing.extensions import db

    return db.session.scalar(select(func.count()).select_from(model)) or 0


def _counts() -> dict[str, int]:
    from ticketing.models import Photo, Ticket, TicketEvent

    return {"tickets": _count(Ticket), "events": _count(TicketEvent), "photos": _count(Photo)}


def _files(app: Any) -> set[str]:
    from pathlib import Path

    root = Path(app.config["PHOTO_DIR"])
    return {str(p) for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def _report(api: Any, as_: str = "deputy_wang", **fields: Any) -> dict[str, Any]:
    resp = api.report(as_, **fields)
    assert resp.status_code == 201, resp.json
    return resp.json  # type: ignore[no-any-return]


def _sign_in(client: Any, username: str) -> None:
    resp = client.post("/login", data={"username": username, "password": DEMO_PASSWORD})
    assert resp.status_code == 302, resp.data[:500]


# ---------------------------------------------------------------------------- IDOR


def test_a_handler_of_another_street_guessing_numbers_ids_and_photo_ids_learns_nothing(api, clock):
    secret = "天水的秘密描述-IDOR"
    t = _report(api, description=secret)
    own = _report(api, "deputy_li", lon=WULIN[0], lat=WULIN[1])  # handler_wulin's, to be sure they see something
    year, seq = t["number"].split("-")
    nonexistent = api.get(f"/api/v1/tickets/{year}-999999", "handler_wulin")
    assert nonexistent.status_code == 404
    guesses = [f"{year}-{int(seq) + d:0{len(seq)}d}" for d in range(-3, 4)] + [
        str(t["id"] + d) for d in range(-3, 4)
    ]
    guesses = [g for g in guesses if g not in (own["number"], str(own["id"]))]
    for guess in guesses:
        for path in (f"/api/v1/tickets/{guess}", f"/api/v1/tickets/{guess}/before-after"):
            resp = api.get(path, "handler_wulin")
            assert resp.status_code == 404, (path, resp.json)
            assert resp.json == nonexistent.json, path  # the same answer as for a ticket that does not exist
            assert secret not in resp.get_data(as_text=True)
    assert api.get(f"/api/v1/tickets/{own['number']}", "handler_wulin").status_code == 200

    photo_ids = [p["id"] for p in t["photos"]]
    theirs = {p["id"] for p in own["photos"]}
    near = [pid + d for pid in photo_ids for d in (-1, 1) if pid + d not in theirs]
    for pid in [*photo_ids, *near, 999_999_999, 2**63]:
        for variant in ("display", "thumb", "original"):
            resp = api.get(f"/api/v1/photos/{pid}/{variant}", "handler_wulin")
            assert resp.status_code == 404, (pid, variant)
            assert resp.mimetype == "application/json"  # no image bytes
    # The list never carries it either, whatever the page.
    listed = api.get("/api/v1/tickets?page_size=100", "handler_wulin").json
    assert t["number"] not in {x["number"] for x in listed["items"]}


def test_a_handler_of_another_street_gets_404_on_the_workbench_page(api, client, clock):
    t = _report(api)
    _sign_in(client, "handler_wulin")
    for key in (t["number"], str(t["id"])):
        resp = client.get(f"/workbench/tickets/{key}")
        assert resp.status_code == 404
        assert "垃圾堆积" not in resp.get_data(as_text=True)


def test_a_citizen_link_shows_no_photo_of_another_ticket(api, app, client, clock):
    other = _report(api)
    received = _citizen_report(app, "楼下垃圾")
    for variant in ("display", "thumb"):
        resp = client.get(f"/t/{received.token}/photos/{other['photos'][0]['id']}/{variant}")
        assert resp.status_code == 404
        assert resp.mimetype != "image/jpeg"


# ---------------------------------------------------------------------------- path traversal


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/photos/1/../../etc/passwd",
        "/api/v1/photos/1/..%2f..%2fetc%2fpasswd",
        "/api/v1/photos/1/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/api/v1/photos/..%2f..%2fetc%2fpasswd/display",
        "/api/v1/photos/%2e%2e/display",
        "/api/v1/photos/1/original%00",
        "/api/v1/photos/1/display%00../../etc/passwd",
        "/api/v1/photos/1/display.jpg",
        "/api/v1/photos/1/..",
        "/api/v1/photos/1/%2e%2e",
        "/api/v1/photos/-1/display",
        "/t/x/photos/1/..%2f..%2fetc%2fpasswd",
        "/t/..%2f..%2fetc%2fpasswd/photos/1/display",
    ],
)
def test_path_traversal_in_photo_addresses_is_404_and_reads_nothing(api, clock, path):
    t = _report(api)
    assert t["photos"]
    resp = api.get(path, "deputy_wang")
    if "%00" in path:  # a NUL byte in the URL is refused as bad input before routing
        assert resp.status_code in (400, 404, 422), (path, resp.status_code)
    else:
        assert resp.status_code == 404, (path, resp.status_code)
    body = resp.get_data()
    assert b"root:" not in body and not body.startswith(b"\xff\xd8")  # neither /etc/passwd nor a JPEG


@pytest.mark.parametrize("key", ["../../etc/passwd", "/etc/passwd", "a/../../../etc/passwd", "..", "a\x00b"])
def test_the_local_store_refuses_keys_that_leave_its_root(app, ctx, key):
    store = app.extensions["photo_store"]
    files = _files(app)
    with pytest.raises((ValueError, KeyError)):
        store.get(key)
    with pytest.raises((ValueError, KeyError)):
        store.put(key, b"x", "image/jpeg")
    try:
        assert not store.exists(key)
    except ValueError:
        pass  # refusing the key outright is as good
    assert _files(app) == files


# ---------------------------------------------------------------------------- script in text


def _citizen_report(app: Any, description: str) -> Any:
    from ticketing.extensions import db
    from ticketing.models import User
    from ticketing.services import citizen
    from ticketing.services.photos import Upload

    deputy = db.session.scalar(select(User).where(User.username == "deputy_wang"))
    received = citizen.report(
        citizen.live_code(deputy, NOW).code, form_key=citizen.new_form_key(), category_code="city.litter",
        description=description, lon=TIANSHUI[0], lat=TIANSHUI[1], uploads=[Upload("c.jpg", jpeg())],
        now=NOW, settings=app.extensions["ticket_settings"], store=app.extensions["photo_store"],
        secret=app.config["SECRET_KEY"], link_days=30, link_for=lambda token: "https://ssp.example/t/" + token,
    )
    db.session.commit()  # a SAVEPOINT release: the API's rollback after a refused call keeps it
    return received


def _assert_escaped(html: str, where: str) -> None:
    assert SCRIPT not in html, f"raw script on {where}"
    assert "<img src=x onerror" not in html, f"raw tag on {where}"
    assert ESCAPED in html, f"escaped script missing on {where}"


def test_script_in_descriptions_and_notes_is_escaped_on_every_page(api, app, client, clock):
    t = _report(api, description=f"垃圾 {SCRIPT} {IMG}", title=f"标题 {SCRIPT}", address=f"地址 {SCRIPT}")
    n = t["number"]
    for user in ("deputy_wang", "handler_tianshui", "supervisor_district"):
        resp = api.post(f"/api/v1/tickets/{n}/comment", user, json={"note": f"备注 {SCRIPT} {IMG}"})
        assert resp.status_code == 200, resp.json
    resp = api.post(f"/api/v1/tickets/{n}/accept", "handler_tianshui", json={"note": f"受理 {SCRIPT}"})
    assert resp.status_code == 200
    # The API gives the text back as it was written (JSON is not HTML; clients escape).
    assert SCRIPT in api.get(f"/api/v1/tickets/{n}", "deputy_wang").json["description"]

    for user, pages in [
        ("deputy_wang", [f"/deputy/tickets/{n}", "/deputy/tickets"]),
        ("handler_tianshui", [f"/workbench/tickets/{n}", "/workbench/"]),
        ("supervisor_district", [f"/supervision/tickets/{n}"]),
    ]:
        _sign_in(client, user)
        for page in pages:
            resp = client.get(page)
            assert resp.status_code == 200, (page, resp.status_code)
            html = resp.get_data(as_text=True)
            assert SCRIPT not in html and "<img src=x onerror" not in html, page
            if page.endswith(n):  # the ticket's own page shows the description and the notes
                _assert_escaped(html, page)
                assert html.count(ESCAPED) >= 3, page  # description and notes, not only one of them
        client.post("/logout")


def test_script_in_a_citizens_report_is_escaped_on_the_tracking_page(app, client, clock):
    received = _citizen_report(app, f"市民 {SCRIPT} {IMG}")
    resp = client.get(f"/t/{received.token}")
    assert resp.status_code == 200
    _assert_escaped(resp.get_data(as_text=True), "/t/<token>")


# ---------------------------------------------------------------------------- SQL meta-characters

META = ["' OR 1=1 --", "%", "_", "\\", '"; DROP TABLE tickets; --', "330105012' OR '1'='1", "%%' --", "*"]


def _numbers(resp: Any) -> set[str]:
    return {t["number"] for t in resp.json["items"]}


@pytest.mark.parametrize("meta", META)
def test_sql_meta_characters_in_every_filter_are_harmless(api, client, clock, meta):
    from ticketing.models import Ticket

    mine = _report(api)["number"]
    theirs = _report(api, "deputy_li", lon=WULIN[0], lat=WULIN[1])["number"]  # a row the attacker must not see
    tickets = _count(Ticket)
    q = quote(meta, safe="")
    seen = {mine}

    # The API ticket list: `state` is an enum, the rest typed; a bad value is a clean 422.
    for param in ("state", "overdue", "escalated", "page", "page_size"):
        resp = api.get(f"/api/v1/tickets?{param}={q}", "handler_tianshui")
        assert resp.status_code in (200, 422), (param, resp.status_code)
        if resp.status_code == 200:
            assert _numbers(resp) <= seen, param
    for param in ("unit", "category", "state", "from", "to", "lang", "format"):
        resp = api.get(f"/api/v1/exports/tickets?{param}={q}", "supervisor_tianshui")
        assert 200 <= resp.status_code < 500, (param, resp.status_code)
        if resp.status_code == 200:
            assert theirs not in resp.get_data(as_text=True), param
    for param in ("unit", "category", "from", "to"):
        resp = api.get(f"/api/v1/kpis?{param}={q}", "supervisor_tianshui")
        assert 200 <= resp.status_code < 500, (param, resp.status_code)
        if resp.status_code == 200:
            assert resp.json["filter"]["unit"] == "330105012"
    for param in ("unit", "active"):
        resp = api.get(f"/api/v1/supervision/items?{param}={q}", "supervisor_tianshui")
        assert 200 <= resp.status_code < 500, (param, resp.status_code)

    _sign_in(client, "handler_tianshui")
    for param in ("q", "state", "category", "page", "overdue", "mine"):
        resp = client.get(f"/workbench/?{param}={q}")
        assert resp.status_code in (200, 400, 404, 422), (param, resp.status_code)
        assert theirs not in resp.get_data(as_text=True), param
    assert _count(Ticket) == tickets  # the table is still there, and nothing was written


def test_a_like_wildcard_in_the_workbench_search_matches_no_more_than_the_literal(api, client, clock):
    mine = _report(api)["number"]
    _sign_in(client, "handler_tianshui")
    for q in ("%", "_", "%-%", "____-______"):
        html = client.get(f"/workbench/?q={quote(q)}").get_data(as_text=True)
        assert mine not in html, q  # a wildcard is a literal character, not "match everything"
    assert mine in client.get(f"/workbench/?q={mine}").get_data(as_text=True)


# ---------------------------------------------------------------------------- over-long fields


def test_over_long_fields_are_refused_and_nothing_is_written(api, app, client, clock):
    n = _report(api)["number"]
    before, files = _counts(), _files(app)
    long = "长" * 100_000

    resp = api.report(description=long)
    assert resp.status_code == 422, resp.status_code
    resp = api.report(category="c" * 10_000)
    assert 400 <= resp.status_code < 500
    resp = api.report(title="t" * 10_000)
    assert resp.status_code == 422
    resp = api.report(address="a" * 10_000)
    assert resp.status_code == 422
    for verb, body in [("comment", {"note": long}), ("accept", {"note": long}), ("return", {"reason": long}),
                       ("urge", {"note": long})]:
        who = "deputy_wang" if verb in ("comment", "urge") else "handler_tianshui"
        resp = api.post(f"/api/v1/tickets/{n}/{verb}", who, json=body)
        assert resp.status_code == 422, (verb, resp.status_code)
    resp = api.post(f"/api/v1/tickets/{n}/add_info", "deputy_wang", data={"note": long}, photos=[jpeg()])
    assert resp.status_code == 422
    assert _counts() == before
    assert _files(app) == files  # no photo of a refused request is left in storage
    state = api.get(f"/api/v1/tickets/{n}", "deputy_wang").json["state"]
    assert state == "dispatched"


def test_an_over_long_open311_description_is_400_and_nothing_is_written(api, app, client, clock):
    from ticketing.extensions import db
    from ticketing.models import User
    from ticketing.services import auth

    key = auth.issue_token(db.session.scalar(select(User).where(User.username == "deputy_wang")), NOW, days=1)
    db.session.commit()
    before, files = _counts(), _files(app)
    resp = client.post("/open311/v2/requests.json", data={
        "api_key": key, "service_code": "city.litter", "lat": str(TIANSHUI[1]), "long": str(TIANSHUI[0]),
        "description": "长" * 100_000,
    })
    assert resp.status_code == 400
    assert _counts() == before and _files(app) == files


def test_an_over_long_citizen_description_is_refused(app, ctx):
    from ticketing.errors import InvalidInput

    before = _counts()
    with pytest.raises(InvalidInput):
        _citizen_report(app, "长" * 100_000)
    assert _counts() == before
