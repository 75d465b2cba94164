"""Assessment reports (考核报告): ask for one, list them, read the figures, the HTML page and the PDF.

Who sees a report: supervisors and admins of its unit or a unit above it, and the handlers
of the unit itself (a department reads its own report). Who may ask for a new version:
supervisors and admins only; a handler who sees the unit gets 403, anyone who does not
see it 404. The worker makes the scheduled ones (docs/reports.md).

The HTML page is served under a Content-Security-Policy that allows no script and no fetch:
everything it shows is inline (styles) or a ``data:`` URI (charts and photos).
"""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, url_for
from marshmallow import Schema, fields, validate
from sqlalchemy import func, select

from ticketing import metrics
from ticketing.api import presenters
from ticketing.api.blueprint import ApiBlueprint
from ticketing.api.context import actor, mutation, now, settings, store
from ticketing.api.schemas import UnitOut
from ticketing.errors import Forbidden, NotFound
from ticketing.extensions import db
from ticketing.models import AssessmentReport, OrgUnit, User
from ticketing.services import reports
from ticketing.services.tickets import MAX_ID
from ticketing.tabular import content_disposition
from ticketing.workflow import Role

blp = ApiBlueprint("api_reports", __name__, description="Assessment reports per district or department (DESIGN.md §7)")
SECURED: list[dict[str, list[str]]] = [{"bearer": []}]

# Nothing but the page itself: inline styles, and images from data: URIs. No script, no fetch, no form.
HTML_POLICY = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'self'"
)


class AssessmentReportIn(Schema):
    unit = fields.String(required=True, metadata={"description": "the code of a district or department"})
    kind = fields.String(required=True, validate=validate.OneOf(["monthly", "annual"]))
    period = fields.String(required=True, metadata={"description": "2026-03 (monthly) or 2026 (annual)"})


class AssessmentReportArgs(Schema):
    unit = fields.String(load_default=None, metadata={"description": "a unit code; default every unit you see"})
    period = fields.String(
        load_default=None,
        validate=validate.Regexp(r"^\d{4}(-(0[1-9]|1[0-2]))?$", error="a period is written 2026-03 or 2026"),
    )
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10_000_000))
    page_size = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class AssessmentReportOut(Schema):
    id = fields.Integer()
    unit = fields.Nested(UnitOut)
    kind = fields.String()
    period = fields.String()
    version = fields.Integer()
    title = fields.String()
    generated_at = fields.DateTime()
    scheduled = fields.Boolean(metadata={"description": "true: made by the worker's schedule"})
    requested_by = fields.String(allow_none=True, metadata={"description": "the username who asked for it"})
    html_url = fields.String()
    pdf_url = fields.String()


class AssessmentReportDetail(AssessmentReportOut):
    data = fields.Dict(metadata={"description": "the figures the files were rendered from (docs/reports.md)"})


class AssessmentReportPage(Schema):
    items = fields.List(fields.Nested(AssessmentReportOut))
    page = fields.Integer()
    page_size = fields.Integer()
    total = fields.Integer()


def _present(report: AssessmentReport, *, with_data: bool = False) -> dict[str, Any]:
    unit = db.session.get(OrgUnit, report.unit_id)
    requester = db.session.get(User, report.requested_by_id) if report.requested_by_id else None
    out = {
        "id": report.id,
        "unit": presenters.unit(unit),
        "kind": report.kind.value,
        "period": report.period,
        "version": report.version,
        "title": report.data.get("title", ""),
        "generated_at": report.generated_at,
        "scheduled": report.requested_by_id is None,
        "requested_by": requester.username if requester else None,
        "html_url": url_for("api_reports.report_html", report_id=report.id),
        "pdf_url": url_for("api_reports.report_pdf", report_id=report.id),
    }
    if with_data:
        out["data"] = report.data
    return out


