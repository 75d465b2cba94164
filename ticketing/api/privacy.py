"""Photo consent and the admin audit log in the API; the audit scope of every request.

``GET /tickets/<key>/photo-consent`` says which of a ticket's photos are published (cockpit,
Open311) and whether the caller may decide; ``POST`` the same path with ``{"consent": true}``
publishes them, ``false`` withdraws (the reporter or a supervisor over the handling unit;
``ticketing.services.privacy`` has the rules). ``GET /audit`` pages through the admin audit log,
newest first (admins only).

`install` opens an audit scope (``ticketing.services.audit``) around every request, API and
pages alike: an admin change made while answering it is recorded as the signed-in caller's,
at the request's time. The caller is looked up only if an entry is actually written.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Flask, request
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ticketing.api.blueprint import ApiBlueprint
from ticketing.api.context import actor, mutation, now
from ticketing.errors import Forbidden
from ticketing.extensions import JSON_PREFIXES, db
from ticketing.models import AuditEntry, Ticket, User
from ticketing.services import audit, privacy
from ticketing.services import tickets as ticket_service
from ticketing.workflow import Role

blp = ApiBlueprint("api_privacy", __name__, description="Photo consent and the admin audit log")
SECURED: list[dict[str, list[str]]] = [{"bearer": []}]
ENVIRON_KEY = "suishoupai.audit_scope"


# ---------------------------------------------------------------------------- photo consent


class ConsentIn(Schema):
    consent = fields.Boolean(required=True, metadata={"description": "true: publish the photos; false: withdraw"})
    note = fields.String(load_default="", validate=validate.Length(max=privacy.NOTE_MAX),
                         metadata={"description": "why (optional), added to the trail step"})


class ConsentOut(Schema):
    number = fields.String()
    visibility = fields.String()
    consent = fields.Boolean(metadata={"description": "every publishable photo is published (and there is one)"})
    photos = fields.List(fields.Integer(), metadata={"description": "ids of the images that could be published"})
    public = fields.List(fields.Integer(), metadata={"description": "ids of the published ones"})
    may_decide = fields.Boolean(metadata={"description": "the caller may give or withdraw consent"})
    changed = fields.Boolean(metadata={"description": "POST: false when the call changed nothing"})
    event_id = fields.Integer(allow_none=True, metadata={"description": "POST: the trail step it wrote"})


def _consent(ticket: Ticket, user: User, *, changed: bool | None = None, event_id: int | None = None) -> dict[str, Any]:
    state = privacy.consent_state(ticket)
    out: dict[str, Any] = {
        "number": ticket.number,
        "visibility": ticket.visibility.value,
        "consent": state.consent,
        "photos": list(state.photos),
        "public": list(state.public),
        "may_decide": privacy.may_decide_consent(user, ticket),
    }
    if changed is not None:
        out.update(changed=changed, event_id=event_id)
    return out


@blp.route("/tickets/<key>/photo-consent", methods=["GET"])
@blp.response(200, ConsentOut)
@blp.doc(security=SECURED)
def get_consent(key: str) -> dict[str, Any]:
    """Which of the ticket's photos the public may see, and whether the caller may change that."""
    user = actor()
    ticket, _rel = ticket_service.get_visible(user, key)
    return _consent(ticket, user)


@blp.route("/tickets/<key>/photo-consent", methods=["POST"])
@mutation
@blp.arguments(ConsentIn, location="json_or_form")
@blp.response(200, ConsentOut)
@blp.doc(security=SECURED, responses={
    403: {"description": "the caller sees the ticket but neither reported it nor supervises its unit"},
    404: {"description": "no such ticket, or not visible to the caller"},
    409: {"description": "ticket_private (a private ticket's photos are never published), no_photos"},
})
def set_consent(body: dict[str, Any], key: str) -> dict[str, Any]:
    """Publish the ticket's photos in the cockpit and Open311 (consent), or withdraw them."""
    user = actor()
    ticket, _rel = ticket_service.get_visible(user, key)
    _state, event = privacy.set_photo_consent(ticket, user, now(), consent=body["consent"], note=body["note"])
    return _consent(ticket, user, changed=event is not None, event_id=event.id if event else None)


# ---------------------------------------------------------------------------- the audit log


