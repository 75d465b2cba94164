"""How the citizen's pages say things: states and steps in public words, to the person who reported.

The citizen follows the report like a parcel; units answer for their steps (a handler is never
named), the deputy by name (the name is on the card the citizen scanned).
"""

from __future__ import annotations

from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ticketing.models import OrgUnit, User
from ticketing.services.citizen import PublicStep
from ticketing.web import labels
from ticketing.workflow import Action, Outcome, Score, State

STATES = {
    State.PENDING_REVIEW: _l("Waiting for the deputy's review"),
    State.DECLINED: _l("Not forwarded by the deputy"),
    State.DISPATCHED: _l("Waiting to be accepted"),
    State.ACCEPTED: _l("Being handled"),
    State.RETURNED: _l("Being dispatched again"),
    State.RESOLVED: _l("Resolved"),
    State.CLOSED: _l("Closed"),
    State.INVALID: _l("Marked invalid"),
    State.DUPLICATE: _l("Merged with a report of the same problem"),
}

STEPS = {
    Action.REPORT: _l("You sent the report"),
    Action.FORWARD: _l("Your deputy forwarded it to the handling unit"),
    Action.DECLINE: _l("Your deputy did not forward it"),
    Action.ACCEPT: _l("Accepted by the handling unit"),
    Action.RETURN: _l("Sent back by the unit to be dispatched again"),
    Action.REDISPATCH: _l("Dispatched again"),
    Action.TRANSFER: _l("Transferred to another unit"),
    Action.COHANDLE: _l("Other departments called in"),
    Action.PROGRESS: _l("Handling progress"),
    Action.RESOLVE: _l("Resolved by the handling unit"),
    Action.RATE: _l("Your deputy rated the handling"),
    Action.CLOSE: _l("Closed"),
    Action.AUTO_CLOSE: _l("Closed without a rating"),
    Action.REOPEN: _l("Reopened"),
    Action.INVALID: _l("Marked invalid"),
    Action.DUPLICATE: _l("Merged with a report of the same problem"),
    Action.WITHDRAW: _l("Withdrawn by the deputy"),
    Action.SUPERVISE: _l("Put under supervision"),
    Action.ESCALATE: _l("Escalated to the level above"),
}

OUTCOMES = labels.OUTCOMES
SCORE_LABELS = labels.SCORES


def public_state(state: State) -> str:
    return str(STATES[state])


def step_label(step: PublicStep) -> str:
    if step.action is Action.RATE and step.by == "citizen":
        return _("You rated the handling")
    return str(STEPS.get(step.action, step.action.value))


def by_label(step: PublicStep) -> str:
    """Who took the step, in public words."""
    if step.by == "citizen":
        return _("You")
    if step.by == "deputy":
        return deputy_title(step.deputy_name)
    if step.by == "unit":
        return unit_name(step.unit)
    return _("System")


def units_label(step: PublicStep) -> str:
    """The units a step sent the report to, by name."""
    return "、".join(unit_name(u) for u in step.to_units)


def deputy_title(deputy: User | str) -> str:
    """"Deputy 王芳" / "王芳代表"; a display name that already ends in 代表 (王代表) is left as it is."""
    name = deputy if isinstance(deputy, str) else deputy.display_name
    if str(get_locale()) != "en" and name.endswith("代表"):
        return name
    return _("Deputy %(name)s", name=name)


def outcome_label(outcome: Outcome) -> str:
    return str(OUTCOMES[outcome])


def score_label(score: Score) -> str:
    return str(SCORE_LABELS[score])


def unit_name(unit: OrgUnit | None) -> str:
    if unit is None:
        return ""
    return (unit.name_en or unit.name) if str(get_locale()) == "en" else unit.name
