"""Open311 GeoReport v2 at /open311/v2, in XML and JSON (anchors.md §b; docs/open311.md).

One jurisdiction per deployment: ``jurisdiction_id`` is accepted and ignored (§b.1).
Services are the active sub-categories; ``group`` is their domain. Requests are the public
tickets that entered the handling flow (not private ones, not citizen reports still
awaiting or declined by their deputy); nothing identifies the reporter. Internal states map
onto ``open``/``closed`` with the fine state in ``status_notes`` and, with
``extensions=true``, in ``extended_attributes``. POST requests need ``api_key``: an API
token of a deputy account, who becomes the reporter (the service's rules apply unchanged).
Every error is answered in the spec's format with its status (404 absent, 403 api_key,
400 anything else); an unknown format suffix is 400 in XML.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from flask import Blueprint, Response, current_app, request, url_for
from sqlalchemy import Select, func, select
from sqlalchemy.orm import joinedload

from ticketing.errors import DomainError, Forbidden, NotFound
from ticketing.extensions import db
from ticketing.models import Category, Photo, Ticket, TicketEvent
from ticketing.models.tickets import Visibility
from ticketing.open311.formats import FORMATS, JSON, XML, Open311Error, error_response, respond, w3c
from ticketing.ratelimit import intake_limit
from ticketing.workflow import Action, State

bp = Blueprint("open311", __name__, url_prefix="/open311/v2")

SPEC = "http://wiki.open311.org/GeoReport_v2"
MAX_ROWS = 1000
WINDOW = timedelta(days=90)
DESCRIPTION_MAX = 4000
# Tickets that entered the handling flow; a citizen report awaiting (or declined by) its deputy never did.
PUBLISHED_STATES = tuple(s for s in State if s not in (State.PENDING_REVIEW, State.DECLINED))
OPEN = frozenset({State.DISPATCHED, State.ACCEPTED, State.RETURNED})
STATUS_NOTES = {
    State.DISPATCHED: "已派单 dispatched",
    State.ACCEPTED: "已受理 accepted",
    State.RETURNED: "已退单，待重新派单 returned for re-dispatch",
    State.RESOLVED: "已办结，待评价 resolved, awaiting the reporter's rating",
    State.CLOSED: "已结案 closed",
    State.INVALID: "无效 invalid",
    State.DUPLICATE: "重复件 duplicate",
}
# Trail steps published as service request updates, with their notes (work done, in public).
UPDATE_ACTIONS = (Action.REPORT, Action.FORWARD, Action.ACCEPT, Action.PROGRESS, Action.RESOLVE, Action.CLOSE,
                  Action.AUTO_CLOSE, Action.REOPEN, Action.INVALID, Action.DUPLICATE, Action.REDISPATCH,
                  Action.TRANSFER)
NOTE_ACTIONS = frozenset({Action.ACCEPT, Action.PROGRESS, Action.RESOLVE})


def _now() -> datetime:
    from ticketing.api.context import now

    return now()


@bp.errorhandler(Open311Error)
def _open311_error(exc: Open311Error) -> Response:
    return error_response(request.view_args.get("fmt", XML) if request.view_args else XML, [exc])


@bp.errorhandler(404)
def _not_found(_exc: Any) -> Response:
    return error_response(XML, [Open311Error(404, "no such resource")])


@bp.errorhandler(405)
def _not_allowed(_exc: Any) -> Response:
    return error_response(XML, [Open311Error(400, "method not supported on this resource")])


@bp.before_app_request
def _routing_errors() -> Response | None:
    """No such path, or a method no route takes, under /open311/v2: the spec's error, not an HTML page.

    Flask raises routing errors outside every blueprint, so the handlers above never see them.
    """
    code = getattr(request.routing_exception, "code", None)
    if code not in (404, 405) or not request.path.startswith(f"{bp.url_prefix}/"):
        return None
    fmt = JSON if request.path.endswith(f".{JSON}") else XML
    if code == 404:
        return error_response(fmt, [Open311Error(404, "no such resource")])
    return error_response(fmt, [Open311Error(400, "method not supported on this resource")])


def _fmt(fmt: str) -> str:
    if fmt not in FORMATS:
        # Answered in XML, the format every GeoReport server must speak.
        request.view_args["fmt"] = XML  # type: ignore[index]
        raise Open311Error(400, f"unknown format {fmt!r}: use .xml or .json")
    return fmt


def _arg(name: str) -> str | None:
    """A parameter from the query or the form; an empty one is the same as a missing one (§b.1)."""
    value = request.values.get(name)
    return value.strip() if value is not None and value.strip() != "" else None


# ---- discovery and services


@bp.route("/discovery.<fmt>", methods=["GET"])
def discovery(fmt: str) -> Response:
    """Service discovery: where the endpoint is, what it speaks, whom to ask for a key."""
    fmt = _fmt(fmt)
    changeset = w3c(_changeset())
    document = {
        "changeset": changeset,
        "contact": current_app.config.get("OPEN311_CONTACT", ""),
        "key_service": current_app.config.get("OPEN311_KEY_SERVICE", ""),
        "endpoints": [
            {
                "specification": SPEC,
                "url": url_for("open311.discovery", fmt=fmt, _external=True).rsplit("/discovery", 1)[0],
                "changeset": changeset,
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }
    return respond(fmt, "discovery", document)


def _changeset() -> datetime:
    # The service list changes with the categories; their table has no timestamp, so the
    # newest ticket change stands in for "the endpoint's data changed".
    latest = db.session.scalar(select(func.max(Ticket.updated_at)))
    if latest is None:
        return datetime(2026, 1, 1, tzinfo=timezone.utc)
    return latest if latest.tzinfo else latest.replace(tzinfo=timezone.utc)


def _services() -> list[Category]:
    return list(
        db.session.scalars(
            select(Category)
            .options(joinedload(Category.parent))
            .where(Category.active.is_(True), Category.parent_id.is_not(None))
            .order_by(Category.sort, Category.code)
        )
    )


def _service(c: Category) -> dict[str, Any]:
    domain = c.parent
    return {
        "service_code": c.code,
        "service_name": c.name,
        "description": f"{domain.name if domain else ''} / {c.name} ({c.name_en})".strip(" /"),
        "metadata": False,
        "type": "realtime",
        "keywords": ",".join(k for k in (c.name_en, domain.name_en if domain else "") if k),
        "group": domain.name if domain else "",
    }


@bp.route("/services.<fmt>", methods=["GET"])
def services(fmt: str) -> Response:
    """Every service (an active sub-category), grouped by its domain."""
    fmt = _fmt(fmt)
    return respond(fmt, "services", [_service(c) for c in _services()])


@bp.route("/services/<code>.<fmt>", methods=["GET"])
def service_definition(code: str, fmt: str) -> Response:
    """A service's definition: no category asks extra questions yet, so the attribute list is empty."""
    fmt = _fmt(fmt)
    category = db.session.scalar(
        select(Category).where(Category.code == code, Category.active.is_(True), Category.parent_id.is_not(None))
    )
    if category is None:
        raise Open311Error(404, f"service_code {code!r} not found")
    return respond(fmt, "service_definition", {"service_code": category.code, "attributes": []})


