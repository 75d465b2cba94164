"""The hotline bridge's own tables: partners' webhook subscriptions and the delivery outbox.

Tickets imported from a hotline carry their origin on the ticket itself (`Ticket.source`,
`Ticket.external_id`, `Ticket.external_created_at`); these tables only serve the push back
(`ticketing.bridge.webhooks`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from geo.models import Base
from ticketing.models.enums import enum_column
from ticketing.models.worker import DeliveryState


class WebhookSubscription(Base):
    """A partner that hears of ticket state changes: where to POST them and the key to sign them with.

    `sources` lists the ticket sources the partner follows (``["la311"]``: the tickets its
    hotline sent); NULL means every ticket, from any channel. The secret is stored as given,
    because signing needs it; it is shown once when the subscription is created.
    """

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    url: Mapped[str] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(String(200))
    sources: Mapped[list[str] | None] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    created_at: Mapped[datetime]


class WebhookDelivery(Base):
    """One state change of one ticket for one subscription: the outbox row the worker POSTs.

    Written in the transaction of the trail event it reports, so a rolled-back step pushes
    nothing; `dedupe_key` (``webhook:<subscription>:<event>``) makes a second row for the same
    pair impossible and is sent as the delivery's id, the same on every attempt. The columns
    the outbox reads (`state`, `attempts`, `next_attempt_at`, `last_error`, `sent_at`) mean
    what they mean on `Notification`; the rest is the delivery log admins read.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("state = 'pending'"),
            sqlite_where=text("state = 'pending'"),
        ),
        Index("ix_webhook_deliveries_subscription_created", "subscription_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("webhook_subscriptions.id"))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("ticket_events.id"))
    # The JSON body, frozen when the event happened: a retry sends the same bytes.
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[DeliveryState] = mapped_column(enum_column(DeliveryState, "delivery_state"))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    last_attempt_at: Mapped[datetime | None]
    # The partner's HTTP status on the last attempt (None: no answer, e.g. refused or timed out).
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]

    subscription: Mapped[WebhookSubscription] = relationship()
