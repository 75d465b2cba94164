"""Words for the workflow's values on the staff pages (English msgids, Chinese in the shared catalog).

The API speaks in codes (`dispatched`, `resolve`); people read these. Every value of the enums has
a label, so a new state or action shows up as a failing test rather than as a raw code. The
workbench and the dashboard use these; the deputy's and the citizen's pages word states and steps
for their reader (`web/deputy/present.py`, `web/citizen/wording.py`) but share the outcomes and scores.
"""

from __future__ import annotations

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l

from ticketing.workflow import Action, Outcome, Score, State

STATES: dict[State, LazyString] = {
    State.PENDING_REVIEW: _l("Awaiting the deputy"),
    State.DECLINED: _l("Declined"),
    State.DISPATCHED: _l("Dispatched"),
    State.ACCEPTED: _l("Accepted"),
    State.RETURNED: _l("Returned"),
    State.RESOLVED: _l("Resolved"),
    State.CLOSED: _l("Closed"),
    State.INVALID: _l("Invalid"),
    State.DUPLICATE: _l("Duplicate"),
}

ACTIONS: dict[Action, LazyString] = {
    Action.REPORT: _l("Reported"),
    Action.FORWARD: _l("Forwarded by the deputy"),
    Action.DECLINE: _l("Declined by the deputy"),
    Action.ACCEPT: _l("Accepted"),
    Action.RETURN: _l("Returned"),
    Action.REDISPATCH: _l("Re-dispatched"),
    Action.PROGRESS: _l("Progress"),
    Action.ASSIGN: _l("Assigned"),
    Action.TRANSFER: _l("Transferred"),
    Action.COHANDLE: _l("Co-handling units called in"),
    Action.RESOLVE: _l("Resolved"),
    Action.RATE: _l("Rated"),
    Action.CLOSE: _l("Closed"),
    Action.AUTO_CLOSE: _l("Closed unrated"),
    Action.REOPEN: _l("Reopened"),
    Action.INVALID: _l("Marked invalid"),
    Action.DUPLICATE: _l("Marked duplicate"),
    Action.WITHDRAW: _l("Withdrawn"),
    Action.URGE: _l("Urged"),
    Action.ADD_INFO: _l("Information added"),
    Action.COMMENT: _l("Comment"),
    Action.REVIEW: _l("Look-back review"),
    Action.ESCALATE: _l("Escalated"),
    Action.SUPERVISE: _l("Put under supervision"),
    Action.EXTENSION_REQUEST: _l("Extension requested"),
    Action.EXTENSION_DECISION: _l("Extension decided"),
    Action.REMIND: _l("Reminder"),
}

OUTCOMES: dict[Outcome, LazyString] = {
    Outcome.SOLVED: _l("Solved"),
    Outcome.EXPLAINED: _l("Explained: no action possible"),
    Outcome.REFERRED: _l("Referred elsewhere"),
}

SCORES: dict[Score, LazyString] = {
    Score.SATISFIED: _l("Satisfied"),
    Score.BASICALLY_SATISFIED: _l("Basically satisfied"),
    Score.UNSATISFIED: _l("Unsatisfied"),
}
