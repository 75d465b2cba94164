"""The handler's workbench (工作台): the unit's queue, and a ticket page with its action forms.

Thin edges: each form post parses its fields, calls one service (`services.tickets`,
`services.extensions`), and `common.perform` commits or rolls back and flashes. A refused
action re-renders the ticket page with the error and what was typed (status 4xx), writing
nothing. A ticket the handler may not see is a 404, like the API's.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_babel import format_datetime, format_timedelta, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from geoalchemy2.shape import to_shape
from werkzeug.datastructures import MultiDict

from ticketing.api import presenters
from ticketing.api.context import settings, store, uploads
from ticketing.errors import DomainError, InvalidInput, NotFound
from ticketing.extensions import db
from ticketing.models import Ticket, User
from ticketing.services import extensions as extension_service
from ticketing.services import tickets as svc
from ticketing.services.tickets import Evidence
from ticketing.web import common, labels
from ticketing.web.workbench import forms
from ticketing.web.workbench import queue as reads
from ticketing.workflow import Action, Outcome, Role, State
from ticketing.worktime import WorkCalendar, calendar_for

bp = Blueprint(
    "workbench",
    __name__,
    url_prefix="/workbench",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static/workbench",
)

common.register_nav("workbench.queue", _l("Workbench"), Role.HANDLER, order=20)


# ---------------------------------------------------------------------------- the queue


@bp.get("/", endpoint="queue")
@common.roles_required(Role.HANDLER)
def show_queue() -> Any:
    """The unit's queue (and what it co-handles): overdue first, then by the nearest deadline."""
    user = common.page_user()
    now = common.request_now()
    args = request.args
    filters = reads.QueueFilter(
        state=args.get("state", ""),
        category=args.get("category", ""),
        overdue_only=args.get("overdue") == "1",
        mine_only=args.get("mine") == "1",
        number=args.get("q", "")[:32],
        page=_int(args.get("page"), 1),
    )
    page = reads.queue(
        user,
        now,
        filters,
        _calendar(now),
        due_soon_response_hours=float(current_app.config["REMIND_RESPONSE_BEFORE_HOURS"]),
        due_soon_resolution_hours=float(current_app.config["REMIND_RESOLUTION_BEFORE_HOURS"]),
        page_size=reads.PAGE_SIZE,
    )
    return render_template(
        "workbench/queue.html",
        page=page,
        filters=filters,
        states=list(State),
        domains=reads.domains(),
        now=now,
        page_url=lambda n: url_for("workbench.queue", **{**args.to_dict(), "page": n}),
    )


# ---------------------------------------------------------------------------- one ticket


@bp.get("/tickets/<key>", endpoint="ticket")
@common.roles_required(Role.HANDLER)
def show_ticket(key: str) -> Any:
    """A ticket with the reporter's photos, its place on a map, earlier tickets there, the trail, the forms."""
    user = common.page_user()
    return _ticket_page(_visible(user, key), user)


def _ticket_page(t: Ticket, user: User, *, form: MultiDict[str, str] | None = None, failed: str = "",
                 status: int = 200) -> Any:
    now = common.request_now()
    conf = settings()
    point = to_shape(t.location)
    nearby = reads.nearby_history(t, user, conf.nearby_radius_m)
    offered = forms.offered(t, user)
    unit_codes = sorted({code for e in t.events for code in _codes_in(e.data)})
    cal = _calendar(now)
    overdue = reads.is_overdue(t, now)
    return render_template(
        "workbench/ticket.html",
        t=t,
        now=now,
        lon=point.x,
        lat=point.y,
        before=presenters.before_after(t)["before"],
        events=t.events,
        photos_of=presenters.photo,
        nearby=nearby,
        radius_m=int(conf.nearby_radius_m),
        offered=offered,
        colleagues=reads.colleagues(t) if Action.ASSIGN in offered else [],
        cohandle_choices=reads.cohandle_choices(t) if Action.COHANDLE in offered else [],
        co_handlers=reads.co_handler_units(t),
        units=reads.units_by_code(unit_codes),
        people=reads.names_by_username([str(e.data["assignee"]) for e in t.events if e.data.get("assignee")]),
        extensions=extension_service.for_ticket(t),
        outcomes=list(Outcome),
        overdue=overdue,
        due_soon=not overdue and reads.is_due_soon(
            t, now, cal,
            float(current_app.config["REMIND_RESPONSE_BEFORE_HOURS"]),
            float(current_app.config["REMIND_RESOLUTION_BEFORE_HOURS"]),
        ),
        map_points=_map_points(t, point.x, point.y, nearby),
        form=form or MultiDict(),
        failed=failed,
    ), status


