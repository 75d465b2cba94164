"""Nearby open tickets while reporting ("same problem?"), and following one instead (services.following)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from tests.conftest import TIANSHUI
from ticketing.extensions import db
from ticketing.models import TicketFollower

# About 96 m and 480 m east of the TIANSHUI point (at 30.27° N a degree of longitude is ~96 km).
NEAR = (TIANSHUI[0] + 0.001, TIANSHUI[1])
FAR = (TIANSHUI[0] + 0.005, TIANSHUI[1])


def nearby(api: Any, user: str, category: str = "city.litter", at: tuple[float, float] = NEAR, **extra: Any) -> Any:
    query = "&".join(f"{k}={v}" for k, v in {"category": category, "lon": at[0], "lat": at[1], **extra}.items())
    return api.get(f"/api/v1/tickets/nearby?{query}", user)


def numbers(resp: Any) -> list[str]:
    assert resp.status_code == 200, resp.json
    return [item["number"] for item in resp.json["items"]]


def followers() -> int:
    return db.session.scalar(select(func.count()).select_from(TicketFollower)) or 0


def test_open_public_tickets_of_the_category_nearby_are_offered_nearest_first(api):
    farther = api.report(lon=TIANSHUI[0] + 0.002, lat=TIANSHUI[1]).json["number"]  # ~96 m from NEAR
    nearest = api.report(lon=NEAR[0], lat=NEAR[1]).json["number"]
    private = api.report(visibility="private").json["number"]
    other_kind = api.report(category="traffic.road").json["number"]
    outside = api.report(lon=FAR[0] + 0.001, lat=FAR[1]).json["number"]
    found = nearby(api, "deputy_li")
    assert found.json["radius_m"] == 250
    assert numbers(found)[:2] == [nearest, farther]
    assert private not in numbers(found) and other_kind not in numbers(found) and outside not in numbers(found)
    first = found.json["items"][0]
    assert first["distance_m"] == 0 and first["mine"] is False and first["following"] is False
    assert first["handling_unit"]["code"] == "330105012" and first["state"] == "dispatched"
    assert "reporter" not in first  # public tickets are offered without who reported them
    # The reporter sees her own private one too, marked as hers.
    mine = nearby(api, "deputy_wang", at=TIANSHUI)
    assert private in numbers(mine) and all(i["mine"] for i in mine.json["items"] if i["number"] == private)


def test_a_sub_category_matches_its_domain_and_a_domain_its_sub_categories(api):
    litter = api.report().json["number"]
    domain_level = api.report(category="city").json["number"]
    assert {litter, domain_level} <= set(numbers(nearby(api, "deputy_li", "city.litter")))
    assert {litter, domain_level} <= set(numbers(nearby(api, "deputy_li", "city")))
    assert litter not in numbers(nearby(api, "deputy_li", "city.vendors"))  # a sibling is another problem


def test_finished_tickets_are_not_offered(api):
    number = api.report().json["number"]
    assert api.post(f"/api/v1/tickets/{number}/withdraw", "deputy_wang", json={}).status_code == 200
    assert number not in numbers(nearby(api, "deputy_li"))


def test_follow_instead_then_unfollow(api):
    number = api.report().json["number"]
    assert api.get(f"/api/v1/tickets/{number}", "deputy_li").status_code == 404
    resp = api.post(f"/api/v1/tickets/{number}/follow", "deputy_li")
    assert resp.status_code == 200 and resp.json == {"number": number, "following": True, "changed": True}
    # A follower reads the trail (and is offered it as followed), but may not rate or urge it.
    ticket = api.get(f"/api/v1/tickets/{number}", "deputy_li")
    assert ticket.status_code == 200 and ticket.json["allowed_actions"] == ["comment"]
    assert [i["following"] for i in nearby(api, "deputy_li").json["items"] if i["number"] == number] == [True]
    again = api.post(f"/api/v1/tickets/{number}/follow", "deputy_li")
    assert again.status_code == 200 and again.json["changed"] is False and followers() == 1

    gone = api.post(f"/api/v1/tickets/{number}/unfollow", "deputy_li")
    assert gone.status_code == 200 and gone.json == {"number": number, "following": False, "changed": True}
    assert api.get(f"/api/v1/tickets/{number}", "deputy_li").status_code == 404 and followers() == 0
    # Not following (any more): the ticket is invisible again, so unfollowing it is a 404.
    assert api.post(f"/api/v1/tickets/{number}/unfollow", "deputy_li").status_code == 404


def test_follow_refusals(api):
    public = api.report().json["number"]
    private = api.report(visibility="private").json["number"]
    own = api.post(f"/api/v1/tickets/{public}/follow", "deputy_wang")
    assert own.status_code == 409 and own.json["error"]["code"] == "own_ticket"
    assert api.post(f"/api/v1/tickets/{private}/follow", "deputy_li").status_code == 404
    assert api.post("/api/v1/tickets/2026-999999/follow", "deputy_li").status_code == 404
    assert api.post("/api/v1/tickets/99999999999/follow", "deputy_li").status_code == 404
    handler = api.post(f"/api/v1/tickets/{public}/follow", "handler_wulin")
    assert handler.status_code == 403 and handler.json["error"]["code"] == "action_forbidden"
    api.post(f"/api/v1/tickets/{public}/withdraw", "deputy_wang", json={})
    closed = api.post(f"/api/v1/tickets/{public}/follow", "deputy_li")
    assert closed.status_code == 409 and closed.json["error"]["code"] == "ticket_not_open"
    assert followers() == 0


def test_nearby_bad_input_is_a_clear_4xx(api):
    assert nearby(api, "deputy_li", "no.such").status_code == 422
    assert nearby(api, "deputy_li", at=(200.0, 30.0)).json["error"]["code"] == "location_out_of_range"
    assert nearby(api, "deputy_li", crs="bd09").status_code == 422
    assert api.get("/api/v1/tickets/nearby?category=city.litter&lon=x&lat=1", "deputy_li").status_code == 422
    assert api.get("/api/v1/tickets/nearby?category=city.litter&lon=NaN&lat=1", "deputy_li").status_code == 422
    assert api.get(f"/api/v1/tickets/nearby?category=city.litter&lon={NEAR[0]}&lat={NEAR[1]}", None).status_code == 401


def test_gcj02_points_are_converted_before_measuring(api):
    from geo.crs import wgs84_to_gcj02

    number = api.report().json["number"]
    lon, lat = wgs84_to_gcj02(*TIANSHUI)
    # The GCJ-02 offset here is some 500 m: read as WGS-84 the point is too far, converted it is on the spot.
    assert number not in numbers(nearby(api, "deputy_li", at=(lon, lat)))
    found = nearby(api, "deputy_li", at=(lon, lat), crs="gcj02")
    assert number in numbers(found) and found.json["items"][0]["distance_m"] < 5
