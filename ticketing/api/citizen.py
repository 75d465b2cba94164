"""The deputy's side of the citizen channel in the API (``ticketing.services.citizen``).

``GET /citizen/qr`` gives the deputy's QR code and the address it opens (``POST
/citizen/qr/renew`` replaces it); ``POST /tickets/<key>/forward`` and ``/decline`` decide a
citizen's report; ``GET /tickets/<key>/citizen`` reads the citizen's contact and
``POST /tickets/<key>/citizen-rating`` says whether the citizen may rate, both for the
deputy the citizen reported to only (404 for anyone else). The citizen's own pages (form,
tracking link, rating) are web pages without an account: ``ticketing.web.citizen``.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, url_for
from marshmallow import Schema, fields, validate

from ticketing.api import presenters
from ticketing.api.blueprint import ApiBlueprint
from ticketing.api.context import actor, mutation, now, settings
from ticketing.api.schemas import ReasonIn, TicketOut
from ticketing.errors import NotFound
from ticketing.models import CitizenCode, CitizenReport, Ticket, User
from ticketing.services import citizen
from ticketing.services import tickets as ticket_service

blp = ApiBlueprint("api_citizen", __name__, description="The citizen channel (代表二维码), for deputies")
SECURED: list[dict[str, list[str]]] = [{"bearer": []}]


class QrOut(Schema):
    code = fields.String(metadata={"description": "the random code in the QR address (not the user id)"})
    url = fields.String(metadata={"description": "the address the QR code opens: the citizen's report form"})
    issued_at = fields.DateTime()


class ForwardIn(Schema):
    note = fields.String(load_default="", validate=validate.Length(max=5000),
                         metadata={"description": "to the handling unit; the citizen reads it too"})
    category = fields.String(load_default=None, metadata={"description": "a corrected category code"})
    private = fields.Boolean(load_default=False, metadata={"description": "keep it out of the public cockpit"})
    may_rate = fields.Boolean(load_default=False, metadata={"description": "the citizen may rate the result"})


class CitizenRatingIn(Schema):
    allow = fields.Boolean(required=True)


class CitizenOut(Schema):
    number = fields.String()
    name = fields.String(metadata={"description": "as the citizen gave it (may be empty)"})
    phone = fields.String(metadata={"description": "as the citizen gave it (may be empty)"})
    may_rate = fields.Boolean()


@blp.route("/citizen/qr", methods=["GET"])
@mutation
@blp.response(200, QrOut)
@blp.doc(security=SECURED)
def qr() -> dict[str, Any]:
    """The deputy's live QR code (made on the first call) and the address it encodes."""
    return _qr(citizen.live_code(actor(), now()))


@blp.route("/citizen/qr/renew", methods=["POST"])
@mutation
@blp.response(200, QrOut)
@blp.doc(security=SECURED)
def renew_qr() -> dict[str, Any]:
    """Revoke the deputy's QR code (printed cards stop working) and issue a new one."""
    return _qr(citizen.renew_code(actor(), now()))


@blp.route("/tickets/<key>/forward", methods=["POST"])
@mutation
@blp.arguments(ForwardIn, location="json_or_form")
@blp.response(200, TicketOut)
@blp.doc(security=SECURED)
def forward(body: dict[str, Any], *, key: str) -> dict[str, Any]:
    """The deputy forwards a citizen's report: dispatched as the deputy's work order."""
    user = actor()
    ticket, _ = ticket_service.get_visible(user, key)
    citizen.forward(ticket, user, now(), note=body["note"], category_code=body["category"],
                    private=body["private"], may_rate=body["may_rate"], settings=settings())
    return presenters.ticket(ticket, user)


@blp.route("/tickets/<key>/decline", methods=["POST"])
@mutation
@blp.arguments(ReasonIn, location="json_or_form")
@blp.response(200, TicketOut)
@blp.doc(security=SECURED)
def decline(body: dict[str, Any], *, key: str) -> dict[str, Any]:
    """The deputy declines a citizen's report with a reason the citizen reads."""
    user = actor()
    ticket, _ = ticket_service.get_visible(user, key)
    citizen.decline(ticket, user, now(), reason=body["reason"])
    return presenters.ticket(ticket, user)


@blp.route("/tickets/<key>/citizen", methods=["GET"])
@blp.response(200, CitizenOut)
@blp.doc(security=SECURED)
def contact(key: str) -> dict[str, Any]:
    """The citizen's contact and rating permission: for the deputy the citizen reported to only."""
    user = actor()
    ticket, found = _own(user, key)
    return _citizen(ticket, found)


@blp.route("/tickets/<key>/citizen-rating", methods=["POST"])
@mutation
@blp.arguments(CitizenRatingIn, location="json_or_form")
@blp.response(200, CitizenOut)
@blp.doc(security=SECURED)
def citizen_rating(body: dict[str, Any], *, key: str) -> dict[str, Any]:
    """Let the citizen rate the handling (or take it back)."""
    user = actor()
    ticket, _found = _own(user, key)
    return _citizen(ticket, citizen.set_may_rate(ticket, user, body["allow"]))


def _own(user: User, key: str) -> tuple[Ticket, CitizenReport]:
    ticket, _ = ticket_service.get_visible(user, key)
    found = citizen.contact(ticket, user)
    if found is None:
        # The citizen's side is the deputy's alone: to anyone else it does not exist.
        raise NotFound("no citizen report for this ticket", code="citizen_report_not_found")
    return ticket, found


def _citizen(ticket: Ticket, found: CitizenReport) -> dict[str, Any]:
    return {"number": ticket.number, "name": found.name, "phone": found.phone, "may_rate": found.may_rate}


def _qr(code: CitizenCode) -> dict[str, Any]:
    base = current_app.config.get("PUBLIC_BASE_URL")
    path = url_for("citizen.report_form", code=code.code)
    url = f"{base.rstrip('/')}{path}" if base else url_for("citizen.report_form", code=code.code, _external=True)
    return {"code": code.code, "url": url, "issued_at": code.created_at}
