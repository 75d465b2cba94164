"""The citizen's report form (``/c/<code>``), the answer with the tracking link, and the tracking
page (``/t/<token>``) with its rating form and photos.

Thin edges: each view parses the form, calls one function of ``ticketing.services.citizen``,
commits (or rolls back and shows the error) and renders. Unknown codes and links, expired
links included, are a 404 page that says no more than "not found".
"""

from __future__ import annotations

from typing import Any

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from ticketing.api.context import settings, store, uploads
from ticketing.errors import DomainError, InvalidInput, NotFound
from ticketing.extensions import db
from ticketing.models import CitizenCode, CitizenReport, Ticket
from ticketing.ratelimit import client_address, intake_limit, limiter
from ticketing.services import categories
from ticketing.services import citizen as svc
from ticketing.web import common
from ticketing.web.citizen import bp
from ticketing.web.citizen.wording import (
    SCORE_LABELS,
    by_label,
    outcome_label,
    public_state,
    score_label,
    step_label,
    unit_name,
    units_label,
)
from ticketing.web.common import error_text, perform, request_now
from ticketing.workflow import Score, State

PHOTO_VARIANTS = ("display", "thumb")


def _limit_breached(_limit: Any) -> Response:
    return Response(render_template("rate_limited.html"), status=429, mimetype="text/html")


# Per client address, reports accepted (answers below 400: a typo does not use up the
# allowance). The shared intake limit (every attempt per address) applies as well.
_citizen_limit = limiter.shared_limit(
    lambda: str(current_app.config["CITIZEN_LIMIT_PER_IP"]),
    scope="citizen-ip",
    key_func=client_address,
    deduct_when=lambda response: response.status_code < 400,
    on_breach=_limit_breached,
)


# ---------------------------------------------------------------------------- the form


@bp.get("/c/<code>")
def report_form(code: str) -> Any:
    """The report form a deputy's QR code opens."""
    row = _code_or_404(code)
    return _form(row)


@bp.post("/c/<code>")
@intake_limit
@_citizen_limit
def submit(code: str) -> Any:
    """Send the report: a ticket waiting for the deputy's review, and the tracking link shown once."""
    row = _code_or_404(code)
    form = request.form
    key = form.get("form_key", "")
    secret = str(current_app.config["SECRET_KEY"])
    try:
        earlier = svc.find_replay(code, key, secret)
    except DomainError as exc:
        flash(error_text(exc), "error")
        return _form(row, exc.status, values=form)
    if earlier is not None:
        # The same form again (a double tap, a lost answer): the first report stands.
        return _received(row, earlier)
    photos = uploads({"photos": request.files.getlist("photos")})
    try:
        if not photos:
            raise InvalidInput("add at least one photo", code="photo_required")
        lon, lat = common.form_coordinate(form.get("lon", "")), common.form_coordinate(form.get("lat", ""))
        received = svc.report(
            code,
            form_key=key,
            category_code=form.get("category", ""),
            description=form.get("description", ""),
            lon=lon,
            lat=lat,
            address=form.get("address", ""),
            contact=svc.Contact(
                name=form.get("name", ""), phone=form.get("phone", ""), sms=form.get("sms") == "yes"
            ),
            uploads=photos,
            now=request_now(),
            settings=settings(),
            store=store(),
            secret=secret,
            link_days=int(current_app.config["CITIZEN_LINK_DAYS"]),
            link_for=_link,
        )
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        flash(error_text(exc), "error")
        return _form(row, exc.status, values=form)
    except IntegrityError:
        # Two posts of the same form raced and the other one won: show its report.
        db.session.rollback()
        earlier = svc.find_replay(code, key, secret)
        if earlier is None:
            raise
        return _received(row, earlier)
    return _received(row, received)


def _form(row: CitizenCode, status: int = 200, values: Any = None) -> Any:
    deputy = row.deputy
    return (
        render_template(
            "citizen/report.html",
            code=row.code,
            deputy=deputy,
            deputy_unit=unit_name(deputy.unit),
            domains=_domains(),
            values=values or {},
            form_key=svc.new_form_key(),
            max_photos=settings().photo_limits.per_request,
            i18n=_script_messages(),
        ),
        status,
    )


def _received(row: CitizenCode, received: svc.Received) -> Any:
    return render_template(
        "citizen/received.html",
        deputy=row.deputy,
        ticket=received.ticket,
        link=_link(received.token) if received.token else None,
        replayed=received.replayed,
    )


