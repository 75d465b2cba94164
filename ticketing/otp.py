"""One-time sign-in codes: how a code reaches its user.

`OtpSender` is the interface the sign-in service (``ticketing.services.auth``) calls with a
fresh code. Two implementations:

* `ChannelOtpSender` sends through the notification channels (``ticketing.channels``): SMS
  to the user's phone through the SMS gateway, else email through SMTP. It sends at once,
  in the request, rather than through the outbox: a code is useful for minutes, and the
  outbox would keep its text in the database.
* `ConsoleOtpSender` prints the code on the server's console, for development without a gateway.

`sender_from_config` picks one by the ``OTP_SENDER`` setting ("channels" or "console").
"""

from __future__ import annotations

import logging
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO, runtime_checkable

from ticketing.channels import DeliveryError, Sender, senders_from_config
from ticketing.models import Channel, User

log = logging.getLogger(__name__)


class OtpDeliveryError(Exception):
    """The code could not be sent (no channel for this user, or the channel failed)."""


@runtime_checkable
class OtpSender(Protocol):
    """Delivers one sign-in code to its user; returns the channel's name ("sms", "email", ...)."""

    def send(self, user: User, code: str, *, ttl_minutes: int) -> str: ...


@dataclass(frozen=True)
class OtpMessage:
    """A code as an outgoing message: the shape ``ticketing.channels`` senders read (`Outgoing`)."""

    channel: Channel
    address: str
    subject: str
    body: str
    ticket_id: int | None = None
    dedupe_key: str = field(default_factory=lambda: f"otp:{uuid.uuid4().hex}")


def message_text(code: str, ttl_minutes: int) -> str:
    """The text of a code message, Chinese first (the users' language), then English."""
    return (
        f"【随手拍】登录验证码 {code}，{ttl_minutes} 分钟内有效。请勿告诉他人。"
        f" Suishoupai sign-in code {code}, valid {ttl_minutes} min. Never share it."
    )


class ChannelOtpSender:
    """Sends codes through the configured notification senders: the first channel of `order`
    that has a sender and an address for the user (SMS → phone, email → email)."""

    def __init__(self, senders: Mapping[Channel, Sender], order: Sequence[Channel] = (Channel.SMS, Channel.EMAIL)):
        self.senders = dict(senders)
        self.order = tuple(order)

    def send(self, user: User, code: str, *, ttl_minutes: int) -> str:
        """Send the code; `OtpDeliveryError` when no channel reaches the user or sending failed."""
        for channel in self.order:
            sender = self.senders.get(channel)
            address = (user.phone if channel == Channel.SMS else user.email if channel == Channel.EMAIL else "").strip()
            if sender is None or not address:
                continue
            message = OtpMessage(channel=channel, address=address, subject="随手拍登录验证码 Sign-in code",
                                 body=message_text(code, ttl_minutes))
            try:
                sender.send(message)
            except DeliveryError as exc:
                # The reason goes to the log, not to the person signing in (it may name the gateway).
                log.warning("one-time code for user %s not sent by %s: %s", user.id, channel.value, exc)
                raise OtpDeliveryError(f"the {channel.value} channel failed") from exc
            return channel.value
        raise OtpDeliveryError("no channel reaches this user (a phone with SMS configured, or an email with SMTP)")


class ConsoleOtpSender:
    """Writes codes to the server's console, standard error by default (development only:
    whoever reads that output can sign in). Not the log: a logging configuration such as
    Alembic's can silence it."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def send(self, user: User, code: str, *, ttl_minutes: int) -> str:
        print(f"one-time sign-in code for {user.username}: {code} (valid {ttl_minutes} min)",
              file=self.stream or sys.stderr, flush=True)
        return "console"


def sender_from_config(config: Mapping[str, Any]) -> OtpSender:
    """The sender the ``OTP_SENDER`` setting names; cheap, so built per sign-in (settings may change)."""
    kind = str(config.get("OTP_SENDER") or "channels").lower()
    if kind == "console":
        return ConsoleOtpSender()
    if kind == "channels":
        return ChannelOtpSender(senders_from_config(config))
    raise ValueError(f"OTP_SENDER must be 'channels' or 'console', not {kind!r}")
