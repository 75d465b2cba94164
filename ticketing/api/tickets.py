"""Tickets: report, list, read with the trail, and one POST endpoint per action.

Each view parses, calls one service, and lets `mutation` commit; the rules live in
`ticketing.services.tickets` and `ticketing.workflow`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, jsonify, url_for
from marshmallow import Schema
from sqlalchemy import func, select

from ticketing import queries
from ticketing.api import presenters
from ticketing.api.blueprint import ApiBlueprint
from ticketing.api.context import actor, mutation, now, settings, store, uploads
from ticketing.api.schemas import (
    AssignIn,
    BeforeAfterOut,
    CohandleIn,
    DuplicateIn,
    ExtensionDecisionIn,
    ExtensionRequestIn,
    ListArgs,
    NoteIn,
    NoteWithPhotosIn,
    RateIn,
    ReasonIn,
    RedispatchIn,
    ReportIn,
    ResolveWithPhotosIn,
    TicketOut,
    TicketPage,
    TransferIn,
)
from ticketing.errors import InvalidInput
from ticketing.extensions import db
from ticketing.models import Ticket, User
from ticketing.ratelimit import intake_limit
from ticketing.services import access
from ticketing.services import extensions as extension_svc
from ticketing.services import tickets as svc
from ticketing.services.tickets import Evidence
from ticketing.workflow import State

blp = ApiBlueprint("api_tickets", __name__, description="Tickets and their trail")
SECURED = [{"bearer": []}]


def _ticket_response(ticket: Ticket, viewer: User, status: int) -> Response:
    body = TicketOut().dump(presenters.ticket(ticket, viewer))
    resp = jsonify(body)
    resp.status_code = status
    resp.headers["Location"] = url_for("api_tickets.get_ticket", key=ticket.number)
    return resp


@blp.route("/tickets", methods=["POST"])
@intake_limit
@mutation
@blp.arguments(ReportIn, location="multipart")
@blp.response(201, TicketOut)
@blp.doc(security=SECURED)
def create_ticket(form: dict[str, Any]) -> Response:
    """Report a problem: fields and photos in one multipart request; routed and dispatched at once."""
    user = actor()
    ticket = svc.report(
        actor=user,
        category_code=form["category"],
        description=form["description"],
        lon=form["lon"],
        lat=form["lat"],
        crs=form["crs"],
        visibility=form["visibility"],
        title=form["title"],
        address=form["address"],
        uploads=uploads(form),
        now=now(),
        settings=settings(),
        store=store(),
    )
    return _ticket_response(ticket, user, 201)


@blp.route("/tickets", methods=["GET"])
@blp.arguments(ListArgs, location="query")
@blp.response(200, TicketPage)
@blp.doc(security=SECURED)
def list_tickets(args: dict[str, Any]) -> dict[str, Any]:
    """Tickets the caller may see, newest first, a page at a time."""
    user = actor()
    query = select(Ticket).where(access.visible_filter(user))
    if args["state"]:
        try:
            query = query.where(Ticket.state == State(args["state"]))
        except ValueError:
            raise InvalidInput("unknown state", code="unknown_state", details={"state": args["state"]}) from None
    order = [Ticket.id.desc()]
    if args["overdue"]:
        query = query.where(queries.overdue(now()))
        # Overdue first, the longest overdue at the top.
        order = [func.coalesce(Ticket.response_due_at, Ticket.resolution_due_at).asc(), Ticket.id.asc()]
    if args["escalated"]:
        query = query.where(queries.escalated())
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page, size = args["page"], args["page_size"]
    rows = db.session.scalars(query.order_by(*order).limit(size).offset((page - 1) * size)).all()
    return {
        "items": [presenters.ticket(t, user, trail=False) for t in rows],
        "page": page,
        "page_size": size,
        "total": total,
    }


@blp.route("/tickets/<key>", methods=["GET"])
@blp.response(200, TicketOut)
@blp.doc(security=SECURED)
def get_ticket(key: str) -> dict[str, Any]:
    """One ticket with its photos and its whole trail, by number (2026-000123) or id."""
    user = actor()
    ticket, _ = svc.get_visible(user, key)
    return presenters.ticket(ticket, user)


@blp.route("/tickets/<key>/before-after", methods=["GET"])
@blp.response(200, BeforeAfterOut)
@blp.doc(security=SECURED)
def get_before_after(key: str) -> dict[str, Any]:
    """The report's photos beside those of the latest resolve, for the cockpit; same visibility as the ticket."""
    ticket, _ = svc.get_visible(actor(), key)
    return presenters.before_after(ticket)


# ---- actions: name -> (body schema, takes photos, call)
Call = Callable[[Ticket, User, dict[str, Any], list[Any]], Any]


def _ev(body: dict[str, Any], photos: list[Any]) -> Evidence:
    return Evidence(note=body.get("note", ""), uploads=photos)


