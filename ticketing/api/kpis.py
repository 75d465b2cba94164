"""KPIs of a unit and its subtree for a period: GET /api/v1/kpis (definitions: ticketing.metrics).

``from`` and ``to`` are local (Asia/Shanghai, the configured zone) dates; ``to`` is exclusive,
so ``from=2026-03-01&to=2026-04-01`` is March. Without them the period is the current local
month so far (to tomorrow). ``unit`` defaults to the caller's own unit.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from marshmallow import Schema, ValidationError, fields, validates_schema

from ticketing import metrics
from ticketing.api.blueprint import ApiBlueprint
from ticketing.api.context import actor, now, settings

blp = ApiBlueprint("api_kpis", __name__, description="KPIs per unit, category and period (DESIGN.md §7)")
SECURED: list[dict[str, list[str]]] = [{"bearer": []}]


class KpiArgs(Schema):
    unit = fields.String(load_default=None, metadata={"description": "unit code; default the caller's unit"})
    from_ = fields.Date(data_key="from", load_default=None, metadata={"description": "first local date"})
    to = fields.Date(load_default=None, metadata={"description": "local date after the last one (exclusive)"})
    category = fields.String(load_default=None, metadata={"description": "a category code"})

    @validates_schema
    def _ordered(self, data: dict[str, Any], **_: Any) -> None:
        if data["from_"] and data["to"] and data["to"] <= data["from_"]:
            raise ValidationError("to must be after from", "to")


@blp.route("/kpis", methods=["GET"])
@blp.arguments(KpiArgs, location="query")
@blp.response(200)
@blp.doc(security=SECURED)
def get_kpis(args: dict[str, Any]) -> dict[str, Any]:
    """Every KPI with numerator, denominator and value, and the filter it was computed for."""
    caller, moment, conf = actor(), now(), settings()
    unit = metrics.visible_unit(caller, args["unit"])
    today = moment.astimezone(ZoneInfo(conf.timezone)).date()
    first = args["from_"] or today.replace(day=1)
    last = args["to"] or today + timedelta(days=1)
    start, end = metrics.local_period(first, last, conf.timezone)
    kpi_filter = metrics.KpiFilter(unit.id, start, end, args["category"])
    result = metrics.compute(
        kpi_filter,
        moment,
        conf,
        due_soon_response_hours=float(current_app.config["REMIND_RESPONSE_BEFORE_HOURS"]),
        due_soon_resolution_hours=float(current_app.config["REMIND_RESOLUTION_BEFORE_HOURS"]),
    )
    echoed = {"unit": unit.code, "from": first.isoformat(), "to": last.isoformat(), "category": args["category"]}
    return {"filter": echoed, "as_of": moment.isoformat(), **result}
