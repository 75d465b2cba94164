"""Signed webhooks: partners (a 12345 hotline, a 311 system) hear of every state change of
the tickets they follow.

Outbox pattern. When a trail event changes a ticket's state (the report itself included:
none → dispatched), `for_event` / `for_events` write one `WebhookDelivery` per active
subscription that follows the ticket's source, in the transaction that writes the event:
a rolled-back step pushes nothing, a committed one is pushed even if the process dies right
after. The body is frozen then; the worker's ``webhooks`` job POSTs due rows through the
notification outbox's own claim and retry logic (`ticketing.services.outbox.claim_due` and
`attempt`: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, exponential backoff, dead after the
last attempt), so there is one delivery loop in the code base, not two.

What a partner receives (one POST per state change, ``Content-Type: application/json``)::

    X-Suishoupai-Event: ticket.state_changed
    X-Suishoupai-Delivery: webhook:3:1234          (the same on every attempt: deduplicate on it)
    X-Suishoupai-Timestamp: 1772413200             (Unix seconds when this attempt was signed)
    X-Suishoupai-Signature: v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>

    {"delivery": "webhook:3:1234", "type": "ticket.state_changed",
     "ticket": {"number": "2026-000123", "source": "la311", "external_id": "1-870704831",
                "state": "accepted", "round": 1, "handling_unit": {"code": ..., "name": ...}},
     "event": {"id": 1234, "action": "accept", "from_state": "dispatched",
               "to_state": "accepted", "at": "2026-03-02T01:00:00+00:00", "note": "..."}}

A receiver verifies with `verify` (or its own ten lines, see docs/hotline.md): recompute the
HMAC over the raw body bytes, compare in constant time, refuse a timestamp more than
`TOLERANCE_SECONDS` away from its clock (so a captured request cannot be replayed later),
and drop a delivery id it has already processed (so one cannot be replayed within the
window either). A retry is signed afresh with the time of that attempt. Notes of private
tickets are left out; no body ever names the reporter.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, Table, func, select
from sqlalchemy.orm import selectinload

from ticketing.channels import DeliveryError
from ticketing.errors import Conflict, InvalidInput, NotFound
from ticketing.extensions import db
from ticketing.models import DeliveryState, Ticket, TicketEvent, WebhookDelivery, WebhookSubscription
from ticketing.models.tickets import Visibility

EVENT_TYPE = "ticket.state_changed"
EVENT_HEADER = "X-Suishoupai-Event"
DELIVERY_HEADER = "X-Suishoupai-Delivery"
TIMESTAMP_HEADER = "X-Suishoupai-Timestamp"
SIGNATURE_HEADER = "X-Suishoupai-Signature"
SIGNATURE_VERSION = "v1"
# How far a receiver lets a signature's timestamp stray from its own clock (Stripe's default).
TOLERANCE_SECONDS = 300
MIN_SECRET_CHARS = 16
MAX_SOURCES = 20


# ---------------------------------------------------------------------------- subscriptions


def subscribe(
    *, name: str, url: str, now: datetime, secret: str | None = None, sources: Sequence[str] | None = None
) -> tuple[WebhookSubscription, str]:
    """Add a partner; returns the subscription and its secret (generated when not given). Flushes.

    `sources` limits the pushes to tickets from those sources (``["la311"]``); None: every
    ticket. Refuses a bad URL, a short secret or a taken name (InvalidInput / Conflict).
    """
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise InvalidInput("a partner name has 1 to 100 characters", code="invalid_partner_name")
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 500:
        raise InvalidInput("the webhook URL must be http(s)://host/... (at most 500 characters)",
                           code="invalid_webhook_url", details={"url": url[:100]})
    secret = secret if secret is not None else secrets.token_urlsafe(32)
    if not MIN_SECRET_CHARS <= len(secret) <= 200:
        raise InvalidInput(f"a webhook secret has {MIN_SECRET_CHARS} to 200 characters", code="invalid_webhook_secret")
    wanted = _checked_sources(sources)
    if db.session.scalar(select(WebhookSubscription.id).where(WebhookSubscription.name == name)) is not None:
        raise Conflict(f"a partner named {name!r} exists already", code="partner_exists")
    sub = WebhookSubscription(name=name, url=url.strip(), secret=secret, sources=wanted, active=True, created_at=now)
    db.session.add(sub)
    db.session.flush()
    return sub, secret


def set_active(name: str, active: bool) -> WebhookSubscription:
    """Pause or resume a partner's pushes; a paused partner gets no new rows. Flushes."""
    sub = db.session.scalar(select(WebhookSubscription).where(WebhookSubscription.name == name))
    if sub is None:
        raise NotFound(f"no partner {name!r}", code="partner_not_found")
    sub.active = active
    db.session.flush()
    return sub


