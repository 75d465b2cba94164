"""The supervisor's pages: the dashboard, decisions, the supervision list, performance, one ticket.

Thin edges: a GET reads the view (``board.read_board``) and renders what ``board`` builds; a
POST parses its form, calls one service, commits through ``common.perform`` (which flashes the
outcome and rolls back on a refused action) and redirects. Every export renders the same
``board.Screen`` the page shows, from the same query parameters.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import format_datetime, format_timedelta
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ticketing import tabular
from ticketing.errors import InvalidInput, NotFound
from ticketing.models import Ticket, User
from ticketing.services import access, privacy, repeats, supervision
from ticketing.services import extensions as extension_service
from ticketing.services import tickets as svc
from ticketing.web.common import page_user, perform, request_now, roles_required
from ticketing.web.supervision import bp, board as boards, labels
from ticketing.workflow import Action, Relation, Role, allowed_actions, rule_for

SUPERVISORS = (Role.SUPERVISOR, Role.ADMIN)


def _settings() -> Any:
    return current_app.extensions["ticket_settings"]


def _board(*, flash_errors: bool = True) -> tuple[boards.Board, list[str]]:
    user = page_user()
    if user.role == Role.SUPERVISOR and user.unit is None:
        abort(403)  # a supervisor without a unit oversees nothing (services.access)
    view, errors = boards.read_board(user, request.args, request_now(), _settings(), current_app.config)
    if flash_errors:
        for message in errors:
            flash(message, "error")
    return view, errors


@bp.context_processor
def _helpers() -> dict[str, Any]:
    """Formatting for this area's templates: local times, countdowns, rates, labels."""

    def when(moment: Any) -> str:
        return format_datetime(boards.aware(moment), "yyyy-MM-dd HH:mm") if moment else "—"

    def countdown(moment: Any) -> str:
        # "3 hours ago" / "in 2 days", in the page's language (Babel's words, not ours).
        if not moment:
            return ""
        return format_timedelta(boards.aware(moment) - request_now(), add_direction=True, threshold=1.1)

    def percent(value: float | None) -> str:
        return "—" if value is None else f"{value * 100:.1f}%"

    return {
        "when": when,
        "countdown": countdown,
        "percent": percent,
        "state_label": lambda s: labels.STATES.get(s, s),
        "action_label": lambda a: labels.ACTIONS.get(a, a),
        "localized": boards.localized,
        "GROUPS": labels.GROUPS,
        "SHOW": labels.SHOW,
        "ITEMS": labels.ITEMS,
    }


def _page(template: str, view: boards.Board, **context: Any) -> str:
    return render_template(
        template,
        board=view,
        unit_choices=boards.unit_choices(view.actor),
        category_choices=boards.category_choices(),
        **context,
    )


# ---------------------------------------------------------------------------- pages


@bp.get("/")
@roles_required(*SUPERVISORS)
def dashboard() -> Any:
    """Overdue and due-soon first, grouped; the map of open tickets; the counts."""
    view, _errors = _board()
    lines = boards.open_work(view)
    screen, groups = boards.attention(view, lines)
    return _page("supervision/dashboard.html", view, screen=screen, groups=groups,
                 counts=boards.summary(view, lines))


@bp.get("/map.geojson")
@roles_required(*SUPERVISORS)
def map_data() -> Any:
    """The view's open tickets as GeoJSON points (session-authenticated; the dashboard's map reads it)."""
    view, errors = _board(flash_errors=False)
    if errors:
        return {"error": {"code": "bad_filter", "message": "; ".join(errors)}}, 400
    data = boards.map_features(view)
    for feature in data["features"]:
        feature["properties"]["url"] = url_for(".ticket", number=feature["properties"]["number"])
    return data


@bp.get("/decisions")
@roles_required(*SUPERVISORS)
def decisions() -> Any:
    """The returned queue to re-dispatch and the extension requests to answer."""
    view, _errors = _board()
    return _page("supervision/decisions.html", view, returned=boards.returned_queue(view),
                 extensions=boards.extension_requests(view), targets=boards.working_units(view))


