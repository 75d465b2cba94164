"""GET /api/v1/kpis has a typed response: every figure is in the OpenAPI document with a description.

The numbers themselves are tested in tests/test_metrics.py; here: the document names every key
`metrics.compute` returns, the response conforms to it, and typing it changed no value.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from tests.conftest import TIANSHUI, jpeg

SH = ZoneInfo("Asia/Shanghai")
TIANSHUI_CODE = "330105012"
MEASURED = datetime(2026, 3, 10, 9, 0, tzinfo=SH)
QUERY = f"/api/v1/kpis?unit={TIANSHUI_CODE}&from=2026-03-01&to=2026-04-01"


def compute_now(ctx: Any) -> dict[str, Any]:
    from ticketing.extensions import db
    from ticketing.metrics import KpiFilter, compute
    from ticketing.models import OrgUnit

    unit_id = db.session.scalar(select(OrgUnit.id).where(OrgUnit.code == TIANSHUI_CODE))
    start, end = datetime(2026, 3, 1, tzinfo=SH), datetime(2026, 4, 1, tzinfo=SH)
    return compute(KpiFilter(unit_id, start, end), MEASURED, ctx.extensions["ticket_settings"])  # type: ignore[arg-type]


def resolve_ref(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """The schema itself, or the component a `$ref` (alone or as the one item of an `allOf`) names."""
    ref = schema.get("$ref") or (schema.get("allOf") or [{}])[0].get("$ref")
    return doc["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else schema


TYPES = {"integer": (int,), "number": (int, float), "string": (str,), "boolean": (bool,), "object": (dict,)}


def conforms(doc: dict[str, Any], schema: dict[str, Any], value: Any, where: str = "$") -> list[str]:
    """What in `value` breaks `schema` (types, nullability, required and unknown properties): a small
    OpenAPI 3.0 checker for the constructs marshmallow schemas produce here."""
    schema = resolve_ref(doc, schema)
    if value is None:
        return [] if schema.get("nullable") else [f"{where} is null"]
    kind = schema.get("type", "object")
    if not isinstance(value, TYPES[kind]) or (kind in ("integer", "number") and isinstance(value, bool)):
        return [f"{where} is not {kind}: {value!r}"]
    if kind == "string" and schema.get("format") == "date-time":
        datetime.fromisoformat(value)
    problems: list[str] = []
    if kind == "object":
        props = schema.get("properties", {})
        problems += [f"{where}.{k} missing" for k in schema.get("required", []) if k not in value]
        problems += [f"{where}.{k} undocumented" for k in value if k not in props]
        for k, v in value.items():
            if k in props:
                problems += conforms(doc, props[k], v, f"{where}.{k}")
    return problems


@pytest.fixture
def history(ctx: Any) -> None:
    """One ticket resolved on time, one never accepted: rates with values, a rating rate without (null)."""
    from ticketing.extensions import db
    from ticketing.models import User
    from ticketing.services import tickets as svc
    from ticketing.services.photos import Upload
    from ticketing.services.tickets import Evidence

    settings, store = ctx.extensions["ticket_settings"], ctx.extensions["photo_store"]

    def who(name: str) -> User:
        return db.session.scalar(select(User).where(User.username == name))  # type: ignore[return-value]

    def report(hour: int) -> Any:
        return svc.report(actor=who("deputy_wang"), category_code="city.litter", description="垃圾", lon=TIANSHUI[0],
                          lat=TIANSHUI[1], uploads=[], now=datetime(2026, 3, 2, hour, tzinfo=SH), settings=settings,
                          store=store)

    done = report(9)
    svc.accept(done, who("handler_tianshui"), datetime(2026, 3, 2, 10, tzinfo=SH), note="收到")
    svc.resolve(done, who("handler_tianshui"), datetime(2026, 3, 2, 15, tzinfo=SH), outcome="solved",
                evidence=Evidence("已清理", [Upload("d.jpg", jpeg((20, 160, 60)))]), settings=settings, store=store)
    report(11)


def test_the_openapi_document_types_every_kpi(ctx: Any, client: Any) -> None:
    doc = client.get("/api/v1/openapi.json").json
    response = doc["paths"]["/api/v1/kpis"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    kpi = resolve_ref(doc, response)
    expected = set(compute_now(ctx)) | {"filter", "as_of"}
    assert set(kpi["properties"]) == expected
    assert set(kpi["required"]) == expected
    for name, prop in kpi["properties"].items():
        assert len(prop.get("description", "")) > 10, name
    rate = resolve_ref(doc, kpi["properties"]["response_rate"])
    assert {k: v["type"] for k, v in rate["properties"].items()} == {
        "numerator": "integer", "denominator": "integer", "value": "number"
    }
    assert rate["properties"]["value"]["nullable"] is True
    duration = resolve_ref(doc, kpi["properties"]["resolution_hours"])
    assert set(duration["properties"]) == {"count", "median", "average"}
    assert duration["properties"]["median"]["nullable"] is True
    for schema in (rate, duration, resolve_ref(doc, kpi["properties"]["filter"])):
        assert all(p.get("description") for p in schema["properties"].values()), schema
    assert kpi["properties"]["as_of"]["format"] == "date-time"


def test_the_response_conforms_and_its_values_are_unchanged(ctx: Any, api: Any, clock: Any, history: None) -> None:
    from ticketing.api.kpis import KpiOut

    clock.set(MEASURED)
    resp = api.get(QUERY, "supervisor_district")
    assert resp.status_code == 200, resp.json
    body = resp.json
    doc = api.client.get("/api/v1/openapi.json").json
    schema = doc["paths"]["/api/v1/kpis"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert conforms(doc, schema, body) == []
    assert KpiOut().validate(body) == {}

    expected = compute_now(ctx)
    assert {k: v for k, v in body.items() if k not in ("filter", "as_of")} == expected
    assert body["filter"] == {"unit": TIANSHUI_CODE, "from": "2026-03-01", "to": "2026-04-01", "category": None}
    assert body["as_of"] == "2026-03-10T01:00:00+00:00"
    # Both kinds of value occur: a measured rate and an unmeasured (null) one.
    assert body["resolution_rate"] == {"numerator": 1, "denominator": 2, "value": 0.5}
    assert body["satisfaction_final"] == {"numerator": 0, "denominator": 0, "value": None}
    assert body["resolution_hours"] == {"count": 1, "median": 5.0, "average": 5.0}  # 09–12, 13–15


def test_the_checker_catches_what_it_should(client: Any) -> None:
    doc = client.get("/api/v1/openapi.json").json
    rate = doc["components"]["schemas"]["RateOut"]
    assert conforms(doc, rate, {"numerator": 1, "denominator": 2, "value": 0.5}) == []
    assert conforms(doc, rate, {"numerator": 1, "denominator": 2, "value": "0.5"})
    assert conforms(doc, rate, {"numerator": 1, "denominator": 2})
    assert conforms(doc, rate, {"numerator": None, "denominator": 2, "value": None})
    assert conforms(doc, rate, {"numerator": 1, "denominator": 2, "value": 0.5, "extra": 1})