@bp.route("/tokens/<token>.<fmt>", methods=["GET"])
def token(token: str, fmt: str) -> Response:
    """Every service is realtime: no token is ever issued, so none is found."""
    _fmt(fmt)
    raise Open311Error(404, f"token {token!r} not found: this server answers with service_request_id at once")


# ---- requests


def _published() -> Select[tuple[Ticket]]:
    return select(Ticket).where(Ticket.visibility == Visibility.PUBLIC, Ticket.state.in_(PUBLISHED_STATES))


def _status(state: State) -> str:
    return "open" if state in OPEN else "closed"


def _media_url(ticket: Ticket) -> str:
    photo = next((p for p in ticket.photos if p.public_ok and p.display_key), None)
    return url_for("open311.media", photo_id=photo.id, _external=True) if photo else ""


def _request(ticket: Ticket, extensions: bool) -> dict[str, Any]:
    from geoalchemy2.shape import to_shape

    point = to_shape(ticket.location)
    closed = ticket.state not in OPEN
    updated = (ticket.closed_at or ticket.resolved_at or ticket.updated_at) if closed else ticket.updated_at
    row: dict[str, Any] = {
        "service_request_id": ticket.number,
        "status": _status(ticket.state),
        "status_notes": STATUS_NOTES.get(ticket.state, ticket.state.value),
        "service_name": ticket.category.name,
        "service_code": ticket.category.code,
        "description": ticket.description,
        "agency_responsible": ticket.handling_unit.name if ticket.handling_unit else "",
        "service_notice": "",
        "requested_datetime": w3c(ticket.created_at),
        "updated_datetime": w3c(updated),
        "expected_datetime": w3c(ticket.resolution_due_at) if not closed else None,
        "address": ticket.address,
        "address_id": "",
        "zipcode": "",
        "lat": round(point.y, 6),
        "long": round(point.x, 6),
        "media_url": _media_url(ticket),
    }
    if extensions:
        row["extended_attributes"] = {
            "state": ticket.state.value,
            "round": ticket.round,
            "outcome": ticket.outcome.value if ticket.outcome else None,
            "handling_unit_code": ticket.handling_unit.code if ticket.handling_unit else None,
            "escalation_level": ticket.escalation_level,
            "supervised": ticket.supervised,
            "channel": ticket.reporter_kind.value,
        }
    return row


