"""The evidence check: is a progress or resolve photo doubtful? Flags for supervisors, never refusals.

Fake closure photos are a known failure of such systems (DESIGN.md §6): an old photo, a
photo taken somewhere else, or the reporter's own photo sent back. A photo is flagged

- ``far_from_ticket`` when its EXIF position is more than EVIDENCE_MAX_DISTANCE_M from the ticket;
- ``taken_before_dispatch`` when its EXIF capture time is before the current work order was
  dispatched (``Ticket.dispatched_at``, renewed by every re-dispatch and round);
- ``same_as_report_photo`` when it is byte-identical to a photo of the report, or else
  ``looks_like_report_photo`` when its difference hash is within EVIDENCE_DHASH_MAX_DISTANCE
  bits of one (the same picture re-encoded, resized or lightly edited).

A photo without EXIF is not doubtful for that alone: many phones and messaging apps strip
it. The flags go into the event's ``data["evidence_flags"]`` (a list of ``{photo_id, flag,
details}``, present only when there is at least one) and into each flagged photo's
``meta["evidence_flags"]``. The step itself always goes through.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from geoalchemy2.shape import to_shape
from sqlalchemy import func, select

from ticketing.extensions import db
from ticketing.models import Photo, Ticket, TicketEvent, User
from ticketing.services.photos import hamming, position_of, taken_at_of
from ticketing.settings import TicketSettings
from ticketing.workflow import Action

FLAGS = ("far_from_ticket", "taken_before_dispatch", "same_as_report_photo", "looks_like_report_photo")
# The steps whose photos are evidence of the handler's work.
CHECKED_ACTIONS = (Action.PROGRESS, Action.RESOLVE)

_EARTH_RADIUS_M = 6_371_008.8


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance in metres between two WGS-84 (lon, lat) points."""
    lon1, lat1, lon2, lat2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * _EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def check(ticket: Ticket, photos: Sequence[Photo], settings: TicketSettings) -> list[dict[str, Any]]:
    """Flag the doubtful ones among a step's photos (already flushed, so they have ids).

    Writes the flags into each photo's meta and returns them for the step's event data;
    the caller writes the event. Nothing is refused.
    """
    if not photos:
        return []
    place = to_shape(ticket.location)
    ticket_point = (place.x, place.y)
    report_photos = list(
        db.session.scalars(
            select(Photo)
            .join(TicketEvent, Photo.event_id == TicketEvent.id)
            .where(Photo.ticket_id == ticket.id, TicketEvent.action == Action.REPORT)
            .order_by(Photo.id)
        )
    )
    found: list[dict[str, Any]] = []
    for photo in photos:
        flags = _flags(photo, ticket_point, ticket.dispatched_at, report_photos, settings)
        if flags:
            photo.meta = {**(photo.meta or {}), "evidence_flags": flags}
            found += [{"photo_id": photo.id, **f} for f in flags]
    if found:
        db.session.flush()
    return found


def _flags(
    photo: Photo,
    ticket_point: tuple[float, float],
    dispatched_at: datetime | None,
    report_photos: Iterable[Photo],
    settings: TicketSettings,
) -> list[dict[str, Any]]:
    meta = photo.meta or {}
    flags: list[dict[str, Any]] = []
    position = position_of(meta)
    if position is not None:
        far = distance_m(position, ticket_point)
        if far > settings.evidence_max_distance_m:
            flags.append(
                {
                    "flag": "far_from_ticket",
                    "details": {"distance_m": round(far), "max_m": settings.evidence_max_distance_m},
                }
            )
    taken_at = taken_at_of(meta)
    if taken_at is not None and dispatched_at is not None and taken_at < dispatched_at:
        flags.append(
            {
                "flag": "taken_before_dispatch",
                "details": {"taken_at": taken_at.isoformat(), "dispatched_at": dispatched_at.isoformat()},
            }
        )
    likeness = _likeness(photo, report_photos, settings.evidence_dhash_max_distance)
    if likeness is not None:
        flags.append(likeness)
    return flags


def _likeness(photo: Photo, report_photos: Iterable[Photo], max_bits: int) -> dict[str, Any] | None:
    """The closest report photo if this one is the same file or looks like it."""
    mine = (photo.meta or {}).get("dhash")
    closest: tuple[int, Photo] | None = None
    for other in report_photos:
        if other.sha256 == photo.sha256:
            return {"flag": "same_as_report_photo", "details": {"report_photo_id": other.id}}
        theirs = (other.meta or {}).get("dhash")
        if mine and theirs:
            bits = hamming(mine, theirs)
            if bits <= max_bits and (closest is None or bits < closest[0]):
                closest = (bits, other)
    if closest is None:
        return None
    return {
        "flag": "looks_like_report_photo",
        "details": {"report_photo_id": closest[1].id, "dhash_distance": closest[0], "max_distance": max_bits},
    }


def event_data(flags: list[dict[str, Any]]) -> dict[str, Any]:
    """The event data entry for a step's flags: none at all when the evidence is clean."""
    return {"evidence_flags": flags} if flags else {}


def doubtful_evidence_counts(unit_ids: Iterable[int], start: datetime, end: datetime) -> dict[int, int]:
    """How many progress and resolve steps in [start, end) carried doubtful evidence, per unit.

    A step counts once however many of its photos were flagged, and for the unit of the
    person who took it (a co-handling unit answers for its own progress photos). Every
    unit asked for is in the answer, with 0 when it had none.
    """
    wanted = list(unit_ids)
    counts = dict.fromkeys(wanted, 0)
    if not wanted:
        return counts
    flagged = TicketEvent.data["evidence_flags"].as_string().is_not(None)
    rows = db.session.execute(
        select(User.unit_id, func.count(TicketEvent.id))
        .join(User, User.id == TicketEvent.actor_id)
        .where(
            User.unit_id.in_(wanted),
            TicketEvent.action.in_(CHECKED_ACTIONS),
            TicketEvent.at >= start,
            TicketEvent.at < end,
            flagged,
        )
        .group_by(User.unit_id)
    )
    counts.update({unit_id: n for unit_id, n in rows if unit_id is not None})
    return counts
