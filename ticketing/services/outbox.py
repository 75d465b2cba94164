"""Deliver the notification outbox: claim due rows, send each, record the outcome.

The outbox row is the queue (as in FixMyStreet): `deliver_due` claims up to `batch`
pending rows whose `next_attempt_at` has come, oldest first. On PostgreSQL the claim is
``SELECT ... FOR UPDATE SKIP LOCKED``, so two workers running at once take disjoint rows
and neither waits for the other; SQLite has no row locks, and the worker holds a lock
file there so that only one worker runs at a time.

Outcomes, per row:

* sent: ``state=sent``, ``sent_at=now`` (``attempts`` counts every try, this one included);
* transient failure: ``attempts+1``, ``last_error``, and the next attempt after
  ``backoff_seconds * 2**(attempts-1)`` (capped at `max_backoff_seconds`); after
  `max_attempts` attempts the row is dead;
* permanent failure (bad address, 4xx from a gateway, 5xx refusal of the recipient):
  dead at once;
* no sender configured for the row's channel: dead at once with
  ``last_error="no sender configured for <channel>"``, counted as skipped. Leaving it
  pending would retry it forever, and switching a channel on later should not flood
  people with stale messages.

Delivery only ever writes the notification row: a failure never changes the ticket, its
state or its trail, and no sender's exception escapes `deliver_due`.

Exactly once, and its limit: the claim guarantees that no two workers send the same row
in the same period. But sending happens before the outcome is committed, and SMTP (like
most gateways) cannot take part in our transaction, so a crash (or a lost database
connection) after a message went out and before the caller's commit leaves that row
pending, and it is sent again after the restart: at least once, with at most one batch
at risk per crash. Keeping batches small and committing once per batch keeps that
window (and the time rows stay locked during network I/O) short. Emails carry a
Message-ID and webhooks an ``Idempotency-Key`` derived from the row's dedupe key, so
receivers that deduplicate will show such a repeat once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select

from ticketing.channels import DeliveryError, Sender
from ticketing.extensions import db
from ticketing.models import Channel, DeliveryState, Notification

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 6 * 3600
MAX_ERROR_CHARS = 1000


class _Sends(Protocol):
    def send(self, message: Any) -> None: ...


def claim_due(now: datetime, batch: int, model: type[Any] = Notification) -> list[Any]:
    """Lock and return up to `batch` pending rows due by `now`, oldest first; the caller's transaction holds them.

    `model` is the outbox table: notifications by default, or another with the same delivery
    columns (`state`, `next_attempt_at`, `attempts`, `last_error`, `sent_at`), such as the
    partners' webhook deliveries (`ticketing.bridge.webhooks`).
    """
    stmt = (
        select(model)
        .where(model.state == DeliveryState.PENDING, model.next_attempt_at <= now)
        .order_by(model.next_attempt_at, model.id)
        .limit(batch)
        # Rows already in the session must show what the database holds now, not a stale copy.
        .execution_options(populate_existing=True)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        # Rows another worker is delivering are skipped rather than waited for; if it commits
        # first, PostgreSQL re-checks `state` on the new row version and leaves them out.
        stmt = stmt.with_for_update(skip_locked=True)
    return list(db.session.scalars(stmt))


def deliver_due(
    now: datetime,
    senders: Mapping[Channel, Sender],
    *,
    batch: int,
    max_attempts: int,
    backoff_seconds: float,
    max_backoff_seconds: float = MAX_BACKOFF_SECONDS,
) -> dict[str, int]:
    """Deliver one batch of due outbox rows; flushes each outcome and leaves the commit to the caller.

    Returns counts: sent, retried (failed, will try again), dead (failed for good) and
    skipped (no sender for the channel; marked dead). Never raises for a failed delivery.
    """
    counts = {"sent": 0, "retried": 0, "dead": 0, "skipped": 0}
    for row in claim_due(now, batch):
        sender = senders.get(row.channel)
        if sender is None:
            _give_up(row, f"no sender configured for {row.channel.value}")
            counts["skipped"] += 1
        else:
            counts[attempt(row, sender, now, max_attempts, backoff_seconds, max_backoff_seconds)] += 1
        # Each outcome is written as soon as it is known, so the session never holds a
        # batch of unrecorded sends.
        db.session.flush()
    return counts


def attempt(
    row: Any,
    sender: Sender | _Sends,
    now: datetime,
    max_attempts: int,
    backoff_seconds: float,
    max_backoff_seconds: float,
) -> str:
    """Send one claimed outbox row (see `claim_due`) and record the outcome on it; returns the
    count it falls under: sent, retried or dead. Never raises for a failed delivery."""
    row.attempts = (row.attempts or 0) + 1
    try:
        sender.send(row)
    except DeliveryError as exc:
        error, transient = str(exc), exc.transient
    except Exception as exc:
        # A bug in a (possibly plugged-in) sender must not stop the batch or reach the
        # ticket; retrying is the safe guess, and the attempts are bounded.
        log.exception("sender crashed on %s", _name(row))
        error, transient = f"{type(exc).__name__}: {exc}", True
    else:
        row.state = DeliveryState.SENT
        row.sent_at = now
        row.last_error = ""
        return "sent"

    # Addresses are personal data: the log names the row, the row keeps the details.
    log.warning(
        "%s attempt %s failed%s: %s", _name(row), row.attempts, "" if transient else " permanently", error,
    )
    if not transient or row.attempts >= max_attempts:
        _give_up(row, error)
        return "dead"
    row.last_error = error[:MAX_ERROR_CHARS]
    row.next_attempt_at = now + backoff(row.attempts, backoff_seconds, max_backoff_seconds)
    return "retried"


def backoff(attempts: int, base_seconds: float, max_seconds: float = MAX_BACKOFF_SECONDS) -> timedelta:
    """The wait after the `attempts`-th failed attempt: base, 2×base, 4×base, ... up to the cap."""
    # Capping the exponent first keeps 2**n small however many attempts are configured.
    exponent = min(max(attempts - 1, 0), 32)
    return timedelta(seconds=min(base_seconds * 2**exponent, max_seconds))


def _name(row: Any) -> str:
    """How the log names a row: its table and id, and a notification's channel."""
    channel = getattr(row, "channel", None)
    return f"{row.__tablename__} {row.id}" + (f" ({channel.value})" if channel is not None else "")


def _give_up(row: Any, error: str) -> None:
    row.state = DeliveryState.DEAD
    row.last_error = error[:MAX_ERROR_CHARS]
