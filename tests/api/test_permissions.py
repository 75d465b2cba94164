"""Who sees and does what (DESIGN.md §2, §8): scoped to the org tree; invisible is 404, forbidden is 403."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import jpeg

WULIN = (120.153961, 30.267608)  # inside 武林街道
OUTSIDE = (120.0, 30.0)  # outside every polygon of 下城区: goes to the city's dispatch desk


def report(api: Any, as_: str = "deputy_wang", **fields: Any) -> dict[str, Any]:
    resp = api.report(as_, **fields)
    assert resp.status_code == 201, resp.json
    return resp.json  # type: ignore[no-any-return]


def listed(api: Any, user: str, query: str = "") -> set[str]:
    resp = api.get(f"/api/v1/tickets?page_size=100{query}", user)
    assert resp.status_code == 200, resp.json
    return {t["number"] for t in resp.json["items"]}


@pytest.fixture
def world(api: Any) -> dict[str, str]:
    """One ticket in each corner: 天水街道, 武林街道, the district's law-enforcement bureau, the city desk."""
    tianshui = report(api, "deputy_wang")
    wulin = report(api, "deputy_li", lon=WULIN[0], lat=WULIN[1])
    fumes = report(api, "deputy_wang", category="environment.fumes", description="餐馆油烟")
    outside = report(api, "deputy_wang", lon=OUTSIDE[0], lat=OUTSIDE[1])
    assert tianshui["handling_unit"]["code"] == "330105012"
    assert wulin["handling_unit"]["code"] == "330105013"
    assert fumes["handling_unit"]["code"] == "330103-ZF"
    assert outside["handling_unit"]["code"] == "330100-PD"
    return {
        "tianshui": tianshui["number"],
        "wulin": wulin["number"],
        "fumes": fumes["number"],
        "outside": outside["number"],
    }


# ---------------------------------------------------------------------------- lists are scoped


@pytest.mark.parametrize(
    ("user", "sees"),
    [
        ("supervisor_city", {"tianshui", "wulin", "fumes", "outside"}),
        ("supervisor_district", {"tianshui", "wulin", "fumes"}),
        ("supervisor_tianshui", {"tianshui"}),
        ("handler_tianshui", {"tianshui"}),
        ("handler_tianshui2", {"tianshui"}),
        ("handler_wulin", {"wulin"}),
        ("handler_chaohui", set()),
        ("handler_enforcement", {"fumes"}),
        ("handler_dispatch", {"outside"}),
        ("deputy_wang", {"tianshui", "fumes", "outside"}),
        ("deputy_li", {"wulin"}),
        ("admin", {"tianshui", "wulin", "fumes", "outside"}),
    ],
)
def test_list_shows_exactly_what_the_user_may_see(api, world, user, sees):
    assert listed(api, user) == {world[k] for k in sees}


@pytest.mark.parametrize(
    ("user", "sees"),
    [
        ("supervisor_district", {"tianshui", "wulin", "fumes"}),
        ("supervisor_tianshui", {"tianshui"}),
        ("handler_wulin", {"wulin"}),
        ("handler_chaohui", set()),
        ("deputy_li", {"wulin"}),
    ],
)
def test_reading_one_ticket_follows_the_same_scope_as_the_list(api, world, user, sees):
    for key, number in world.items():
        status = api.get(f"/api/v1/tickets/{number}", user).status_code
        assert status == (200 if key in sees else 404), (user, key)


# ---------------------------------------------------------------------------- invisible is 404


def event_count() -> int:
    from sqlalchemy import func, select

    from ticketing.extensions import db
    from ticketing.models import TicketEvent

    return db.session.scalar(select(func.count()).select_from(TicketEvent))  # type: ignore[return-value]


def test_handler_of_another_street_gets_404_on_read_and_on_every_action(api, world):
    n = world["tianshui"]
    missing = api.get("/api/v1/tickets/2026-999999", "handler_wulin")
    assert missing.status_code == 404
    resp = api.get(f"/api/v1/tickets/{n}", "handler_wulin")
    assert resp.status_code == 404
    assert resp.json == missing.json  # indistinguishable from a ticket that does not exist
    assert resp.json["error"]["code"] == "ticket_not_found"

    before = event_count()
    for verb, kw in [
        ("accept", {"json": {"note": "收到"}}),
        ("return", {"json": {"reason": "x"}}),
        ("assign", {"json": {"assignee": "handler_wulin"}}),
        ("transfer", {"json": {"unit": "330105013", "note": "x"}}),
        ("cohandle", {"json": {"units": ["330105013"]}}),
        ("comment", {"json": {"note": "看看"}}),
        ("progress", {"data": {"note": "x"}, "photos": [jpeg()]}),
        ("resolve", {"data": {"note": "x", "outcome": "solved"}, "photos": [jpeg()]}),
    ]:
        resp = api.post(f"/api/v1/tickets/{n}/{verb}", "handler_wulin", **kw)
        assert resp.status_code == 404, (verb, resp.json)
        assert resp.json["error"]["code"] == "ticket_not_found"
    assert event_count() == before