def _parse_time(name: str) -> datetime | None:
    value = _arg(name)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Open311Error(400, f"{name} must be a W3C datetime such as 2026-03-01T00:00:00Z") from None
    if moment.tzinfo is None:
        raise Open311Error(400, f"{name} needs a time zone (Z or ±HH:MM)")
    return moment


def _positive(name: str, default: int, cap: int | None = None) -> int:
    value = _arg(name)
    if value is None:
        return default
    if not value.isdigit() or int(value) < 1:
        raise Open311Error(400, f"{name} must be a positive integer")
    return min(int(value), cap) if cap else int(value)


def _list(name: str) -> list[str]:
    value = _arg(name)
    return [v.strip() for v in value.split(",") if v.strip()] if value else []


@bp.route("/requests.<fmt>", methods=["GET"])
def requests_(fmt: str) -> Response:
    """Published requests, newest first: service_request_id (a comma list) overrides every
    other filter; else service_code and status (comma lists), requested_datetime within
    start_date..end_date (at most 90 days, default the last 90), updated_after/_before,
    page/page_size; never more than 1,000 rows."""
    fmt = _fmt(fmt)
    extensions = (_arg("extensions") or "").lower() == "true"
    query = _published().options(joinedload(Ticket.category), joinedload(Ticket.handling_unit))
    ids = _list("service_request_id")
    if ids:
        rows = db.session.scalars(query.where(Ticket.number.in_(ids[:MAX_ROWS])).order_by(Ticket.created_at.desc()))
        return respond(fmt, "service_requests", [_request(t, extensions) for t in rows.unique()])
    codes = _list("service_code")
    if codes:
        query = query.join(Category, Category.id == Ticket.category_id).where(Category.code.in_(codes))
    statuses = [s.lower() for s in _list("status")]
    if any(s not in ("open", "closed") for s in statuses):
        raise Open311Error(400, "status must be open and/or closed")
    if statuses and set(statuses) != {"open", "closed"}:
        query = query.where(Ticket.state.in_(OPEN) if statuses[0] == "open" else Ticket.state.not_in(OPEN))
    start, end = _parse_time("start_date"), _parse_time("end_date")
    if start and end and end < start:
        raise Open311Error(400, "end_date is before start_date")
    if start and end and end - start > WINDOW:
        raise Open311Error(400, "start_date..end_date may not span more than 90 days")
    end = end or (start + WINDOW if start else _now())
    start = start or end - WINDOW
    query = query.where(Ticket.created_at >= start, Ticket.created_at <= end)
    after, before = _parse_time("updated_after"), _parse_time("updated_before")
    if after:
        query = query.where(Ticket.updated_at > after)
    if before:
        query = query.where(Ticket.updated_at <= before)
    page_size = _positive("page_size", MAX_ROWS, MAX_ROWS)
    page = _positive("page", 1)
    rows = db.session.scalars(
        query.order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(page_size).offset((page - 1) * page_size)
    )
    return respond(fmt, "service_requests", [_request(t, extensions) for t in rows.unique()])


