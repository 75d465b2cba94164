"""The whole loop through the API: report → route → accept → progress → resolve → rate → round 2 → closed."""

from __future__ import annotations

from tests.conftest import jpeg


def test_report_to_closed_through_second_round(api):
    resp = api.report(photos=[jpeg()])
    assert resp.status_code == 201, resp.json
    t = resp.json
    assert t["state"] == "dispatched"
    assert t["handling_unit"]["code"] == "330105012"  # 天水街道
    assert t["response_due_at"] and t["resolution_due_at"]
    assert t["number"].endswith("000001") or "-" in t["number"]
    assert len(t["photos"]) == 1
    n = t["number"]

    r = api.post(f"/api/v1/tickets/{n}/accept", "handler_tianshui", json={"note": "收到，马上处理"})
    assert r.status_code == 200, r.json
    assert r.json["state"] == "accepted"
    r = api.post(f"/api/v1/tickets/{n}/progress", "handler_tianshui", data={"note": "已到现场"}, photos=[jpeg((1, 2, 3))])
    assert r.status_code == 200, r.json
    r = api.post(f"/api/v1/tickets/{n}/resolve", "handler_tianshui",
                 data={"note": "已清理", "outcome": "solved"}, photos=[jpeg((9, 9, 9))])
    assert r.status_code == 200, r.json
    assert r.json["state"] == "resolved"

    trail = api.get(f"/api/v1/tickets/{n}", "deputy_wang").json
    assert [e["action"] for e in trail["events"]] == ["report", "accept", "progress", "resolve"]
    r = api.post(f"/api/v1/tickets/{n}/rate", "deputy_wang", json={"score": "unsatisfied", "comment": "没清干净"})
    assert r.status_code == 200, r.json
    assert r.json["state"] == "dispatched" and r.json["round"] == 2

    api.post(f"/api/v1/tickets/{n}/accept", "handler_tianshui", json={"note": "二次办理"})
    r = api.post(f"/api/v1/tickets/{n}/resolve", "handler_tianshui",
                 data={"note": "彻底清理", "outcome": "solved"}, photos=[jpeg((5, 5, 5))])
    assert r.json["state"] == "resolved", r.json
    r = api.post(f"/api/v1/tickets/{n}/rate", "deputy_wang", json={"score": "satisfied"})
    assert r.json["state"] == "closed" and r.json["closed_reason"] == "rated"
