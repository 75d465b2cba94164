"""Many open tickets, fast: real reported tickets copied with set-based SQL (PostgreSQL only).

A template is reported through `ticketing.services.tickets.report` (routing, deadlines,
number, event, photo: the real thing); `clone_tickets` then copies its row N times in one
`INSERT ... SELECT ... generate_series` with fresh numbers from the year's counter, and
copies its own trail events (not the worker's, whose keys name the template) for each
copy. Photos and the report's notifications are not copied: the sweep never reads them.
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

from sqlalchemy import select, text

from ticketing.extensions import db
from ticketing.models import Ticket, TicketEvent, User

# A real grid-event point inside 天水街道 (330105012), whose ladder is 下城区 then 杭州市.
TIANSHUI = (120.1570240345, 30.2674745534)
_KEEP = object()


def _jpeg() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 40, 40)).save(out, format="JPEG")
    return out.getvalue()


def report_template(app: Any, when: datetime, *, category: str = "city.litter") -> int:
    """Report one ticket in 天水街道 as deputy_wang at `when` and commit; returns its id.

    Needs the Hangzhou world (`ticketing.demo.build_hangzhou`) and an app context.
    """
    from ticketing.services import tickets as svc
    from ticketing.services.photos import Upload

    deputy = db.session.scalar(select(User).where(User.username == "deputy_wang"))
    if deputy is None:
        raise RuntimeError("no deputy_wang: build the Hangzhou world first")
    ticket = svc.report(
        actor=deputy, category_code=category, description="路面垃圾堆积", lon=TIANSHUI[0], lat=TIANSHUI[1],
        uploads=[Upload("template.jpg", _jpeg())], now=when, settings=app.extensions["ticket_settings"],
        store=app.extensions["photo_store"],
    )
    db.session.commit()
    return ticket.id


def clone_tickets(template_id: int, count: int, *, next_check_at: Any = _KEEP) -> tuple[int, int]:
    """Copy ticket `template_id` `count` times (and its non-worker events); returns (first id, last id).

    One statement: ids come from the sequence in one go, numbers continue the template's
    year counter. `next_check_at` overrides the copies' next check (a datetime or None).
    Flushes nothing through the ORM and commits nothing: the caller commits.
    """
    if count <= 0:
        return (0, -1)
    tickets, events = Ticket.__table__, TicketEvent.__table__
    number = db.session.scalar(select(tickets.c.number).where(tickets.c.id == template_id))
    if number is None:
        raise ValueError(f"no ticket {template_id}")
    year = int(number.split("-")[0])
    override = {
        # Python's f"{year}-{n:06d}": at least six digits, more when the counter needs them.
        "number": "s.year || '-' || lpad((c.base + g)::text, greatest(6, length((c.base + g)::text)), '0')",
    }
    params: dict[str, Any] = {"tpl": template_id, "n": count, "year": year}
    if next_check_at is not _KEEP:
        override["next_check_at"] = "CAST(:next_check AS timestamptz)"
        params["next_check"] = next_check_at
    t_cols = [c.name for c in tickets.columns if c.name != "id"]
    e_cols = [c.name for c in events.columns if c.name != "id"]
    t_select = ", ".join(override.get(name, f"t.{name}") for name in t_cols)
    e_select = ", ".join("ins.id" if name == "ticket_id" else f"e.{name}" for name in e_cols)
    sql = f"""
        WITH c AS (
            UPDATE ticket_counters SET last = last + :n WHERE year = :year RETURNING last - :n AS base
        ),
        s AS (SELECT CAST(:year AS text) AS year),
        ins AS (
            INSERT INTO tickets ({", ".join(t_cols)})
            SELECT {t_select}
            FROM tickets t, c, s, generate_series(1, :n) AS g
            WHERE t.id = :tpl
            ORDER BY g
            RETURNING id
        ),
        ev AS (
            INSERT INTO ticket_events ({", ".join(e_cols)})
            SELECT {e_select}
            FROM ins, ticket_events e
            WHERE e.ticket_id = :tpl AND e.dedupe_key IS NULL
        )
        SELECT min(id), max(id), count(*) FROM ins
    """
    first, last, made = db.session.execute(text(sql), params).one()
    if made != count:
        raise RuntimeError(f"cloned {made} of {count} tickets (is there a ticket counter for {year}?)")
    return first, last
