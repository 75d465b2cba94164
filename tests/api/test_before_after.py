"""Before/after: the report's photos beside those of the latest resolve (timeline and cockpit)."""

from __future__ import annotations

from typing import Any

from tests.conftest import jpeg


def act(api: Any, number: str, verb: str, user: str, **kw: Any) -> dict[str, Any]:
    resp = api.post(f"/api/v1/tickets/{number}/{verb}", user, **kw)
    assert resp.status_code == 200, (verb, resp.json)
    return resp.json  # type: ignore[no-any-return]


def photo_ids(ticket: dict[str, Any], action: str) -> list[list[int]]:
    """Photo ids of each event of `action` on the ticket's trail, oldest event first."""
    return [[p["id"] for p in e["photos"]] for e in ticket["events"] if e["action"] == action]


def ids(photos: list[dict[str, Any]]) -> list[int]:
    return [p["id"] for p in photos]


def pair(api: Any, number: str, user: str = "deputy_wang") -> dict[str, Any]:
    resp = api.get(f"/api/v1/tickets/{number}/before-after", user)
    assert resp.status_code == 200, resp.json
    return resp.json  # type: ignore[no-any-return]


def test_before_is_the_report_and_after_the_resolve_not_the_progress(api):
    resp = api.report(photos=[jpeg((200, 0, 0)), jpeg((0, 200, 0))])
    assert resp.status_code == 201, resp.json
    n = resp.json["number"]
    assert resp.json["before_after"]["after"] == [] and resp.json["before_after"]["round"] is None
    assert len(resp.json["before_after"]["before"]) == 2

    act(api, n, "accept", "handler_tianshui", json={"note": "收到"})
    act(api, n, "progress", "handler_tianshui", data={"note": "清运中"}, photos=[jpeg((1, 2, 3))])
    assert pair(api, n)["after"] == []  # a handling step is not the result
    t = act(api, n, "resolve", "handler_tianshui", data={"note": "已清运", "outcome": "solved"},
            photos=[jpeg((9, 9, 9))])

    (report_photos,) = photo_ids(t, "report")
    (progress_photos,) = photo_ids(t, "progress")
    (resolve_photos,) = photo_ids(t, "resolve")
    ba = t["before_after"]
    assert ids(ba["before"]) == report_photos and len(report_photos) == 2
    assert ids(ba["after"]) == resolve_photos and len(resolve_photos) == 1
    assert not set(progress_photos) & set(ids(ba["after"]))
    assert ba["round"] == 1
    # Each photo has the presenter's shape, with URLs the viewer can follow.
    assert {"id", "width", "height", "display_url", "thumb_url"} <= set(ba["after"][0])
    assert api.get(ba["after"][0]["thumb_url"], "deputy_wang").status_code == 200
    # The dedicated endpoint answers the same pair, to the handler as to the reporter.
    assert pair(api, n) == ba == pair(api, n, "handler_tianshui")


def test_after_an_unsatisfied_rating_the_second_resolve_is_the_after(api):
    resp = api.report(photos=[jpeg((200, 0, 0))])
    n = resp.json["number"]
    act(api, n, "accept", "handler_tianshui", json={"note": "收到"})
    first = act(api, n, "resolve", "handler_tianshui", data={"note": "已处理", "outcome": "solved"},
                photos=[jpeg((9, 9, 9))])
    t = act(api, n, "rate", "deputy_wang", json={"score": "unsatisfied", "comment": "没修好"})
    assert t["round"] == 2
    # Until round 2 is resolved, the after is still round 1's claim, marked by its round.
    assert ids(t["before_after"]["after"]) == ids(first["before_after"]["after"])
    assert t["before_after"]["round"] == 1

    # The reporter's added photos count as before: they show the problem is still there.
    t = act(api, n, "add_info", "deputy_wang", data={"note": "还是很脏"}, photos=[jpeg((250, 250, 0))])
    report_photos, added_photos = photo_ids(t, "report")[0], photo_ids(t, "add_info")[0]
    assert ids(t["before_after"]["before"]) == report_photos + added_photos

    act(api, n, "accept", "handler_tianshui", json={"note": "二次办理"})
    t = act(api, n, "resolve", "handler_tianshui", data={"note": "彻底修好", "outcome": "solved"},
            photos=[jpeg((5, 5, 5)), jpeg((6, 6, 6))])
    first_resolve, second_resolve = photo_ids(t, "resolve")
    ba = pair(api, n)
    assert ids(ba["after"]) == second_resolve and len(second_resolve) == 2
    assert not set(first_resolve) & set(ids(ba["after"]))
    assert ba["round"] == 2
    assert ids(ba["before"]) == report_photos + added_photos


def test_before_after_of_an_invisible_ticket_is_404(api):
    n = api.report().json["number"]
    for user in ("handler_wulin", "deputy_li"):
        resp = api.get(f"/api/v1/tickets/{n}/before-after", user)
        assert resp.status_code == 404, user
        assert resp.json["error"]["code"] == "ticket_not_found"
    missing = api.get("/api/v1/tickets/2026-999999/before-after", "handler_wulin")
    assert missing.status_code == 404 and missing.json == resp.json
    assert api.get(f"/api/v1/tickets/{n}/before-after", None).status_code == 401


def test_ticket_lists_leave_the_pair_out(api):
    api.report()
    page = api.get("/api/v1/tickets", "deputy_wang").json
    assert page["items"] and all("before_after" not in t for t in page["items"])