def _checked_sources(sources: Sequence[str] | None) -> list[str] | None:
    if sources is None:
        return None
    cleaned = sorted({s.strip() for s in sources if s.strip()})
    if not cleaned or len(cleaned) > MAX_SOURCES or any(len(s) > 32 for s in cleaned):
        raise InvalidInput("sources are 1 to 20 names of at most 32 characters (or none for every ticket)",
                           code="invalid_sources")
    return cleaned


# ---------------------------------------------------------------------------- queueing (the event's transaction)


def is_state_change(event: TicketEvent) -> bool:
    """Whether a trail step changed the ticket's state (a report counts: none → dispatched)."""
    return event.to_state is not None and event.from_state != event.to_state


def for_event(event: TicketEvent, now: datetime) -> int:
    """Queue the pushes of one trail step, in the caller's transaction; returns rows added.

    Called for every event the ticket services write; only state changes of tickets a
    partner follows become rows.
    """
    if not is_state_change(event):
        return 0
    subs = _active_subscriptions()
    if not subs:
        return 0
    return _insert(_rows(subs, [event], now))


def for_events(events: Sequence[TicketEvent], now: datetime) -> int:
    """`for_event` for many events at once (the hotline import): one query, one INSERT."""
    changes = [e for e in events if is_state_change(e)]
    if not changes:
        return 0
    subs = _active_subscriptions()
    if not subs:
        return 0
    return _insert(_rows(subs, changes, now))


def for_event_ids(event_ids: Iterable[int], now: datetime) -> int:
    """`for_event` for events written by bulk SQL (the sweep's auto-close), by id."""
    ids = sorted(set(event_ids))
    if not ids:
        return 0
    subs = _active_subscriptions()
    if not subs:
        return 0
    events = db.session.scalars(
        select(TicketEvent).where(TicketEvent.id.in_(ids)).options(selectinload(TicketEvent.ticket))
    ).all()
    return _insert(_rows(subs, [e for e in events if is_state_change(e)], now))


def _active_subscriptions() -> list[WebhookSubscription]:
    return list(db.session.scalars(
        select(WebhookSubscription).where(WebhookSubscription.active.is_(True)).order_by(WebhookSubscription.id)
    ))


def follows(sub: WebhookSubscription, source: str | None) -> bool:
    """Whether the partner hears of tickets from `source` (None: our own channels)."""
    return sub.sources is None or (source is not None and source in sub.sources)


def _rows(subs: list[WebhookSubscription], events: Sequence[TicketEvent], now: datetime) -> list[dict[str, Any]]:
    rows = []
    for event in events:
        ticket = event.ticket
        for sub in subs:
            if not follows(sub, ticket.source):
                continue
            key = f"webhook:{sub.id}:{event.id}"
            rows.append({
                "dedupe_key": key,
                "subscription_id": sub.id,
                "ticket_id": ticket.id,
                "event_id": event.id,
                "body": body_text(payload(ticket, event, key)),
                "state": DeliveryState.PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "last_attempt_at": None,
                "last_status": None,
                "last_error": "",
                "created_at": now,
                "sent_at": None,
            })
    return rows


def _insert(rows: list[dict[str, Any]]) -> int:
    if not rows:
        return 0
    from ticketing.services.bulk import insert_ignoring_duplicates

    return int(insert_ignoring_duplicates(cast(Table, WebhookDelivery.__table__), rows, "dedupe_key"))


def payload(ticket: Ticket, event: TicketEvent, delivery: str) -> dict[str, Any]:
    """What a partner is told of one state change: public facts only, never the reporter."""
    unit = ticket.handling_unit
    return {
        "delivery": delivery,
        "type": EVENT_TYPE,
        "ticket": {
            "number": ticket.number,
            "source": ticket.source,
            "external_id": ticket.external_id,
            "state": event.to_state.value if event.to_state else None,
            "round": event.round,
            "handling_unit": {"code": unit.code, "name": unit.name} if unit is not None else None,
        },
        "event": {
            "id": event.id,
            "action": event.action.value,
            "from_state": event.from_state.value if event.from_state else None,
            "to_state": event.to_state.value if event.to_state else None,
            "at": event.at.isoformat(),
            # A private ticket's notes may be personal; its state is not.
            "note": event.note if ticket.visibility == Visibility.PUBLIC else "",
        },
    }


def body_text(data: Mapping[str, Any]) -> str:
    """The exact JSON text that is sent and signed (compact, keys sorted, UTF-8 unescaped)."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


# ---------------------------------------------------------------------------- signing


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value: ``v1=`` + hex HMAC-SHA256(secret, ``"<timestamp>." + body``)."""
    mac = hmac.new(secret.encode("utf-8"), str(timestamp).encode("ascii") + b"." + body, hashlib.sha256)
    return f"{SIGNATURE_VERSION}={mac.hexdigest()}"


class SignatureError(Exception):
    """A push that a receiver must refuse; the message says why."""