def _scope(user: User) -> list[int] | None:
    """The units whose reports `user` sees: None for all (an admin without a unit)."""
    if user.role == Role.ADMIN and user.unit is None:
        return None
    if user.role in (Role.SUPERVISOR, Role.ADMIN) and user.unit_id is not None:
        return metrics.subtree_ids(user.unit_id)
    if user.role == Role.HANDLER and user.unit_id is not None:
        return [user.unit_id]
    return []


def _visible(report_id: int) -> tuple[AssessmentReport, OrgUnit]:
    """The report if the caller sees its unit, else 404 `report_not_found`."""
    user = actor()
    report = db.session.get(AssessmentReport, report_id) if report_id <= MAX_ID else None
    unit = db.session.get(OrgUnit, report.unit_id) if report else None
    scope = _scope(user)
    if report is None or unit is None or (scope is not None and unit.id not in scope):
        raise NotFound("no such report", code="report_not_found")
    return report, unit


@blp.route("/reports", methods=["POST"])
@mutation
@blp.arguments(AssessmentReportIn, location="json")
@blp.response(201, AssessmentReportOut)
@blp.doc(security=SECURED)
def create_report(body: dict[str, Any]) -> dict[str, Any]:
    """Generate a new version of a district's or department's report now (supervisors and admins)."""
    user = actor()
    unit = metrics.visible_unit(user, body["unit"])
    if user.role not in (Role.SUPERVISOR, Role.ADMIN):
        raise Forbidden("only supervisors ask for assessment reports", code="report_forbidden")
    config = current_app.config
    report = reports.generate(
        unit,
        body["kind"],
        body["period"],
        now(),
        user,
        settings=settings(),
        store=store(),
        due_soon=reports.DueSoon(
            float(config["REMIND_RESPONSE_BEFORE_HOURS"]), float(config["REMIND_RESOLUTION_BEFORE_HOURS"])
        ),
    )
    return _present(report)


@blp.route("/reports", methods=["GET"])
@blp.arguments(AssessmentReportArgs, location="query")
@blp.response(200, AssessmentReportPage)
@blp.doc(security=SECURED)
def list_reports(args: dict[str, Any]) -> dict[str, Any]:
    """Reports of the units the caller sees (or of `unit`), newest period first, every version."""
    user = actor()
    units = [metrics.visible_unit(user, args["unit"]).id] if args["unit"] else _scope(user)
    query = reports.report_query(units, args["period"])
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    page, size = args["page"], args["page_size"]
    rows = db.session.scalars(query.limit(size).offset((page - 1) * size)).all()
    return {"items": [_present(r) for r in rows], "page": page, "page_size": size, "total": total}


@blp.route("/reports/<int:report_id>", methods=["GET"])
@blp.response(200, AssessmentReportDetail)
@blp.doc(security=SECURED)
def get_report(report_id: int) -> dict[str, Any]:
    """One report with the figures its files were rendered from."""
    report, _ = _visible(report_id)
    return _present(report, with_data=True)


@blp.route("/reports/<int:report_id>.html", methods=["GET"])
@blp.doc(security=SECURED, responses={200: {"description": "the report as a self-contained HTML page"}})
def report_html(report_id: int) -> Response:
    """The report's HTML page, as generated (charts and photos inline)."""
    report, _ = _visible(report_id)
    resp = Response(store().get(report.html_key), mimetype="text/html")
    resp.headers["Content-Security-Policy"] = HTML_POLICY
    return _private(resp)


@blp.route("/reports/<int:report_id>.pdf", methods=["GET"])
@blp.doc(security=SECURED, responses={200: {"description": "the report as an A4 PDF"}})
def report_pdf(report_id: int) -> Response:
    """The report's PDF, as generated, as a download."""
    report, unit = _visible(report_id)
    resp = Response(store().get(report.pdf_key), mimetype="application/pdf")
    resp.headers["Content-Disposition"] = content_disposition(reports.file_name(report, unit, "pdf"))
    return _private(resp)


def _private(resp: Response) -> Response:
    # A version never changes, but who may read it does: no shared cache keeps it.
    resp.headers["Cache-Control"] = "private, max-age=300"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp
