"""Open311 GeoReport v2: the conformance checklist of anchors.md §b.11, item by item, in XML and JSON."""

from __future__ import annotations

import json
from datetime import timedelta
from xml.etree import ElementTree as ET

import pytest
from sqlalchemy import func, select

from tests.conftest import NOW, TIANSHUI, jpeg
from ticketing.extensions import db
from ticketing.models import Photo, Ticket

BASE = "/open311/v2"
FORMATS = ("xml", "json")


def _get(client, path, fmt, **params):
    return client.get(f"{BASE}/{path}.{fmt}", query_string=params)


def _doc(resp, fmt):
    if fmt == "json":
        assert resp.content_type == "application/json; charset=utf-8"
        return resp.json
    assert resp.content_type == "text/xml; charset=utf-8"
    assert resp.data.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    return ET.fromstring(resp.data)


def _requests(resp, fmt) -> list[dict]:
    doc = _doc(resp, fmt)
    if fmt == "json":
        assert isinstance(doc, list), "JSON lists are bare arrays"
        return doc
    assert doc.tag == "service_requests"
    return [{child.tag: child.text for child in item} for item in doc.findall("request")]


def _errors(resp, fmt) -> list[dict]:
    doc = _doc(resp, fmt)
    if fmt == "json":
        assert isinstance(doc, list)
        return doc
    assert doc.tag == "errors"
    return [{child.tag: child.text for child in item} for item in doc.findall("error")]


@pytest.fixture
def key(api) -> str:
    return api.token("deputy_wang")


@pytest.fixture
def reported(api, clock, ctx) -> str:
    clock.set(NOW)
    resp = api.report(description="井盖缺失 <b>危险</b>")
    assert resp.status_code == 201, resp.json
    return resp.json["number"]


# -- routes, each with .xml and .json


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_route_answers_in_both_formats(client, reported, fmt):
    for path in ("discovery", "services", "services/city.litter", "requests", f"requests/{reported}"):
        resp = _get(client, path, fmt)
        assert resp.status_code == 200, (path, resp.data)
        _doc(resp, fmt)


@pytest.mark.parametrize("fmt", FORMATS)
def test_tokens_are_never_issued_so_none_is_found(client, fmt):
    resp = _get(client, "tokens/abc", fmt)
    assert resp.status_code == 404
    assert _errors(resp, fmt)[0]["description"]


def test_an_unknown_format_is_400_in_xml(client):
    resp = client.get(f"{BASE}/services.csv")
    assert resp.status_code == 400
    errors = _errors(resp, "xml")
    assert errors[0]["code"] == "400"


# -- XML and JSON shapes


def test_xml_has_no_namespace_and_booleans_are_true_false(client):
    resp = _get(client, "services", "xml")
    assert b"xmlns" not in resp.data
    doc = _doc(resp, "xml")
    service = doc.find("service")
    assert service is not None and service.findtext("metadata") == "false"
    assert service.findtext("type") == "realtime"