# ---------------------------------------------------------------------------- the action forms


def _act(key: str, action: Action, call: Callable[[Ticket, User, datetime], Any], success: str) -> Any:
    """Run one action form: on success back to the ticket page (PRG); refused, the page again with the error."""
    user = common.page_user()
    t = _visible(user, key)
    now = common.request_now()
    ok, result = common.perform(lambda: call(t, user, now), success)
    if ok:
        return redirect(url_for("workbench.ticket", key=t.number))
    status = result.status if isinstance(result, DomainError) else 400
    # The rollback expired the ticket; load it afresh for the page.
    return _ticket_page(_visible(user, key), user, form=request.form, failed=action.value, status=status)


def _note() -> str:
    return request.form.get("note", "")


@bp.post("/tickets/<key>/accept")
@common.roles_required(Role.HANDLER)
def accept(key: str) -> Any:
    """Take the work order on (a note is required)."""
    return _act(key, Action.ACCEPT, lambda t, u, now: svc.accept(t, u, now, note=_note()), _("Accepted."))


@bp.post("/tickets/<key>/return")
@common.roles_required(Role.HANDLER)
def return_(key: str) -> Any:
    """Send the work order back (退单) with a reason, for a supervisor to re-dispatch."""
    return _act(
        key, Action.RETURN, lambda t, u, now: svc.return_(t, u, now, reason=request.form.get("reason", "")),
        _("Returned to the supervisor."),
    )


@bp.post("/tickets/<key>/assign")
@common.roles_required(Role.HANDLER)
def assign(key: str) -> Any:
    """Give the work order to a colleague of the handling unit."""
    return _act(
        key, Action.ASSIGN,
        lambda t, u, now: svc.assign(t, u, now, assignee_username=request.form.get("assignee", ""), note=_note()),
        _("Assigned."),
    )


@bp.post("/tickets/<key>/progress")
@common.roles_required(Role.HANDLER)
def progress(key: str) -> Any:
    """Record a step with a note and photos (the lead unit or a co-handling one)."""
    return _act(
        key, Action.PROGRESS,
        lambda t, u, now: svc.progress(t, u, now, evidence=_evidence(), settings=settings(), store=store()),
        _("Progress recorded."),
    )


@bp.post("/tickets/<key>/resolve")
@common.roles_required(Role.HANDLER)
def resolve(key: str) -> Any:
    """Report the result with an outcome, a note and photos; the reporter then rates it."""
    return _act(
        key, Action.RESOLVE,
        lambda t, u, now: svc.resolve(
            t, u, now, outcome=request.form.get("outcome", ""), evidence=_evidence(), settings=settings(),
            store=store(),
        ),
        _("Resolved: the reporter is asked to rate it."),
    )


@bp.post("/tickets/<key>/cohandle")
@common.roles_required(Role.HANDLER)
def cohandle(key: str) -> Any:
    """Call in co-handling units (吹哨); they then see the ticket in their own queue."""
    return _act(
        key, Action.COHANDLE,
        lambda t, u, now: svc.cohandle(t, u, now, unit_codes=request.form.getlist("units"), note=_note()),
        _("Co-handling units called in."),
    )


