"""What the fuzzer found, one regression test each (on the fuzzing app, rolled back after each test)."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from tests.conftest import TIANSHUI, Api, jpeg
from ticketing.extensions import db
from ticketing.models import Photo, Ticket, TicketEvent


def _counts() -> tuple[int | None, ...]:
    return tuple(db.session.scalar(select(func.count()).select_from(m)) for m in (Ticket, TicketEvent, Photo))


def test_the_document_describes_the_error_envelope_the_api_answers_with(fuzz_api: Api) -> None:
    document = fuzz_api.client.get("/api/v1/openapi.json").json
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    body = document["components"]["schemas"]["ErrorBody"]
    assert set(body["required"]) == {"code", "message", "details"}
    resp = fuzz_api.get("/api/v1/tickets/no-such-ticket", "deputy_wang")
    assert resp.status_code == 404
    assert set(resp.json) == {"error"} and set(resp.json["error"]) == {"code", "message", "details"}


def test_json_or_form_bodies_are_documented_as_request_bodies(fuzz_api: Api) -> None:
    document = fuzz_api.client.get("/api/v1/openapi.json").json
    locations = {p["in"] for item in document["paths"].values() for op in item.values() if isinstance(op, dict)
                 for p in op.get("parameters", [])}
    assert locations <= {"path", "query", "header", "cookie"}
    token = document["paths"]["/api/v1/auth/token"]["post"]
    assert token["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/TokenRequest"}
    accept = document["paths"]["/api/v1/tickets/{key}/accept"]["post"]
    assert "application/json" in accept["requestBody"]["content"]


def test_a_form_still_works_where_json_is_documented(fuzz_api: Api) -> None:
    from ticketing.demo import DEMO_PASSWORD

    resp = fuzz_api.client.post("/api/v1/auth/token", data={"username": "deputy_wang", "password": DEMO_PASSWORD})
    assert resp.status_code == 201


@pytest.mark.parametrize("path", ["/api/v1/tickets", "/api/v1/tickets/{number}/progress"])
def test_photos_sent_as_a_text_field_are_a_422_and_nothing_is_written(fuzz_api: Api, path: str) -> None:
    reported = fuzz_api.report("deputy_wang", photos=[jpeg()])
    assert reported.status_code == 201, reported.json
    before = _counts()
    data = {"category": "city.litter", "description": "x", "lon": TIANSHUI[0], "lat": TIANSHUI[1],
            "note": "看过", "photos": "not a file"}
    resp = fuzz_api.post(path.format(number=reported.json["number"]), "deputy_wang" if path == "/api/v1/tickets"
                         else "handler_tianshui", data=data)
    assert resp.status_code == 422, resp.json
    assert resp.json["error"]["code"] == "validation_failed"
    assert "photos" in str(resp.json["error"]["details"])
    assert _counts() == before


def test_a_real_photo_beside_a_text_one_is_refused_too(fuzz_api: Api) -> None:
    before = _counts()
    resp = fuzz_api.client.post(
        "/api/v1/tickets",
        data={"category": "city.litter", "description": "x", "lon": str(TIANSHUI[0]), "lat": str(TIANSHUI[1]),
              "photos": [(io.BytesIO(jpeg()), "p.jpg"), "text"]},
        headers=fuzz_api.headers("deputy_wang"),
        content_type="multipart/form-data",
    )
    assert resp.status_code == 422
    assert _counts() == before


def test_a_method_the_route_does_not_take_is_405_with_allow(fuzz_api: Api) -> None:
    resp = fuzz_api.client.delete("/api/v1/me")
    assert resp.status_code == 405
    assert set(resp.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "HEAD"}
    assert resp.json["error"]["code"] == "method_not_allowed"
    assert resp.mimetype == "application/json"


@pytest.mark.parametrize("path", [
    "/api/v1/kpis?from=2026-03-01&to=2000-01-01",
    "/api/v1/tickets?page=0",
    "/api/v1/deputies/points?from=nonsense",
])
def test_anonymous_callers_get_401_before_their_arguments_are_read(fuzz_api: Api, path: str) -> None:
    resp = fuzz_api.client.get(path)
    assert resp.status_code == 401, resp.json
    assert resp.json["error"]["code"] == "authentication_required"


def test_signed_in_callers_still_get_422_for_bad_arguments(fuzz_api: Api) -> None:
    resp = fuzz_api.get("/api/v1/tickets?page=0", "deputy_wang")
    assert resp.status_code == 422


def test_operations_without_security_stay_open(fuzz_api: Api) -> None:
    assert fuzz_api.client.get("/api/v1/categories").status_code == 200
    assert fuzz_api.client.post("/api/v1/auth/token", json={}).status_code == 422


@pytest.mark.parametrize(("path", "mimetype"), [
    ("/open311/v2/no-such-thing.json", "application/json"),
    ("/open311/v2/media/not-a-number.jpg", "text/xml"),
    ("/open311/v2/requests/a/b.xml", "text/xml"),
])
def test_open311_unknown_paths_answer_the_spec_404(fuzz_api: Api, path: str, mimetype: str) -> None:
    resp = fuzz_api.client.get(path)
    assert resp.status_code == 404
    assert resp.mimetype == mimetype
    assert b"no such resource" in resp.data


def test_open311_a_method_no_route_takes_is_the_spec_400(fuzz_api: Api) -> None:
    resp = fuzz_api.client.put("/open311/v2/services.json")
    assert resp.status_code == 400
    assert resp.json == [{"code": 400, "description": "method not supported on this resource"}]


def test_other_unknown_paths_keep_the_web_404(fuzz_api: Api) -> None:
    resp = fuzz_api.client.get("/no-such-page")
    assert resp.status_code == 404
    assert resp.mimetype == "text/html"


def test_a_token_id_beyond_the_integer_range_is_absent_not_a_500(fuzz_api: Api) -> None:
    resp = fuzz_api.client.delete(f"/api/v1/auth/tokens/{10**17}", headers=fuzz_api.headers("deputy_wang"))
    assert resp.status_code == 404, resp.json
    assert resp.json["error"]["code"] == "token_not_found"


@pytest.mark.parametrize("listed", [False, True])
def test_a_candidate_id_beyond_the_integer_range_is_absent_not_a_500(fuzz_api: Api, listed: bool) -> None:
    resp = fuzz_api.post(f"/api/v1/supervision/candidates/{2**31}/decide", "supervisor_district",
                         json={"listed": listed, "note": "看过", "leader": "王", "reason": "多次投诉"})
    assert resp.status_code == 404, resp.json
    assert resp.json["error"]["code"] == "candidate_not_found"


def test_open311_media_beyond_the_integer_range_is_the_spec_404(fuzz_api: Api) -> None:
    resp = fuzz_api.client.get(f"/open311/v2/media/{2**52}.jpg")
    assert resp.status_code == 404
    assert b"no such media" in resp.data


def test_a_form_part_without_a_name_is_a_422_not_a_500(fuzz_api: Api) -> None:
    """Found by schemathesis: a multipart part named "" came back from webargs keyed None, which the
    JSON encoder (sorting keys) could not write."""
    reported = fuzz_api.report("deputy_wang", photos=[jpeg()])
    assert reported.status_code == 201, reported.json
    resp = fuzz_api.post(f"/api/v1/tickets/{reported.json['number']}/add_info", "deputy_wang",
                         data={"": "3.1", "note": "补充"})
    assert resp.status_code == 422, resp.data
    assert resp.json["error"]["code"] == "validation_failed"
