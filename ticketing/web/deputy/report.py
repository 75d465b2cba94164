"""Snap and report: the form, its plain (no JavaScript) submission, and the page's small helpers.

With JavaScript the page sends the report itself, through ``POST /api/v1/tickets`` (queued on
the phone, one Idempotency-Key per report); without it, the browser posts the same fields
here and this view calls the same service. A double post of the plain form is caught by the
form's one-time ``report_key``, kept as an `IdempotencyRecord` like the API's keys.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

from flask import current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_wtf.csrf import generate_csrf
from sqlalchemy import select

from ticketing.api.context import settings, store, uploads
from ticketing.errors import DomainError, InvalidInput
from ticketing.extensions import db
from ticketing.models import IdempotencyRecord, Ticket, User
from ticketing.ratelimit import intake_limit
from ticketing.services import categories, following
from ticketing.services import tickets as svc
from ticketing.web import common
from ticketing.web.common import error_text, page_user, perform, request_now, roles_required
from ticketing.web.deputy import bp
from ticketing.web.deputy.present import category_label, state_label, unit_label
from ticketing.workflow import Role

# Idempotency keys of the plain form live beside the API's, in their own namespace.
KEY_PREFIX = "web-report:"


@bp.get("/report")
@roles_required(Role.DEPUTY)
def report_form() -> Any:
    """The snap-and-report page."""
    return _page()


@bp.post("/report")
@intake_limit
@roles_required(Role.DEPUTY)
def submit() -> Any:
    """The form posted without JavaScript: one report through ``services.tickets.report``."""
    user = page_user()
    form = request.form
    key = form.get("report_key", "").strip()[:100]
    if key and (earlier := _earlier(user, key)) is not None:
        # The same form posted twice (a double tap, a reload): the first report stands.
        return redirect(url_for("deputy.ticket", number=earlier))
    photos = uploads({"photos": request.files.getlist("photos")})
    try:
        if not photos:
            raise InvalidInput("add at least one photo", code="photo_required")
        lon, lat = common.form_coordinate(form.get("lon", "")), common.form_coordinate(form.get("lat", ""))
    except DomainError as exc:
        flash(error_text(exc), "error")
        return _page(exc.status, values=form)

    def report() -> Ticket:
        ticket = svc.report(
            actor=user,
            category_code=form.get("category", ""),
            description=form.get("description", ""),
            lon=lon,
            lat=lat,
            visibility="private" if form.get("visibility") == "private" else "public",
            address=form.get("address", ""),
            uploads=photos,
            now=request_now(),
            settings=settings(),
            store=store(),
        )
        if key:
            db.session.add(
                IdempotencyRecord(user_id=user.id, key=KEY_PREFIX + key, fingerprint="", status_code=303,
                                  body=ticket.number.encode(), created_at=request_now())
            )
        return ticket

    ok, result = perform(report)
    if not ok:
        return _page(result.status, values=form)
    flash(_("Reported as %(number)s and sent to %(unit)s.", number=result.number,
            unit=unit_label(result.handling_unit)), "ok")
    return redirect(url_for("deputy.ticket", number=result.number))


@bp.get("/report/nearby")
@roles_required(Role.DEPUTY)
def nearby() -> Any:
    """Open tickets of the chosen category near the chosen point, as a fragment of the page
    ("same problem? follow it instead"); empty when there are none or the input is unusable."""
    try:
        lon, lat = float(request.args.get("lon", "")), float(request.args.get("lat", ""))
        if not (math.isfinite(lon) and math.isfinite(lat)):
            raise ValueError
        found = following.nearby_open(page_user(), request.args.get("category", ""), lon, lat, settings=settings())
    except (ValueError, DomainError):
        return "", 200
    if not found:
        return "", 200
    return render_template(
        "deputy/_nearby.html",
        found=found,
        radius=round(settings().nearby_radius_m),
        category_label=category_label,
        state_label=state_label,
        unit_label=unit_label,
    )


@bp.get("/csrf-token")
@roles_required(Role.DEPUTY)
def csrf_token() -> Any:
    """A fresh CSRF token for the queued reports the page sends long after it was loaded."""
    resp = jsonify({"csrf_token": generate_csrf()})
    resp.headers["Cache-Control"] = "no-store"
    return resp


# ---------------------------------------------------------------------------- internals


def _page(status: int = 200, values: Any = None) -> Any:
    user = page_user()
    return (
        render_template(
            "deputy/report.html",
            domains=_domains(),
            values=values or {},
            report_key=uuid.uuid4().hex,
            max_photos=settings().photo_limits.per_request,
            user_id=user.id,
            i18n=_script_messages(),
        ),
        status,
    )


def _domains() -> list[dict[str, Any]]:
    return categories.picker_tree(english=str(get_locale()) == "en")


def _earlier(user: User, key: str) -> str | None:
    record = db.session.scalar(
        select(IdempotencyRecord).where(IdempotencyRecord.user_id == user.id,
                                        IdempotencyRecord.key == KEY_PREFIX + key)
    )
    return record.body.decode() if record is not None else None


def _script_messages() -> dict[str, str]:
    """What the page's script says, in the page's language."""
    return {
        "waiting_one": _("1 report waiting to be sent"),
        "waiting_many": _("%(num)s reports waiting to be sent", num="{n}"),
        "offline": _("You are offline: reports are kept on this phone and sent when the network returns."),
        "state_waiting": _("Waiting for the network"),
        "state_retry": _("Sending failed; trying again shortly"),
        "state_sending": _("Sending…"),
        "state_refused": _("Not accepted:"),
        "sign_in_again": _("Sign in again to send it."),
        "remove": _("Remove"),
        "sent": _("Sent as %(number)s.", number="{n}"),
        "open": _("Open it"),
        "photos_n": _("%(num)s photos", num="{n}"),
        "photo_n": _("Photo %(num)s", num="{n}"),
        "remove_photo": _("Remove photo %(num)s", num="{n}"),
        "too_many": _("At most %(num)s photos.", num=settings().photo_limits.per_request),
        "need_photo": _("Add at least one photo."),
        "locating": _("Finding your position…"),
        "located": _("Your position (±%(m)s m). Drag the pin or tap the map to correct it.", m="{n}"),
        "pinned": _("The pin on the map marks the place."),
        "typed": _("The coordinates you typed mark the place."),
        "no_device": _("No position from the phone. Tap the map to place the pin; without one, the GPS position "
                       "in the photo is used."),
        "location_required": _("The report has no location: place the pin on the map or use a photo with a GPS "
                               "position."),
        "photo_rejected": _("A photo could not be used. Remove it and try again."),
        "refused": _("The server did not accept the report."),
        "store_failed": _("This browser cannot keep the report; sending it directly."),
        "lang": str(get_locale()),
        "max_photos": str(current_app.config["PHOTOS_PER_REQUEST"]),
    }