def test_deputy_cannot_read_another_deputys_ticket(api, world):
    assert api.get(f"/api/v1/tickets/{world['tianshui']}", "deputy_li").status_code == 404
    resp = api.post(f"/api/v1/tickets/{world['tianshui']}/urge", "deputy_li", json={})
    assert resp.status_code == 404


def test_ticket_can_be_read_by_id_as_well_as_by_number_within_the_same_scope(api, world):
    t = api.get(f"/api/v1/tickets/{world['tianshui']}", "handler_tianshui").json
    assert api.get(f"/api/v1/tickets/{t['id']}", "handler_tianshui").json["number"] == t["number"]
    assert api.get(f"/api/v1/tickets/{t['id']}", "handler_wulin").status_code == 404


def test_photo_of_an_invisible_ticket_is_404(api, world):
    t = api.get(f"/api/v1/tickets/{world['tianshui']}", "deputy_wang").json
    photo = t["photos"][0]
    assert api.get(photo["display_url"], "handler_tianshui").status_code == 200
    for url in (photo["display_url"], photo["thumb_url"]):
        resp = api.get(url, "handler_wulin")
        assert resp.status_code == 404
        assert resp.json["error"]["code"] == "photo_not_found"
    assert api.get(photo["display_url"], "deputy_li").status_code == 404
    assert api.get("/api/v1/photos/999999/display", "deputy_wang").json["error"]["code"] == "photo_not_found"


# ---------------------------------------------------------------------------- visible but forbidden is 403


def test_deputy_cannot_accept_their_own_ticket(api, world):
    resp = api.post(f"/api/v1/tickets/{world['tianshui']}/accept", "deputy_wang", json={"note": "我来"})
    assert resp.status_code == 403
    assert resp.json["error"]["code"] == "action_forbidden"
    assert resp.json["error"]["details"]["action"] == "accept"


def test_handler_cannot_rate_and_supervisor_cannot_resolve(api, world):
    n = world["tianshui"]
    assert api.post(f"/api/v1/tickets/{n}/accept", "handler_tianshui", json={"note": "收到"}).status_code == 200
    resp = api.post(f"/api/v1/tickets/{n}/resolve", "supervisor_district",
                    data={"note": "好了", "outcome": "solved"}, photos=[jpeg()])
    assert resp.status_code == 403 and resp.json["error"]["code"] == "action_forbidden"
    resp = api.post(f"/api/v1/tickets/{n}/resolve", "handler_tianshui",
                    data={"note": "好了", "outcome": "solved"}, photos=[jpeg()])
    assert resp.status_code == 200
    resp = api.post(f"/api/v1/tickets/{n}/rate", "handler_tianshui", json={"score": "satisfied"})
    assert resp.status_code == 403 and resp.json["error"]["code"] == "action_forbidden"
    assert api.get(f"/api/v1/tickets/{n}", "deputy_wang").json["state"] == "resolved"


def test_handler_cannot_mark_invalid_or_reopen(api, world):
    n = world["tianshui"]
    resp = api.post(f"/api/v1/tickets/{n}/invalid", "handler_tianshui", json={"reason": "不想办"})
    assert resp.status_code == 403 and resp.json["error"]["code"] == "action_forbidden"


def test_only_deputies_report(api):
    resp = api.report("handler_tianshui")
    assert resp.status_code == 403
    assert resp.json["error"]["code"] == "action_forbidden"


def test_allowed_actions_reflect_the_viewer(api, world):
    n = world["tianshui"]
    get = lambda user: set(api.get(f"/api/v1/tickets/{n}", user).json["allowed_actions"])  # noqa: E731
    assert get("deputy_wang") == {"withdraw", "urge", "add_info", "comment"}
    assert get("handler_tianshui") == {
        "accept", "return", "assign", "transfer", "cohandle", "comment", "extension_request"
    }
    assert {"invalid", "duplicate", "urge", "assign", "transfer"} <= get("supervisor_district")
    assert "accept" not in get("supervisor_district")


