"""Privacy: consent to publish a ticket's photos, and the retention of finished tickets' personal data.

Photo consent (DESIGN.md §4: "photos appear in the cockpit only after a supervisor or the
reporter agrees"). The reporter (for a citizen's report: the deputy who forwarded it) or a
supervisor over the handling unit agrees for the ticket's photos, or withdraws; the cockpit
and Open311 publish only photos with ``Photo.public_ok`` (and only of public tickets). Consent
covers the photos the ticket has when it is given: nobody agrees to a picture they have not
seen, so the photos of a later resolve need consent again. A private ticket's photos are never
published; withdrawing is always possible. Each change is a ``comment`` step on the trail
(the action list cannot grow without rebuilding the table on SQLite) carrying
``data.photo_consent`` (true or false) and ``data.photos`` (the ids), so the trail says who
agreed to what and when.

Retention (`anonymise_batch`, run by the worker's ``retention`` job). A ticket finished
(closed, invalid, duplicate or declined) more than ``RETENTION_DAYS`` ago loses, once:

- the originals of its photos and videos, deleted from the photo store (the display and
  thumbnail copies stay: they never had metadata); a video has no such copy, so it goes
  altogether. An object another, younger ticket still uses (content-hash keys are shared)
  stays until that ticket's turn. The EXIF position read at upload leaves ``Photo.meta``;
- for a private ticket, its exact location (moved to the centre of a square of about
  ``RETENTION_LOCATION_GRID_M`` metres) and its address text;
- for a citizen's report (the QR channel), the citizen's name and phone number
  (``citizen.forget_contacts``; the tracking-link SMS are blanked as soon as they are sent,
  by the worker's own ``citizen_links`` job);
- the replayable responses of idempotency keys older than the period (they copy tickets).

What stays, deliberately: the description and title (the matter itself, which look-back
reviews and statistics need), the ratings' comments, the deputies' identity (their reports
are public duties and earn points), and the whole trail with its notes: ``ticket_events`` is
evidence, append-only in the database, and no job may rewrite it. Each anonymised ticket gets
an ``audit_log`` entry saying what was removed (never the values).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import Point
from sqlalchemy import delete, func, or_, select

from ticketing.errors import Conflict, Forbidden, InvalidInput
from ticketing.extensions import db
from ticketing.models import CitizenReport, IdempotencyRecord, Photo, Ticket, TicketEvent, User
from ticketing.models.tickets import Visibility
from ticketing.services import access, audit, citizen
from ticketing.services import tickets as ticket_service
from ticketing.storage import PhotoStore
from ticketing.workflow import Relation, State

# Who may give or withdraw consent: the reporter (or the citizen's deputy) and supervisors above the unit.
CONSENT_RELATIONS = frozenset({Relation.REPORTER, Relation.SUPERVISOR})
NOTE_MAX = 2000

FINISHED_STATES = (State.CLOSED, State.INVALID, State.DUPLICATE, State.DECLINED)
METRES_PER_DEGREE = 111_320.0
# What EXIF said about where the photo was taken; the capture time and the image hash stay for the evidence check.
EXIF_POSITION_KEYS = ("lat", "lon", "datum", "gps_raw", "note")


# ---------------------------------------------------------------------------- photo consent


@dataclass(frozen=True)
class ConsentState:
    """Where a ticket's publishable photos (images; videos have no clean copy) stand."""

    photos: tuple[int, ...]
    public: tuple[int, ...]
    private_ticket: bool

    @property
    def consent(self) -> bool:
        """True when every publishable photo may be published (and there is at least one)."""
        return bool(self.photos) and len(self.public) == len(self.photos)


def consent_state(ticket: Ticket) -> ConsentState:
    """The ticket's publishable photos and which of them are published. Reads only."""
    images = [p for p in ticket.photos if p.display_key and p.thumb_key]
    return ConsentState(
        photos=tuple(p.id for p in images),
        public=tuple(p.id for p in images if p.public_ok),
        private_ticket=ticket.visibility == Visibility.PRIVATE,
    )


