"""Duplicate suggestions while reporting, and following a ticket instead of reporting it again.

DESIGN.md §4: "while reporting, offer open tickets of the same category within a radius"
(FixMyStreet uses 250 m: ``NEARBY_RADIUS_M``). A deputy who recognises the problem follows
that ticket instead: a `TicketFollower` row, the same standing the reporters of a duplicate
get when a supervisor folds it into the original (``tickets.mark_duplicate``). Followers read
the trail and comment; they do not rate, urge or withdraw (``access.relations``).

What is offered: tickets of the same category (a sub-category also matches tickets reported
under its domain, and a domain matches its sub-categories), still open and past the deputy's
own review (``SUGGESTED_STATES``), that are public or that the viewer may already see. A public
ticket is shown without its reporter, as the cockpit and Open311 show it. Following is not a
trail event: it changes nothing the handling unit owes, and its row keeps the time.

Functions flush, never commit: the caller commits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, or_, select

from geo.crs import to_wgs84
from ticketing.errors import Conflict, Forbidden, InvalidInput, NotFound
from ticketing.extensions import db
from ticketing.models import Category, Ticket, TicketFollower, User
from ticketing.models.tickets import Visibility
from ticketing.services import access
from ticketing.services.evidence import distance_m
from ticketing.settings import TicketSettings
from ticketing.workflow import OPEN_STATES, Role, State

# Open, and out of the deputy's own review (a citizen's report waiting there is nobody else's yet).
SUGGESTED_STATES = OPEN_STATES - {State.PENDING_REVIEW}
# How many suggestions at most: a phone screen's worth.
DEFAULT_LIMIT = 5
# The largest value of an INTEGER id column (PostgreSQL's int4), as in tickets.get_visible.
_MAX_ID = 2**31 - 1
_METRES_PER_DEGREE = 111_320.0


@dataclass(frozen=True)
class Suggestion:
    """An open ticket near the point: how far, and how the viewer stands to it."""

    ticket: Ticket
    distance_m: float
    mine: bool  # the viewer reported it (or it is credited to them)
    following: bool


def nearby_open(
    viewer: User,
    category_code: str,
    lon: float,
    lat: float,
    *,
    settings: TicketSettings,
    crs: str = "wgs84",
    limit: int = DEFAULT_LIMIT,
) -> list[Suggestion]:
    """Open tickets of the category within ``settings.nearby_radius_m`` of the point, nearest first.

    Public tickets and those the viewer may already see; others' private tickets never. Bad
    input (unknown category, coordinates out of range, an unsupported crs) is InvalidInput.
    """
    category = db.session.scalar(select(Category).where(Category.code == category_code, Category.active.is_(True)))
    if category is None:
        raise InvalidInput(
            f"unknown category {category_code!r}", code="unknown_category", details={"category": category_code}
        )
    wlon, wlat = _wgs84(lon, lat, crs)
    radius = settings.nearby_radius_m
    # A box around the point first (cheap, portable SQL), then the true distance in Python.
    dlat = radius / _METRES_PER_DEGREE
    dlon = radius / (_METRES_PER_DEGREE * max(math.cos(math.radians(wlat)), 0.01))
    x, y = func.ST_X(Ticket.location), func.ST_Y(Ticket.location)
    rows = db.session.execute(
        select(Ticket, x, y)
        .where(
            Ticket.category_id.in_(_related_categories(category)),
            Ticket.state.in_(SUGGESTED_STATES),
            x.between(wlon - dlon, wlon + dlon),
            y.between(wlat - dlat, wlat + dlat),
            or_(Ticket.visibility == Visibility.PUBLIC, access.visible_filter(viewer)),
        )
        .order_by(Ticket.id)
    ).all()
    near = [(t, distance_m((float(tx), float(ty)), (wlon, wlat))) for t, tx, ty in rows]
    near = sorted(((t, d) for t, d in near if d <= radius), key=lambda td: (td[1], td[0].id))[: max(limit, 0)]
    followed = _followed_ids(viewer, [t.id for t, _ in near])
    return [
        Suggestion(ticket=t, distance_m=d, mine=_is_mine(viewer, t), following=t.id in followed) for t, d in near
    ]


def follow(key: str, actor: User, now: datetime) -> tuple[Ticket, bool]:
    """The deputy follows a ticket (by number or id): (ticket, newly followed). Following twice is no change.

    Only deputies follow; the ticket must be open and public, or one they already see
    (NotFound otherwise, as for any ticket they may not see). Their own report is a Conflict.
    """
    if actor.role != Role.DEPUTY:
        raise Forbidden("only deputies follow tickets", code="action_forbidden", details={"action": "follow"})
    ticket = _by_key(key)
    visible = ticket is not None and bool(access.relations(actor, ticket))
    if ticket is None or not (visible or ticket.visibility == Visibility.PUBLIC):
        raise NotFound("no such ticket", code="ticket_not_found")
    if _is_mine(actor, ticket):
        raise Conflict("you reported this ticket: it is already yours to follow", code="own_ticket")
    if ticket.id in _followed_ids(actor, [ticket.id]):
        return ticket, False
    if ticket.state not in SUGGESTED_STATES:
        raise Conflict(
            "only open tickets can be followed", code="ticket_not_open", details={"state": ticket.state.value}
        )
    db.session.add(TicketFollower(ticket_id=ticket.id, user_id=actor.id, added_at=now))
    db.session.flush()
    return ticket, True


def unfollow(key: str, actor: User) -> tuple[Ticket, bool]:
    """Stop following a ticket: (ticket, was following). The ticket must be visible to the actor."""
    ticket = _by_key(key)
    access.require_visible(actor, ticket)
    assert ticket is not None  # require_visible raised otherwise
    result = db.session.execute(
        delete(TicketFollower).where(TicketFollower.ticket_id == ticket.id, TicketFollower.user_id == actor.id)
    )
    db.session.flush()
    return ticket, bool(result.rowcount)  # type: ignore[attr-defined]


def is_following(user: User, ticket: Ticket) -> bool:
    """Whether `user` follows `ticket` (reporters do not: it is theirs)."""
    return ticket.id in _followed_ids(user, [ticket.id])


# ---------------------------------------------------------------------------- internals


def _related_categories(category: Category) -> list[int]:
    """The category, its domain when it is a sub-category, its sub-categories when it is a domain."""
    ids = {category.id}
    if category.parent_id is not None:
        ids.add(category.parent_id)
    else:
        ids.update(db.session.scalars(select(Category.id).where(Category.parent_id == category.id)))
    return sorted(ids)


def _wgs84(lon: float, lat: float, crs: str) -> tuple[float, float]:
    if crs not in ("wgs84", "gcj02"):
        raise InvalidInput("crs must be wgs84 or gcj02", code="invalid_crs", details={"crs": crs})
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):  # NaN fails both comparisons
        raise InvalidInput("coordinates out of range", code="location_out_of_range", details={"lon": lon, "lat": lat})
    return to_wgs84(lon, lat, crs)


def _is_mine(user: User, ticket: Ticket) -> bool:
    return user.id in (ticket.reporter_id, ticket.deputy_id)


def _followed_ids(user: User, ticket_ids: list[int]) -> set[int]:
    if not ticket_ids:
        return set()
    return set(
        db.session.scalars(
            select(TicketFollower.ticket_id).where(
                TicketFollower.user_id == user.id, TicketFollower.ticket_id.in_(ticket_ids)
            )
        )
    )


def _by_key(key: str) -> Ticket | None:
    """A ticket by number (``2026-000123``) or id, whoever may see it."""
    if key.isascii() and key.isdigit():
        return db.session.get(Ticket, int(key)) if int(key) <= _MAX_ID else None
    return db.session.scalar(select(Ticket).where(Ticket.number == key))
