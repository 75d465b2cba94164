"""Tickets, their append-only event trail, photos, ratings and the bookkeeping around them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from geo.models import Base
from ticketing.models.categories import Category
from ticketing.models.enums import enum_column
from ticketing.models.org import OrgUnit
from ticketing.models.users import User
from ticketing.workflow import Action, ClosedReason, Outcome, Score, State


class Visibility(StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"


class ReporterKind(StrEnum):
    DEPUTY = "deputy"
    CITIZEN = "citizen"


class ExtensionState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"


class TicketCounter(Base):
    """The last ticket number issued per year (`2026-000123`); incremented under a row lock."""

    __tablename__ = "ticket_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer, default=0)


class Ticket(Base):
    """A work order. Its state only changes through `ticketing.services.tickets`, which
    writes a `TicketEvent` for every change."""

    __tablename__ = "tickets"
    __table_args__ = (
        # A closed ticket was rated, closed unrated (worker or supervisor), or withdrawn.
        CheckConstraint(
            "state <> 'closed' OR (closed_reason = 'rated' AND final_rating_id IS NOT NULL)"
            " OR closed_reason IN ('unrated', 'withdrawn')",
            name="closed_has_reason",
        ),
        CheckConstraint("state <> 'duplicate' OR duplicate_of_id IS NOT NULL", name="duplicate_has_original"),
        CheckConstraint("state <> 'resolved' OR outcome IS NOT NULL", name="resolved_has_outcome"),
        CheckConstraint("round >= 1 AND escalation_level >= 0", name="counters"),
        Index("ix_tickets_unit_state", "handling_unit_id", "state"),
        Index(
            "ix_tickets_next_check",
            "next_check_at",
            postgresql_where=text("next_check_at IS NOT NULL"),
            sqlite_where=text("next_check_at IS NOT NULL"),
        ),
        # A hotline's ticket number is imported once (ticketing.bridge.hotline). Our own
        # channels leave both NULL, which a unique index never compares as equal.
        Index("uq_tickets_source_external_id", "source", "external_id", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(16), unique=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"), index=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text)
    address: Mapped[str] = mapped_column(String(300), default="")
    location: Mapped[Any] = mapped_column(Geometry("POINT", srid=4326, spatial_index=True))
    # The coordinate system the client sent (wgs84 or gcj02); `location` is always WGS84.
    input_crs: Mapped[str] = mapped_column(String(8), default="wgs84")
    visibility: Mapped[Visibility] = mapped_column(enum_column(Visibility, "visibility"), default=Visibility.PUBLIC)
    state: Mapped[State] = mapped_column(enum_column(State, "ticket_state"), index=True)

    reporter_kind: Mapped[ReporterKind] = mapped_column(enum_column(ReporterKind, "reporter_kind"))
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    # For citizen reports: the deputy whose QR code was scanned (citizen channel issue).
    deputy_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)

    handling_unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Routing snapshot: which generation and covering unit placed it, and how.
    routed_generation_id: Mapped[int | None] = mapped_column(ForeignKey("boundary_generations.id"))
    routed_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"))
    routing: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Something a supervisor must look at (outside every polygon, photo far from the point...).
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    review_reasons: Mapped[list[str]] = mapped_column(JSON, default=list)

    round: Mapped[int] = mapped_column(Integer, default=1)
    dispatched_at: Mapped[datetime | None]
    response_due_at: Mapped[datetime | None]
    resolution_due_at: Mapped[datetime | None]
    accepted_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    # True when a deadline was computed for a year without official calendar data.
    deadline_fallback: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    extension_count: Mapped[int] = mapped_column(Integer, default=0)

    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    escalated_at: Mapped[datetime | None]
    supervised: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    returned_at: Mapped[datetime | None]
    # When the worker should next look at this ticket (a reminder, a deadline, an auto-close);
    # NULL when nothing can happen to it by the clock. Every change sets it to "now" and the
    # sweep computes the real next moment, so a sweep costs the due tickets, not the open ones.
    next_check_at: Mapped[datetime | None]

    outcome: Mapped[Outcome | None] = mapped_column(enum_column(Outcome, "outcome"))
    closed_reason: Mapped[ClosedReason | None] = mapped_column(enum_column(ClosedReason, "closed_reason"))
    final_rating_id: Mapped[int | None] = mapped_column(
        ForeignKey("ratings.id", use_alter=True, name="fk_tickets_final_rating_id_ratings")
    )
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))

    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # Tickets from another system (the 12345 hotline bridge): which one ("la311"), its own
    # ticket number, and when it was created there. NULL for our own channels.
    source: Mapped[str | None] = mapped_column(String(32))
    external_id: Mapped[str | None] = mapped_column(String(64))
    external_created_at: Mapped[datetime | None]
    # When the retention job removed the finished ticket's personal data (ticketing.services.privacy).
    anonymised_at: Mapped[datetime | None]
    # Optimistic locking: two processes changing one ticket at once cannot both win.
    version: Mapped[int] = mapped_column(Integer, default=1)
    __mapper_args__ = {"version_id_col": version}

    category: Mapped[Category] = relationship()
    handling_unit: Mapped[OrgUnit] = relationship(foreign_keys=[handling_unit_id])
    routed_unit: Mapped[OrgUnit | None] = relationship(foreign_keys=[routed_unit_id])
    reporter: Mapped[User | None] = relationship(foreign_keys=[reporter_id])
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    events: Mapped[list[TicketEvent]] = relationship(
        back_populates="ticket", order_by="TicketEvent.id", cascade="save-update, merge"
    )
    co_handlers: Mapped[list[TicketCoHandler]] = relationship(cascade="all, delete-orphan")
    photos: Mapped[list[Photo]] = relationship(
        back_populates="ticket", order_by="Photo.id", foreign_keys="Photo.ticket_id"
    )
    ratings: Mapped[list[Rating]] = relationship(
        back_populates="ticket", order_by="Rating.id", foreign_keys="Rating.ticket_id"
    )

    def __repr__(self) -> str:
        return f"<Ticket {self.number} {self.state}>"


class TicketEvent(Base):
    """One step of the trail. Append-only: database triggers refuse UPDATE and DELETE."""

    __tablename__ = "ticket_events"
    # A unique index rather than a constraint: SQLite adds it without rebuilding the table.
    __table_args__ = (Index("uq_ticket_events_dedupe_key", "dedupe_key", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True, nullable=False)
    action: Mapped[Action] = mapped_column(enum_column(Action, "event_action"))
    at: Mapped[datetime]
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_role: Mapped[str] = mapped_column(String(32), default="system")
    from_state: Mapped[State | None] = mapped_column(enum_column(State, "event_from_state"))
    to_state: Mapped[State | None] = mapped_column(enum_column(State, "event_to_state"))
    round: Mapped[int] = mapped_column(Integer)
    handling_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"))
    note: Mapped[str] = mapped_column(Text, default="")
    # Action-specific facts: outcome, score, target unit, deadline snapshot, flags.
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Set on the worker's steps (reminders, escalations, auto-close): a second copy of the
    # same step is impossible, even if two workers race or one is killed mid-sweep.
    dedupe_key: Mapped[str | None] = mapped_column(String(200))

    ticket: Mapped[Ticket] = relationship(back_populates="events")
    actor: Mapped[User | None] = relationship()
    handling_unit: Mapped[OrgUnit | None] = relationship()
    photos: Mapped[list[Photo]] = relationship(back_populates="event", order_by="Photo.id")


class TicketCoHandler(Base):
    """A unit called in to help (吹哨): it sees the ticket and may add progress."""

    __tablename__ = "ticket_co_handlers"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), primary_key=True, index=True)
    added_at: Mapped[datetime]

    unit: Mapped[OrgUnit] = relationship()


class TicketFollower(Base):
    """Someone who follows a ticket besides its reporter (e.g. reporters of its duplicates)."""

    __tablename__ = "ticket_followers"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True, index=True)
    added_at: Mapped[datetime]


class Photo(Base):
    """A photo attached to a ticket by its report or by a trail event.

    Keys name objects in the photo store; the original is private, the display and
    thumbnail copies are re-encoded without metadata.
    """

    __tablename__ = "photos"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("ticket_events.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    content_type: Mapped[str] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(Integer)
    original_key: Mapped[str] = mapped_column(String(200))
    display_key: Mapped[str] = mapped_column(String(200))
    thumb_key: Mapped[str] = mapped_column(String(200))
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]
    # Photos reach the public cockpit only once the reporter or a supervisor agrees.
    public_ok: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # What EXIF said before it was stripped (GPS, capture time), and evidence-check flags.
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    ticket: Mapped[Ticket] = relationship(back_populates="photos", foreign_keys=[ticket_id])
    event: Mapped[TicketEvent | None] = relationship(back_populates="photos")


class Rating(Base):
    """The reporter's verdict on one round."""

    __tablename__ = "ratings"
    __table_args__ = (UniqueConstraint("ticket_id", "round", name="uq_ratings_ticket_round"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    round: Mapped[int] = mapped_column(Integer)
    score: Mapped[Score] = mapped_column(enum_column(Score, "score"))
    comment: Mapped[str] = mapped_column(Text, default="")
    rater_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime]

    ticket: Mapped[Ticket] = relationship(back_populates="ratings", foreign_keys=[ticket_id])


class Extension(Base):
    """A request to extend the resolution deadline (延期), decided by the supervisor above."""

    __tablename__ = "extensions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[datetime]
    days: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[ExtensionState] = mapped_column(
        enum_column(ExtensionState, "extension_state"), default=ExtensionState.PENDING
    )
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    decision_note: Mapped[str] = mapped_column(Text, default="", server_default="")
    # The unit whose supervisors must decide, and by when; the worker moves an unanswered
    # request one level up (a new unit and deadline) and records it.
    decider_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"))
    decide_by: Mapped[datetime | None]
    escalation_level: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class IdempotencyRecord(Base):
    """The first response to an `Idempotency-Key`, scoped to the caller."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("user_id", "key", name="uq_idempotency_records_user_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    key: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]


