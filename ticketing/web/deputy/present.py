"""How the deputy's pages say things: state and step labels, deadline countdowns, the trail.

Labels speak to the person who reported (a parcel-tracking voice: "waiting to be accepted",
"being handled"), so they are this area's own messages rather than the codes. Countdowns are
calendar time to the deadline instant (the deadline itself was computed in working time by
the service); the page's script keeps them ticking with the same formats.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ticketing.api import presenters
from ticketing.extensions import db
from ticketing.models import OrgUnit, Ticket, TicketEvent
from ticketing.web import labels
from ticketing.workflow import Action, Outcome, Score, State

# A running deadline closer than this is shown as due soon (amber), besides its countdown.
DUE_SOON = timedelta(hours=4)

STATE_LABELS = {
    State.PENDING_REVIEW: _l("Waiting for your review"),
    State.DECLINED: _l("Not forwarded by the deputy"),
    State.DISPATCHED: _l("Waiting to be accepted"),
    State.ACCEPTED: _l("Being handled"),
    State.RETURNED: _l("Returned, waiting to be re-dispatched"),
    State.RESOLVED: _l("Resolved, waiting for the rating"),
    State.CLOSED: _l("Closed"),
    State.INVALID: _l("Marked invalid"),
    State.DUPLICATE: _l("Merged into another ticket"),
}

STEP_LABELS = {
    Action.REPORT: _l("Report submitted"),
    Action.FORWARD: _l("Forwarded by the deputy"),
    Action.DECLINE: _l("Declined by the deputy"),
    Action.ACCEPT: _l("Accepted by the handling unit"),
    Action.RETURN: _l("Returned by the handling unit"),
    Action.REDISPATCH: _l("Dispatched again"),
    Action.PROGRESS: _l("Handling progress"),
    Action.ASSIGN: _l("Assigned to a handler"),
    Action.TRANSFER: _l("Transferred to another unit"),
    Action.COHANDLE: _l("Other departments called in"),
    Action.RESOLVE: _l("Resolved by the handling unit"),
    Action.RATE: _l("Rated by the reporter"),
    Action.CLOSE: _l("Closed by a supervisor"),
    Action.AUTO_CLOSE: _l("Closed without a rating"),
    Action.REOPEN: _l("Reopened"),
    Action.INVALID: _l("Marked invalid"),
    Action.DUPLICATE: _l("Merged into another ticket"),
    Action.WITHDRAW: _l("Withdrawn"),
    Action.URGE: _l("Urged"),
    Action.ADD_INFO: _l("Information added"),
    Action.COMMENT: _l("Comment"),
    Action.REVIEW: _l("Look-back review"),
    Action.ESCALATE: _l("Escalated to the level above"),
    Action.SUPERVISE: _l("Put under supervision"),
    Action.EXTENSION_REQUEST: _l("More time requested"),
    Action.EXTENSION_DECISION: _l("Request for more time decided"),
    Action.REMIND: _l("Deadline reminder to the handling unit"),
}

OUTCOME_LABELS = labels.OUTCOMES
SCORE_LABELS = labels.SCORES

_OUTCOMES = frozenset(o.value for o in Outcome)
_SCORES = frozenset(s.value for s in Score)

# Finished tickets: nothing more will happen unless a supervisor reopens one.
FINISHED = frozenset({State.CLOSED, State.INVALID, State.DUPLICATE, State.DECLINED})


def state_label(state: State) -> str:
    return str(STATE_LABELS[state])


def category_label(ticket: Ticket) -> str:
    """``城市管理 · 垃圾乱扔``: the domain, then the sub-category (English names with ?lang=en)."""
    from flask_babel import get_locale

    english = str(get_locale()) == "en"

    def name(c: Any) -> str:
        return (c.name_en or c.name) if english else c.name

    c = ticket.category
    return f"{name(c.parent)} · {name(c)}" if c.parent else name(c)


def unit_label(unit: OrgUnit | None) -> str:
    from flask_babel import get_locale

    if unit is None:
        return ""
    return (unit.name_en or unit.name) if str(get_locale()) == "en" else unit.name


# ---------------------------------------------------------------------------- countdowns


@dataclass(frozen=True)
class Countdown:
    """A running deadline: when, whether it has passed or is close, and the words for it."""

    due: datetime
    overdue: bool
    soon: bool
    text: str


def span_text(seconds: float) -> str:
    """A duration in days and hours, hours and minutes, or minutes."""
    minutes = int(abs(seconds) // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return _("%(days)s d %(hours)s h", days=days, hours=hours)
    if hours:
        return _("%(hours)s h %(minutes)s min", hours=hours, minutes=mins)
    return _("%(minutes)s min", minutes=mins)


def countdown(due: datetime | None, now: datetime) -> Countdown | None:
    """The countdown to `due` as of `now` (None without a deadline)."""
    if due is None:
        return None
    left = (due - now).total_seconds()
    if left < 0:
        return Countdown(due, True, False, _("overdue by %(span)s", span=span_text(left)))
    return Countdown(due, False, left <= DUE_SOON.total_seconds(), _("%(span)s left", span=span_text(left)))


def countdown_formats() -> dict[str, str]:
    """The same words with placeholders, for the script that keeps the countdowns ticking."""
    return {
        "dh": _("%(days)s d %(hours)s h", days="{d}", hours="{h}"),
        "hm": _("%(hours)s h %(minutes)s min", hours="{h}", minutes="{m}"),
        "m": _("%(minutes)s min", minutes="{m}"),
        "left": _("%(span)s left", span="{s}"),
        "over": _("overdue by %(span)s", span="{s}"),
        "soon_s": str(int(DUE_SOON.total_seconds())),
    }


def response_running(ticket: Ticket) -> bool:
    """The response deadline runs until the handling unit accepts."""
    return ticket.state == State.DISPATCHED and ticket.accepted_at is None


def resolution_running(ticket: Ticket) -> bool:
    """The resolution deadline runs while the unit owes the work (as in ``queries.overdue``)."""
    return ticket.state in (State.DISPATCHED, State.ACCEPTED)


def next_deadline(ticket: Ticket, now: datetime) -> Countdown | None:
    """The nearest running deadline of a ticket, for lists."""
    dues = []
    if response_running(ticket) and ticket.response_due_at:
        dues.append(ticket.response_due_at)
    if resolution_running(ticket) and ticket.resolution_due_at:
        dues.append(ticket.resolution_due_at)
    return countdown(min(dues), now) if dues else None


# ---------------------------------------------------------------------------- the trail


@dataclass
class Step:
    """One event of the trail as the page shows it."""

    at: datetime
    action: Action
    title: str
    who: str
    note: str
    round: int
    state: str | None = None  # the new state's label when the step changed it
    details: list[str] = field(default_factory=list)
    photos: list[dict[str, Any]] = field(default_factory=list)


def trail(ticket: Ticket) -> list[Step]:
    """Every event of the ticket, newest first (as parcel tracking shows it)."""
    units = _units_named(ticket.events)
    steps = []
    for e in ticket.events:
        steps.append(
            Step(
                at=e.at,
                action=e.action,
                title=str(STEP_LABELS.get(e.action, e.action.value)),
                who=_who(e),
                note=e.note,
                round=e.round,
                state=state_label(e.to_state) if e.to_state and e.to_state != e.from_state else None,
                details=_details(e, units),
                photos=[presenters.photo(p) for p in e.photos],
            )
        )
    return list(reversed(steps))


def _who(e: TicketEvent) -> str:
    """The actor's unit for staff (the unit answers for the step), the name for a deputy, else the system."""
    if e.actor is None:
        return _("System")
    if e.actor.unit is not None and e.actor_role in ("handler", "supervisor", "admin"):
        return unit_label(e.actor.unit)
    return e.actor.display_name