def _link(token: str) -> str:
    """The absolute tracking URL: on PUBLIC_BASE_URL when set, else on the host the form came from."""
    base = current_app.config.get("PUBLIC_BASE_URL")
    path = url_for("citizen.track", token=token)
    return f"{base.rstrip('/')}{path}" if base else url_for("citizen.track", token=token, _external=True)


def _code_or_404(code: str) -> CitizenCode:
    try:
        return svc.deputy_for_code(code)
    except NotFound:
        abort(Response(render_template("citizen/gone.html", what="code"), status=404, mimetype="text/html"))


def _domains() -> list[dict[str, Any]]:
    return categories.picker_tree(english=str(get_locale()) == "en")


def _script_messages() -> dict[str, str]:
    """What the form's script says, in the page's language."""
    return {
        "locating": _("Finding your position…"),
        "located": _("Your position (±%(m)s m). Drag the pin or tap the map to correct it.", m="{n}"),
        "pinned": _("The pin on the map marks the place."),
        "no_device": _("No position from the phone. Tap the map to place the pin; without one, the GPS position "
                       "in the photo is used."),
        "photo_n": _("Photo %(num)s", num="{n}"),
        "too_many": _("At most %(num)s photos.", num=settings().photo_limits.per_request),
        "copied": _("Copied."),
    }


# ---------------------------------------------------------------------------- tracking


@bp.get("/t/<token>")
def track(token: str) -> Any:
    """The tracking page: the handling in public words, and the rating form when it is due."""
    found = _report_or_404(token)
    ticket = db.session.get(Ticket, found.ticket_id)
    assert ticket is not None
    before, after = svc.before_after(ticket)
    steps = list(reversed(svc.public_trail(ticket)))  # newest first, as parcel tracking shows it
    return render_template(
        "citizen/track.html",
        token=token,
        t=ticket,
        deputy=found.code.deputy,
        state=public_state(ticket.state),
        unit=unit_name(ticket.handling_unit) if ticket.state not in (State.PENDING_REVIEW, State.DECLINED) else "",
        category=_category(ticket),
        steps=steps,
        before=before,
        after=after,
        decline_reason=svc.decline_reason(ticket) if ticket.state == State.DECLINED else "",
        can_rate=svc.may_rate_now(found, ticket),
        may_rate=found.may_rate,
        scores=[(s.value, SCORE_LABELS[s]) for s in Score],
        step_label=step_label,
        by_label=by_label,
        outcome_label=outcome_label,
        score_label=score_label,
        units_label=units_label,
    )


@bp.post("/t/<token>/rate")
def rate(token: str) -> Any:
    """满意 / 基本满意 close the ticket; 不满意 sends it back for another round (as the deputy's would)."""
    found = _report_or_404(token)
    ok, _result = perform(
        lambda: svc.rate(
            token,
            score=request.form.get("score", ""),
            comment=request.form.get("comment", ""),
            now=request_now(),
            settings=settings(),
        )
    )
    if ok:
        ticket = db.session.get(Ticket, found.ticket_id)
        if ticket is not None and ticket.state == State.DISPATCHED:
            flash(_("Thank you. The handling unit will handle it again (round %(round)s).", round=ticket.round), "ok")
        else:
            flash(_("Thank you for your rating."), "ok")
    return redirect(url_for("citizen.track", token=token))


@bp.get("/t/<token>/photos/<int:photo_id>/<variant>")
def photo(token: str, photo_id: int, variant: str) -> Any:
    """A metadata-free copy of a photo the tracking page shows (never the original)."""
    if variant not in PHOTO_VARIANTS:
        abort(404)
    found = _report_or_404(token)
    try:
        row = svc.photo_for(found, photo_id)
    except NotFound:
        abort(404)
    key = row.display_key if variant == "display" else row.thumb_key
    if not key:
        abort(404)
    return Response(store().get(key), mimetype="image/jpeg")


def _report_or_404(token: str) -> CitizenReport:
    try:
        return svc.by_token(token, request_now())
    except NotFound:
        abort(Response(render_template("citizen/gone.html", what="link"), status=404, mimetype="text/html"))


def _category(ticket: Ticket) -> str:
    english = str(get_locale()) == "en"

    def name(c: Any) -> str:
        return (c.name_en or c.name) if english else c.name

    c = ticket.category
    return f"{name(c.parent)} · {name(c)}" if c.parent else name(c)
