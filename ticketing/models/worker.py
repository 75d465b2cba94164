"""What the worker keeps: the notification outbox, its own sweeps, supervision candidates."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from geo.models import Base
from ticketing.models.enums import enum_column


class Channel(StrEnum):
    INBOX = "inbox"  # shown in the app; delivered by being stored
    EMAIL = "email"
    SMS = "sms"
    WECHAT = "wechat"


class DeliveryState(StrEnum):
    PENDING = "pending"  # waiting for its next attempt
    SENT = "sent"
    DEAD = "dead"  # gave up after the last attempt


class Notification(Base):
    """One message to one person on one channel: the outbox row the worker delivers.

    `dedupe_key` makes a second copy of the same message impossible, whatever the
    workers do; delivery failures only move `next_attempt_at` and never touch the ticket.
    """

    __tablename__ = "notifications"
    __table_args__ = (
        Index(
            "ix_notifications_due",
            "next_attempt_at",
            postgresql_where=text("state = 'pending'"),
            sqlite_where=text("state = 'pending'"),
        ),
        Index("ix_notifications_user_created", "user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    channel: Mapped[Channel] = mapped_column(enum_column(Channel, "channel"))
    address: Mapped[str] = mapped_column(String(200), default="")
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("ticket_events.id"))
    kind: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[DeliveryState] = mapped_column(enum_column(DeliveryState, "delivery_state"))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    read_at: Mapped[datetime | None]


class WorkerSweep(Base):
    """The last run of each job: when it started and finished, as of when, and what it did."""

    __tablename__ = "worker_sweeps"

    job: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_started_at: Mapped[datetime | None]
    last_finished_at: Mapped[datetime | None]
    last_as_of: Mapped[datetime | None]
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    worker: Mapped[str] = mapped_column(String(120), default="")


class CandidateState(StrEnum):
    OPEN = "open"  # awaiting the district's decision
    LISTED = "listed"  # put on the supervision list (挂牌督办)
    DISMISSED = "dismissed"


class SupervisionCandidate(Base):
    """Repeated complaints: K or more tickets of one category within R metres and T days."""

    __tablename__ = "supervision_candidates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    district_unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"))
    center: Mapped[Any] = mapped_column(Geometry("POINT", srid=4326, spatial_index=False))
    radius_m: Mapped[int] = mapped_column(Integer)
    window_days: Mapped[int] = mapped_column(Integer)
    ticket_count: Mapped[int] = mapped_column(Integer)
    state: Mapped[CandidateState] = mapped_column(enum_column(CandidateState, "candidate_state"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SupervisionCandidateTicket(Base):
    __tablename__ = "supervision_candidate_tickets"

    candidate_id: Mapped[int] = mapped_column(ForeignKey("supervision_candidates.id"), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True, index=True)
