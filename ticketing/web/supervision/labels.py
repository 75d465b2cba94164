"""Words for the supervisor's pages: states, trail actions, deadline statuses, groupings.

Lazy strings, so each is translated in the request's language when shown (or written into an
export). The English texts are the msgids of this area's catalog.
"""

from __future__ import annotations

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l

from ticketing.metrics import DUE_SOON, OVERDUE
from ticketing.web import labels
from ticketing.workflow import State

STATES: dict[State, LazyString] = {
    State.PENDING_REVIEW: _l("Awaiting the deputy's review"),
    State.DECLINED: _l("Declined by the deputy"),
    State.DISPATCHED: _l("Dispatched, awaiting acceptance"),
    State.ACCEPTED: _l("Being handled"),
    State.RETURNED: _l("Returned for re-dispatch"),
    State.RESOLVED: _l("Resolved, awaiting rating"),
    State.CLOSED: _l("Closed"),
    State.INVALID: _l("Invalid"),
    State.DUPLICATE: _l("Duplicate"),
}

# Trail steps read the same on the workbench and the dashboard.
ACTIONS = labels.ACTIONS

DEADLINES: dict[str | None, LazyString] = {
    OVERDUE: _l("Overdue"),
    DUE_SOON: _l("Due soon"),
    None: _l("On schedule"),
}


# How the attention list is grouped: the street where the problem is, the unit handling it, or its category.
GROUPS: dict[str, LazyString] = {
    "street": _l("By street"),
    "unit": _l("By handling unit"),
    "category": _l("By category"),
}

SHOW: dict[str, LazyString] = {
    "attention": _l("Overdue, due soon and escalated"),
    "open": _l("Every open ticket"),
}

ITEMS: dict[str, LazyString] = {
    "active": _l("On the list now"),
    "all": _l("Also the removed items"),
}
