"""The action forms of the workbench's ticket page: which to offer, and how their fields reach the services.

Which forms: the transition table says (`workflow.allowed_actions` for the viewer's relations and
the ticket's state, narrowed by `extensions.applicable_actions` for a pending 延期 request, exactly
as the API presents `allowed_actions`); the page offers those of them that are the handler's work.
The services check everything again when the form is posted.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from ticketing.models import Ticket, User
from ticketing.services import access
from ticketing.services import extensions as extension_service
from ticketing.workflow import Action, allowed_actions
from ticketing.worktime import WorkCalendar

# The handler's forms, in the order the page shows them.
HANDLER_FORMS = (
    Action.ACCEPT,
    Action.PROGRESS,
    Action.RESOLVE,
    Action.ASSIGN,
    Action.COHANDLE,
    Action.EXTENSION_REQUEST,
    Action.RETURN,
)


def offered(ticket: Ticket, viewer: User) -> list[Action]:
    """The handler forms the viewer may use on the ticket in its current state."""
    rel = access.relations(viewer, ticket)
    allowed = extension_service.applicable_actions(
        allowed_actions(ticket.state, rel), extension_service.for_ticket(ticket), viewer
    )
    return [a for a in HANDLER_FORMS if a in allowed]


class BadDate(ValueError):
    """The requested date is missing, unreadable or not after the current deadline."""


def parse_date(raw: str) -> date:
    """An ISO date from a form's date input (``2026-03-09``)."""
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise BadDate(raw) from None


def extension_days(cal: WorkCalendar, current_due: datetime | None, now: datetime, wanted: date) -> int:
    """The working days to ask for so that the resolution deadline moves to `wanted` (local date).

    The service counts the days from the current deadline's day (`end_of_working_days`), so the
    answer is the number of working days after that day up to and including `wanted`: the new
    deadline is the end of the last working day on or before the date asked for, never later.
    Zero when `wanted` adds no working day; the caller refuses that. Counting stops past the
    service's maximum: a date a century away needs no century of calendar lookups to be refused.
    """
    day = cal.local_date(current_due or now)
    days = 0
    while day < wanted and days <= extension_service.MAX_DAYS:
        day += timedelta(days=1)
        if cal.is_workday(day):
            days += 1
    return days
