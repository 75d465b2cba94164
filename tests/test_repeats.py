"""Repeated complaints become supervision-list candidates (DESIGN.md §4–5), on real 下城区 points.

Every point is the first vertex of a real 2018 grid event in
data/hangzhou_xiacheng/xiacheng_grid_events_2018.geojson (feature index in the name):
the 市容环境 events of 灯芯巷网格4 lie within tens of metres of each other in 天水街道,
and 胭脂新村 lies about a kilometre to the north-east.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import NOW, jpeg

# 灯芯巷网格4, 市容环境 (city appearance) events, all within 60 m of each other.
E159 = (120.1568697228, 30.2676808938)
E172 = (120.1566646539, 30.2678078436)
E171 = (120.1569445952, 30.2679539755)
E167 = (120.1569162685, 30.2680432852)
# 胭脂新村网格2, 市容环境: about 1.1 km from the ones above.
E155 = (120.1653874605, 30.2741876854)
# 胭脂新村, 卫生安全: E20 and E28 are 270 m apart, E3 lies 143 m and 130 m from them.
E20 = (120.1646358335, 30.2723118054)
E28 = (120.1650266933, 30.2747179432)
E3 = (120.1650616625, 30.2735455759)


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance (haversine), independent of the service's projection."""
    lon1, lat1, lon2, lat2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(h))


def test_the_points_are_as_described() -> None:
    near = (E159, E172, E171, E167)
    assert max(metres(a, b) for a in near for b in near) < 60
    assert all(metres(a, E155) > 1000 for a in near)
    assert metres(E20, E28) > 250 and metres(E3, E20) < 250 and metres(E3, E28) < 250


# ---------------------------------------------------------------------------- helpers


def report(api: Any, point: tuple[float, float], category: str = "city.litter", as_: str = "deputy_wang") -> str:
    resp = api.report(as_, lon=point[0], lat=point[1], category=category)
    assert resp.status_code == 201, resp.json
    return resp.json["number"]  # type: ignore[no-any-return]


def report_at(ctx: Any, when: datetime, point: tuple[float, float], category: str = "city.litter") -> str:
    """A deputy's report made at `when` (through the service: the API's clock is the request's)."""
    from ticketing.services import tickets as svc

    ticket = svc.report(
        actor=user("deputy_wang"),
        category_code=category,
        description="垃圾堆积",
        lon=point[0],
        lat=point[1],
        now=when,
        settings=ctx.extensions["ticket_settings"],
        store=ctx.extensions["photo_store"],
    )
    return ticket.number


def user(username: str) -> Any:
    from ticketing.extensions import db
    from ticketing.models import User

    return db.session.scalar(select(User).where(User.username == username))


def ticket(number: str) -> Any:
    from ticketing.extensions import db
    from ticketing.models import Ticket

    return db.session.scalar(select(Ticket).where(Ticket.number == number))


def detect(ctx: Any, now: datetime = NOW, **overrides: Any) -> dict[str, int]:
    """Run detection with the configured R, T and K unless overridden."""
    from ticketing.services import repeats

    params = {
        "radius_m": ctx.config["REPEAT_RADIUS_M"],
        "window_days": ctx.config["REPEAT_WINDOW_DAYS"],
        "min_count": ctx.config["REPEAT_MIN_COUNT"],
    }
    params.update(overrides)
    return repeats.detect(now, **params)


def candidates() -> list[Any]:
    from ticketing.extensions import db
    from ticketing.models import SupervisionCandidate

    return list(db.session.scalars(select(SupervisionCandidate).order_by(SupervisionCandidate.id)))


def members(candidate: Any) -> list[str]:
    from ticketing.services import repeats

    return [t.number for t in repeats.member_tickets([candidate.id])[candidate.id]]


def district_id() -> int:
    from ticketing.extensions import db
    from ticketing.models import OrgUnit

    return db.session.scalar(select(OrgUnit.id).where(OrgUnit.code == "330103"))  # type: ignore[return-value]


# ---------------------------------------------------------------------------- detection


def test_defaults_come_from_the_config(ctx: Any) -> None:
    assert (ctx.config["REPEAT_RADIUS_M"], ctx.config["REPEAT_WINDOW_DAYS"], ctx.config["REPEAT_MIN_COUNT"]) == (
        250, 30, 3
    )


