"""The deputy's side of the citizen channel: the QR card to print, and the review of citizens' reports.

``/deputy/qr`` shows the deputy's A6 card (代表随手拍, the name, the QR code of ``/c/<code>``)
ready to print, with SVG and PNG downloads; a new code revokes the old one (lost or misused
cards stop working). ``/deputy/citizen`` lists the reports waiting for review; each one's page
shows the citizen's photos and contact and offers forward (with an optional corrected
category, private, and whether the citizen may rate) or decline with a reason, which the
citizen reads. Every form calls one function of ``ticketing.services.citizen``.
"""

from __future__ import annotations

import io
from typing import Any

import segno
from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from geoalchemy2.shape import to_shape
from sqlalchemy import select

from ticketing.api import presenters
from ticketing.api.context import settings
from ticketing.errors import NotFound
from ticketing.extensions import db
from ticketing.models import Category, CitizenReport, Ticket, User
from ticketing.services import citizen as svc
from ticketing.services import tickets as ticket_service
from ticketing.web.common import (
    page_user,
    perform,
    register_nav,
    request_now,
    roles_required,
)
from ticketing.web.deputy import bp
from ticketing.web.deputy.present import category_label, state_label, unit_label
from ticketing.workflow import Role, State

register_nav("deputy.citizen_queue", _l("Citizens' reports"), Role.DEPUTY, order=12)
register_nav("deputy.qr", _l("My QR code"), Role.DEPUTY, order=13)


# ---------------------------------------------------------------------------- the QR card


@bp.get("/qr")
@roles_required(Role.DEPUTY)
def qr() -> Any:
    """The printable A6 card with the deputy's QR code (made on the first visit)."""
    user = page_user()
    code = svc.live_code(user, request_now())
    db.session.commit()
    url = _report_url(code.code)
    svg = segno.make(url, error="m").svg_inline(scale=4, omitsize=True)
    return render_template("deputy/qr.html", user=user, unit=unit_label(user.unit), url=url, svg=svg,
                           issued=code.created_at)


@bp.get("/qr.<kind>")
@roles_required(Role.DEPUTY)
def qr_file(kind: str) -> Any:
    """The QR code alone as an SVG or PNG file, for a printer's own layout."""
    if kind not in ("svg", "png"):
        abort(404)
    user = page_user()
    code = svc.live_code(user, request_now())
    db.session.commit()
    out = io.BytesIO()
    segno.make(_report_url(code.code), error="m").save(out, kind=kind, scale=10, border=4)
    resp = Response(out.getvalue(), mimetype="image/svg+xml" if kind == "svg" else "image/png")
    resp.headers["Content-Disposition"] = f'attachment; filename="suishoupai-qr-{user.username}.{kind}"'
    return resp


@bp.post("/qr/renew")
@roles_required(Role.DEPUTY)
def qr_renew() -> Any:
    """Issue a new code: the printed cards of the old one stop working."""
    user = page_user()
    perform(lambda: svc.renew_code(user, request_now()),
            _("A new QR code is issued. Cards with the old code no longer open the form: print new ones."))
    return redirect(url_for("deputy.qr"))


def _report_url(code: str) -> str:
    """The absolute address the QR code opens: on PUBLIC_BASE_URL when set, else this site's host."""
    base = current_app.config.get("PUBLIC_BASE_URL")
    path = url_for("citizen.report_form", code=code)
    return f"{base.rstrip('/')}{path}" if base else url_for("citizen.report_form", code=code, _external=True)


# ---------------------------------------------------------------------------- the review


@bp.get("/citizen")
@roles_required(Role.DEPUTY)
def citizen_queue() -> Any:
    """Citizens' reports waiting for this deputy's review (oldest first), and those recently decided."""
    user = page_user()
    items = [_item(t) for t in svc.pending(user)]
    done = [_item(t) for t in svc.reviewed(user)]
    return render_template("deputy/citizen_queue.html", items=items, done=done)


@bp.get("/citizen/<number>")
@roles_required(Role.DEPUTY)
def citizen_review(number: str) -> Any:
    """One citizen's report with the citizen's photos and contact, and the deputy's decision."""
    user = page_user()
    t, found = _own(user, number)
    point = to_shape(t.location)
    return render_template(
        "deputy/citizen_review.html",
        t=t,
        found=found,
        state=state_label(t.state),
        category=category_label(t),
        unit=unit_label(t.handling_unit),
        photos=[presenters.photo(p) for p in t.photos if p.event is not None and p.event.action.value == "report"],
        point={"lon": point.x, "lat": point.y},
        categories=_categories(t),
        pending=t.state == State.PENDING_REVIEW,
        decline_reason=svc.decline_reason(t),
    )


@bp.post("/citizen/<number>/forward")
@roles_required(Role.DEPUTY)
def citizen_forward(number: str) -> Any:
    """Forward into the normal flow as the deputy's work order."""
    user = page_user()
    t, _found = _own(user, number)
    form = request.form
    ok, _result = perform(lambda: svc.forward(
        t, user, request_now(), note=form.get("note", ""), category_code=form.get("category") or None,
        private=form.get("private") == "yes", may_rate=form.get("may_rate") == "yes", settings=settings(),
    ))
    if ok:
        flash(_("Forwarded to %(unit)s as your work order.", unit=unit_label(t.handling_unit)), "ok")
        return redirect(url_for("deputy.ticket", number=t.number))
    return redirect(url_for("deputy.citizen_review", number=t.number))


@bp.post("/citizen/<number>/decline")
@roles_required(Role.DEPUTY)
def citizen_decline(number: str) -> Any:
    """Decline with a reason that the citizen reads on the tracking page."""
    user = page_user()
    t, _found = _own(user, number)
    ok, _result = perform(lambda: svc.decline(t, user, request_now(), reason=request.form.get("reason", "")),
                          _("Declined. The citizen sees your reason on the tracking page."))
    if ok:
        return redirect(url_for("deputy.citizen_queue"))
    return redirect(url_for("deputy.citizen_review", number=t.number))


@bp.post("/citizen/<number>/rating")
@roles_required(Role.DEPUTY)
def citizen_rating(number: str) -> Any:
    """Let the citizen rate the handling, or not."""
    user = page_user()
    t, _found = _own(user, number)
    allow = request.form.get("allow") == "yes"
    perform(lambda: svc.set_may_rate(t, user, allow),
            _("The citizen may rate the handling.") if allow else _("You rate the handling yourself."))
    return redirect(url_for("deputy.citizen_review", number=t.number))


def _own(user: User, number: str) -> tuple[Ticket, CitizenReport]:
    """The deputy's own citizen report by number; 404 for anything else (as for invisible tickets)."""
    try:
        t, _rel = ticket_service.get_visible(user, number)
    except NotFound:
        abort(404)
    found = svc.contact(t, user)
    if found is None:
        abort(404)
    return t, found


def _item(t: Ticket) -> dict[str, Any]:
    return {"ticket": t, "category": category_label(t), "state": state_label(t.state),
            "unit": unit_label(t.handling_unit)}


def _categories(t: Ticket) -> list[tuple[str, str]]:
    """Every active category as (code, "domain · name"), for correcting the citizen's choice."""
    english = str(get_locale()) == "en"
    rows = db.session.scalars(select(Category).where(Category.active.is_(True)).order_by(Category.sort)).all()

    def name(c: Category) -> str:
        return (c.name_en or c.name) if english else c.name

    out = []
    for c in rows:
        label = f"{name(c.parent)} · {name(c)}" if c.parent else name(c)
        out.append((c.code, label))
    return out
