"""Bad input gets a 4xx in the error envelope with a stable code, and leaves the database as it was (DESIGN.md §10)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import TIANSHUI, jpeg


def snapshot() -> dict[str, Any]:
    """Row counts of everything a request could write, plus the number counters and every ticket's state."""
    from ticketing.extensions import db
    from ticketing.models import (
        IdempotencyRecord,
        Photo,
        Rating,
        Ticket,
        TicketCoHandler,
        TicketCounter,
        TicketEvent,
        TicketFollower,
    )

    counts = {
        model.__name__: db.session.scalar(select(func.count()).select_from(model))
        for model in (Ticket, TicketEvent, Photo, Rating, TicketFollower, TicketCoHandler, IdempotencyRecord)
    }
    counts["counters"] = sorted(db.session.execute(select(TicketCounter.year, TicketCounter.last)).all())
    counts["tickets"] = sorted(
        db.session.execute(
            select(Ticket.number, Ticket.state, Ticket.round, Ticket.handling_unit_id, Ticket.assignee_id)
        ).all()
    )
    return counts


@contextmanager
def unchanged() -> Iterator[None]:
    before = snapshot()
    yield
    assert snapshot() == before


def assert_error(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/json"
    body = resp.json
    assert set(body) == {"error"}
    err = body["error"]
    assert set(err) == {"code", "message", "details"}
    assert err["code"] == code, err
    assert isinstance(err["message"], str) and err["message"]
    assert isinstance(err["details"], dict)
    return err  # type: ignore[no-any-return]


def fields_in(err: dict[str, Any]) -> set[str]:
    """The names of the fields a validation failure complains about, whichever request part they came in."""
    return {name for messages in err["details"]["fields"].values() for name in messages}


def post_report(api: Any, *, photos: list[bytes] | None = None, names: list[str] | None = None,
                drop: tuple[str, ...] = (), **fields: Any) -> Any:
    """A multipart report whose fields and photo file names the test chooses."""
    data: dict[str, Any] = {"category": "city.litter", "description": "垃圾堆积", "lon": TIANSHUI[0],
                            "lat": TIANSHUI[1]}
    data.update(fields)
    for key in drop:
        data.pop(key)
    photos = [jpeg()] if photos is None else photos
    names = names or [f"p{i}.jpg" for i in range(len(photos))]
    if photos:
        data["photos"] = [(io.BytesIO(p), name) for p, name in zip(photos, names)]
    return api.client.post("/api/v1/tickets", data=data, headers=api.headers("deputy_wang"),
                           content_type="multipart/form-data")


@pytest.fixture
def ticket(api: Any) -> str:
    resp = api.report()
    assert resp.status_code == 201
    return resp.json["number"]  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------- reports


@pytest.mark.parametrize(
    ("fields", "drop", "status", "code"),
    [
        ({}, ("lon", "lat"), 422, "location_required"),
        ({}, ("lat",), 422, "location_required"),
        ({"lon": "", "lat": " "}, (), 422, "location_required"),  # a form whose GPS found nothing
        ({"lat": 91}, (), 422, "location_out_of_range"),
        ({"lat": -90.5}, (), 422, "location_out_of_range"),
        ({"lon": 180.01}, (), 422, "location_out_of_range"),
        ({"lon": "nan"}, (), 422, "validation_failed"),
        ({"lon": "east"}, (), 422, "validation_failed"),
        ({"category": "city.nonsense"}, (), 422, "unknown_category"),
        ({}, ("category",), 422, "validation_failed"),
        ({"description": "   "}, (), 422, "description_required"),
        ({}, ("description",), 422, "validation_failed"),
        ({"crs": "bd09"}, (), 422, "validation_failed"),
        ({"crs": "epsg:3857"}, (), 422, "validation_failed"),
        ({"visibility": "secret"}, (), 422, "validation_failed"),
    ],
)
def test_bad_report_fields_are_refused_and_nothing_is_written(api, fields, drop, status, code):
    api.token("deputy_wang")
    with unchanged():
        err = assert_error(post_report(api, drop=drop, **fields), status, code)
    if code == "validation_failed":
        assert err["details"]["fields"]


def test_validation_failure_names_the_field(api):
    err = assert_error(post_report(api, drop=("category",)), 422, "validation_failed")
    assert "category" in fields_in(err)


def test_text_file_named_jpg_is_refused(api):
    api.token("deputy_wang")
    with unchanged():
        err = assert_error(post_report(api, photos=[b"just some text, not a photo\n" * 20], names=["photo.jpg"]),
                           422, "photo_unsupported_type")
    assert err["details"]["filename"] == "photo.jpg"


def test_gif_is_not_an_accepted_photo_type(api):
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (10, 10)).save(out, format="GIF")
    api.token("deputy_wang")
    with unchanged():
        assert_error(post_report(api, photos=[out.getvalue()], names=["a.jpg"]), 422, "photo_unsupported_type")