def may_decide_consent(actor: User, ticket: Ticket) -> bool:
    """Whether `actor` may give or withdraw consent for the ticket's photos (for pages to show the control)."""
    return bool(access.relations(actor, ticket) & CONSENT_RELATIONS)


def set_photo_consent(
    ticket: Ticket, actor: User, now: datetime, *, consent: bool, note: str = ""
) -> tuple[ConsentState, TicketEvent | None]:
    """Publish (consent) or unpublish (withdraw) the ticket's photos; returns the new state and the
    trail step, None when nothing changed (asking twice is harmless). Flushes.

    NotFound if the actor may not see the ticket; Forbidden unless they reported it or supervise
    its handling unit; Conflict ``ticket_private`` to publish a private ticket's photos,
    ``no_photos`` when it has none to publish.
    """
    rel = access.require_visible(actor, ticket)
    if not rel & CONSENT_RELATIONS:
        raise Forbidden(
            "only the reporter or a supervisor of the handling unit decides on publishing the photos",
            code="action_forbidden",
            details={"action": "photo_consent", "needs": sorted(r.value for r in CONSENT_RELATIONS)},
        )
    if len(note) > NOTE_MAX:
        raise InvalidInput(f"a note has at most {NOTE_MAX} characters", code="note_too_long")
    if consent and ticket.visibility == Visibility.PRIVATE:
        raise Conflict("a private ticket's photos are never published", code="ticket_private")
    images = [p for p in ticket.photos if p.display_key and p.thumb_key]
    if consent and not images:
        raise Conflict("the ticket has no photos to publish", code="no_photos")
    changing = [p for p in images if p.public_ok != consent]
    if not changing:
        return consent_state(ticket), None
    for photo in changing:
        photo.public_ok = consent
    # The note is data for the trail, in the pages' default language; the reason (if any) follows.
    text = (f"同意在数字驾驶舱公开本工单的 {len(changing)} 张照片" if consent
            else f"撤回照片公开同意，{len(changing)} 张照片不再公开")
    if note.strip():
        text = f"{text}：{note.strip()}"
    event = ticket_service.comment(
        ticket, actor, now, note=text, data={"photo_consent": consent, "photos": [p.id for p in changing]}
    )
    return consent_state(ticket), event


# ---------------------------------------------------------------------------- retention


@dataclass(frozen=True)
class RetentionPolicy:
    """How long finished tickets keep their personal data, and how the job works through them."""

    days: int
    batch: int = 200
    location_grid_m: float = 200.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RetentionPolicy | None:
        """The policy from RETENTION_DAYS, RETENTION_BATCH and RETENTION_LOCATION_GRID_M; None when
        RETENTION_DAYS is unset or 0 (personal data kept for ever: a deployment's explicit choice)."""
        days = config.get("RETENTION_DAYS")
        if not days:
            return None
        policy = cls(int(days), int(config.get("RETENTION_BATCH", 200)),
                     float(config.get("RETENTION_LOCATION_GRID_M", 200)))
        if policy.days < 1 or policy.batch < 1 or policy.location_grid_m <= 0:
            raise ValueError("RETENTION_DAYS and RETENTION_BATCH are positive, RETENTION_LOCATION_GRID_M > 0")
        return policy


def finished_at() -> Any:
    """When a finished ticket finished: its closing time, else (declined reports) its last change."""
    return func.coalesce(Ticket.closed_at, Ticket.updated_at)


