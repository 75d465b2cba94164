"""The read side: filters and orderings the lists and dashboards share."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, and_, or_

from ticketing.models import Ticket
from ticketing.workflow import State


def overdue(now: datetime) -> ColumnElement[bool]:
    """Tickets past a deadline that still runs: response while dispatched, resolution while being worked."""
    return or_(
        and_(Ticket.state == State.DISPATCHED, Ticket.response_due_at < now),
        and_(Ticket.state.in_([State.DISPATCHED, State.ACCEPTED]), Ticket.resolution_due_at < now),
    )


def escalated() -> ColumnElement[bool]:
    """Tickets a level above the handling unit is watching (escalated or under supervision)."""
    return or_(Ticket.escalation_level > 0, Ticket.supervised.is_(True))