@bp.route("/requests/<request_id>.<fmt>", methods=["GET"])
def request_one(request_id: str, fmt: str) -> Response:
    """One published request, as a one-element list (the spec's shape)."""
    fmt = _fmt(fmt)
    ticket = db.session.scalar(_published().where(Ticket.number == request_id))
    if ticket is None:
        raise Open311Error(404, f"service_request_id {request_id!r} not found")
    extensions = (_arg("extensions") or "").lower() == "true"
    return respond(fmt, "service_requests", [_request(ticket, extensions)])


@bp.route("/requests.<fmt>", methods=["POST"])
@intake_limit
def create_request(fmt: str) -> Response:
    """A new request from a deputy's client: form-encoded (or multipart with ``media[]`` files,
    the v2.1 draft), ``api_key`` = the deputy's API token, ``service_code``, ``lat`` and
    ``long``. Created, routed and dispatched at once (realtime)."""
    fmt = _fmt(fmt)
    from ticketing.api.context import settings, store, uploads
    from ticketing.services import auth as auth_service
    from ticketing.services import tickets as ticket_service

    key = _arg("api_key")
    user = auth_service.user_for_token(key, _now(), scope="write") if key else None
    if user is None:
        raise Open311Error(403, "Invalid api_key received -- can't proceed with create_request.")
    code = _arg("service_code")
    if code is None:
        raise Open311Error(400, "service_code is required")
    category = db.session.scalar(
        select(Category).where(Category.code == code, Category.active.is_(True), Category.parent_id.is_not(None))
    )
    if category is None:
        raise Open311Error(404, f"service_code {code!r} not found")
    lat, lon = _arg("lat"), _arg("long")
    if (lat is None) != (lon is None):
        raise Open311Error(400, "lat and long go together")
    if lat is None:
        if _arg("address_string") or _arg("address_id"):
            raise Open311Error(400, "this server locates requests by lat and long only (no geocoder)")
        raise Open311Error(400, "a location is required: lat and long")
    try:
        lat_f, lon_f = float(lat), float(lon)  # type: ignore[arg-type]
    except ValueError:
        raise Open311Error(400, "lat and long must be numbers (WGS84)") from None
    description = _arg("description") or ""
    if len(description) > DESCRIPTION_MAX:
        raise Open311Error(400, f"description is limited to {DESCRIPTION_MAX} characters")
    files = request.files.getlist("media[]") or request.files.getlist("media")
    try:
        photos = uploads({"photos": files}) if files else []
        ticket = ticket_service.report(
            actor=user,
            category_code=category.code,
            description=description,
            lon=lon_f,
            lat=lat_f,
            address=(_arg("address_string") or "")[:300],
            uploads=photos,
            now=_now(),
            settings=settings(),
            store=store(),
        )
        media_url = _arg("media_url")
        if media_url:
            # Recorded, never fetched: the server does not reach out to URLs clients give it.
            ticket.routing = {**ticket.routing, "open311_media_url": media_url[:500]}
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        status = 404 if isinstance(exc, NotFound) else 403 if isinstance(exc, Forbidden) else 400
        raise Open311Error(status, exc.message, code=status) from None
    notice = f"已派单至 {ticket.handling_unit.name}" if ticket.handling_unit else ""
    return respond(
        fmt,
        "service_requests",
        [{"service_request_id": ticket.number, "service_notice": notice, "account_id": None}],
    )


# ---- media and updates


@bp.route("/media/<int:photo_id>.jpg", methods=["GET"])
def media(photo_id: int) -> Response:
    """A photo's display copy (no EXIF), only if it may be public and its ticket is published."""
    photo = db.session.get(Photo, photo_id)
    if photo is None or not photo.public_ok or not photo.display_key:
        raise Open311Error(404, "no such media")
    ticket = photo.ticket
    if ticket.visibility != Visibility.PUBLIC or ticket.state not in PUBLISHED_STATES:
        raise Open311Error(404, "no such media")
    resp = Response(current_app.extensions["photo_store"].get(photo.display_key), mimetype="image/jpeg")
    resp.headers["Cache-Control"] = "public, max-age=3600"
    return resp