class AuditArgs(Schema):
    action = fields.String(load_default=None, validate=validate.Length(max=64),
                           metadata={"description": "an action (user.create), or a prefix ending in a dot (user.)"})
    actor = fields.String(load_default=None, validate=validate.Length(max=80), metadata={"description": "a username"})
    target_type = fields.String(load_default=None, validate=validate.Length(max=32),
                                metadata={"description": "user, token, category, unit, boundaries, calendar, ticket"})
    target_id = fields.String(load_default=None, validate=validate.Length(max=64),
                              metadata={"description": "username, code, generation or token id, year, ticket number"})
    from_ = fields.AwareDateTime(data_key="from", load_default=None,
                                 metadata={"description": "entries at or after (ISO 8601 with a time zone)"})
    to = fields.AwareDateTime(load_default=None, metadata={"description": "entries before (ISO 8601 with a time zone)"})
    # Capped so that the OFFSET stays within what the databases accept.
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10_000_000))
    page_size = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))

    @validates_schema
    def _ordered(self, data: dict[str, Any], **_: Any) -> None:
        if data["from_"] and data["to"] and data["to"] <= data["from_"]:
            raise ValidationError("to must be after from", "to")


class AuditEntryOut(Schema):
    id = fields.Integer()
    at = fields.DateTime()
    actor = fields.String(allow_none=True, metadata={"description": "username; null for the system or a command"})
    via = fields.String(metadata={"description": "web, api, cli, worker or system"})
    action = fields.String()
    target_type = fields.String()
    target_id = fields.String()
    before = fields.Dict(allow_none=True)
    after = fields.Dict(allow_none=True)


class AuditPage(Schema):
    items = fields.List(fields.Nested(AuditEntryOut))
    page = fields.Integer()
    page_size = fields.Integer()
    total = fields.Integer()


def present_entry(e: AuditEntry) -> dict[str, Any]:
    """One audit entry as the API (and the admin page) shows it."""
    return {
        "id": e.id,
        "at": e.at,
        "actor": e.actor.username if e.actor else None,
        "via": e.via,
        "action": e.action,
        "target_type": e.target_type,
        "target_id": e.target_id,
        "before": e.before,
        "after": e.after,
    }


@blp.route("/audit", methods=["GET"])
@blp.arguments(AuditArgs, location="query")
@blp.response(200, AuditPage)
@blp.doc(security=SECURED, responses={403: {"description": "not an admin"}})
def audit_log(args: dict[str, Any]) -> dict[str, Any]:
    """The admin audit log, newest first, a page at a time (admins only)."""
    user = actor()
    if user.role != Role.ADMIN:
        raise Forbidden("only admins read the audit log", code="not_allowed")
    query = audit.AuditQuery(
        action=args["action"], actor=args["actor"], target_type=args["target_type"], target_id=args["target_id"],
        start=args["from_"], end=args["to"],
    )
    rows, total = audit.entries(query, page=args["page"], page_size=args["page_size"])
    return {"items": [present_entry(e) for e in rows], "page": args["page"], "page_size": args["page_size"],
            "total": total}


# ---------------------------------------------------------------------------- the audit scope


def install(app: Flask) -> None:
    """Open an audit scope around every request (closed in teardown, so nothing leaks into the next)."""

    @app.before_request
    def _open_audit_scope() -> None:
        api = request.path.startswith(JSON_PREFIXES)
        token = audit.begin(_api_caller if api else _page_caller, _request_time, via="api" if api else "web")
        request.environ[ENVIRON_KEY] = token

    @app.teardown_request
    def _close_audit_scope(_exc: BaseException | None) -> None:
        token = request.environ.pop(ENVIRON_KEY, None)
        if token is not None:
            audit.end(token)


def _api_caller() -> User | None:
    """The caller the view authenticated (``context.actor`` caches it per request), else None.

    Not looked up afresh: a request that authenticates nobody (``POST /auth/token``, which proves
    a user by their password) must not be put on a browser session that happens to ride along;
    the service then names the user itself.
    """
    cached = request.environ.get("suishoupai", {}).get("actor")
    return cached if isinstance(cached, User) else None


def _page_caller() -> User | None:
    from flask_login import current_user

    if not getattr(current_user, "is_authenticated", False):
        return None
    return db.session.get(User, current_user.id)


def _request_time() -> datetime:
    return now()
