"""Idempotency-Key (DESIGN.md §8, §10): a retried request never makes a second ticket or a second step."""

from __future__ import annotations

import io
from typing import Any

from sqlalchemy import func, select

from tests.conftest import TIANSHUI, jpeg


def count(model_name: str) -> int:
    from ticketing import models
    from ticketing.extensions import db

    return db.session.scalar(select(func.count()).select_from(getattr(models, model_name)))  # type: ignore[return-value]


def post_report(api: Any, user: str, key: str | None, *, description: str = "垃圾堆积",
                photo: bytes | None = None) -> Any:
    data: dict[str, Any] = {"category": "city.litter", "description": description, "lon": TIANSHUI[0],
                            "lat": TIANSHUI[1], "photos": [(io.BytesIO(photo or jpeg()), "p.jpg")]}
    headers = {"Idempotency-Key": key} if key else {}
    return api.client.post("/api/v1/tickets", data=data, headers=api.headers(user, headers),
                           content_type="multipart/form-data")


def act(api: Any, number: str, verb: str, user: str, key: str | None, body: dict[str, Any]) -> Any:
    headers = {"Idempotency-Key": key} if key else None
    return api.post(f"/api/v1/tickets/{number}/{verb}", user, json=body, headers=headers)


def test_same_key_and_body_replays_the_first_ticket(api):
    first = post_report(api, "deputy_wang", "k-1")
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    second = post_report(api, "deputy_wang", "k-1")
    assert second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.json == first.json
    assert count("Ticket") == 1 and count("TicketEvent") == 1 and count("Photo") == 1


def test_without_a_key_a_retry_makes_a_second_ticket(api):
    post_report(api, "deputy_wang", None)
    post_report(api, "deputy_wang", None)
    assert count("Ticket") == 2


def test_same_key_with_another_body_is_a_conflict(api):
    first = post_report(api, "deputy_wang", "k-2")
    assert first.status_code == 201
    for resp in (
        post_report(api, "deputy_wang", "k-2", description="另一件事"),
        post_report(api, "deputy_wang", "k-2", photo=jpeg((0, 255, 0))),
    ):
        assert resp.status_code == 409
        assert resp.json["error"]["code"] == "idempotency_key_reused"
    assert count("Ticket") == 1


def test_key_is_scoped_to_the_caller(api):
    wang = post_report(api, "deputy_wang", "shared-key")
    li = post_report(api, "deputy_li", "shared-key")
    assert wang.status_code == li.status_code == 201
    assert "Idempotent-Replayed" not in li.headers
    assert wang.json["number"] != li.json["number"]
    assert count("Ticket") == 2
    # Each caller's own retry still replays their own ticket.
    assert post_report(api, "deputy_li", "shared-key").json["number"] == li.json["number"]
    assert count("Ticket") == 2


def test_a_refused_request_does_not_use_up_its_key(api):
    bad = post_report(api, "deputy_wang", "k-3", photo=b"not a photo")
    assert bad.status_code == 422
    good = post_report(api, "deputy_wang", "k-3")
    assert good.status_code == 201 and "Idempotent-Replayed" not in good.headers
    assert count("Ticket") == 1 and count("IdempotencyRecord") == 1


def test_accepting_twice_with_the_same_key_replays_instead_of_conflicting(api):
    n = post_report(api, "deputy_wang", None).json["number"]
    first = act(api, n, "accept", "handler_tianshui", "acc-1", {"note": "收到"})
    assert first.status_code == 200 and first.json["state"] == "accepted"
    again = act(api, n, "accept", "handler_tianshui", "acc-1", {"note": "收到"})
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json == first.json
    assert count("TicketEvent") == 2  # report + one accept
    # Without the key the same retry is the conflict it really is.
    plain = act(api, n, "accept", "handler_tianshui", None, {"note": "收到"})
    assert plain.status_code == 409 and plain.json["error"]["code"] == "transition_not_allowed"


def test_multipart_action_replays_too(api):
    n = post_report(api, "deputy_wang", None).json["number"]
    assert act(api, n, "accept", "handler_tianshui", None, {"note": "收到"}).status_code == 200
    photo = jpeg((3, 4, 5))
    responses = [
        api.post(f"/api/v1/tickets/{n}/progress", "handler_tianshui", data={"note": "到场"}, photos=[photo],
                 headers={"Idempotency-Key": "prog-1"})
        for _ in range(2)
    ]
    assert [r.status_code for r in responses] == [200, 200]
    assert responses[1].headers["Idempotent-Replayed"] == "true"
    assert count("TicketEvent") == 3 and count("Photo") == 2


def test_the_same_key_on_another_action_is_a_conflict(api):
    n = post_report(api, "deputy_wang", None).json["number"]
    assert act(api, n, "accept", "handler_tianshui", "k-4", {"note": "收到"}).status_code == 200
    resp = act(api, n, "comment", "handler_tianshui", "k-4", {"note": "收到"})
    assert resp.status_code == 409 and resp.json["error"]["code"] == "idempotency_key_reused"
    assert count("TicketEvent") == 2


def test_a_replay_reports_the_first_outcome_not_the_current_state(api):
    n = post_report(api, "deputy_wang", None).json["number"]
    first = act(api, n, "accept", "handler_tianshui", "k-5", {"note": "收到"})
    assert act(api, n, "return", "handler_tianshui", None, {"reason": "错派"}).status_code == 200
    again = act(api, n, "accept", "handler_tianshui", "k-5", {"note": "收到"})
    assert again.status_code == 200 and again.json["state"] == "accepted" == first.json["state"]
    assert api.get(f"/api/v1/tickets/{n}", "deputy_wang").json["state"] == "returned"


def test_overlong_key_is_refused(api):
    resp = post_report(api, "deputy_wang", "k" * 201)
    assert resp.status_code == 400
    assert resp.json["error"]["code"] == "bad_idempotency_key"
    assert count("Ticket") == 0