@bp.get("/list")
@roles_required(*SUPERVISORS)
def supervision_list() -> Any:
    """The supervision list (挂牌督办) with its weekly progress, and the repeated-complaint candidates."""
    view, _errors = _board()
    today = view.now.astimezone(ZoneInfo(view.settings.timezone)).date()
    return _page("supervision/list.html", view, candidates=boards.candidates(view),
                 listing=boards.supervision_items(view), may_list=boards.may_list(view.actor),
                 review_default=(today + timedelta(days=7)).isoformat(), today=today.isoformat())


@bp.get("/performance")
@roles_required(*SUPERVISORS)
def performance() -> Any:
    """The KPI table and ranking of the chosen unit's children, and the deputies' points."""
    view, _errors = _board()
    rows = boards.kpi_rows(view)
    return _page("supervision/performance.html", view, kpis=rows, chart=_ranking_chart(rows),
                 points=boards.deputy_points(view))


def _ranking_chart(rows: list[dict[str, Any]]) -> str | None:
    """The ranking's on-time rates as a server-drawn SVG (a data URI), or None when nothing is ranked."""
    ranked = [r for r in rows if not r["total"] and r["rank"] is not None]
    if not ranked:
        return None
    from ticketing.reports import charts

    svg = charts.bar_chart(
        [boards.localized(r["unit_name"], r["unit_name_en"]) for r in ranked],
        [round((r["on_time_rate"] or 0) * 100, 1) for r in ranked],
        value_labels=[f"{(r['on_time_rate'] or 0) * 100:.1f}%" for r in ranked],
        horizontal=True,
        x_max=100,
        height_cm=max(3.0, 1.0 + 0.8 * len(ranked)),
    )
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


@bp.get("/tickets/<number>")
@roles_required(*SUPERVISORS)
def ticket(number: str) -> Any:
    """One ticket: its deadlines, trail, photos and the supervisor's actions the workflow allows now."""
    user = page_user()
    found = _visible(user, number)
    rel = access.relations(user, found)
    exts = extension_service.for_ticket(found)
    actions = extension_service.applicable_actions(allowed_actions(found.state, rel), exts, user)
    view, _errors = _board()
    today = view.now.astimezone(ZoneInfo(view.settings.timezone)).date()
    return _page(
        "supervision/ticket.html", view, ticket=found, relations=rel,
        actions=[a.value for a in actions if a.value in FORMS or a == Action.EXTENSION_DECISION],
        extensions=exts, deciders={e.id: boards.decider_of(e) for e in exts},
        targets=[u for u in boards.working_units(view) if u.id != found.handling_unit_id],
        co_handlers=boards.co_handler_choices(view, found), handlers=boards.handler_choices(found),
        status=_status(view, found), supervisor=Relation.SUPERVISOR in rel,
        doubtful=Relation.SUPERVISOR in rel, action_labels=ACTION_TITLES, note_labels=NOTE_LABELS,
        notes_required={name for name in FORMS if rule_for(Action(name)).note},
        listed=boards.listed_item(found),
        may_list=boards.may_list(user) and Relation.SUPERVISOR in rel and found.state not in supervision.ENDED_STATES,
        today=today.isoformat(), review_default=(today + timedelta(days=7)).isoformat(),
        consent=privacy.consent_state(found), may_consent=privacy.may_decide_consent(user, found),
    )


def _visible(user: User, number: str) -> Ticket:
    try:
        found, _rel = svc.get_visible(user, number)
    except NotFound:
        abort(404)
    return found


def _status(view: boards.Board, found: Ticket) -> str | None:
    from ticketing import metrics

    response_hours, resolution_hours = view.due_soon_hours
    return metrics.deadline_status(found.state, found.response_due_at, found.resolution_due_at, view.now,
                                   view.calendar(), response_hours, resolution_hours)


# ---------------------------------------------------------------------------- actions


def _back(default: str) -> Any:
    """Redirect to the form's `next` when it is a page of this area, else to `default`."""
    target = request.form.get("next", "")
    if target.startswith("/supervision/") and not target.startswith("//") and "\\" not in target:
        return redirect(target)
    return redirect(default)


def _field(name: str) -> str:
    return request.form.get(name, "").strip()


def _required(name: str, message: str) -> str:
    value = _field(name)
    if not value:
        raise InvalidInput(message, code="field_required")
    return value


Form = Callable[[Ticket, User], Any]


def _redispatch(t: Ticket, u: User) -> Any:
    return svc.redispatch(t, u, request_now(), note=_field("note"), unit_code=_field("unit") or None,
                          settings=_settings())


