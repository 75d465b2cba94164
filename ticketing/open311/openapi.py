"""An OpenAPI 3 description of /open311/v2, served at /open311/v2/openapi.json.

GeoReport v2 is not built on request schemas (its views read loose form and query
parameters, as the spec wants: an empty one is a missing one), so there is no library
to generate this from. Instead the document is assembled from two sources:

- the routes themselves (paths, methods, path parameters), read from the app's URL map,
  so a new or renamed route shows up without anyone editing this file;
- ``PARAMETERS`` below: per view, the parameters it reads, with their types. A test
  (``tests/fuzz/test_open311_document.py``) checks them against the view code, so the two
  cannot drift apart.

Both formats are described: ``{fmt}`` is ``json`` or ``xml``; JSON bodies have schemas,
XML bodies are described as text (the same documents, see ``formats``). Its use is
schemathesis (``tests/fuzz``) and clients that want a typed view of the endpoints.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, current_app, jsonify

from ticketing.open311 import DESCRIPTION_MAX, MAX_ROWS, bp

JSON_MIME = "application/json"
XML_MIME = "text/xml"


@dataclass(frozen=True)
class Param:
    """One parameter a view reads from the query (GET) or the form (POST)."""

    name: str
    schema: dict[str, Any]
    description: str
    required: bool = False
    # Accepted by the spec and ignored by this server (one jurisdiction, no personal data kept).
    ignored: bool = False


@dataclass(frozen=True)
class Operation:
    """What the document says about one view beyond its route."""

    summary: str
    params: tuple[Param, ...] = ()
    response: dict[str, Any] = field(default_factory=dict)
    files: tuple[str, ...] = ()  # multipart file fields (POST only)


STRING = {"type": "string"}
DATETIME = {"type": "string", "format": "date-time"}
JURISDICTION = Param("jurisdiction_id", STRING, "accepted and ignored: one jurisdiction per deployment", ignored=True)
EXTENSIONS = Param("extensions", STRING, "`true` adds `extended_attributes` (the fine state, round, unit...)")
API_KEY = Param("api_key", STRING, "an API token of the account posting (POST /api/v1/auth/token)", required=True)
# Personal fields of the spec's POST: accepted so clients need not strip them, never stored.
PERSONAL = tuple(
    Param(name, STRING, "accepted and not stored: nothing identifies the reporter", ignored=True)
    for name in ("email", "device_id", "account_id", "first_name", "last_name", "phone")
)


def _obj(properties: dict[str, Any], required: tuple[str, ...] | None = None) -> dict[str, Any]:
    """An object schema; every property is required unless `required` names some (OpenAPI 3.0
    wants a non-empty list or none)."""
    names = list(properties if required is None else required)
    return {"type": "object", "properties": properties, **({"required": names} if names else {})}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "nullable": True}


SERVICE = _obj({
    "service_code": STRING,
    "service_name": STRING,
    "description": STRING,
    "metadata": {"type": "boolean"},
    "type": {"type": "string", "enum": ["realtime", "batch", "blackbox"]},
    "keywords": STRING,
    "group": STRING,
})
ATTRIBUTE = _obj({
    "variable": {"type": "boolean"},
    "code": STRING,
    "datatype": {"type": "string", "enum": ["string", "number", "datetime", "text", "singlevaluelist",
                                            "multivaluelist"]},
    "required": {"type": "boolean"},
    "datatype_description": _nullable(STRING),
    "order": {"type": "integer", "minimum": 1},
    "description": STRING,
    "values": {"type": "array", "items": _obj({"key": STRING, "name": STRING})},
})
REQUEST = _obj(
    {
        "service_request_id": STRING,
        "status": {"type": "string", "enum": ["open", "closed"]},
        "status_notes": STRING,
        "service_name": STRING,
        "service_code": STRING,
        "description": STRING,
        "agency_responsible": STRING,
        "service_notice": STRING,
        "requested_datetime": DATETIME,
        "updated_datetime": DATETIME,
        "expected_datetime": _nullable(DATETIME),
        "address": STRING,
        "address_id": STRING,
        "zipcode": STRING,
        "lat": {"type": "number", "minimum": -90, "maximum": 90},
        "long": {"type": "number", "minimum": -180, "maximum": 180},
        "media_url": STRING,
        "extended_attributes": {
            "type": "object",
            "description": "only with extensions=true",
            "properties": {
                "state": STRING,
                "round": {"type": "integer"},
                "outcome": _nullable(STRING),
                "handling_unit_code": _nullable(STRING),
                "escalation_level": {"type": "integer"},
                "supervised": {"type": "boolean"},
                "channel": STRING,
            },
        },
    },
    required=("service_request_id", "status", "service_name", "service_code", "requested_datetime",
              "updated_datetime", "lat", "long"),
)
CREATED = _obj({"service_request_id": STRING, "service_notice": STRING, "account_id": _nullable(STRING)})
UPDATE = _obj({
    "update_id": STRING,
    "service_request_id": STRING,
    "status": {"type": "string", "enum": ["OPEN", "CLOSED"]},
    "updated_datetime": DATETIME,
    "description": STRING,
    "media_url": STRING,
    "external_status_code": STRING,
})
ERRORS = {
    "type": "array",
    "minItems": 1,
    "items": _obj({"code": {"oneOf": [{"type": "integer"}, {"type": "string"}]}, "description": STRING}),
}


def _list(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item}


WINDOW = "at most 90 days from start_date to end_date"

# Per view (its endpoint name), the parameters it reads: checked against the view code by the tests.
PARAMETERS: dict[str, Operation] = {
    "discovery": Operation(
        "Service discovery: the endpoint, its formats, whom to ask for a key",
        response=_obj({
            "changeset": DATETIME,
            "contact": STRING,
            "key_service": STRING,
            "endpoints": _list(_obj({
                "specification": STRING,
                "url": STRING,
                "changeset": DATETIME,
                "type": {"type": "string", "enum": ["production", "test"]},
                "formats": _list(STRING),
            })),
        }),
    ),
    "services": Operation(
        "Every service (an active sub-category), grouped by its domain",
        (JURISDICTION,),
        _list(SERVICE),
    ),
    "service_definition": Operation(
        "A service's definition (its extra questions)",
        (JURISDICTION,),
        _obj({"service_code": STRING, "attributes": _list(ATTRIBUTE)}),
    ),
    "token": Operation(
        "Always 404: every service is realtime, no token is ever issued",
        (JURISDICTION,),
        _list(_obj({"service_request_id": STRING, "token": STRING})),
    ),
    "requests_": Operation(
        "Published requests, newest first",
        (
            JURISDICTION,
            Param("service_request_id", STRING, "comma-separated numbers; overrides every other filter"),
            Param("service_code", STRING, "comma-separated service codes"),
            Param("status", STRING, "`open` and/or `closed`, comma-separated"),
            Param("start_date", DATETIME, f"requested on or after; with a time zone; {WINDOW}"),
            Param("end_date", DATETIME, "requested on or before; default now (or start_date + 90 days)"),
            Param("updated_after", DATETIME, "changed after"),
            Param("updated_before", DATETIME, "changed on or before"),
            Param("page", {"type": "integer", "minimum": 1}, "1-based page"),
            Param("page_size", {"type": "integer", "minimum": 1}, f"rows per page, capped at {MAX_ROWS}"),
            EXTENSIONS,
        ),
        _list(REQUEST),
    ),
    "request_one": Operation(
        "One published request, as a one-element list",
        (JURISDICTION, EXTENSIONS),
        _list(REQUEST),
    ),
    "create_request": Operation(
        "A new request: created, routed and dispatched at once (realtime)",
        (
            JURISDICTION,
            API_KEY,
            Param("service_code", STRING, "from the service list", required=True),
            Param("lat", {"type": "number"}, "WGS84 latitude; with long"),
            Param("long", {"type": "number"}, "WGS84 longitude; with lat"),
            Param("address_string", STRING, "kept as the address; a location needs lat and long"),
            Param("address_id", STRING, "refused without lat and long (no address register)"),
            Param("description", {"type": "string", "minLength": 1, "maxLength": DESCRIPTION_MAX},
                  "what is wrong (a work order needs it)", required=True),
            Param("media_url", STRING, "recorded, never fetched"),
            *PERSONAL,
        ),
        _list(CREATED),
        files=("media[]", "media"),
    ),
    "media": Operation("A photo's display copy (no EXIF), once cleared for the public"),
    "updates": Operation(
        "FixMyStreet's extension: the public steps of published requests, oldest first",
        (
            JURISDICTION,
            Param("start_date", DATETIME, f"default: end_date - 24 hours; {WINDOW}"),
            Param("end_date", DATETIME, "default: now"),
        ),
        _list(UPDATE),
    ),
    "post_update": Operation(
        "FixMyStreet's extension: another system relays an update, kept as a comment",
        (
            JURISDICTION,
            API_KEY,
            Param("service_request_id", STRING, "the request updated", required=True),
            Param("update_id", STRING, "the relaying system's id; once per account", required=True),
            Param("updated_datetime", DATETIME, "when it happened there", required=True),
            Param("status", STRING, "recorded, not applied: the handling unit owns the state", required=True),
            Param("description", {"type": "string", "minLength": 1, "maxLength": DESCRIPTION_MAX},
                  "the comment", required=True),
            Param("media_url", STRING, "accepted and not fetched", ignored=True),
            *PERSONAL,
        ),
        _list(_obj({"update_id": STRING})),
    ),
}


def document(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.0 document of every /open311/v2 route of `app`."""
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.endpoint.startswith(f"{bp.name}.") or rule.endpoint == f"{bp.name}.openapi":
            continue
        view = rule.endpoint.split(".", 1)[1]
        spec = PARAMETERS[view]  # a KeyError here: a new route needs its entry in PARAMETERS
        path, path_params = _path(rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(view, method, spec, path_params)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Suishoupai Open311 GeoReport v2",
            "version": "v2",
            "description": "GeoReport v2 with FixMyStreet's servicerequestupdates; see docs/open311.md. "
                           "Errors are the spec's list of {code, description} with status 400, 403 or 404.",
        },
        "paths": paths,
    }