def test_empty_upload_is_refused(api):
    api.token("deputy_wang")
    with unchanged():
        assert_error(post_report(api, photos=[b""]), 422, "photo_empty")


def test_a_file_input_left_empty_is_no_photo_rather_than_a_bad_one(api):
    resp = post_report(api, photos=[b""], names=[""])
    assert resp.status_code == 201, resp.json
    assert resp.json["photos"] == []
    n = resp.json["number"]
    assert api.post(f"/api/v1/tickets/{n}/accept", "handler_tianshui", json={"note": "收到"}).status_code == 200
    with unchanged():
        resp = api.client.post(f"/api/v1/tickets/{n}/progress", headers=api.headers("handler_tianshui"),
                               data={"note": "到场", "photos": [(io.BytesIO(b""), "")]},
                               content_type="multipart/form-data")
        assert_error(resp, 422, "photo_required")


def test_truncated_jpeg_is_refused(api):
    api.token("deputy_wang")
    with unchanged():
        assert_error(post_report(api, photos=[jpeg(size=(400, 300))[:300]]), 422, "photo_truncated")


def test_too_many_photos_are_refused(api, ctx):
    limit = ctx.config["PHOTOS_PER_REQUEST"]
    api.token("deputy_wang")
    with unchanged():
        err = assert_error(post_report(api, photos=[jpeg((i, i, i)) for i in range(limit + 1)]),
                           413, "too_many_photos")
    assert err["details"] == {"max": limit, "got": limit + 1}
    assert post_report(api, photos=[jpeg((i, i, i)) for i in range(limit)]).status_code == 201


def test_oversize_photo_is_refused(api, ctx, monkeypatch):
    from dataclasses import replace

    settings = ctx.extensions["ticket_settings"]
    small = replace(settings, photo_limits=replace(settings.photo_limits, max_bytes=500))
    monkeypatch.setitem(ctx.extensions, "ticket_settings", small)
    api.token("deputy_wang")
    with unchanged():
        assert_error(post_report(api, photos=[jpeg(size=(300, 300))]), 413, "photo_too_large")


def test_report_with_a_good_and_a_bad_photo_creates_nothing(api):
    api.token("deputy_wang")
    with unchanged():
        assert_error(post_report(api, photos=[jpeg(), b"\x89PNG but not really"]), 422, "photo_unsupported_type")
    with unchanged():
        assert_error(post_report(api, photos=[jpeg(), b""]), 422, "photo_empty")


def test_report_as_json_instead_of_multipart_is_refused(api):
    api.token("deputy_wang")
    body = {"category": "city.litter", "description": "垃圾", "lon": TIANSHUI[0], "lat": TIANSHUI[1]}
    with unchanged():
        resp = api.client.post("/api/v1/tickets", json=body, headers=api.headers("deputy_wang"))
        assert_error(resp, 422, "validation_failed")
    with unchanged():
        resp = api.client.post("/api/v1/tickets", data="category=city.litter&lon=1", headers={
            **api.headers("deputy_wang"), "Content-Type": "text/plain"})
        assert 400 <= resp.status_code < 500
        assert resp.json["error"]["code"]


def test_a_report_without_photos_is_accepted(api):
    resp = post_report(api, photos=[])
    assert resp.status_code == 201 and resp.json["photos"] == []


# ---------------------------------------------------------------------------- actions


def test_transition_not_allowed_from_the_current_state(api, ticket):
    with unchanged():
        resp = api.post(f"/api/v1/tickets/{ticket}/resolve", "handler_tianshui",
                        data={"note": "好了", "outcome": "solved"}, photos=[jpeg()])
        err = assert_error(resp, 409, "transition_not_allowed")
    assert err["details"] == {"action": "resolve", "state": "dispatched"}
    with unchanged():
        assert_error(api.post(f"/api/v1/tickets/{ticket}/rate", "deputy_wang", json={"score": "satisfied"}),
                     409, "transition_not_allowed")