def _transfer(t: Ticket, u: User) -> Any:
    return svc.transfer(t, u, request_now(), unit_code=_required("unit", _("Choose a unit.")),
                        note=_field("note"), settings=_settings())


def _cohandle(t: Ticket, u: User) -> Any:
    return svc.cohandle(t, u, request_now(), unit_codes=[_required("unit", _("Choose a unit."))],
                        note=_field("note"))


def _assign(t: Ticket, u: User) -> Any:
    return svc.assign(t, u, request_now(), assignee_username=_required("assignee", _("Choose a handler.")),
                      note=_field("note"))


def _duplicate(t: Ticket, u: User) -> Any:
    original = _required("original", _("Give the number of the original ticket."))
    return svc.mark_duplicate(t, u, request_now(), original_number=original, note=_field("note"))


# What each form posts to, the service it calls, and what is flashed when it worked.
FORMS: dict[str, tuple[Form, Callable[[], str]]] = {
    "redispatch": (_redispatch, lambda: _("The ticket was re-dispatched.")),
    "transfer": (_transfer, lambda: _("The ticket was transferred.")),
    "cohandle": (_cohandle, lambda: _("The unit was called in to help.")),
    "assign": (_assign, lambda: _("The ticket was assigned.")),
    "urge": (lambda t, u: svc.urge(t, u, request_now(), note=_field("note")),
             lambda: _("The handling unit was urged.")),
    "invalid": (lambda t, u: svc.mark_invalid(t, u, request_now(), reason=_field("note")),
                lambda: _("The ticket was marked invalid.")),
    "duplicate": (_duplicate, lambda: _("The ticket was marked as a duplicate.")),
    "close": (lambda t, u: svc.close_unrated(t, u, request_now(), note=_field("note")),
              lambda: _("The ticket was closed.")),
    "reopen": (lambda t, u: svc.reopen(t, u, request_now(), reason=_field("note"), settings=_settings()),
               lambda: _("The ticket was reopened.")),
    "review": (lambda t, u: svc.review(t, u, request_now(), note=_field("note")),
               lambda: _("The look-back review was recorded.")),
    "comment": (lambda t, u: svc.comment(t, u, request_now(), note=_field("note")),
                lambda: _("The comment was added.")),
}


ACTION_TITLES = {
    "redispatch": _l("Re-dispatch"),
    "transfer": _l("Transfer to another unit"),
    "cohandle": _l("Call in a co-handling unit"),
    "assign": _l("Assign to a handler"),
    "urge": _l("Urge the handling unit"),
    "invalid": _l("Mark invalid"),
    "duplicate": _l("Mark as a duplicate"),
    "close": _l("Close without a rating"),
    "reopen": _l("Reopen"),
    "review": _l("Look-back review"),
    "comment": _l("Comment"),
}
NOTE_LABELS = {
    "redispatch": _l("Instruction to the unit"),
    "transfer": _l("Why it goes there"),
    "cohandle": _l("What they should do (optional)"),
    "assign": _l("Note (optional)"),
    "urge": _l("Message to the unit (optional)"),
    "invalid": _l("Why it is invalid"),
    "duplicate": _l("Note (optional)"),
    "close": _l("Why it is closed without a rating"),
    "reopen": _l("Why it is reopened"),
    "review": _l("What the review found"),
    "comment": _l("Comment"),
}


@bp.post("/tickets/<number>/<action>")
@roles_required(*SUPERVISORS)
def act(number: str, action: str) -> Any:
    """Run one supervisor action on the ticket; the service checks state, relation and evidence."""
    if action not in FORMS:
        abort(404)
    user = page_user()
    found = _visible(user, number)
    call, success = FORMS[action]
    perform(lambda: call(found, user), success())
    return _back(url_for(".ticket", number=number))


@bp.post("/tickets/<number>/photo-consent")
@roles_required(*SUPERVISORS)
def photo_consent(number: str) -> Any:
    """Publish the ticket's photos in the public cockpit (consent=1), or unpublish them (consent=0)."""
    user = page_user()
    found = _visible(user, number)
    consent = _field("consent") == "1"
    perform(lambda: privacy.set_photo_consent(found, user, request_now(), consent=consent, note=_field("note")),
            _("The photos may now appear in the public cockpit.") if consent else _("The photos are no longer public."))
    return _back(url_for(".ticket", number=number))