def test_three_litter_reports_within_250_m_make_one_candidate_for_the_district(ctx: Any, api: Any, clock: Any) -> None:
    numbers = [report(api, p) for p in (E159, E172, E171)]

    assert detect(ctx) == {"candidates_created": 1, "tickets_added": 3}

    [c] = candidates()
    assert c.district_unit_id == district_id()
    assert c.state.value == "open" and c.ticket_count == 3
    assert (c.radius_m, c.window_days) == (250, 30)
    assert c.created_at == NOW and c.updated_at == NOW
    assert members(c) == numbers
    assert c.dedupe_key == f"repeat:{district_id()}:{ticket(numbers[0]).category_id}:{ticket(numbers[0]).id}"
    from geoalchemy2.shape import to_shape

    centre = to_shape(c.center)
    mean = (sum(p[0] for p in (E159, E172, E171)) / 3, sum(p[1] for p in (E159, E172, E171)) / 3)
    assert metres((centre.x, centre.y), mean) < 0.01


def test_two_reports_are_not_enough(ctx: Any, api: Any, clock: Any) -> None:
    report(api, E159)
    report(api, E172)
    assert detect(ctx) == {"candidates_created": 0, "tickets_added": 0}
    assert candidates() == []


def test_a_fourth_nearby_report_joins_the_open_candidate(ctx: Any, api: Any, clock: Any) -> None:
    first = [report(api, p) for p in (E159, E172, E171)]
    detect(ctx)
    [c] = candidates()
    clock.set(NOW + timedelta(days=2))
    fourth = report(api, E167)

    assert detect(ctx, NOW + timedelta(days=2)) == {"candidates_created": 0, "tickets_added": 1}

    [again] = candidates()
    assert again.id == c.id and again.ticket_count == 4
    assert members(again) == [*first, fourth]
    assert again.updated_at == NOW + timedelta(days=2) and again.created_at == NOW
    from geoalchemy2.shape import to_shape

    centre = to_shape(again.center)
    pts = (E159, E172, E171, E167)
    assert metres((centre.x, centre.y), (sum(p[0] for p in pts) / 4, sum(p[1] for p in pts) / 4)) < 0.01


def test_running_twice_changes_nothing_the_second_time(ctx: Any, api: Any, clock: Any) -> None:
    from ticketing.extensions import db
    from ticketing.models import Notification, SupervisionCandidateTicket

    for p in (E159, E172, E171, E167):
        report(api, p)
    assert detect(ctx) == {"candidates_created": 1, "tickets_added": 4}
    links = db.session.scalar(select(func.count()).select_from(SupervisionCandidateTicket))
    notes = db.session.scalar(select(func.count()).select_from(Notification))

    assert detect(ctx) == {"candidates_created": 0, "tickets_added": 0}
    assert len(candidates()) == 1
    assert db.session.scalar(select(func.count()).select_from(SupervisionCandidateTicket)) == links
    assert db.session.scalar(select(func.count()).select_from(Notification)) == notes


def test_points_farther_than_250_m_apart_do_not_cluster(ctx: Any, api: Any, clock: Any) -> None:
    report(api, E159)
    report(api, E172)
    report(api, E155)  # a kilometre away
    assert detect(ctx)["candidates_created"] == 0
    # Nor does a smaller radius gather the near pair and a third 50 m off.
    report(api, E171)
    assert detect(ctx, radius_m=20)["candidates_created"] == 0


def test_a_cluster_is_a_seed_and_its_neighbours_within_r(ctx: Any, api: Any, clock: Any) -> None:
    # E20 and E28 are 270 m apart, but both lie within 250 m of E3: E3 seeds a cluster of three.
    numbers = [report(api, p) for p in (E20, E28, E3)]
    assert detect(ctx)["candidates_created"] == 1
    [c] = candidates()
    assert members(c) == numbers
    assert c.district_unit_id == district_id()


def test_different_categories_do_not_cluster(ctx: Any, api: Any, clock: Any) -> None:
    report(api, E159, "city.litter")
    report(api, E172, "city.litter")
    report(api, E171, "city.vendors")
    assert detect(ctx)["candidates_created"] == 0
    report(api, E167, "city.vendors")
    report(api, E155, "city.vendors")  # far away: vendors still only two near each other
    assert detect(ctx)["candidates_created"] == 0
    report(api, E167, "city.litter")
    assert detect(ctx) == {"candidates_created": 1, "tickets_added": 3}
    [c] = candidates()
    assert {ticket(n).category.code for n in members(c)} == {"city.litter"}