def test_wrong_role_is_forbidden(api, ticket):
    with unchanged():
        assert_error(api.post(f"/api/v1/tickets/{ticket}/accept", "deputy_wang", json={"note": "我来"}),
                     403, "action_forbidden")
    with unchanged():
        assert_error(api.post(f"/api/v1/tickets/{ticket}/redispatch", "handler_tianshui", json={"note": "x"}),
                     409, "transition_not_allowed")


@pytest.mark.parametrize(
    ("verb", "kw", "code"),
    [
        ("accept", {"json": {}}, "note_required"),
        ("accept", {"json": {"note": " \n "}}, "note_required"),
        ("return", {"json": {"reason": ""}}, "note_required"),
        ("return", {"json": {"note": "a note is not a reason"}}, "validation_failed"),
        ("transfer", {"json": {"unit": "330105016"}}, "note_required"),
    ],
)
def test_steps_missing_their_evidence_are_refused(api, ticket, verb, kw, code):
    with unchanged():
        assert_error(api.post(f"/api/v1/tickets/{ticket}/{verb}", "handler_tianshui", **kw), 422, code)


def test_progress_and_resolve_without_a_photo_are_refused(api, ticket):
    assert api.post(f"/api/v1/tickets/{ticket}/accept", "handler_tianshui", json={"note": "收到"}).status_code == 200
    for verb, data in (("progress", {"note": "到场"}), ("resolve", {"note": "好了", "outcome": "solved"})):
        with unchanged():
            assert_error(api.post(f"/api/v1/tickets/{ticket}/{verb}", "handler_tianshui", data=data),
                         422, "photo_required")
    with unchanged():
        resp = api.post(f"/api/v1/tickets/{ticket}/resolve", "handler_tianshui",
                        data={"note": "好了", "outcome": "solved"}, photos=[jpeg(), b"not an image"])
        assert_error(resp, 422, "photo_unsupported_type")
    assert api.get(f"/api/v1/tickets/{ticket}", "deputy_wang").json["state"] == "accepted"


def test_bad_outcome_is_a_validation_failure(api, ticket):
    assert api.post(f"/api/v1/tickets/{ticket}/accept", "handler_tianshui", json={"note": "收到"}).status_code == 200
    with unchanged():
        resp = api.post(f"/api/v1/tickets/{ticket}/resolve", "handler_tianshui",
                        data={"note": "好了", "outcome": "fixed-ish"}, photos=[jpeg()])
        err = assert_error(resp, 422, "validation_failed")
    assert "outcome" in fields_in(err)


@pytest.mark.parametrize("body", [{"score": "great"}, {"score": 5}, {}, {"score": "satisfied", "comment": 7}])
def test_bad_score_is_a_validation_failure(api, ticket, body):
    assert api.post(f"/api/v1/tickets/{ticket}/accept", "handler_tianshui", json={"note": "收到"}).status_code == 200
    resp = api.post(f"/api/v1/tickets/{ticket}/resolve", "handler_tianshui",
                    data={"note": "好了", "outcome": "solved"}, photos=[jpeg()])
    assert resp.status_code == 200
    with unchanged():
        assert_error(api.post(f"/api/v1/tickets/{ticket}/rate", "deputy_wang", json=body), 422, "validation_failed")


def test_cohandle_with_one_bad_unit_adds_none(api, ticket):
    with unchanged():
        resp = api.post(f"/api/v1/tickets/{ticket}/cohandle", "handler_tianshui",
                        json={"units": ["330103-ZF", "330100"]})
        assert_error(resp, 422, "invalid_co_handler")
    with unchanged():
        resp = api.post(f"/api/v1/tickets/{ticket}/cohandle", "handler_tianshui",
                        json={"units": ["330103-ZF", "no-such-unit"]})
        assert_error(resp, 422, "unknown_unit")
    with unchanged():
        assert_error(api.post(f"/api/v1/tickets/{ticket}/cohandle", "handler_tianshui", json={"units": []}),
                     422, "validation_failed")


