"""Deputy points, participation, the duty record (履职档案) and the quarterly publication.

Definitions: ``ticketing.services.points``. ``from`` and ``to`` are local (Asia/Shanghai, the
configured zone) dates; ``to`` is exclusive. Without them the period is the current local
quarter so far (to tomorrow). Points are decimal strings (``"3.6"``), exact.

Who may see what: the ranking and participation cover the deputies within a supervisor's unit
(an admin without a unit: all); a duty record is the deputy's own, or a supervisor's or admin's
who oversees the deputy's unit; anyone else gets 404, as for a ticket they may not see.
Publishing a quarter is for admins and city supervisors; a published quarter is public to
every signed-in user.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response, current_app
from marshmallow import Schema, ValidationError, fields, validates_schema
from sqlalchemy import select

from ticketing.api.blueprint import ApiBlueprint
from ticketing.api.context import actor, mutation, now, settings
from ticketing.errors import Forbidden, NotFound
from ticketing.extensions import db
from ticketing.models import User
from ticketing.models.org import UnitKind
from ticketing.metrics import local_period
from ticketing.services import points
from ticketing.workflow import Role

blp = ApiBlueprint(
    "api_deputies", __name__, description="Deputy points, participation and duty records (DESIGN.md §1, §7)"
)
SECURED: list[dict[str, list[str]]] = [{"bearer": []}]


class PeriodArgs(Schema):
    from_ = fields.Date(data_key="from", load_default=None, metadata={"description": "first local date"})
    to = fields.Date(load_default=None, metadata={"description": "local date after the last one (exclusive)"})

    @validates_schema
    def _ordered(self, data: dict[str, Any], **_: Any) -> None:
        if data["from_"] and data["to"] and data["to"] <= data["from_"]:
            raise ValidationError("to must be after from", "to")


class SnapshotArgs(Schema):
    recompute = fields.Boolean(load_default=False, metadata={"description": "refused (409) once published"})


def _period(args: dict[str, Any]) -> tuple[date, date, datetime, datetime]:
    tz = ZoneInfo(settings().timezone)
    today = now().astimezone(tz).date()
    first = args["from_"] or date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    last = args["to"] or today + timedelta(days=1)
    start, end = local_period(first, last, settings().timezone)
    return first, last, start, end


def _rates() -> dict[str, Any]:
    return {"per_valid": current_app.config["POINTS_PER_VALID"], "per_solved": current_app.config["POINTS_PER_SOLVED"]}


def _echo(first: date, last: date) -> dict[str, str]:
    return {"from": first.isoformat(), "to": last.isoformat()}


@blp.route("/deputies/points", methods=["GET"])
@blp.arguments(PeriodArgs, location="query")
@blp.response(200)
@blp.doc(security=SECURED)
def get_points(args: dict[str, Any]) -> dict[str, Any]:
    """The ranking of the deputies in the caller's subtree for the period."""
    scope = points.ranking_scope(actor())
    first, last, start, end = _period(args)
    rates = _rates()
    ranking = points.points(start, end, scope=scope, **rates)
    return {
        "filter": _echo(first, last),
        "per_valid": str(points.rate(rates["per_valid"])),
        "per_solved": str(points.rate(rates["per_solved"])),
        "items": [
            {
                "rank": r.rank,
                "username": r.user.username,
                "display_name": r.user.display_name,
                "valid": r.valid,
                "solved": r.solved,
                "points": str(r.points),
            }
            for r in ranking
        ],
    }


@blp.route("/deputies/participation", methods=["GET"])
@blp.arguments(PeriodArgs, location="query")
@blp.response(200)
@blp.doc(security=SECURED)
def get_participation(args: dict[str, Any]) -> dict[str, Any]:
    """Deputies with at least one valid issue ÷ all active deputies, in the caller's subtree."""
    scope = points.ranking_scope(actor())
    first, last, start, end = _period(args)
    active, total, share = points.participation(start, end, scope=scope)
    return {"filter": _echo(first, last), "active": active, "total": total, "rate": str(share)}


def _visible_deputy(username: str) -> User:
    caller = actor()
    deputy = db.session.scalar(select(User).where(User.username == username, User.role == Role.DEPUTY))
    if deputy is None:
        raise NotFound("no such deputy")
    if deputy.id == caller.id:
        return deputy
    if caller.role == Role.ADMIN and caller.unit is None:
        return deputy
    if (
        caller.role in (Role.SUPERVISOR, Role.ADMIN)
        and caller.unit is not None
        and deputy.unit is not None
        and deputy.unit.is_within(caller.unit)
    ):
        return deputy
    raise NotFound("no such deputy")