def test_tickets_older_than_the_window_do_not_count(ctx: Any, api: Any, clock: Any) -> None:
    old = report_at(ctx, NOW - timedelta(days=40), E171)
    report(api, E159)
    report(api, E172)
    assert ticket(old).created_at == NOW - timedelta(days=40)

    assert detect(ctx)["candidates_created"] == 0
    # A longer window takes it in.
    assert detect(ctx, window_days=60) == {"candidates_created": 1, "tickets_added": 3}
    [c] = candidates()
    assert old in members(c) and c.window_days == 60


def test_an_as_of_run_ignores_tickets_reported_after_it(ctx: Any, api: Any, clock: Any) -> None:
    report_at(ctx, NOW - timedelta(days=5), E159)
    report_at(ctx, NOW - timedelta(days=4), E172)
    report(api, E171)
    assert detect(ctx, NOW - timedelta(days=1))["candidates_created"] == 0
    assert detect(ctx, NOW)["candidates_created"] == 1


def test_closed_after_handling_counts_but_invalid_and_withdrawn_do_not(ctx: Any, api: Any, clock: Any) -> None:
    from ticketing.services import tickets as svc
    from ticketing.services.photos import Upload
    from ticketing.services.tickets import Evidence

    settings, store = ctx.extensions["ticket_settings"], ctx.extensions["photo_store"]
    handled = ticket(report_at(ctx, NOW - timedelta(days=10), E159))
    svc.accept(handled, user("handler_tianshui"), NOW - timedelta(days=10), note="收到")
    svc.resolve(handled, user("handler_tianshui"), NOW - timedelta(days=9), outcome="solved",
                evidence=Evidence("已清理", [Upload("p.jpg", jpeg())]), settings=settings, store=store)
    svc.rate(handled, user("deputy_wang"), NOW - timedelta(days=8), score="satisfied", settings=settings)
    assert handled.state.value == "closed"
    invalid = ticket(report(api, E172))
    svc.mark_invalid(invalid, user("supervisor_district"), NOW, reason="重复拍摄")
    withdrawn = ticket(report(api, E171))
    svc.withdraw(withdrawn, user("deputy_wang"), NOW, note="拍错了")
    report(api, E167)

    assert detect(ctx)["candidates_created"] == 0  # only the closed-after-handling one and E167 count
    report(api, E172)
    assert detect(ctx) == {"candidates_created": 1, "tickets_added": 3}
    [c] = candidates()
    assert handled.number in members(c)
    assert invalid.number not in members(c) and withdrawn.number not in members(c)


def test_the_districts_supervisors_are_notified_of_a_new_candidate(ctx: Any, api: Any, clock: Any) -> None:
    from ticketing.extensions import db
    from ticketing.models import Notification

    for p in (E159, E172, E171):
        report(api, p)
    detect(ctx)
    [c] = candidates()
    rows = list(db.session.scalars(select(Notification).where(Notification.kind == "repeat_candidate")))
    assert {r.user_id for r in rows} == {user("supervisor_district").id}
    assert {r.dedupe_key.rsplit(":", 2)[0] for r in rows} == {f"candidate:{c.id}"}
    assert all("垃圾乱扔" in r.subject and "3" in r.subject for r in rows)
    assert all(n in rows[0].body for n in members(c))


def test_a_dismissed_candidate_is_not_recreated_and_does_not_grow(ctx: Any, api: Any, clock: Any) -> None:
    from ticketing.services import repeats

    for p in (E159, E172, E171):
        report(api, p)
    detect(ctx)
    [c] = candidates()
    repeats.decide(c.id, user("supervisor_district"), False, NOW)
    report(api, E167)
    assert detect(ctx) == {"candidates_created": 0, "tickets_added": 0}
    # Three new complaints there make a new candidate for the district to look at again.
    report(api, E159)
    report(api, E172)
    assert detect(ctx) == {"candidates_created": 1, "tickets_added": 3}
    assert [x.state.value for x in candidates()] == ["dismissed", "open"]


def test_list_candidates_is_per_district(ctx: Any, api: Any, clock: Any) -> None:
    from ticketing.services import repeats

    for p in (E159, E172, E171, E20, E28, E3):
        report(api, p)
    detect(ctx)
    assert [c.ticket_count for c in repeats.list_candidates(district_id())] == [3, 3]
    assert repeats.list_candidates(district_id() + 1000) == []