# ---------------------------------------------------------------------------- authentication


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/api/v1/tickets"), ("get", "/api/v1/tickets/1"), ("post", "/api/v1/tickets"),
     ("post", "/api/v1/tickets/1/accept"), ("get", "/api/v1/photos/1/display"), ("get", "/api/v1/me")],
)
def test_unauthenticated_calls_get_401_in_the_envelope(api, method, path):
    resp = getattr(api.client, method)(path)
    assert resp.status_code == 401
    err = resp.json["error"]
    assert err["code"] == "authentication_required"
    assert err["message"] and err["details"] == {}


@pytest.mark.parametrize(
    ("header", "code"),
    [("Bearer not-a-real-token", "invalid_token"), ("Basic ZGVwdXR5OnB3", "bad_authorization_header"),
     ("Bearer ", "bad_authorization_header")],
)
def test_bad_credentials_get_401(api, header, code):
    for resp in (
        api.client.get("/api/v1/tickets", headers={"Authorization": header}),
        api.client.post("/api/v1/tickets", headers={"Authorization": header}, data={}),
    ):
        assert resp.status_code == 401
        assert resp.json["error"]["code"] == code


def test_wrong_password_gets_no_token(api):
    resp = api.client.post("/api/v1/auth/token", json={"username": "deputy_wang", "password": "wrong"})
    assert resp.status_code == 401
    assert "error" in resp.json and "token" not in resp.json


# ---------------------------------------------------------------------------- the list endpoint


def test_list_paginates_newest_first(api):
    numbers = [report(api)["number"] for _ in range(5)]
    pages = []
    for page in (1, 2, 3):
        body = api.get(f"/api/v1/tickets?page={page}&page_size=2", "deputy_wang").json
        assert body["total"] == 5 and body["page"] == page and body["page_size"] == 2
        pages.append([t["number"] for t in body["items"]])
    assert pages == [numbers[4:2:-1], numbers[2:0:-1], numbers[0:1]]
    beyond = api.get("/api/v1/tickets?page=4&page_size=2", "deputy_wang").json
    assert beyond["items"] == [] and beyond["total"] == 5
    assert "events" not in api.get("/api/v1/tickets", "deputy_wang").json["items"][0]


def test_list_filters_by_state(api):
    a = report(api)["number"]
    b = report(api)["number"]
    assert api.post(f"/api/v1/tickets/{a}/accept", "handler_tianshui", json={"note": "收到"}).status_code == 200
    accepted = api.get("/api/v1/tickets?state=accepted", "deputy_wang").json
    assert [t["number"] for t in accepted["items"]] == [a] and accepted["total"] == 1
    dispatched = api.get("/api/v1/tickets?state=dispatched", "handler_tianshui").json
    assert [t["number"] for t in dispatched["items"]] == [b] and dispatched["total"] == 1
    assert api.get("/api/v1/tickets?state=closed", "deputy_wang").json["total"] == 0


# ---------------------------------------------------------------------------- co-handling gives sight, not command


def test_supervisor_of_a_co_handling_street_sees_the_ticket_but_does_not_steer_it(api, world):
    n = world["wulin"]
    assert api.get(f"/api/v1/tickets/{n}", "supervisor_tianshui").status_code == 404
    resp = api.post(f"/api/v1/tickets/{n}/cohandle", "handler_wulin", json={"units": ["330105012"]})
    assert resp.status_code == 200, resp.json

    seen = api.get(f"/api/v1/tickets/{n}", "supervisor_tianshui")
    assert seen.status_code == 200
    assert set(seen.json["allowed_actions"]) == {"comment"}
    assert n in listed(api, "supervisor_tianshui")
    for verb, body in [("invalid", {"reason": "不归我们"}), ("transfer", {"unit": "330105012", "note": "拿过来"}),
                       ("assign", {"assignee": "handler_wulin"}), ("urge", {})]:
        resp = api.post(f"/api/v1/tickets/{n}/{verb}", "supervisor_tianshui", json=body)
        assert resp.status_code == 403, (verb, resp.json)
        assert resp.json["error"]["code"] == "action_forbidden"
    # The co-handling street's own handlers help with progress, as 吹哨 intends.
    assert api.post(f"/api/v1/tickets/{n}/accept", "handler_wulin", json={"note": "收到"}).status_code == 200
    resp = api.post(f"/api/v1/tickets/{n}/progress", "handler_tianshui", data={"note": "配合"}, photos=[jpeg()])
    assert resp.status_code == 200
    # The district above both still supervises it.
    assert api.post(f"/api/v1/tickets/{n}/urge", "supervisor_district", json={}).status_code == 200