def anonymise_batch(now: datetime, policy: RetentionPolicy, store: PhotoStore) -> dict[str, int]:
    """Anonymise up to ``policy.batch`` tickets finished before ``now - policy.days``; returns counts
    (``examined`` = tickets taken: fewer than the batch means the work is done). Flushes.

    The caller commits. Originals are deleted from the store before that commit: if it fails,
    the tickets are still due and the next run deletes again (a no-op) and writes them, so the
    database points at a deleted original for one run at most, and no original outlives its
    ticket's anonymisation. Rows are claimed with FOR UPDATE SKIP LOCKED on PostgreSQL, so two
    workers never take the same ticket.
    """
    cutoff = now - timedelta(days=policy.days)
    tickets = list(
        db.session.scalars(
            select(Ticket)
            .where(
                Ticket.state.in_(FINISHED_STATES),
                finished_at() <= cutoff,
                # Once, unless it was reopened and finished again since (its new photos have originals).
                or_(Ticket.anonymised_at.is_(None), Ticket.anonymised_at <= finished_at()),
            )
            .order_by(Ticket.id)
            .limit(policy.batch)
            .with_for_update(skip_locked=True)
        )
    )
    counts = {"examined": len(tickets), "anonymised": 0, "originals_deleted": 0, "locations_blurred": 0,
              "citizen_contacts_cleared": 0, "idempotency_records_deleted": 0}
    ids = [t.id for t in tickets]
    with_contact = set(db.session.scalars(
        select(CitizenReport.ticket_id).where(
            CitizenReport.ticket_id.in_(ids), (CitizenReport.name != "") | (CitizenReport.phone != ""))
    )) if ids else set()
    keys: set[str] = set()
    for ticket in tickets:
        removed, blurred = _anonymise(ticket, now, policy, citizen_contact=ticket.id in with_contact)
        keys |= removed
        counts["anonymised"] += 1
        counts["locations_blurred"] += int(blurred)
    counts["citizen_contacts_cleared"] = citizen.forget_contacts(ids)
    db.session.flush()
    if keys:
        # Content-hash keys: the same file may belong to a photo of a younger ticket, which keeps it.
        still_used = set(db.session.scalars(select(Photo.original_key).where(Photo.original_key.in_(sorted(keys)))))
        for key in sorted(keys - still_used):
            store.delete(key)
            counts["originals_deleted"] += 1
    result = db.session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff))
    counts["idempotency_records_deleted"] = int(getattr(result, "rowcount", 0) or 0)
    return counts


def _anonymise(
    ticket: Ticket, now: datetime, policy: RetentionPolicy, *, citizen_contact: bool
) -> tuple[set[str], bool]:
    """Remove one ticket's photos' originals and, if private, its place; audit it (the caller clears a
    citizen's contact). Returns the original keys let go and whether the location was blurred.
    The trail is not touched (see the module docstring)."""
    keys: set[str] = set()
    cleared: list[str] = []
    for photo in ticket.photos:
        if not photo.original_key:
            continue  # done in an earlier run (the ticket was reopened and finished again since)
        keys.add(photo.original_key)
        photo.original_key = ""
        exif = {k: v for k, v in ((photo.meta or {}).get("exif") or {}).items() if k not in EXIF_POSITION_KEYS}
        photo.meta = {**(photo.meta or {}), "exif": exif, "original_removed_at": now.isoformat()}
    if citizen_contact:
        cleared.append("citizen_contact")
    blurred = False
    if ticket.visibility == Visibility.PRIVATE:
        point = to_shape(ticket.location)
        lon, lat = blur(point.x, point.y, policy.location_grid_m)
        ticket.location = from_shape(Point(lon, lat), srid=4326)
        blurred = True
        if ticket.address:
            ticket.address = ""
            cleared.append("address")
    ticket.anonymised_at = now
    audit.record(
        "ticket.anonymise",
        ticket,
        after={
            "originals_removed": len(keys),
            "location_blurred_m": policy.location_grid_m if blurred else None,
            "cleared": cleared,
            "finished_at": ticket.closed_at or ticket.updated_at,
        },
        at=now,
    )
    return keys, blurred


def blur(lon: float, lat: float, cell_m: float) -> tuple[float, float]:
    """The centre of the square cell of about `cell_m` metres that holds the point (a second blur
    of a centre gives the same centre, so the job may run twice)."""
    dlat = cell_m / METRES_PER_DEGREE
    lat_c = (math.floor(lat / dlat) + 0.5) * dlat
    dlon = cell_m / (METRES_PER_DEGREE * max(math.cos(math.radians(lat_c)), 0.01))
    lon_c = (math.floor(lon / dlon) + 0.5) * dlon
    return round(lon_c, 7), round(lat_c, 7)