def _path(rule: str) -> tuple[str, list[dict[str, Any]]]:
    """The OpenAPI path of a Flask rule (``<int:photo_id>`` → ``{photo_id}``) and its path parameters."""
    params = []
    for converter, name in RULE_ARGUMENT.findall(rule):
        if name == "fmt":
            schema: dict[str, Any] = {"type": "string", "enum": ["json", "xml"]}
        elif converter == "int":
            schema = {"type": "integer", "minimum": 0}
        else:
            schema = {"type": "string", "minLength": 1}
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    return RULE_ARGUMENT.sub(lambda m: "{" + m.group(2) + "}", rule), params


RULE_ARGUMENT = re.compile(r"<(?:([^:<>]+):)?([^<>]+)>")


def _operation(view: str, method: str, spec: Operation, path_params: list[dict[str, Any]]) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": f"open311_{view}", "summary": spec.summary, "tags": ["open311"]}
    fields = [p for p in spec.params if not p.ignored or p is JURISDICTION]
    if method == "GET":
        # An empty parameter is the same as a missing one (spec §b.1).
        op["parameters"] = path_params + [
            {"name": p.name, "in": "query", "required": p.required, "allowEmptyValue": not p.required,
             "schema": p.schema, "description": p.description}
            for p in fields
        ]
    else:
        op["parameters"] = path_params
        properties: dict[str, Any] = {p.name: _form_field(p) for p in fields}
        required = [p.name for p in fields if p.required]
        content = {"application/x-www-form-urlencoded": {"schema": _obj(properties, tuple(required))}}
        if spec.files:
            # The v2.1 draft's media upload: the same fields, plus files.
            files = {name: {"type": "array", "items": {"type": "string", "format": "binary"}}
                     for name in spec.files[:1]}
            content["multipart/form-data"] = {"schema": _obj({**properties, **files}, tuple(required))}
        op["requestBody"] = {"required": True, "content": content}
    errors = {"description": "the spec's error list (XML or JSON, as the suffix asks)",
              "content": {JSON_MIME: {"schema": ERRORS}, XML_MIME: {"schema": STRING}}}
    if view == "media":
        ok = {"description": "a JPEG without metadata", "content": {"image/jpeg": {"schema": {"type": "string",
                                                                                              "format": "binary"}}}}
        op["responses"] = {"200": ok, "404": errors}
        return op
    ok = {"description": "OK", "content": {JSON_MIME: {"schema": spec.response}, XML_MIME: {"schema": STRING}}}
    op["responses"] = {"200": ok, "400": errors, "403": errors, "404": errors}
    return op


def _form_field(p: Param) -> dict[str, Any]:
    """A form field's schema; an optional one may also be sent empty, which means missing (§b.1)."""
    if p.required or p.schema == STRING:
        return {**p.schema, "description": p.description}
    return {"anyOf": [p.schema, {"type": "string", "maxLength": 0}], "description": p.description}


@bp.route("/openapi.json", methods=["GET"])
def openapi() -> Response:
    """This document."""
    return jsonify(document(current_app))