def verify(
    secret: str,
    *,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: float,
    tolerance: float = TOLERANCE_SECONDS,
) -> None:
    """What a receiver does with a push (the reference for partners): raise SignatureError unless
    the timestamp is within `tolerance` seconds of `now` (Unix seconds) and `signature` is the
    HMAC of that timestamp and these exact body bytes. Deduplicating on the delivery id, which
    stops a replay inside the window, is the receiver's own bookkeeping."""
    if not timestamp or not timestamp.isdigit():
        raise SignatureError("missing or malformed timestamp")
    if abs(now - int(timestamp)) > tolerance:
        raise SignatureError("timestamp outside the tolerance: a replay, or a clock far off")
    if not signature:
        raise SignatureError("missing signature")
    expected = sign(secret, int(timestamp), body)
    # Several signatures may be sent while a secret is rotated: any one that matches will do.
    if not any(hmac.compare_digest(expected, given.strip()) for given in signature.split(",")):
        raise SignatureError("signature does not match")


# ---------------------------------------------------------------------------- delivery (the worker)


class SignedSender:
    """POSTs one delivery row to its partner's URL, signed with the partner's current secret.

    Notes the partner's HTTP status on the row (`last_status`); the outbox records the rest.
    `clock` gives the signing time in Unix seconds: the real clock, not the job's as-of time,
    because the receiver compares it with its own.
    """

    def __init__(self, *, timeout: float, clock: Callable[[], float] = time.time) -> None:
        self.timeout = timeout
        self.clock = clock

    def send(self, delivery: WebhookDelivery) -> None:
        """Deliver one push; raises `DeliveryError` (transient or not) on failure."""
        from ticketing.channels.webhook import post

        sub = delivery.subscription
        if not sub.active:
            raise DeliveryError(f"partner {sub.name} is paused", transient=False)
        body = delivery.body.encode("utf-8")
        stamp = int(self.clock())
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "suishoupai-webhooks/1",
            EVENT_HEADER: EVENT_TYPE,
            DELIVERY_HEADER: delivery.dedupe_key,
            "Idempotency-Key": delivery.dedupe_key,
            TIMESTAMP_HEADER: str(stamp),
            SIGNATURE_HEADER: sign(sub.secret, stamp, body),
        }
        delivery.last_status = None
        try:
            delivery.last_status = post(sub.url, body, headers, timeout=self.timeout)
        except DeliveryError as exc:
            delivery.last_status = getattr(exc.__cause__, "code", None)
            raise


def deliver_due(
    now: datetime,
    sender: SignedSender,
    *,
    batch: int,
    max_attempts: int,
    backoff_seconds: float,
    max_backoff_seconds: float | None = None,
) -> dict[str, int]:
    """POST one batch of due deliveries; flushes each outcome, the caller commits.

    Returns counts: sent, retried (will try again after ``backoff_seconds * 2**(attempts-1)``)
    and dead (a 4xx other than 408/429, a paused partner, or the last attempt failed).
    """
    from ticketing.services import outbox

    cap = outbox.MAX_BACKOFF_SECONDS if max_backoff_seconds is None else max_backoff_seconds
    counts = {"sent": 0, "retried": 0, "dead": 0}
    for row in outbox.claim_due(now, batch, model=WebhookDelivery):
        row.last_attempt_at = now
        counts[outbox.attempt(row, sender, now, max_attempts, backoff_seconds, cap)] += 1
        db.session.flush()
    return counts


# ---------------------------------------------------------------------------- the delivery log


def deliveries_query(
    *, partner: str | None = None, state: str | None = None, ticket_number: str | None = None
) -> Select[WebhookDelivery]:
    """Delivery rows newest first, optionally of one partner, state or ticket (the admin's log)."""
    query = select(WebhookDelivery).order_by(WebhookDelivery.id.desc())
    if partner is not None:
        query = query.join(WebhookSubscription).where(WebhookSubscription.name == partner)
    if state is not None:
        try:
            query = query.where(WebhookDelivery.state == DeliveryState(state))
        except ValueError:
            raise InvalidInput("state is pending, sent or dead", code="invalid_state", details={"state": state}) from None
    if ticket_number is not None:
        query = query.join(Ticket, Ticket.id == WebhookDelivery.ticket_id).where(Ticket.number == ticket_number)
    return query


def subscription_summary() -> list[dict[str, Any]]:
    """Every partner (without its secret) with its deliveries counted by state."""
    counts: dict[int, dict[str, int]] = {}
    for sub_id, state, n in db.session.execute(
        select(WebhookDelivery.subscription_id, WebhookDelivery.state, func.count())
        .group_by(WebhookDelivery.subscription_id, WebhookDelivery.state)
    ):
        counts.setdefault(sub_id, {})[DeliveryState(state).value] = int(n)
    return [
        {
            "name": sub.name,
            "url": sub.url,
            "sources": sub.sources,
            "active": sub.active,
            "created_at": sub.created_at,
            "deliveries": {s.value: counts.get(sub.id, {}).get(s.value, 0) for s in DeliveryState},
        }
        for sub in db.session.scalars(select(WebhookSubscription).order_by(WebhookSubscription.name))
    ]
