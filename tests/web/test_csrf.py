"""CSRF: forms need the page's token; the API needs it too when called with the web session, not with a token."""

from __future__ import annotations

import re

from ticketing.demo import DEMO_PASSWORD


def _token(client, path: str = "/login") -> str:
    match = re.search(r'name="csrf-token" content="([^"]+)"', client.get(path).get_data(as_text=True))
    assert match, "every page carries its CSRF token in a meta tag"
    return match.group(1)


def test_a_form_post_without_the_token_is_refused(client, csrf_on):
    resp = client.post("/login", data={"username": "deputy_wang", "password": DEMO_PASSWORD})
    assert resp.status_code == 400
    resp = client.post("/login", data={"username": "deputy_wang", "password": DEMO_PASSWORD, "csrf_token": "forged"})
    assert resp.status_code == 400
    resp = client.post("/login", data={"username": "deputy_wang", "password": DEMO_PASSWORD,
                                       "csrf_token": _token(client)})
    assert resp.status_code == 302


def test_session_api_calls_that_change_things_need_the_header(client, csrf_on):
    client.post("/login", data={"username": "deputy_wang", "password": DEMO_PASSWORD, "csrf_token": _token(client)})
    # Signing in starts a new session, with a new CSRF token: the page's after sign-in.
    token = _token(client, "/")
    body = {"category": "city.litter", "lon": 120.1570240345, "lat": 30.2674745534, "description": "csrf"}
    refused = client.post("/api/v1/tickets", data=body)
    assert refused.status_code == 403 and refused.json["error"]["code"] == "csrf_failed"
    # Reading with the session needs no token; a change with the page's token goes through.
    assert client.get("/api/v1/me").status_code == 200
    accepted = client.post("/api/v1/tickets", data=body, headers={"X-CSRFToken": token})
    assert accepted.status_code == 201, accepted.json


def test_bearer_token_calls_need_no_csrf_token(api, csrf_on):
    resp = api.get("/api/v1/categories", "deputy_wang")
    assert resp.status_code == 200


def test_the_boundary_layer_is_public_geojson(client):
    data = client.get("/api/v1/boundaries").json
    assert data["type"] == "FeatureCollection"
    names = {f["properties"]["name"] for f in data["features"]}
    assert "天水街道" in names and len(data["features"]) >= 8
    assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in data["features"])


def test_leaflet_is_served_from_its_python_package(client):
    resp = client.get("/static/vendor/leaflet/leaflet.js")
    assert resp.status_code == 200 and b"Leaflet" in resp.data[:2000]
    assert client.get("/static/vendor/nothing/x.js").status_code == 404