@bp.post("/tickets/<key>/extension")
@common.roles_required(Role.HANDLER)
def extension(key: str) -> Any:
    """Ask for a later resolution deadline (延期): the date wanted and a reason; the level above decides."""

    def call(t: Ticket, u: User, now: datetime) -> Any:
        days = _requested_days(t, now)
        return extension_service.request(
            t, u, now, days=days, reason=request.form.get("reason", ""), settings=settings()
        )

    return _act(key, Action.EXTENSION_REQUEST, call, _("Extension requested: the level above decides."))


def _requested_days(t: Ticket, now: datetime) -> int:
    try:
        wanted = forms.parse_date(request.form.get("until", ""))
    except forms.BadDate:
        raise InvalidInput("Give the date the work can be finished by.", code="invalid_date") from None
    days = forms.extension_days(_calendar(now), t.resolution_due_at, now, wanted)
    if days < 1:
        raise InvalidInput(
            "The date must add at least one working day to the current deadline.", code="invalid_date"
        )
    return days


# ---------------------------------------------------------------------------- internals


def _visible(user: User, key: str) -> Ticket:
    try:
        t, _rel = svc.get_visible(user, key)
    except NotFound:
        abort(404)
    return t


def _evidence() -> Evidence:
    return Evidence(note=_note(), uploads=uploads(request.files.to_dict(flat=False)))


def _calendar(now: datetime) -> WorkCalendar:
    conf = settings()
    return calendar_for(db.session, now, conf.office_hours, conf.timezone)


def _int(raw: str | None, default: int) -> int:
    return int(raw) if raw and raw.isascii() and raw.isdigit() and len(raw) < 7 else default


def _codes_in(data: dict[str, Any]) -> list[str]:
    codes = [data.get("from_unit"), data.get("to_unit"), *(data.get("units") or [])]
    return [c for c in codes if isinstance(c, str)]


def _map_points(t: Ticket, lon: float, lat: float, nearby: list[tuple[Ticket, float]]) -> dict[str, Any]:
    """GeoJSON for the map: the earlier tickets nearby, then this one (numbers and states only)."""

    def feature(x: float, y: float, number: str, state: State, current: bool) -> dict[str, Any]:
        return {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [round(x, 7), round(y, 7)]},
            "properties": {"number": number, "state": str(labels.STATES[state]), "current": current},
        }

    features = []
    for other, _far in nearby:
        p = to_shape(other.location)
        features.append(feature(p.x, p.y, other.number, other.state, False))
    # Last, so that it is drawn on top of earlier tickets at the very same spot.
    features.append(feature(lon, lat, t.number, t.state, True))
    return {"type": "FeatureCollection", "features": features}


# ---------------------------------------------------------------------------- template helpers


@bp.app_template_filter("wb_time")
def _wb_time(moment: datetime | None) -> str:
    """A time in the deployment's zone (Flask-Babel's default timezone), to the minute."""
    return format_datetime(moment, "yyyy-MM-dd HH:mm") if moment else "—"


@bp.app_template_filter("wb_until")
def _wb_until(moment: datetime | None, now: datetime) -> str:
    """How far a deadline is from now, in words ("in 3 hours", "2 days ago")."""
    if moment is None:
        return ""
    return format_timedelta(moment - now, granularity="minute", threshold=1.1, add_direction=True)


@bp.context_processor
def _labels() -> dict[str, Any]:
    lang = str(get_locale())

    def name_of(thing: Any) -> str:
        # Units and categories carry an English name beside the Chinese one.
        english = getattr(thing, "name_en", "")
        return english if lang == "en" and english else thing.name

    return {
        "wb_state": labels.STATES,
        "wb_action": labels.ACTIONS,
        "wb_outcome": labels.OUTCOMES,
        "wb_name": name_of,
        "Action": Action,
    }
