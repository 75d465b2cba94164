"""Outbound notification channels: one `Sender` per channel, built from the settings.

A sender delivers one outbox row (`ticketing.models.Notification`, or anything with the
same attributes) and either returns or raises `DeliveryError`, saying whether trying
again later might help. It never touches the database: the outbox
(`ticketing.services.outbox`) records the outcome.

Built in:

* email: `SmtpSender`, when ``SMTP_HOST`` is set (``SMTP_PORT``, ``SMTP_USER``,
  ``SMTP_PASSWORD``, ``SMTP_STARTTLS``, ``SMTP_SSL`` for implicit TLS, ``MAIL_FROM``);
* sms / wechat: `WebhookSender`, when ``SMS_WEBHOOK_URL`` / ``WECHAT_WEBHOOK_URL`` is set
  (optional ``SMS_WEBHOOK_TOKEN`` / ``WECHAT_WEBHOOK_TOKEN`` sent as a bearer token).

``NOTIFY_TIMEOUT_SECONDS`` (default 10) bounds every network call.

Pluggable: ``NOTIFY_SENDERS`` maps a channel name to ``"package.module:factory"``; the
factory is called with the config mapping and returns a `Sender`, which replaces the
built-in one or adds a channel. A value of ``None`` or ``""`` turns a channel off. In
the environment: ``SUISHOUPAI_NOTIFY_SENDERS='{"sms": "acme.sms:make_sender"}'``.
A channel left without a sender is absent from the result; the outbox marks its rows
dead rather than retrying them forever.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from ticketing.models.worker import Channel

DEFAULT_TIMEOUT_SECONDS = 10.0


class DeliveryError(Exception):
    """A delivery failed; `transient` says whether a later attempt might succeed."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


class Outgoing(Protocol):
    """What a sender reads from an outbox row."""

    @property
    def channel(self) -> Channel: ...

    @property
    def address(self) -> str: ...

    @property
    def subject(self) -> str: ...

    @property
    def body(self) -> str: ...

    @property
    def ticket_id(self) -> int | None: ...

    @property
    def dedupe_key(self) -> str: ...


@runtime_checkable
class Sender(Protocol):
    """Delivers one message on one channel, or raises `DeliveryError`."""

    def send(self, message: Outgoing) -> None: ...


SenderFactory = Callable[[Mapping[str, Any]], "Sender | None"]


def senders_from_config(config: Mapping[str, Any]) -> dict[Channel, Sender]:
    """The senders the settings configure, keyed by channel; unconfigured channels are absent."""
    # Imported here so that `ticketing.channels` stays cheap to import for the Protocols.
    from ticketing.channels.smtp import SmtpSender
    from ticketing.channels.webhook import WebhookSender

    timeout = float(config.get("NOTIFY_TIMEOUT_SECONDS") or DEFAULT_TIMEOUT_SECONDS)
    senders: dict[Channel, Sender] = {}
    if config.get("SMTP_HOST"):
        senders[Channel.EMAIL] = SmtpSender(
            host=config["SMTP_HOST"],
            port=int(config.get("SMTP_PORT") or 25),
            mail_from=config.get("MAIL_FROM") or "suishoupai@localhost",
            user=config.get("SMTP_USER") or None,
            password=config.get("SMTP_PASSWORD") or None,
            starttls=bool(config.get("SMTP_STARTTLS")),
            implicit_tls=bool(config.get("SMTP_SSL")),
            timeout=timeout,
        )
    for channel, prefix in ((Channel.SMS, "SMS"), (Channel.WECHAT, "WECHAT")):
        url = config.get(f"{prefix}_WEBHOOK_URL")
        if url:
            senders[channel] = WebhookSender(url, timeout=timeout, token=config.get(f"{prefix}_WEBHOOK_TOKEN") or None)
    for channel, factory in _plugins(config.get("NOTIFY_SENDERS")).items():
        sender = factory(config) if factory is not None else None
        if sender is None:
            senders.pop(channel, None)
        elif not isinstance(sender, Sender):
            raise TypeError(f"NOTIFY_SENDERS[{channel.value!r}] returned {type(sender).__name__}, not a Sender")
        else:
            senders[channel] = sender
    return senders


def _plugins(setting: Any) -> dict[Channel, SenderFactory | None]:
    """Parse NOTIFY_SENDERS (a mapping, or its JSON text) into factories; fails loudly at start-up."""
    if not setting:
        return {}
    if isinstance(setting, str):
        setting = json.loads(setting)
    if not isinstance(setting, Mapping):
        raise ValueError("NOTIFY_SENDERS must map channel names to 'module:factory'")
    out: dict[Channel, SenderFactory | None] = {}
    for name, spec in setting.items():
        try:
            channel = Channel(name)
        except ValueError:
            raise ValueError(f"NOTIFY_SENDERS: unknown channel {name!r}") from None
        if channel == Channel.INBOX:
            # The inbox is delivered by being stored; there is nothing to send.
            raise ValueError("NOTIFY_SENDERS: the inbox channel has no sender")
        out[channel] = _load(spec) if spec else None
    return out


def _load(spec: str) -> SenderFactory:
    """Import ``"package.module:attr.path"``."""
    module_name, sep, attr_path = str(spec).partition(":")
    if not sep or not module_name or not attr_path:
        raise ValueError(f"NOTIFY_SENDERS: {spec!r} is not 'module:factory'")
    target: Any = importlib.import_module(module_name)
    for part in attr_path.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise TypeError(f"NOTIFY_SENDERS: {spec!r} is not callable")
    return target  # type: ignore[no-any-return]


__all__ = ["DeliveryError", "Outgoing", "Sender", "senders_from_config"]