def test_json_lists_are_arrays_and_the_definition_is_an_object(client):
    services = _get(client, "services", "json").json
    assert isinstance(services, list) and services
    assert services[0]["metadata"] is False
    definition = _get(client, f"services/{services[0]['service_code']}", "json").json
    assert isinstance(definition, dict) and definition["service_code"] == services[0]["service_code"]
    assert definition["attributes"] == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_discovery_lists_the_endpoint_and_its_formats(client, fmt):
    doc = _doc(_get(client, "discovery", fmt), fmt)
    if fmt == "json":
        assert {"changeset", "contact", "key_service", "endpoints"} <= set(doc)
        endpoint = doc["endpoints"][0]
        assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
        assert set(endpoint["formats"]) == {"text/xml", "application/json"}
        assert endpoint["url"].endswith("/open311/v2")
    else:
        assert doc.find("endpoints/endpoint/specification").text == "http://wiki.open311.org/GeoReport_v2"
        assert [f.text for f in doc.findall("endpoints/endpoint/formats/format")] == ["text/xml", "application/json"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_services_are_the_sub_categories_grouped_by_domain(client, fmt):
    resp = _get(client, "services", fmt)
    rows = resp.json if fmt == "json" else [
        {c.tag: c.text for c in s} for s in _doc(resp, fmt).findall("service")
    ]
    litter = next(r for r in rows if r["service_code"] == "city.litter")
    assert litter["group"] and litter["service_name"]
    assert {"service_code", "service_name", "description", "metadata", "type", "keywords", "group"} <= set(litter)


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_unknown_service_is_404(client, fmt):
    resp = _get(client, "services/no.such", fmt)
    assert resp.status_code == 404 and _errors(resp, fmt)[0]["code"] in (404, "404")


# -- jurisdiction_id and empty parameters


@pytest.mark.parametrize("fmt", FORMATS)
def test_one_jurisdiction_accepts_and_ignores_jurisdiction_id(client, reported, fmt):
    plain = _requests(_get(client, "requests", fmt), fmt)
    given = _requests(_get(client, "requests", fmt, jurisdiction_id="hangzhou.gov.cn"), fmt)
    assert plain == given


@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_parameters_are_the_same_as_missing(client, reported, fmt):
    plain = _requests(_get(client, "requests", fmt), fmt)
    empty = _requests(_get(client, "requests", fmt, status="", service_code="", start_date="", end_date=""), fmt)
    assert plain == empty and any(r["service_request_id"] == reported for r in plain)


# -- POST


def _post(client, fmt, **form):
    return client.post(f"{BASE}/requests.{fmt}", data=form)


@pytest.mark.parametrize("fmt", FORMATS)
def test_post_creates_a_routed_request(client, key, clock, ctx, fmt):
    clock.set(NOW)
    resp = _post(client, fmt, api_key=key, service_code="city.litter", lat=TIANSHUI[1], long=TIANSHUI[0],
                 description="路边垃圾", jurisdiction_id="", email="someone@example.com")
    assert resp.status_code == 200, resp.data
    created = _requests(resp, fmt)[0]
    number = created["service_request_id"]
    assert "天水" in created["service_notice"]
    ticket = db.session.scalar(select(Ticket).where(Ticket.number == number))
    assert ticket is not None and ticket.handling_unit.code == "330105012"
    assert "someone@example.com" not in json.dumps(ticket.routing)


@pytest.mark.parametrize("fmt", FORMATS)
def test_post_with_multipart_media_stores_the_photo(client, key, clock, ctx, fmt):
    import io

    clock.set(NOW)
    resp = client.post(f"{BASE}/requests.{fmt}", data={
        "api_key": key, "service_code": "city.litter", "lat": str(TIANSHUI[1]), "long": str(TIANSHUI[0]),
        "description": "带照片", "media[]": [(io.BytesIO(jpeg()), "a.jpg")]})
    assert resp.status_code == 200, resp.data
    number = _requests(resp, fmt)[0]["service_request_id"]
    ticket = db.session.scalar(select(Ticket).where(Ticket.number == number))
    assert db.session.scalar(select(func.count()).select_from(Photo).where(Photo.ticket_id == ticket.id)) == 1


CASES = [
    ({"service_code": "city.litter", "lat": "30.26", "long": "120.15"}, 403, "no api_key"),
    ({"api_key": "wrong", "service_code": "city.litter", "lat": "30.26", "long": "120.15"}, 403, "bad api_key"),
    ({"api_key": "KEY", "lat": "30.26", "long": "120.15"}, 400, "no service_code"),
    ({"api_key": "KEY", "service_code": "no.such", "lat": "30.26", "long": "120.15"}, 404, "unknown service"),
    ({"api_key": "KEY", "service_code": "city.litter", "lat": "30.26"}, 400, "lat without long"),
    ({"api_key": "KEY", "service_code": "city.litter"}, 400, "no location"),
    ({"api_key": "KEY", "service_code": "city.litter", "address_string": "天水街道"}, 400, "address only"),
    ({"api_key": "KEY", "service_code": "city.litter", "lat": "north", "long": "120.15"}, 400, "not a number"),
    ({"api_key": "KEY", "service_code": "city.litter", "lat": "30.26", "long": "120.15",
      "description": "长" * 4001}, 400, "description over 4000"),
    ({"api_key": "KEY", "service_code": "city.litter", "lat": "95", "long": "120.15",
      "description": "x"}, 400, "latitude out of range"),
]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("form,status,why", CASES, ids=[c[2] for c in CASES])
def test_post_refuses_bad_input_in_the_spec_format_and_writes_nothing(client, key, ctx, fmt, form, status, why):
    before = db.session.scalar(select(func.count()).select_from(Ticket))
    form = {k: (key if v == "KEY" else v) for k, v in form.items()}
    resp = _post(client, fmt, **form)
    assert resp.status_code == status, (why, resp.data)
    assert _errors(resp, fmt)[0]["description"]
    assert db.session.scalar(select(func.count()).select_from(Ticket)) == before


# -- GET requests


@pytest.mark.parametrize("fmt", FORMATS)
def test_service_request_id_overrides_every_other_filter(client, api, clock, ctx, fmt):
    clock.set(NOW)
    first = api.report().json["number"]
    second = api.report(description="另一处").json["number"]
    rows = _requests(_get(client, "requests", fmt, service_request_id=f"{first},{second}", status="closed",
                          service_code="no.such", start_date="2020-01-01T00:00:00Z"), fmt)
    assert {r["service_request_id"] for r in rows} == {first, second}


@pytest.mark.parametrize("fmt", FORMATS)
def test_service_code_and_status_take_comma_lists(client, reported, fmt):
    rows = _requests(_get(client, "requests", fmt, service_code="city.litter,road.pothole", status="open,closed"), fmt)
    assert any(r["service_request_id"] == reported for r in rows)
    assert all(r["service_code"] in ("city.litter", "road.pothole") for r in rows)
    closed = _requests(_get(client, "requests", fmt, status="closed"), fmt)
    assert all(r["status"] == "closed" for r in closed)
    assert reported not in {r["service_request_id"] for r in closed}


@pytest.mark.parametrize("fmt", FORMATS)
def test_dates_filter_requested_datetime_and_default_to_90_days(client, reported, clock, fmt):
    inside = _requests(_get(client, "requests", fmt, start_date="2026-03-01T00:00:00Z",
                            end_date="2026-03-03T00:00:00+08:00"), fmt)
    assert reported in {r["service_request_id"] for r in inside}
    before = _requests(_get(client, "requests", fmt, end_date="2026-03-01T00:00:00Z"), fmt)
    assert reported not in {r["service_request_id"] for r in before}
    clock.set(NOW + timedelta(days=91))
    assert reported not in {r["service_request_id"] for r in _requests(_get(client, "requests", fmt), fmt)}


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_window_over_90_days_or_a_bad_date_is_400(client, fmt):
    too_long = _get(client, "requests", fmt, start_date="2026-01-01T00:00:00Z", end_date="2026-04-02T00:00:00Z")
    assert too_long.status_code == 400 and _errors(too_long, fmt)
    assert _get(client, "requests", fmt, start_date="yesterday").status_code == 400
    assert _get(client, "requests", fmt, start_date="2026-03-01T00:00:00").status_code == 400, "zone required"
    assert _get(client, "requests", fmt, status="pending").status_code == 400


@pytest.mark.parametrize("fmt", FORMATS)
def test_at_most_1000_rows_and_pages(client, api, clock, ctx, fmt):
    clock.set(NOW)
    numbers = {api.report(description=f"第{i}处").json["number"] for i in range(3)}
    page1 = _requests(_get(client, "requests", fmt, page_size=2, page=1), fmt)
    page2 = _requests(_get(client, "requests", fmt, page_size=2, page=2), fmt)
    assert len(page1) == 2 and page1[0]["service_request_id"] not in {r["service_request_id"] for r in page2}
    assert numbers <= {r["service_request_id"] for r in page1 + page2} | numbers
    big = _get(client, "requests", fmt, page_size=5000)
    assert big.status_code == 200 and len(_requests(big, fmt)) <= 1000
    assert _get(client, "requests", fmt, page=0).status_code == 400


@pytest.mark.parametrize("fmt", FORMATS)
def test_updated_after_and_before(client, reported, fmt):
    later = _requests(_get(client, "requests", fmt, updated_after="2026-03-02T02:00:00Z"), fmt)
    assert reported not in {r["service_request_id"] for r in later}
    earlier = _requests(_get(client, "requests", fmt, updated_before="2026-03-02T02:00:00Z"), fmt)
    assert reported in {r["service_request_id"] for r in earlier}


# -- fields, datetimes, states


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_request_has_every_field_with_w3c_datetimes(client, reported, fmt):
    row = _requests(_get(client, f"requests/{reported}", fmt), fmt)[0]
    for name in ("service_request_id", "status", "status_notes", "service_name", "service_code", "description",
                 "agency_responsible", "requested_datetime", "updated_datetime", "expected_datetime", "address",
                 "lat", "long", "media_url"):
        assert name in row, name
    assert row["requested_datetime"] == "2026-03-02T01:00:00Z"
    assert row["status"] == "open" and "dispatched" in row["status_notes"]
    assert row["agency_responsible"] == "天水街道"
    assert float(row["lat"]) == pytest.approx(TIANSHUI[1], abs=1e-5)


def test_user_text_is_escaped_in_xml(client, reported):
    resp = _get(client, f"requests/{reported}", "xml")
    assert b"<b>" not in resp.data and b"&lt;b&gt;" in resp.data


@pytest.mark.parametrize("fmt", FORMATS)
def test_closed_requests_give_their_close_time_as_updated_datetime(client, api, clock, ctx, fmt):
    clock.set(NOW)
    number = api.report().json["number"]
    api.post(f"/api/v1/tickets/{number}/accept", "handler_tianshui", json={"note": "收到"})
    clock.advance(hours=2)
    api.post(f"/api/v1/tickets/{number}/resolve", "handler_tianshui",
             data={"note": "已清理", "outcome": "solved"}, photos=[jpeg()])
    clock.advance(hours=1)
    rated = api.post(f"/api/v1/tickets/{number}/rate", "deputy_wang", json={"score": "satisfied"})
    assert rated.status_code == 200, rated.json
    row = _requests(_get(client, f"requests/{number}", fmt), fmt)[0]
    assert row["status"] == "closed" and row["updated_datetime"] == "2026-03-02T04:00:00Z"


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_fine_state_is_behind_extensions(client, reported, fmt):
    resp = _get(client, f"requests/{reported}", fmt, extensions="true")
    if fmt == "json":
        assert resp.json[0]["extended_attributes"]["state"] == "dispatched"
    else:
        assert _doc(resp, fmt).findtext("request/extended_attributes/state") == "dispatched"
    plain = _get(client, f"requests/{reported}", fmt)
    assert b"extended_attributes" not in plain.data


@pytest.mark.parametrize("fmt", FORMATS)
def test_private_requests_and_reporters_never_appear(client, api, clock, ctx, fmt):
    clock.set(NOW)
    private = api.report(visibility="private", description="私事").json["number"]
    assert _get(client, f"requests/{private}", fmt).status_code == 404
    rows = _requests(_get(client, "requests", fmt), fmt)
    assert private not in {r["service_request_id"] for r in rows}
    body = _get(client, "requests", fmt).get_data(as_text=True)
    assert "王" not in body and "deputy_wang" not in body


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_unknown_request_is_404(client, fmt):
    resp = _get(client, "requests/2099-999999", fmt)
    assert resp.status_code == 404 and _errors(resp, fmt)


# -- FixMyStreet's servicerequestupdates


@pytest.mark.parametrize("fmt", FORMATS)
def test_service_request_updates_list_the_public_steps(client, api, clock, ctx, fmt):
    clock.set(NOW)
    number = api.report().json["number"]
    api.post(f"/api/v1/tickets/{number}/accept", "handler_tianshui", json={"note": "马上处理"})
    resp = _get(client, "servicerequestupdates", fmt, start_date="2026-03-02T00:00:00Z",
                end_date="2026-03-03T00:00:00Z")
    assert resp.status_code == 200
    if fmt == "json":
        mine = [u for u in resp.json if u["service_request_id"] == number]
    else:
        mine = [{c.tag: c.text for c in u} for u in _doc(resp, fmt).findall("request_update")
                if u.findtext("service_request_id") == number]
    assert [u["external_status_code"] for u in mine] == ["report", "accept"]
    assert mine[1]["description"] == "马上处理" and mine[1]["status"] == "OPEN"


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_relayed_update_becomes_a_comment_once(client, api, key, clock, ctx, fmt):
    from ticketing.models import TicketEvent
    from ticketing.workflow import Action

    clock.set(NOW)
    number = api.report().json["number"]
    form = {"api_key": key, "service_request_id": number, "update_id": "fms-77", "status": "OPEN",
            "updated_datetime": "2026-03-02T02:00:00Z", "description": "居民补充：晚上更严重"}
    resp = client.post(f"{BASE}/servicerequestupdates.{fmt}", data=form)
    assert resp.status_code == 200, resp.data
    ticket = db.session.scalar(select(Ticket).where(Ticket.number == number))
    comments = [e for e in ticket.events if e.action == Action.COMMENT]
    assert [c.note for c in comments] == ["居民补充：晚上更严重"]
    again = client.post(f"{BASE}/servicerequestupdates.{fmt}", data=form)
    assert again.status_code == 400 and "already exists" in _errors(again, fmt)[0]["description"]
    assert client.post(f"{BASE}/servicerequestupdates.{fmt}", data={**form, "api_key": "nope"}).status_code == 403
    assert client.post(f"{BASE}/servicerequestupdates.{fmt}",
                       data={**form, "update_id": "x", "service_request_id": "2099-1"}).status_code == 400
    assert client.post(f"{BASE}/servicerequestupdates.{fmt}",
                       data={k: v for k, v in form.items() if k != "description"}).status_code == 400
    assert db.session.scalar(
        select(func.count()).select_from(TicketEvent).where(TicketEvent.ticket_id == ticket.id,
                                                            TicketEvent.action == Action.COMMENT)) == 1
