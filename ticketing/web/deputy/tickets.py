"""My tickets and the trail: the deputy's list, one ticket's parcel-tracking page, and its forms.

Each form post parses its fields, calls one service (rate, urge, follow, unfollow) and lets
``common.perform`` commit or roll back and flash; then back to the ticket page. A ticket the
deputy may not see is a 404, like the API's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from geoalchemy2.shape import to_shape
from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.exc import IntegrityError

from ticketing.api import presenters
from ticketing.api.context import settings
from ticketing.errors import DomainError, NotFound
from ticketing.extensions import db
from ticketing.metrics import local_period
from ticketing.models import Ticket, TicketFollower, User
from ticketing.services import following, points, privacy
from ticketing.services import tickets as svc
from ticketing.web.common import error_text, page_user, perform, request_now, roles_required
from ticketing.web.deputy import bp
from ticketing.web.deputy.present import (
    FINISHED,
    SCORE_LABELS,
    category_label,
    countdown,
    countdown_formats,
    next_deadline,
    resolution_running,
    response_running,
    state_label,
    trail,
    unit_label,
)
from ticketing.workflow import Action, Role, Score, State, allowed_actions

PAGE_SIZE = 20
MAX_PAGE = 100_000
# The list's tabs: what each shows.
TABS = ("open", "rate", "done", "following")


# ---------------------------------------------------------------------------- my tickets


@bp.get("/tickets")
@roles_required(Role.DEPUTY)
def tickets() -> Any:
    """The deputy's tickets by tab (in progress first, overdue at the top), with their points and rank."""
    user = page_user()
    now = request_now()
    tab = request.args.get("show", "open")
    if tab not in TABS:
        tab = "open"
    # Bounded, so that the OFFSET stays within what the databases accept.
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), MAX_PAGE)
    counts = {name: db.session.scalar(select(func.count()).select_from(Ticket).where(_tab_filter(name, user))) or 0
              for name in TABS}
    query = select(Ticket).where(_tab_filter(tab, user))
    if tab == "open":
        # Few per deputy: sorted here by the nearest running deadline, overdue first.
        rows = list(db.session.scalars(query).all())
        far = datetime.max.replace(tzinfo=now.tzinfo)
        rows.sort(key=lambda t: (getattr(next_deadline(t, now), "due", None) or far, t.id))
        rows = rows[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
    else:
        order = [Ticket.resolved_at.asc(), Ticket.id.asc()] if tab == "rate" else [Ticket.updated_at.desc(),
                                                                                 Ticket.id.desc()]
        rows = list(db.session.scalars(query.order_by(*order).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)))
    items = [
        {
            "ticket": t,
            "category": category_label(t),
            "state": state_label(t.state),
            "unit": unit_label(t.handling_unit),
            "deadline": next_deadline(t, now),
        }
        for t in rows
    ]
    return render_template(
        "deputy/tickets.html",
        tab=tab,
        tabs=TABS,
        counts=counts,
        items=items,
        page=page,
        pages=max(1, -(-counts[tab] // PAGE_SIZE)),
        standing=_standing(user, now),
        now=now,
        formats=countdown_formats(),
    )


def _tab_filter(tab: str, user: User) -> ColumnElement[bool]:
    mine = or_(Ticket.reporter_id == user.id, Ticket.deputy_id == user.id)
    if tab == "following":
        return exists().where(TicketFollower.ticket_id == Ticket.id, TicketFollower.user_id == user.id)
    if tab == "rate":
        return and_(mine, Ticket.state == State.RESOLVED)
    if tab == "done":
        return and_(mine, Ticket.state.in_(FINISHED))
    return and_(mine, Ticket.state.not_in(FINISHED | {State.RESOLVED}))


@dataclass(frozen=True)
class Standing:
    """The deputy's points and rank among the deputies of their unit, this quarter so far."""

    first: date
    last: date
    points: Any
    valid: int
    solved: int
    rank: int
    of: int


def _standing(user: User, now: datetime) -> Standing | None:
    """This quarter so far (to tomorrow, as the points API defaults), ranked within the deputy's unit."""
    tz = settings().timezone
    today = now.astimezone(ZoneInfo(tz)).date()
    first = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    last = today + timedelta(days=1)
    start, end = local_period(first, last, tz)
    ranking = points.points(
        start, end, scope=user.unit, per_valid=current_app.config["POINTS_PER_VALID"],
        per_solved=current_app.config["POINTS_PER_SOLVED"],
    )
    row = next((r for r in ranking if r.user.id == user.id), None)
    if row is None:
        return None
    return Standing(first, today, row.points, row.valid, row.solved, row.rank, len(ranking))


# ---------------------------------------------------------------------------- one ticket


@bp.get("/tickets/<number>")
@roles_required(Role.DEPUTY)
def ticket(number: str) -> Any:
    """The trail: every event, before and after photos, the deadlines, the rating form."""
    user = page_user()
    t, rel = _visible(user, number)
    now = request_now()
    actions = allowed_actions(t.state, rel)
    point = to_shape(t.location)
    return render_template(
        "deputy/ticket.html",
        t=t,
        state=state_label(t.state),
        category=category_label(t),
        unit=unit_label(t.handling_unit),
        response=countdown(t.response_due_at, now) if response_running(t) else None,
        resolution=countdown(t.resolution_due_at, now) if resolution_running(t) else None,
        before_after=presenters.before_after(t),
        steps=trail(t),
        can_rate=Action.RATE in actions,
        can_urge=Action.URGE in actions,
        mine=user.id in (t.reporter_id, t.deputy_id),
        following=following.is_following(user, t),
        scores=[(s.value, SCORE_LABELS[s]) for s in Score],
        point={"lon": point.x, "lat": point.y},
        consent=privacy.consent_state(t),
        may_consent=privacy.may_decide_consent(user, t),
        now=now,
        formats=countdown_formats(),
    )


@bp.post("/tickets/<number>/rate")
@roles_required(Role.DEPUTY)
def rate(number: str) -> Any:
    """满意 / 基本满意 close the ticket; 不满意 sends it back for another round."""
    user = page_user()
    t, _rel = _visible(user, number)
    score = request.form.get("score", "")
    ok, _result = perform(lambda: svc.rate(t, user, request_now(), score=score,
                                           comment=request.form.get("comment", ""), settings=settings()))
    if ok:
        if t.state == State.DISPATCHED:
            flash(_("Sent back to %(unit)s for round %(round)s of handling.", unit=unit_label(t.handling_unit),
                    round=t.round), "ok")
        else:
            flash(_("Thank you: your rating closes the ticket."), "ok")
    return redirect(url_for("deputy.ticket", number=t.number))


@bp.post("/tickets/<number>/urge")
@roles_required(Role.DEPUTY)
def urge(number: str) -> Any:
    """Press the handling unit (催办)."""
    user = page_user()
    t, _rel = _visible(user, number)
    perform(lambda: svc.urge(t, user, request_now(), note=request.form.get("note", "")),
            _("The handling unit has been urged."))
    return redirect(url_for("deputy.ticket", number=t.number))


@bp.post("/tickets/<number>/photo-consent")
@roles_required(Role.DEPUTY)
def photo_consent(number: str) -> Any:
    """Agree that the ticket's photos appear in the public cockpit (consent=1), or withdraw (consent=0)."""
    user = page_user()
    t, _rel = _visible(user, number)
    consent = request.form.get("consent") == "1"
    perform(lambda: privacy.set_photo_consent(t, user, request_now(), consent=consent),
            _("The photos may now appear in the public cockpit.") if consent else _("The photos are no longer public."))
    return redirect(url_for("deputy.ticket", number=t.number))


@bp.post("/tickets/<number>/follow")
@roles_required(Role.DEPUTY)
def follow(number: str) -> Any:
    """Follow an open ticket (the "same problem?" offer) instead of reporting it again."""
    user = page_user()
    try:
        t, _changed = following.follow(number, user, request_now())
        db.session.commit()
    except NotFound:
        db.session.rollback()
        abort(404)
    except DomainError as exc:
        db.session.rollback()
        flash(error_text(exc), "error")
        return redirect(url_for("deputy.report_form"))
    except IntegrityError:
        # A second post of the same button raced this one, and the first made her a follower.
        db.session.rollback()
        return redirect(url_for("deputy.ticket", number=number))
    flash(_("You follow %(number)s: every step of its handling shows here.", number=t.number), "ok")
    return redirect(url_for("deputy.ticket", number=t.number))


@bp.post("/tickets/<number>/unfollow")
@roles_required(Role.DEPUTY)
def unfollow(number: str) -> Any:
    """Stop following a ticket."""
    user = page_user()
    t, _rel = _visible(user, number)
    perform(lambda: following.unfollow(t.number, user), _("You no longer follow this ticket."))
    return redirect(url_for("deputy.tickets", show="following"))


def _visible(user: User, number: str) -> tuple[Ticket, set[Any]]:
    try:
        return svc.get_visible(user, number)
    except NotFound:
        abort(404)
