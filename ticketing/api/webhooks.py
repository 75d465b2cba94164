"""The partners' webhooks as admins see them (``ticketing.bridge.webhooks``).

``GET /webhooks`` lists the partners (never their secrets) with their deliveries counted by
state; ``GET /webhooks/deliveries`` is the delivery log, newest first: per push its ticket,
event, state, attempts, the partner's last HTTP status and the last error. Admins only;
partners are added from the CLI (``flask hotline webhooks add``), which shows the secret once.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate
from sqlalchemy import func, select

from ticketing.api.blueprint import ApiBlueprint
from ticketing.api.context import actor
from ticketing.bridge import webhooks
from ticketing.errors import Forbidden
from ticketing.extensions import db
from ticketing.models import Ticket, WebhookSubscription
from ticketing.workflow import Role

blp = ApiBlueprint("api_webhooks", __name__, description="Partners' signed webhooks and their delivery log (admins)")
SECURED: list[dict[str, list[str]]] = [{"bearer": []}]


class PartnerOut(Schema):
    name = fields.String()
    url = fields.String()
    sources = fields.List(fields.String(), allow_none=True,
                          metadata={"description": "ticket sources followed; null: every ticket"})
    active = fields.Boolean()
    created_at = fields.DateTime()
    deliveries = fields.Dict(keys=fields.String(), values=fields.Integer(),
                             metadata={"description": "deliveries by state: pending, sent, dead"})


class PartnerList(Schema):
    items = fields.List(fields.Nested(PartnerOut))


class LogArgs(Schema):
    partner = fields.String(load_default=None)
    state = fields.String(load_default=None, validate=validate.OneOf(["pending", "sent", "dead"]))
    ticket = fields.String(load_default=None, metadata={"description": "a ticket number"})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10_000_000))
    page_size = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class DeliveryOut(Schema):
    id = fields.Integer()
    partner = fields.String()
    ticket = fields.String(metadata={"description": "the ticket's number"})
    event_id = fields.Integer()
    state = fields.String()
    attempts = fields.Integer()
    last_status = fields.Integer(allow_none=True, metadata={"description": "the partner's HTTP status, last try"})
    last_error = fields.String()
    created_at = fields.DateTime()
    last_attempt_at = fields.DateTime(allow_none=True)
    next_attempt_at = fields.DateTime(metadata={"description": "when a pending push is tried next"})
    sent_at = fields.DateTime(allow_none=True)
    body = fields.Raw(metadata={"description": "the JSON that is (or was) sent"})


class DeliveryPage(Schema):
    items = fields.List(fields.Nested(DeliveryOut))
    page = fields.Integer()
    page_size = fields.Integer()
    total = fields.Integer()


def _admin() -> None:
    if actor().role != Role.ADMIN:
        raise Forbidden("only admins see the partners' webhooks", code="admin_only")


@blp.route("/webhooks", methods=["GET"])
@blp.response(200, PartnerList)
@blp.doc(security=SECURED)
def list_partners() -> dict[str, Any]:
    """Partners and their deliveries by state (admins)."""
    _admin()
    return {"items": webhooks.subscription_summary()}


@blp.route("/webhooks/deliveries", methods=["GET"])
@blp.arguments(LogArgs, location="query")
@blp.response(200, DeliveryPage)
@blp.doc(security=SECURED)
def delivery_log(args: dict[str, Any]) -> dict[str, Any]:
    """The delivery log, newest first, a page at a time (admins)."""
    import json

    _admin()
    query = webhooks.deliveries_query(partner=args["partner"], state=args["state"], ticket_number=args["ticket"])
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page, size = args["page"], args["page_size"]
    rows = db.session.scalars(query.limit(size).offset((page - 1) * size)).all()
    numbers = dict(db.session.execute(
        select(Ticket.id, Ticket.number).where(Ticket.id.in_({d.ticket_id for d in rows}))
    ).all())
    names = dict(db.session.execute(select(WebhookSubscription.id, WebhookSubscription.name)).all())
    return {
        "items": [
            {
                "id": d.id, "partner": names.get(d.subscription_id), "ticket": numbers.get(d.ticket_id),
                "event_id": d.event_id, "state": d.state.value, "attempts": d.attempts,
                "last_status": d.last_status, "last_error": d.last_error, "created_at": d.created_at,
                "last_attempt_at": d.last_attempt_at, "next_attempt_at": d.next_attempt_at, "sent_at": d.sent_at,
                "body": json.loads(d.body),
            }
            for d in rows
        ],
        "page": page,
        "page_size": size,
        "total": total,
    }