def _units_named(events: list[TicketEvent]) -> dict[str, OrgUnit]:
    codes = set()
    for e in events:
        data = e.data or {}
        codes.update(c for c in (data.get("to_unit"), data.get("from_unit")) if isinstance(c, str))
        codes.update(c for c in data.get("units", []) if isinstance(c, str))
    if not codes:
        return {}
    return {u.code: u for u in db.session.scalars(select(OrgUnit).where(OrgUnit.code.in_(sorted(codes))))}


def _details(e: TicketEvent, units: dict[str, OrgUnit]) -> list[str]:
    data = e.data or {}
    out: list[str] = []
    if e.action is Action.REPORT:
        out.append(_("Sent to %(unit)s", unit=unit_label(e.handling_unit)))
        if data.get("location_source") == "photo_exif":
            out.append(_("Located by the photo's GPS position"))
    if "outcome" in data and data["outcome"] in _OUTCOMES:
        out.append(_("Outcome: %(outcome)s", outcome=OUTCOME_LABELS[Outcome(data["outcome"])]))
    if "score" in data and data["score"] in _SCORES:
        out.append(_("Rating: %(score)s", score=SCORE_LABELS[Score(data["score"])]))
        if data["score"] == Score.UNSATISFIED.value:
            out.append(_("Round %(round)s of handling begins", round=e.round))
    if isinstance(data.get("to_unit"), str):
        unit = units.get(data["to_unit"])
        out.append(_("To %(unit)s", unit=unit_label(unit) if unit else data["to_unit"]))
    if e.action is Action.COHANDLE:
        names = [unit_label(units[c]) if c in units else c for c in data.get("units", [])]
        out.append(_("Units: %(units)s", units="、".join(names)))
    if e.action is Action.EXTENSION_REQUEST and "days" in data:
        out.append(_("%(days)s more working days asked for", days=data["days"]))
    if e.action is Action.EXTENSION_DECISION and "approved" in data:
        out.append(_("Approved") if data["approved"] else _("Refused"))
    if e.action is Action.SUPERVISE:
        out.append(_("Unsatisfied twice: the district supervises the next round"))
    return out