# ---------------------------------------------------------------------------- the API


def _with_candidate(ctx: Any, api: Any) -> tuple[Any, list[str]]:
    numbers = [report(api, p) for p in (E159, E172, E171)]
    detect(ctx)
    [c] = candidates()
    return c, numbers


def test_api_lists_candidates_to_supervisors_of_the_district_and_above(ctx: Any, api: Any, clock: Any) -> None:
    c, numbers = _with_candidate(ctx, api)
    for who in ("supervisor_district", "supervisor_city", "admin"):
        resp = api.get("/api/v1/supervision/candidates", who)
        assert resp.status_code == 200, resp.json
        [item] = resp.json["items"]
        assert item["id"] == c.id and item["district"]["code"] == "330103"
        assert item["category"] == "city.litter" and item["state"] == "open"
        assert item["tickets"] == numbers and item["ticket_count"] == 3 and item["radius_m"] == 250
        assert metres((item["lon"], item["lat"]), E172) < 250
    assert api.get("/api/v1/supervision/candidates?state=listed", "supervisor_district").json["items"] == []
    # A street's supervisor oversees no district; deputies and handlers are refused.
    assert api.get("/api/v1/supervision/candidates", "supervisor_tianshui").json["items"] == []
    assert api.get("/api/v1/supervision/candidates", "deputy_wang").status_code == 403
    assert api.get("/api/v1/supervision/candidates", "handler_tianshui").status_code == 403
    assert api.get("/api/v1/supervision/candidates", None).status_code == 401


def test_api_listing_supervises_every_member_ticket_with_an_event(ctx: Any, api: Any, clock: Any) -> None:
    from ticketing.extensions import db
    from ticketing.models import TicketEvent

    c, numbers = _with_candidate(ctx, api)
    resp = api.post(f"/api/v1/supervision/candidates/{c.id}/decide", "supervisor_district",
                    json={"listed": True, "note": "列入挂牌督办", "leader": "李局长", "review_on": "2026-03-16"})
    assert resp.status_code == 200, resp.json
    assert resp.json["state"] == "listed"
    for number in numbers:
        t = ticket(number)
        assert t.supervised is True
        events = list(db.session.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id == t.id, TicketEvent.action == "supervise")
        ))
        assert len(events) == 1
        e = events[0]
        assert e.actor_id == user("supervisor_district").id and e.note == "列入挂牌督办"
        assert e.from_state == e.to_state == t.state and e.data["candidate_id"] == c.id
    trail = api.get(f"/api/v1/tickets/{numbers[0]}", "deputy_wang").json["events"]
    assert trail[-1]["action"] == "supervise"

    again = api.post(f"/api/v1/supervision/candidates/{c.id}/decide", "supervisor_district", json={"listed": True})
    assert again.status_code == 409 and again.json["error"]["code"] == "candidate_decided"


def test_api_dismissing_leaves_the_tickets_alone(ctx: Any, api: Any, clock: Any) -> None:
    c, numbers = _with_candidate(ctx, api)
    resp = api.post(f"/api/v1/supervision/candidates/{c.id}/decide", "supervisor_city", json={"listed": False})
    assert resp.status_code == 200, resp.json
    assert resp.json["state"] == "dismissed"
    assert not any(ticket(n).supervised for n in numbers)


def test_api_decide_is_for_supervisors_of_the_district_or_above(ctx: Any, api: Any, clock: Any) -> None:
    c, _ = _with_candidate(ctx, api)
    url = f"/api/v1/supervision/candidates/{c.id}/decide"
    assert api.post(url, "supervisor_tianshui", json={"listed": True}).status_code == 404
    assert api.post(url, "deputy_wang", json={"listed": True}).status_code == 403
    assert api.post("/api/v1/supervision/candidates/999999/decide", "supervisor_district",
                    json={"listed": True}).status_code == 404
    assert api.post(url, "supervisor_district", json={}).status_code == 422
    assert candidates()[0].state.value == "open"


def test_openapi_documents_the_supervision_endpoints(client: Any) -> None:
    paths = client.get("/api/v1/openapi.json").json["paths"]
    assert "get" in paths["/api/v1/supervision/candidates"]
    assert "post" in paths["/api/v1/supervision/candidates/{candidate_id}/decide"]