def test_action_body_must_be_an_object(api, ticket):
    with unchanged():
        resp = api.client.post(f"/api/v1/tickets/{ticket}/accept", data="not json",
                               headers={**api.headers("handler_tianshui"), "Content-Type": "application/json"})
        assert 400 <= resp.status_code < 500
        assert resp.json["error"]["code"]
    with unchanged():
        resp = api.post(f"/api/v1/tickets/{ticket}/accept", "handler_tianshui", json=["收到"])
        assert_error(resp, 422, "validation_failed")


def test_unknown_action_is_404_in_the_envelope(api, ticket):
    resp = api.post(f"/api/v1/tickets/{ticket}/teleport", "handler_tianshui", json={})
    assert_error(resp, 404, "not_found")


# ---------------------------------------------------------------------------- lists


@pytest.mark.parametrize(
    ("query", "code"),
    [("state=teleported", "unknown_state"), ("page=0", "validation_failed"), ("page_size=0", "validation_failed"),
     ("page_size=101", "validation_failed"), ("page=two", "validation_failed")],
)
def test_bad_list_arguments_are_refused(api, query, code):
    assert_error(api.get(f"/api/v1/tickets?{query}", "deputy_wang"), 422, code)


def test_ids_beyond_the_integer_range_are_simply_absent(api, ticket):
    huge = "9" * 20
    assert_error(api.get(f"/api/v1/tickets/{huge}", "deputy_wang"), 404, "ticket_not_found")
    assert_error(api.post(f"/api/v1/tickets/{huge}/accept", "handler_tianshui", json={"note": "x"}),
                 404, "ticket_not_found")
    assert_error(api.get(f"/api/v1/photos/{huge}/display", "deputy_wang"), 404, "photo_not_found")
    assert_error(api.get(f"/api/v1/tickets?page={huge}", "deputy_wang"), 422, "validation_failed")


@pytest.mark.parametrize("key", ["²", "١٢٣", "-1", "0", "2026-000001x", "%20"])
def test_odd_ticket_keys_are_simply_absent(api, ticket, key):
    assert_error(api.get(f"/api/v1/tickets/{key}", "deputy_wang"), 404, "ticket_not_found")


# ---------------------------------------------------------------------------- NUL characters (PostgreSQL refuses them)


def test_nul_characters_are_bad_input_not_a_server_error(api, ticket):
    api.token("deputy_wang")
    with unchanged():
        assert_error(post_report(api, description="垃圾\x00堆积"), 422, "invalid_characters")
        assert_error(post_report(api, category="city.litter\x00"), 422, "invalid_characters")
        assert_error(api.post(f"/api/v1/tickets/{ticket}/accept", "handler_tianshui", json={"note": "收\x00到"}),
                     422, "invalid_characters")
        assert_error(api.post(f"/api/v1/tickets/{ticket}/transfer", "handler_tianshui",
                              json={"unit": "330105016\x00", "note": "x"}), 422, "invalid_characters")
        assert_error(api.get("/api/v1/tickets/2026-0\x0001", "deputy_wang"), 422, "invalid_characters")
        assert_error(api.get("/api/v1/tickets?state=dis\x00patched", "deputy_wang"), 422, "invalid_characters")


# ---------------------------------------------------------------------------- where work may be sent


def test_work_goes_only_to_streets_departments_and_dispatch_desks(api, ticket):
    with unchanged():
        assert_error(api.post(f"/api/v1/tickets/{ticket}/transfer", "supervisor_district",
                              json={"unit": "330103", "note": "区里自己办"}), 422, "invalid_target_unit")
        assert_error(api.post(f"/api/v1/tickets/{ticket}/transfer", "handler_tianshui",
                              json={"unit": "330103", "note": "交区里"}), 422, "invalid_target_unit")
        assert_error(api.post(f"/api/v1/tickets/{ticket}/transfer", "supervisor_city",
                              json={"unit": "330100", "note": "交市里"}), 422, "invalid_target_unit")
        assert_error(api.post(f"/api/v1/tickets/{ticket}/cohandle", "handler_tianshui",
                              json={"units": ["330103"]}), 422, "invalid_co_handler")
        assert_error(api.post(f"/api/v1/tickets/{ticket}/cohandle", "handler_tianshui",
                              json={"units": ["330100-PD"]}), 422, "invalid_co_handler")
    resp = api.post(f"/api/v1/tickets/{ticket}/transfer", "supervisor_city", json={"unit": "330100-PD", "note": "派单中心"})
    assert resp.status_code == 200 and resp.json["handling_unit"]["code"] == "330100-PD"
