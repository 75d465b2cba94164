"""CSV / XLSX exports of tickets and of the KPI ranking: GET /api/v1/exports/tickets and /exports/kpis.

What the rows hold and how tickets' times are derived: ``ticketing.exports``. Who may export:
as for the KPIs (``metrics.visible_unit``): supervisors and admins any unit of their subtree,
handlers their own unit; anyone else, or an unknown unit, 404 ``unit_not_found``. Ticket
exports hold only tickets the caller may see.

``from`` and ``to`` are local dates, ``to`` exclusive (default: the current local month so
far), as in GET /api/v1/kpis; for tickets they bound the creation time. ``lang`` picks the
headings and labels (``zh`` or ``en``; default the caller's own language, else Chinese).
``format=json`` answers the rows as JSON (codes rather than labels, ISO-8601 UTC times).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response, current_app
from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import select

from ticketing import exports, metrics, tabular
from ticketing.api.blueprint import ApiBlueprint
from ticketing.api.context import actor, now, settings
from ticketing.errors import InvalidInput
from ticketing.extensions import db
from ticketing.models import Category, OrgUnit, User
from ticketing.workflow import State

blp = ApiBlueprint("api_exports", __name__, description="CSV and XLSX exports of tickets and KPIs (DESIGN.md §7)")
SECURED: list[dict[str, list[str]]] = [{"bearer": []}]
FORMATS = (*tabular.FORMATS, "json")
FILE_RESPONSES = {
    "200": {
        "description": "the table as a download (Content-Disposition: attachment), or JSON with format=json",
        "content": {
            tabular.CSV_MIMETYPE: {"schema": {"type": "string", "format": "binary"}},
            tabular.XLSX_MIMETYPE: {"schema": {"type": "string", "format": "binary"}},
            "application/json": {"schema": {"type": "object"}},
        },
    }
}


class ExportArgs(Schema):
    format = fields.String(
        load_default="xlsx", validate=validate.OneOf(FORMATS), metadata={"description": "csv, xlsx or json"}
    )
    unit = fields.String(load_default=None, metadata={"description": "unit code; default the caller's unit"})
    from_ = fields.Date(data_key="from", load_default=None, metadata={"description": "first local date"})
    to = fields.Date(load_default=None, metadata={"description": "local date after the last one (exclusive)"})
    category = fields.String(load_default=None, metadata={"description": "a category code (exact)"})
    lang = fields.String(
        load_default=None,
        validate=validate.OneOf(exports.LANGUAGES),
        metadata={"description": "headings and labels: zh or en; default the caller's language"},
    )

    @validates_schema
    def _ordered(self, data: dict[str, Any], **_: Any) -> None:
        if data["from_"] and data["to"] and data["to"] <= data["from_"]:
            raise ValidationError("to must be after from", "to")


class TicketExportArgs(ExportArgs):
    state = fields.String(
        load_default=None,
        validate=validate.OneOf([s.value for s in State]),
        metadata={"description": "only tickets in this state"},
    )


def _period(args: dict[str, Any]) -> tuple[date, date, datetime, datetime]:
    tz_name = settings().timezone
    today = now().astimezone(ZoneInfo(tz_name)).date()
    first = args["from_"] or today.replace(day=1)
    last = args["to"] or today + timedelta(days=1)
    start, end = metrics.local_period(first, last, tz_name)
    return first, last, start, end


def _lang(args: dict[str, Any], caller: User) -> str:
    if args["lang"]:
        return str(args["lang"])
    return caller.locale if caller.locale in exports.LANGUAGES else "zh"


def _known_category(code: str | None) -> None:
    # The KPIs of an unknown category are simply empty; an export of one is almost surely a typo.
    if code is not None and db.session.scalar(select(Category.id).where(Category.code == code)) is None:
        raise InvalidInput(f"unknown category {code!r}", code="unknown_category", details={"category": code})


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, (datetime, date)) else value


def _send(table: tabular.Table, raw: list[dict[str, Any]], fmt: str, name: str) -> Any:
    if fmt == "json":
        # The raw rows (codes, UTC times), for dashboards; the columns say how the files label them.
        return {
            "title": table.title,
            "notes": table.notes,
            "columns": [{"key": c.key, "heading": c.heading} for c in table.columns],
            "rows": [{k: _json_value(v) for k, v in r.items()} for r in raw],
        }
    body, mimetype = tabular.render(table, fmt)
    return Response(
        body,
        mimetype=mimetype,
        headers={"Content-Disposition": tabular.content_disposition(name), "Cache-Control": "private, no-store"},
    )


def _scope(args: dict[str, Any]) -> tuple[User, OrgUnit, str, date, date, datetime, datetime]:
    caller = actor()
    unit = metrics.visible_unit(caller, args["unit"])
    _known_category(args["category"])
    first, last, start, end = _period(args)
    return caller, unit, _lang(args, caller), first, last, start, end


@blp.route("/exports/tickets", methods=["GET"])
@blp.arguments(TicketExportArgs, location="query")
@blp.response(200)
@blp.doc(security=SECURED, responses=FILE_RESPONSES)
def export_tickets(args: dict[str, Any]) -> Any:
    """Tickets of a unit's subtree created in the period, with their derived times (ticketing.exports)."""
    caller, unit, lang, first, last, start, end = _scope(args)
    moment, conf = now(), settings()
    state = State(args["state"]) if args["state"] else None
    rows = exports.ticket_rows(caller, unit, start, end, moment, conf, category=args["category"], state=state)
    notes = exports.filter_notes(
        lang=lang, unit=unit, first=first, last_exclusive=last, now=moment, timezone=conf.timezone,
        category=args["category"], state=args["state"],
    )
    table = exports.ticket_table(
        rows, lang=lang, notes=notes, timezone=conf.timezone, with_deputy=exports.shows_deputy(caller)
    )
    return _send(table, rows, args["format"], exports.filename(table, unit, first, last, args["format"], lang))


@blp.route("/exports/kpis", methods=["GET"])
@blp.arguments(ExportArgs, location="query")
@blp.response(200)
@blp.doc(security=SECURED, responses=FILE_RESPONSES)
def export_kpis(args: dict[str, Any]) -> Any:
    """The KPI ranking of the unit's children with the unit's total (ticketing.exports.kpi_rows)."""
    _, unit, lang, first, last, start, end = _scope(args)
    moment, conf = now(), settings()
    rows = exports.kpi_rows(
        unit,
        start,
        end,
        moment,
        conf,
        args["category"],
        due_soon_response_hours=float(current_app.config["REMIND_RESPONSE_BEFORE_HOURS"]),
        due_soon_resolution_hours=float(current_app.config["REMIND_RESOLUTION_BEFORE_HOURS"]),
    )
    notes = exports.filter_notes(
        lang=lang, unit=unit, first=first, last_exclusive=last, now=moment, timezone=conf.timezone,
        category=args["category"],
    )
    table = exports.kpi_table(rows, lang=lang, notes=notes, timezone=conf.timezone)
    return _send(table, rows, args["format"], exports.filename(table, unit, first, last, args["format"], lang))