@bp.post("/tickets/<number>/extensions/<int:extension_id>")
@roles_required(*SUPERVISORS)
def decide_extension(number: str, extension_id: int) -> Any:
    """Approve or refuse a pending extension request (a refusal needs a note)."""
    user = page_user()
    found = _visible(user, number)
    decision = _field("decision")
    if decision not in ("approve", "refuse"):
        flash(_("Approve or refuse the request."), "error")
        return _back(url_for(".ticket", number=number))
    approve = decision == "approve"
    perform(
        lambda: extension_service.decide(found, extension_id, user, request_now(), approve=approve,
                                         note=_field("note"), settings=_settings()),
        _("The extension was approved.") if approve else _("The extension was refused."),
    )
    return _back(url_for(".ticket", number=number))


def _review_on() -> date | None:
    """The form's review date (复核日期); None when left empty (the service says it is required)."""
    raw = _field("review_on")
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(_("Dates are written like 2026-03-01."), code="invalid_date") from None


def _add_item(user: User, **subject: Any) -> Any:
    return supervision.add(user, reason=_field("reason"), leader=_field("leader"), review_on=_review_on(),
                           now=request_now(), settings=_settings(), **subject)


@bp.post("/candidates/<int:candidate_id>")
@roles_required(*SUPERVISORS)
def decide_candidate(candidate_id: int) -> Any:
    """Put a repeated-complaint cluster on the supervision list (reason, leader, review date), or dismiss it."""
    user = page_user()
    decision = _field("decision")
    if decision == "list":
        perform(lambda: _add_item(user, candidate_id=candidate_id), _("The complaints were put under supervision."))
    elif decision == "dismiss":
        perform(lambda: repeats.decide(candidate_id, user, False, request_now(), note=_field("reason")),
                _("The candidate was dismissed."))
    else:
        flash(_("List or dismiss the candidate."), "error")
    return _back(url_for(".supervision_list"))


@bp.post("/list/add")
@roles_required(*SUPERVISORS)
def add_item() -> Any:
    """Put a ticket on the supervision list (挂牌督办) with a reason, a responsible leader and a review date."""
    user = page_user()
    number = _field("ticket")
    if not number:
        flash(_("Give the number of the ticket."), "error")
    else:
        perform(lambda: _add_item(user, ticket_number=number), _("The ticket is now under supervision (挂牌督办)."))
    return _back(url_for(".supervision_list"))


@bp.post("/list/<int:item_id>/remove")
@roles_required(*SUPERVISORS)
def remove_item(item_id: int) -> Any:
    """Take an item off the supervision list (销号) with a note."""
    user = page_user()
    perform(lambda: supervision.remove(item_id, user, _field("note"), request_now()),
            _("The item was taken off the supervision list (销号)."))
    return _back(url_for(".supervision_list"))


# ---------------------------------------------------------------------------- exports


def _screen(name: str, view: boards.Board) -> tabular.Table | None:
    tz = view.settings.timezone
    if name == "attention":
        return boards.attention(view, boards.open_work(view))[0].table(tz)
    if name == "returned":
        return boards.returned_queue(view).table(tz)
    if name == "extensions":
        return boards.extension_requests(view).table(tz)
    if name == "candidates":
        return boards.candidates(view).table(tz)
    if name == "points":
        return boards.deputy_points(view).table(tz)
    if name == "kpis":
        return boards.kpi_table(view, boards.kpi_rows(view), boards.page_lang())
    if name == "list":
        return boards.supervision_items(view).table(view)
    return None


@bp.get("/export/<name>.<fmt>")
@roles_required(*SUPERVISORS)
def export(name: str, fmt: str) -> Any:
    """A table of a page as CSV or XLSX, for the same query parameters as the page: the same rows."""
    if fmt not in tabular.FORMATS:
        abort(404)
    view, errors = _board(flash_errors=False)
    if errors:
        return Response("\n".join(errors), status=400, mimetype="text/plain")
    table = _screen(name, view)
    if table is None:
        abort(404)
    body, mimetype = tabular.render(table, fmt)
    unit = boards.localized(view.unit.name, view.unit.name_en)
    day = view.now.astimezone(ZoneInfo(view.settings.timezone)).strftime("%Y%m%d")
    filename = f"{table.title}_{unit}_{day}.{fmt}".replace(" ", "_")
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": tabular.content_disposition(filename)})
