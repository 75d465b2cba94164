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


# The response, typed field by field so that /api/v1/openapi.json documents every figure.
# Descriptions are short forms of the definitions in ticketing/metrics.py's docstring
# (the full text is docs/metrics.md); tests/api/test_kpis_schema.py checks that every key
# `metrics.compute` returns is declared here, so a new figure cannot go undocumented.


class RateOut(Schema):
    """A rate with its parts: value = numerator ÷ denominator, null when nothing was measured."""

    numerator = fields.Integer(required=True, metadata={"description": "what counts in favour"})
    denominator = fields.Integer(required=True, metadata={"description": "what was measured"})
    value = fields.Float(
        required=True,
        allow_none=True,
        metadata={"description": "numerator ÷ denominator to 4 places; null when the denominator is 0"},
    )


class DurationOut(Schema):
    """Working hours (office hours on working days; holidays and weekends do not count)."""

    count = fields.Integer(required=True, metadata={"description": "how many durations were measured"})
    median = fields.Float(required=True, allow_none=True, metadata={"description": "median, null when count is 0"})
    average = fields.Float(required=True, allow_none=True, metadata={"description": "mean, null when count is 0"})


class KpiFilterOut(Schema):
    unit = fields.String(required=True, metadata={"description": "the unit code; figures cover its subtree"})
    from_ = fields.Date(data_key="from", required=True, metadata={"description": "first local date"})
    to = fields.Date(required=True, metadata={"description": "local date after the last one (exclusive)"})
    category = fields.String(required=True, allow_none=True, metadata={"description": "category code, or null: all"})


def _rate(description: str) -> fields.Nested:
    return fields.Nested(RateOut, required=True, metadata={"description": description})


def _duration(description: str) -> fields.Nested:
    return fields.Nested(DurationOut, required=True, metadata={"description": description})


def _count(description: str) -> fields.Integer:
    return fields.Integer(required=True, metadata={"description": description})


class KpiOut(Schema):
    """Every KPI of a unit's subtree, category and period (definitions: docs/metrics.md)."""

    filter = fields.Nested(KpiFilterOut, required=True, metadata={"description": "what was measured"})
    as_of = fields.DateTime(
        required=True, metadata={"description": "the request time: the `now` of the snapshot counts"}
    )
    dispatches = _count(
        "the population: hand-overs (report, forward, redispatch, transfer, a 不满意 rating, reopen) received"
        " by a unit of the subtree in the period, of tickets not excluded"
    )
    excluded = _count("dispatches of the population whose tickets are now invalid, duplicate or withdrawn")
    response_rate = _rate(
        "dispatches accepted at or before their response deadline ÷ dispatches accepted, or whose response"
        " deadline passed while they lasted unaccepted"
    )
    on_time_rate = _rate(
        "dispatches resolved at or before their resolution deadline ÷ dispatches resolved, plus those whose"
        " resolution deadline passed unresolved while they lasted (overdue open tickets count against it)"
    )
    resolution_rate = _rate("dispatches that ended in a resolve event (any outcome) ÷ dispatches")
    satisfaction_first_round = _rate("round-1 ratings of 满意 or 基本满意 ÷ round-1 ratings")
    satisfaction_final = _rate("the same over each ticket's last rating (its latest rated round)")
    rehandling_rate = _rate(
        "resolved dispatches sent back for another round (a 不满意 rating or a reopen) ÷ resolved dispatches"
    )
    return_rate = _rate("dispatches ended by a return (退单) ÷ dispatches")
    doubtful_evidence_rate = _rate(
        "progress and resolve events during the population's dispatches that carried evidence flags ÷ all such events"
    )
    response_hours = _duration("dispatch → first accept of that dispatch, over accepted dispatches")
    resolution_hours = _duration("dispatch → resolve, over resolved dispatches")
    open = _count("now: tickets of the subtree (and category) dispatched, accepted or returned")
    due_soon = _count(
        "now: open tickets not overdue within the reminder threshold of their response deadline (dispatched)"
        " or resolution deadline"
    )
    overdue = _count(
        "now: dispatched tickets past their response or resolution deadline, accepted ones past their"
        " resolution deadline"
    )


@blp.route("/kpis", methods=["GET"])
@blp.arguments(KpiArgs, location="query")
@blp.response(200, KpiOut)
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
    # Keyed by attribute: the schema dumps `from_` under its data key "from".
    echoed = {"unit": unit.code, "from_": first, "to": last, "category": args["category"]}
    return {"filter": echoed, "as_of": moment, **result}
