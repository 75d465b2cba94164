"""What must hold in the database whatever requests came before: nothing half-written.

`violations` reads the whole database and the local photo store and lists every breach
in words (an empty list: all is well). The fuzzing tests call it after every request
that may have changed something, so a breach names the request that caused it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased, scoped_session

from ticketing.models import AssessmentReport, Photo, Ticket, TicketEvent
from ticketing.models.tickets import TicketCounter
from ticketing.workflow import Action

NUMBER = re.compile(r"^\d{4}-\d{6}$")


def violations(session: Session | scoped_session[Any], store_root: Path) -> list[str]:
    """Every breach of the invariants below, as sentences; an empty list when all hold."""
    found: list[str] = []
    found += _tickets_without_report(session)
    found += _bad_numbers(session)
    found += _state_not_from_trail(session)
    found += _photos_outside_their_ticket(session)
    found += _files(session, store_root)
    return found


def _tickets_without_report(session: Session | scoped_session[Any]) -> list[str]:
    """A ticket is born with its report event, in the same transaction."""
    reported = select(TicketEvent.ticket_id).where(TicketEvent.action == Action.REPORT)
    rows = session.scalars(select(Ticket.number).where(Ticket.id.not_in(reported)))
    return [f"ticket {n} has no report event" for n in rows]


def _bad_numbers(session: Session | scoped_session[Any]) -> list[str]:
    """Every ticket has a number like 2026-000123, within its year's counter."""
    counters = {year: last for year, last in session.execute(select(TicketCounter.year, TicketCounter.last))}
    found = []
    for number in session.scalars(select(Ticket.number)):
        if not number or not NUMBER.match(number):
            found.append(f"ticket number {number!r} is not YYYY-NNNNNN")
        elif int(number[5:]) > counters.get(int(number[:4]), 0):
            found.append(f"ticket {number} is beyond its year's counter ({counters.get(int(number[:4]))})")
    return found


def _state_not_from_trail(session: Session | scoped_session[Any]) -> list[str]:
    """A ticket's state is where its latest state-changing event took it (no change without an event)."""
    latest = (
        select(TicketEvent.ticket_id, func.max(TicketEvent.id).label("id"))
        .where(TicketEvent.to_state.is_not(None))
        .group_by(TicketEvent.ticket_id)
        .subquery()
    )
    event = aliased(TicketEvent)
    rows = session.execute(
        select(Ticket.number, Ticket.state, event.to_state, event.action)
        .join(latest, latest.c.ticket_id == Ticket.id, isouter=True)
        .join(event, event.id == latest.c.id, isouter=True)
    )
    return [
        f"ticket {number} is {state} but its trail last took it to {to_state} ({action})"
        for number, state, to_state, action in rows
        if to_state != state
    ]


def _photos_outside_their_ticket(session: Session | scoped_session[Any]) -> list[str]:
    """A photo attached to an event belongs to that event's ticket."""
    rows = session.execute(
        select(Photo.id, Photo.ticket_id, TicketEvent.ticket_id)
        .join(TicketEvent, TicketEvent.id == Photo.event_id)
        .where(Photo.ticket_id != TicketEvent.ticket_id)
    )
    return [f"photo {pid} belongs to ticket {tid} but its event to ticket {eid}" for pid, tid, eid in rows]


def _files(session: Session | scoped_session[Any], store_root: Path) -> list[str]:
    """Every photo row has its files, and every stored file has its row (no upload left behind)."""
    wanted: set[str] = set()
    found = []
    for pid, *keys in session.execute(select(Photo.id, Photo.original_key, Photo.display_key, Photo.thumb_key)):
        for key in filter(None, keys):
            wanted.add(key)
            if not (store_root / key).is_file():
                found.append(f"photo {pid} lacks its file {key}")
    for html, pdf in session.execute(select(AssessmentReport.html_key, AssessmentReport.pdf_key)):
        wanted.update((html, pdf))
    stored = {p.relative_to(store_root).as_posix() for p in store_root.rglob("*") if p.is_file()}
    found += [f"stored file {key} belongs to no row" for key in sorted(stored - wanted)]
    return found