ACTIONS: dict[str, tuple[type[Schema], bool, Call, str]] = {
    "accept": (NoteIn, False, lambda t, u, b, p: svc.accept(t, u, now(), note=b["note"]),
               "The handling unit accepts the work order (note required)."),
    "return": (ReasonIn, False, lambda t, u, b, p: svc.return_(t, u, now(), reason=b["reason"]),
               "The handling unit returns the work order (退单) with a reason."),
    "redispatch": (RedispatchIn, False, lambda t, u, b, p: svc.redispatch(
        t, u, now(), note=b["note"], unit_code=b["unit"], settings=settings()),
        "A supervisor re-dispatches a returned ticket, optionally to another unit."),
    "progress": (NoteWithPhotosIn, True, lambda t, u, b, p: svc.progress(
        t, u, now(), evidence=_ev(b, p), settings=settings(), store=store()),
        "Record a handling step with a note and at least one photo."),
    "assign": (AssignIn, False, lambda t, u, b, p: svc.assign(
        t, u, now(), assignee_username=b["assignee"], note=b["note"]),
        "Assign the work order to a handler of the unit."),
    "transfer": (TransferIn, False, lambda t, u, b, p: svc.transfer(
        t, u, now(), unit_code=b["unit"], note=b["note"], settings=settings()),
        "Transfer (转办) to another unit, which must accept it afresh."),
    "cohandle": (CohandleIn, False, lambda t, u, b, p: svc.cohandle(
        t, u, now(), unit_codes=b["units"], note=b["note"]),
        "Call in co-handling units (吹哨)."),
    "resolve": (ResolveWithPhotosIn, True, lambda t, u, b, p: svc.resolve(
        t, u, now(), outcome=b["outcome"], evidence=_ev(b, p), settings=settings(), store=store()),
        "Resolve with an outcome, a note and at least one photo."),
    "rate": (RateIn, False, lambda t, u, b, p: svc.rate(
        t, u, now(), score=b["score"], comment=b["comment"], settings=settings()),
        "The reporter rates the round; unsatisfied starts the next round."),
    "close": (NoteIn, False, lambda t, u, b, p: svc.close_unrated(t, u, now(), note=b["note"]),
              "A supervisor closes a resolved ticket without a rating."),
    "reopen": (ReasonIn, False, lambda t, u, b, p: svc.reopen(
        t, u, now(), reason=b["reason"], settings=settings()),
        "A supervisor reopens a closed ticket for another round."),
    "invalid": (ReasonIn, False, lambda t, u, b, p: svc.mark_invalid(t, u, now(), reason=b["reason"]),
                "A supervisor marks an open ticket invalid."),
    "duplicate": (DuplicateIn, False, lambda t, u, b, p: svc.mark_duplicate(
        t, u, now(), original_number=b["original"], note=b["note"]),
        "A supervisor marks an open ticket a duplicate of another."),
    "withdraw": (NoteIn, False, lambda t, u, b, p: svc.withdraw(t, u, now(), note=b["note"]),
                 "The reporter withdraws a report not yet accepted."),
    "urge": (NoteIn, False, lambda t, u, b, p: svc.urge(t, u, now(), note=b["note"]),
             "The reporter or a supervisor urges the handling unit (催办)."),
    "add_info": (NoteWithPhotosIn, True, lambda t, u, b, p: svc.add_info(
        t, u, now(), evidence=_ev(b, p), settings=settings(), store=store()),
        "The reporter adds information (note and/or photos)."),
    "comment": (NoteIn, False, lambda t, u, b, p: svc.comment(t, u, now(), note=b["note"]),
                "Comment on the trail."),
    "review": (NoteIn, False, lambda t, u, b, p: svc.review(t, u, now(), note=b["note"]),
               "A supervisor's look-back (回头看) on a finished ticket."),
}


def _register(name: str, schema: type[Schema], with_photos: bool, call: Call, summary: str) -> None:
    def view(body: dict[str, Any], *, key: str) -> Response:
        user = actor()
        ticket, _ = svc.get_visible(user, key)
        call(ticket, user, body, uploads(body))
        return _ticket_response(ticket, user, 200)

    view.__name__ = f"action_{name}"
    view.__doc__ = summary
    wrapped: Any = view
    wrapped = blp.doc(security=SECURED)(wrapped)
    wrapped = blp.response(200, TicketOut)(wrapped)
    if with_photos:
        # Photos come in a multipart body, so the fields do too.
        wrapped = blp.arguments(schema, location="multipart")(wrapped)
    else:
        wrapped = blp.arguments(schema, location="json_or_form")(wrapped)
    wrapped = mutation(wrapped)
    blp.route(f"/tickets/<key>/{name}", methods=["POST"], endpoint=f"action_{name}")(wrapped)


for _name, (_schema, _photos, _call, _summary) in ACTIONS.items():
    _register(_name, _schema, _photos, _call, _summary)


# ---- deadline extensions (延期): the second carries the request's id, so they are routed by hand


@blp.route("/tickets/<key>/extension", methods=["POST"])
@mutation
@blp.arguments(ExtensionRequestIn, location="json_or_form")
@blp.response(200, TicketOut)
@blp.doc(security=SECURED)
def request_extension(body: dict[str, Any], *, key: str) -> Response:
    """The handling unit asks for more working days (延期) with a reason; the level above decides."""
    user = actor()
    ticket, _ = svc.get_visible(user, key)
    extension_svc.request(ticket, user, now(), days=body["days"], reason=body["reason"], settings=settings())
    return _ticket_response(ticket, user, 200)


@blp.route("/tickets/<key>/extension/<int:extension_id>/decide", methods=["POST"])
@mutation
@blp.arguments(ExtensionDecisionIn, location="json_or_form")
@blp.response(200, TicketOut)
@blp.doc(security=SECURED)
def decide_extension(body: dict[str, Any], *, key: str, extension_id: int) -> Response:
    """A supervisor of the deciding level (or above) approves or refuses a pending extension request."""
    user = actor()
    ticket, _ = svc.get_visible(user, key)
    extension_svc.decide(
        ticket, extension_id, user, now(), approve=body["approve"], note=body["note"], settings=settings()
    )
    return _ticket_response(ticket, user, 200)