@bp.route("/servicerequestupdates.<fmt>", methods=["GET"])
def updates(fmt: str) -> Response:
    """FixMyStreet's extension: the steps of published requests between start_date and end_date
    (default the last 24 hours, at most 90 days, 1,000 rows), oldest first."""
    fmt = _fmt(fmt)
    start, end = _parse_time("start_date"), _parse_time("end_date")
    end = end or _now()
    start = start or end - timedelta(hours=24)
    if end < start or end - start > WINDOW:
        raise Open311Error(400, "start_date..end_date must be ordered and span at most 90 days")
    rows = db.session.execute(
        select(TicketEvent, Ticket.number)
        .join(Ticket, Ticket.id == TicketEvent.ticket_id)
        .where(
            Ticket.visibility == Visibility.PUBLIC,
            Ticket.state.in_(PUBLISHED_STATES),
            TicketEvent.action.in_(UPDATE_ACTIONS),
            TicketEvent.at >= start,
            TicketEvent.at <= end,
        )
        .order_by(TicketEvent.at, TicketEvent.id)
        .limit(MAX_ROWS)
    ).all()
    document = []
    for event, number in rows:
        state = event.to_state or event.from_state or State.DISPATCHED
        photo = next((p for p in event.photos if p.public_ok and p.display_key), None)
        document.append(
            {
                "update_id": str(event.id),
                "service_request_id": number,
                "status": _status(state).upper(),
                "updated_datetime": w3c(event.at),
                "description": event.note if event.action in NOTE_ACTIONS else STATUS_NOTES.get(state, ""),
                "media_url": url_for("open311.media", photo_id=photo.id, _external=True) if photo else "",
                "external_status_code": event.action.value,
            }
        )
    return respond(fmt, "service_request_updates", document)


@bp.route("/servicerequestupdates.<fmt>", methods=["POST"])
def post_update(fmt: str) -> Response:
    """FixMyStreet's extension: another system relays an update (a comment) on one of our
    requests. ``api_key`` is the relaying account's API token; the update becomes a comment
    on the trail by that account, its ``update_id`` unique per account ("already exists" on a
    second post, as FixMyStreet answers). Status changes are not taken from outside: the
    handling unit owns the ticket's state, so ``status`` is recorded, not applied."""
    fmt = _fmt(fmt)
    from ticketing.services import auth as auth_service
    from ticketing.services import tickets as ticket_service

    key = _arg("api_key")
    user = auth_service.user_for_token(key, _now(), scope="write") if key else None
    if user is None:
        raise Open311Error(403, "Invalid api_key received -- can't proceed with the update.")
    missing = [n for n in ("service_request_id", "update_id", "updated_datetime", "status", "description")
               if _arg(n) is None]
    if missing:
        raise Open311Error(400, f"Bad request: missing {', '.join(missing)}")
    _parse_time("updated_datetime")
    description = _arg("description") or ""
    if len(description) > DESCRIPTION_MAX:
        raise Open311Error(400, f"description is limited to {DESCRIPTION_MAX} characters")
    ticket = db.session.scalar(_published().where(Ticket.number == _arg("service_request_id")))
    if ticket is None:
        raise Open311Error(400, "Bad request: service request not found")
    update_id = (_arg("update_id") or "")[:100]
    dedupe = f"open311-update:{user.id}:{update_id}"
    if ticket_service.event_exists(dedupe):
        raise Open311Error(400, f"Bad request: update {update_id} already exists")
    try:
        event = ticket_service.comment(
            ticket,
            user,
            _now(),
            note=description,
            data={"open311_update_id": update_id, "open311_status": (_arg("status") or "")[:40]},
            dedupe_key=dedupe,
        )
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        status = 403 if isinstance(exc, Forbidden) else 400
        raise Open311Error(status, exc.message, code=status) from None
    return respond(fmt, "service_request_updates", [{"update_id": str(event.id)}])


# The OpenAPI description of these routes adds its own route (/openapi.json) to `bp`.
from ticketing.open311 import openapi as _openapi  # noqa: F401