def _record(username: str, args: dict[str, Any]) -> tuple[dict[str, Any], date, date]:
    deputy = _visible_deputy(username)
    first, last, start, end = _period(args)
    return points.duty_record(deputy, start, end, **_rates()), first, last


def _json_record(record: dict[str, Any]) -> dict[str, Any]:
    def value(v: Any) -> Any:
        if isinstance(v, Decimal):
            return str(v)
        if isinstance(v, datetime):
            return v.isoformat()
        return v

    out = {k: value(v) for k, v in record.items() if k not in ("tickets", "start", "end")}
    out["tickets"] = [{k: value(v) for k, v in t.items()} for t in record["tickets"]]
    return out


@blp.route("/deputies/<username>/record", methods=["GET"])
@blp.arguments(PeriodArgs, location="query")
@blp.response(200)
@blp.doc(security=SECURED)
def get_record(args: dict[str, Any], username: str) -> dict[str, Any]:
    """A deputy's duty record: the tickets of the period and the points each earned."""
    record, first, last = _record(username, args)
    return {"filter": _echo(first, last), **_json_record(record)}


CSV_COLUMNS = (
    ("number", "编号"),
    ("title", "标题"),
    ("category", "类别"),
    ("state", "状态"),
    ("created_at", "提交时间"),
    ("closed_at", "办结时间"),
    ("rating", "评价"),
    ("valid", "有效问题"),
    ("solved", "已解决"),
    ("points", "积分"),
)


@blp.route("/deputies/<username>/record.csv", methods=["GET"])
@blp.arguments(PeriodArgs, location="query")
@blp.response(200, content_type="text/csv")
@blp.doc(security=SECURED)
def get_record_csv(args: dict[str, Any], username: str) -> Response:
    """The duty record as CSV (UTF-8 with a BOM, so Excel opens the Chinese text correctly)."""
    record, first, last = _record(username, args)
    tz = ZoneInfo(settings().timezone)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([label for _, label in CSV_COLUMNS])
    for t in record["tickets"]:
        row = []
        for key, _ in CSV_COLUMNS:
            v = t[key]
            if isinstance(v, datetime):
                v = v.astimezone(tz).strftime("%Y-%m-%d %H:%M")
            elif isinstance(v, bool):
                v = "1" if v else "0"
            row.append("" if v is None else str(v))
        writer.writerow(row)
    writer.writerow(["合计", "", "", "", "", "", "", record["valid"], record["solved"], str(record["points"])])
    name = f"{record['username']}_{first.isoformat()}_{last.isoformat()}.csv"
    return Response(
        "\ufeff" + out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@blp.route("/deputies/snapshots/<period>", methods=["POST"])
@mutation
@blp.arguments(SnapshotArgs, location="query")
@blp.response(201)
@blp.doc(security=SECURED)
def publish_snapshot(args: dict[str, Any], period: str) -> tuple[dict[str, Any], int]:
    """Publish a finished quarter (201); publishing it again returns the stored one (200)."""
    caller = actor()
    city = caller.unit is not None and caller.unit.kind == UnitKind.CITY
    if not (caller.role == Role.ADMIN or (caller.role == Role.SUPERVISOR and city)):
        raise Forbidden("only admins and city supervisors publish points", code="not_allowed")
    year, quarter = points.parse_period(period)
    snap, created = points.snapshot_quarter(
        year, quarter, now(), timezone=settings().timezone, recompute=args["recompute"], **_rates()
    )
    return _snapshot(snap), 201 if created else 200


@blp.route("/deputies/snapshots/<period>", methods=["GET"])
@blp.response(200)
@blp.doc(security=SECURED)
def get_snapshot(period: str) -> dict[str, Any]:
    """A published quarter, exactly as it was published."""
    actor()
    points.parse_period(period)
    snap = points.get_snapshot(period)
    if snap is None:
        raise NotFound(f"{period} is not published")
    return _snapshot(snap)


def _snapshot(snap: Any) -> dict[str, Any]:
    return {"period": snap.period, "published_at": snap.created_at.isoformat(), **snap.data}
