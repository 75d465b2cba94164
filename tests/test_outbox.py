"""The outbox delivers over real protocols: a local SMTP server and a local HTTP SMS gateway.

Only the outside services are stand-ins, and they speak the real protocols on 127.0.0.1;
the database is the real one (SpatiaLite and PostGIS).
"""

from __future__ import annotations

import email
import email.message
import email.policy
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from flask import Flask
from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from tests.conftest import NOW, TIANSHUI
from ticketing.channels import DeliveryError, Outgoing, Sender, senders_from_config
from ticketing.channels.smtp import SmtpSender
from ticketing.channels.webhook import WebhookSender
from ticketing.extensions import db
from ticketing.models import Channel, DeliveryState, Notification, Ticket, TicketEvent, User
from ticketing.services import outbox
from ticketing.services.notify import Message, insert_rows, rows_for

MAIL_FROM = "随手拍 <noreply@suishoupai.test>"
SUBJECT = "工单 HZ20260302-0001 有新留言"
BODY = "天水街道：垃圾堆积，请尽快处理。\n处理单位：天水街道；状态：dispatched"
SETTINGS: dict[str, Any] = {"batch": 50, "max_attempts": 8, "backoff_seconds": 30}


# ------------------------------------------------------------------ the outside world


class _Mailbox:
    """An aiosmtpd handler that keeps what it receives and can refuse recipients."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refuse_rcpt: str | None = None

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:
        if self.refuse_rcpt:
            return self.refuse_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))  # type: ignore[arg-type]
        return "250 Message accepted"


class _AnyPortController(Controller):
    """aiosmtpd's Controller on port 0: learn the port the kernel chose before the ready check."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@contextmanager
def smtp_server(**kwargs: Any) -> Iterator[tuple[_Mailbox, int]]:
    mailbox = _Mailbox()
    controller = _AnyPortController(mailbox, hostname="127.0.0.1", port=0, **kwargs)
    controller.start()
    try:
        yield mailbox, controller.port
    finally:
        controller.stop()


@dataclass
class Gateway:
    """A fake SMS gateway over real HTTP: answers the planned statuses in turn, then 200."""

    url: str = ""
    plan: list[int] = field(default_factory=list)
    always: int | None = None  # answer this status to every request
    delay: float = 0.0
    received: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_status(self, payload: dict[str, Any], headers: dict[str, str]) -> int:
        with self.lock:
            status = self.always or (self.plan.pop(0) if self.plan else 200)
            if status == 200:
                self.received.append(payload)
                self.headers.append(headers)
            return status


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    gw = Gateway()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            payload = json.loads(self.rfile.read(length).decode("utf-8"))
            if gw.delay:
                time.sleep(gw.delay)
            status = gw.next_status(payload, dict(self.headers))
            body = json.dumps({"ok": status == 200, "error": None if status == 200 else f"status {status}"}).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (the timeout test)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    gw.url = f"http://127.0.0.1:{server.server_address[1]}/sms"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield gw
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------ data


@pytest.fixture
def clean(ctx: Flask) -> Flask:
    """The test's transaction with an empty outbox, so counts are exactly this test's rows."""
    db.session.execute(delete(Notification))
    return ctx


def user(username: str) -> User:
    return db.session.scalars(select(User).where(User.username == username)).one()


def queue(usernames: list[str], now: datetime, *, mail: bool = True, phone: bool = True, base: str = "t") -> dict[str, list[Notification]]:
    """Outbox rows (through notify) for one message to these demo users, given an email and/or a phone."""
    people = [user(name) for name in usernames]
    for i, person in enumerate(people):
        person.email = f"{person.username}@example.test" if mail else ""
        person.phone = f"1380000{i:04d}" if phone else ""
    db.session.flush()
    message = Message(kind="comment", subject=SUBJECT, body=BODY, dedupe_base=base)
    insert_rows(rows_for(message, people, now))
    rows = db.session.scalars(select(Notification).where(Notification.dedupe_key.like(f"{base}:%")).order_by(Notification.id))
    by_channel: dict[str, list[Notification]] = {}
    for row in rows:
        by_channel.setdefault(row.channel.value, []).append(row)
    return by_channel


def deliver(now: datetime, senders: dict[Channel, Sender], **overrides: Any) -> dict[str, int]:
    counts = outbox.deliver_due(now, senders, **{**SETTINGS, **overrides})
    db.session.expire_all()  # read back what the database holds
    return counts


def none(**extra: int) -> dict[str, int]:
    return {"sent": 0, "retried": 0, "dead": 0, "skipped": 0, **extra}


# ------------------------------------------------------------------ email


def test_email_arrives_over_smtp_with_chinese_subject_and_body(clean: Flask) -> None:
    rows = queue(["handler_tianshui"], NOW, phone=False)
    with smtp_server() as (mailbox, port):
        senders = senders_from_config({"SMTP_HOST": "127.0.0.1", "SMTP_PORT": port, "MAIL_FROM": MAIL_FROM})
        assert deliver(NOW, senders) == none(sent=1)
    [row] = rows["email"]
    assert (row.state, row.sent_at, row.attempts, row.last_error) == (DeliveryState.SENT, NOW, 1, "")
    [msg] = mailbox.messages
    assert msg["Subject"] == SUBJECT
    assert msg.get_content().splitlines() == BODY.splitlines()  # SMTP lines end in CRLF
    assert msg["To"] == "handler_tianshui@example.test"
    assert msg["From"].addresses[0].display_name == "随手拍"
    assert mailbox.envelopes == [("noreply@suishoupai.test", ["handler_tianshui@example.test"])]
    # The Message-ID comes from the dedupe key: a resend after a crash is recognisably the same mail.
    assert msg["Message-ID"].endswith("@suishoupai.test>")
    assert msg["Message-ID"] == SmtpSender("x", mail_from=MAIL_FROM).compose(row)["Message-ID"]


def test_smtp_login_is_used_when_configured(clean: Flask) -> None:
    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"mailer", b"s3cret")
        return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 535 itself

    rows = queue(["handler_tianshui", "handler_tianshui2"], NOW, phone=False)
    # Plain-text AUTH is fine on loopback; aiosmtpd warns about it in general.
    with pytest.warns(UserWarning, match="AUTH"), smtp_server(
        authenticator=authenticator, auth_required=True, auth_require_tls=False
    ) as (mailbox, port):
        good = SmtpSender("127.0.0.1", port, mail_from=MAIL_FROM, user="mailer", password="s3cret", timeout=5)
        bad = SmtpSender("127.0.0.1", port, mail_from=MAIL_FROM, user="mailer", password="wrong", timeout=5)
        good.send(rows["email"][0])
        # A refused login is our configuration, not the message: retried, not dead.
        with pytest.raises(DeliveryError) as refused:
            bad.send(rows["email"][1])
    assert refused.value.transient and "535" in str(refused.value)
    assert len(mailbox.messages) == 1


def test_recipient_refused_by_the_mail_server_is_dead_at_once(clean: Flask) -> None:
    rows = queue(["handler_tianshui"], NOW, phone=False)
    with smtp_server() as (mailbox, port):
        mailbox.refuse_rcpt = "550 5.1.1 <handler_tianshui@example.test>: no such user"
        senders = senders_from_config({"SMTP_HOST": "127.0.0.1", "SMTP_PORT": port})
        assert deliver(NOW, senders) == none(dead=1)
    [row] = rows["email"]
    assert (row.state, row.attempts) == (DeliveryState.DEAD, 1)
    assert "550" in row.last_error and "no such user" in row.last_error


def test_unreachable_mail_server_is_retried_later(clean: Flask) -> None:
    rows = queue(["handler_tianshui"], NOW, phone=False)
    senders = senders_from_config({"SMTP_HOST": "127.0.0.1", "SMTP_PORT": closed_port(), "NOTIFY_TIMEOUT_SECONDS": 2})
    assert deliver(NOW, senders) == none(retried=1)
    [row] = rows["email"]
    assert (row.state, row.attempts, row.next_attempt_at) == (DeliveryState.PENDING, 1, NOW + timedelta(seconds=30))
    assert "SMTP" in row.last_error


def test_an_address_that_would_inject_headers_is_refused_for_good(clean: Flask) -> None:
    rows = queue(["handler_tianshui"], NOW, phone=False)
    [row] = rows["email"]
    row.address = "a@example.test\r\nBcc: everyone@example.test"
    with smtp_server() as (mailbox, port):
        assert deliver(NOW, senders_from_config({"SMTP_HOST": "127.0.0.1", "SMTP_PORT": port})) == none(dead=1)
    assert mailbox.messages == []
    assert row.state == DeliveryState.DEAD


# ------------------------------------------------------------------ SMS gateway


def test_sms_failures_are_retried_with_doubling_backoff_until_sent(clean: Flask, gateway: Gateway) -> None:
    rows = queue(["handler_tianshui"], NOW, mail=False)
    [row] = rows["sms"]
    gateway.plan = [500, 502, 503]
    senders = senders_from_config({"SMS_WEBHOOK_URL": gateway.url, "SMS_WEBHOOK_TOKEN": "tok"})

    assert deliver(NOW, senders) == none(retried=1)
    assert (row.state, row.attempts, row.next_attempt_at) == (DeliveryState.PENDING, 1, NOW + timedelta(seconds=30))
    assert "500" in row.last_error
    # Not due yet: nothing is attempted.
    assert deliver(NOW + timedelta(seconds=29), senders) == none()
    assert gateway.plan == [502, 503]

    at = NOW + timedelta(seconds=30)
    assert deliver(at, senders) == none(retried=1)
    assert (row.attempts, row.next_attempt_at) == (2, at + timedelta(seconds=60))
    at += timedelta(seconds=60)
    assert deliver(at, senders) == none(retried=1)
    assert (row.attempts, row.next_attempt_at) == (3, at + timedelta(seconds=120))
    at += timedelta(seconds=120)
    assert deliver(at, senders) == none(sent=1)
    assert (row.state, row.attempts, row.sent_at, row.last_error) == (DeliveryState.SENT, 4, at, "")

    assert gateway.received == [
        {"to": "13800000000", "subject": SUBJECT, "text": BODY, "ticket": None, "key": row.dedupe_key}
    ]
    assert gateway.headers[0]["Idempotency-Key"] == row.dedupe_key
    assert gateway.headers[0]["Authorization"] == "Bearer tok"
    # Sent rows are never sent again.
    assert deliver(at + timedelta(days=1), senders) == none()
    assert len(gateway.received) == 1


def test_delivery_is_given_up_after_max_attempts(clean: Flask, gateway: Gateway) -> None:
    [row] = queue(["handler_tianshui"], NOW, mail=False)["sms"]
    gateway.always = 500
    senders = senders_from_config({"SMS_WEBHOOK_URL": gateway.url})
    at = NOW
    assert deliver(at, senders, max_attempts=3) == none(retried=1)
    at = row.next_attempt_at
    assert deliver(at, senders, max_attempts=3) == none(retried=1)
    at = row.next_attempt_at
    assert deliver(at, senders, max_attempts=3) == none(dead=1)
    assert (row.state, row.attempts, row.sent_at) == (DeliveryState.DEAD, 3, None)
    assert "gateway replied 500" in row.last_error
    assert deliver(at + timedelta(days=30), senders, max_attempts=3) == none()


def test_gateway_rejection_4xx_is_dead_at_once(clean: Flask, gateway: Gateway) -> None:
    [row] = queue(["handler_tianshui"], NOW, mail=False)["sms"]
    gateway.plan = [400]
    senders = senders_from_config({"SMS_WEBHOOK_URL": gateway.url})
    assert deliver(NOW, senders) == none(dead=1)
    assert (row.state, row.attempts) == (DeliveryState.DEAD, 1)
    assert row.last_error.startswith("gateway replied 400: ")
    assert deliver(NOW + timedelta(days=1), senders) == none()
    assert gateway.received == []


def test_rate_limited_gateway_429_is_retried(clean: Flask, gateway: Gateway) -> None:
    [row] = queue(["handler_tianshui"], NOW, mail=False)["sms"]
    gateway.plan = [429]
    assert deliver(NOW, senders_from_config({"SMS_WEBHOOK_URL": gateway.url})) == none(retried=1)
    assert row.state == DeliveryState.PENDING


def test_gateway_timeout_is_retried(clean: Flask, gateway: Gateway) -> None:
    [row] = queue(["handler_tianshui"], NOW, mail=False)["sms"]
    gateway.delay = 1.0
    senders = senders_from_config({"SMS_WEBHOOK_URL": gateway.url, "NOTIFY_TIMEOUT_SECONDS": 0.2})
    started = time.monotonic()
    assert deliver(NOW, senders) == none(retried=1)
    assert time.monotonic() - started < 0.9
    assert (row.state, row.next_attempt_at) == (DeliveryState.PENDING, NOW + timedelta(seconds=30))
    assert "unreachable" in row.last_error


def test_backoff_is_capped_at_six_hours(clean: Flask, gateway: Gateway) -> None:
    [row] = queue(["handler_tianshui"], NOW, mail=False)["sms"]
    row.attempts = 20
    gateway.always = 503
    assert deliver(NOW, senders_from_config({"SMS_WEBHOOK_URL": gateway.url}), max_attempts=50) == none(retried=1)
    assert row.next_attempt_at == NOW + timedelta(hours=6)
    assert outbox.backoff(1, 30) == timedelta(seconds=30)
    assert outbox.backoff(4, 30) == timedelta(seconds=240)
    assert outbox.backoff(1000, 30) == timedelta(hours=6)


def test_due_rows_go_oldest_first_and_a_batch_is_bounded(clean: Flask, gateway: Gateway) -> None:
    queue(["handler_tianshui"], NOW + timedelta(minutes=2), mail=False, base="later")
    queue(["handler_tianshui2"], NOW, mail=False, base="sooner")
    senders = senders_from_config({"SMS_WEBHOOK_URL": gateway.url})
    assert deliver(NOW + timedelta(minutes=5), senders, batch=1) == none(sent=1)
    assert deliver(NOW + timedelta(minutes=5), senders, batch=1) == none(sent=1)
    assert [p["key"].split(":")[0] for p in gateway.received] == ["sooner", "later"]


# ------------------------------------------------------------------ what delivery never does


def test_channel_without_a_sender_is_marked_dead_instead_of_looping(clean: Flask) -> None:
    rows = queue(["handler_tianshui"], NOW)
    assert deliver(NOW, {}) == none(skipped=2)
    assert [(r.state, r.attempts, r.last_error) for r in rows["email"] + rows["sms"]] == [
        (DeliveryState.DEAD, 0, "no sender configured for email"),
        (DeliveryState.DEAD, 0, "no sender configured for sms"),
    ]
    assert deliver(NOW + timedelta(days=1), {}) == none()


def test_inbox_rows_are_not_touched(clean: Flask, gateway: Gateway) -> None:
    rows = queue(["handler_tianshui", "handler_tianshui2"], NOW, mail=False)
    gateway.always = 500
    deliver(NOW, senders_from_config({"SMS_WEBHOOK_URL": gateway.url}))
    for row in rows["inbox"]:
        assert (row.state, row.sent_at, row.attempts, row.last_error, row.read_at) == (DeliveryState.SENT, NOW, 0, "", None)
    assert len(rows["inbox"]) == 2 and all(r.state == DeliveryState.PENDING for r in rows["sms"])


class _Broken:
    """A plugged-in sender with a bug."""

    def send(self, message: Outgoing) -> None:
        raise RuntimeError("bug in a plug-in")


def test_failed_delivery_never_changes_the_ticket_and_never_raises(clean: Flask, gateway: Gateway) -> None:
    from ticketing.services import tickets

    handler = user("handler_tianshui")
    handler.email, handler.phone = "zhang@example.test", "13800001111"
    ticket = tickets.report(
        actor=user("deputy_wang"), category_code="city.litter", description="垃圾堆积", lon=TIANSHUI[0], lat=TIANSHUI[1],
        now=NOW, settings=clean.extensions["ticket_settings"], store=clean.extensions["photo_store"],
    )
    db.session.flush()
    ours = select(Notification).where(Notification.ticket_id == ticket.id, Notification.channel != Channel.INBOX)
    assert len(db.session.scalars(ours).all()) == 2  # the report told the handler by email and SMS

    def snapshot() -> tuple[Any, ...]:
        db.session.expire_all()
        t = db.session.get(Ticket, ticket.id)
        assert t is not None
        events = db.session.scalar(select(func.count()).select_from(TicketEvent).where(TicketEvent.ticket_id == t.id))
        return (t.state, t.updated_at, t.handling_unit_id, t.escalation_level, t.closed_at, events)

    before = snapshot()
    gateway.always = 500
    senders: dict[Channel, Sender] = {Channel.EMAIL: _Broken(), **senders_from_config({"SMS_WEBHOOK_URL": gateway.url})}
    at, total = NOW, none()
    for _ in range(10):
        counts = deliver(at, senders, max_attempts=4)
        total = {k: total[k] + counts[k] for k in total}
        at += timedelta(hours=1)
    assert total == none(retried=6, dead=2)
    assert snapshot() == before
    assert {(r.state, r.attempts) for r in db.session.scalars(ours)} == {(DeliveryState.DEAD, 4)}
    assert "RuntimeError: bug in a plug-in" in {r.channel: r for r in db.session.scalars(ours)}[Channel.EMAIL].last_error


# ------------------------------------------------------------------ configuration and plug-ins


class Recorder:
    """A plug-in sender that keeps what it is given."""

    def __init__(self, config: Any) -> None:
        self.config = config
        self.sent: list[tuple[str, str]] = []

    def send(self, message: Outgoing) -> None:
        self.sent.append((message.address, message.subject))


def make_recorder(config: Any) -> Recorder:
    return Recorder(config)


def test_senders_come_from_settings_and_unconfigured_channels_are_absent() -> None:
    assert senders_from_config({"SMTP_HOST": None, "SMS_WEBHOOK_URL": None, "WECHAT_WEBHOOK_URL": None}) == {}
    senders = senders_from_config(
        {"SMTP_HOST": "mail.example.test", "SMTP_PORT": 587, "SMTP_STARTTLS": True, "MAIL_FROM": MAIL_FROM,
         "WECHAT_WEBHOOK_URL": "https://wx.example.test/send"}
    )
    assert set(senders) == {Channel.EMAIL, Channel.WECHAT}
    mail = senders[Channel.EMAIL]
    assert isinstance(mail, SmtpSender) and (mail.port, mail.starttls, mail.mail_from) == (587, True, MAIL_FROM)
    assert isinstance(senders[Channel.WECHAT], WebhookSender)


def test_notify_senders_plugs_in_replaces_and_switches_off_channels() -> None:
    config = {
        "SMTP_HOST": "mail.example.test",
        "SMS_WEBHOOK_URL": "http://sms.example.test/",
        "NOTIFY_SENDERS": {"sms": "tests.test_outbox:make_recorder", "wechat": "tests.test_outbox:Recorder", "email": None},
    }
    senders = senders_from_config(config)
    assert set(senders) == {Channel.SMS, Channel.WECHAT}
    assert all(isinstance(s, Recorder) and s.config is config for s in senders.values())
    # The environment gives the setting as JSON text.
    as_json = senders_from_config({"NOTIFY_SENDERS": json.dumps({"wechat": "tests.test_outbox:make_recorder"})})
    assert isinstance(as_json[Channel.WECHAT], Recorder)


@pytest.mark.parametrize(
    "setting, error",
    [
        ({"fax": "tests.test_outbox:make_recorder"}, "unknown channel"),
        ({"inbox": "tests.test_outbox:make_recorder"}, "inbox channel has no sender"),
        ({"sms": "tests.test_outbox"}, "not 'module:factory'"),
        ({"sms": "tests.test_outbox:MAIL_FROM"}, "not callable"),
    ],
)
def test_bad_plug_in_settings_fail_at_start_up(setting: dict[str, str], error: str) -> None:
    with pytest.raises((ValueError, TypeError), match=error):
        senders_from_config({"NOTIFY_SENDERS": setting})


def test_webhook_url_must_be_http() -> None:
    with pytest.raises(ValueError, match="http or https"):
        senders_from_config({"SMS_WEBHOOK_URL": "file:///etc/passwd"})


def test_plugged_in_sender_delivers_its_channel(clean: Flask) -> None:
    rows = queue(["handler_tianshui"], NOW, mail=False)
    # notify has no WeChat address book yet: turn the SMS row into a WeChat one by hand.
    [row] = rows["sms"]
    row.channel, row.address = Channel.WECHAT, "openid-123"
    senders = senders_from_config({"NOTIFY_SENDERS": {"wechat": "tests.test_outbox:make_recorder"}})
    assert deliver(NOW, senders) == none(sent=1)
    assert senders[Channel.WECHAT].sent == [("openid-123", SUBJECT)]  # type: ignore[attr-defined]


# ------------------------------------------------------------------ two workers on PostgreSQL

# Long before any demo data: only this test's committed rows are ever due "now".
T0 = datetime(2000, 1, 1, tzinfo=timezone.utc)


@contextmanager
def committed_sms_rows(app: Flask, prefix: str, count: int) -> Iterator[list[str]]:
    """`count` pending SMS rows committed for everyone to see, deleted afterwards."""
    with app.app_context():
        person = user("handler_tianshui")
        person.phone = "13800002222"
        rows = [
            r
            for i in range(count)
            for r in rows_for(Message(kind="comment", subject=SUBJECT, body=BODY, dedupe_base=f"{prefix}{i:03d}"), [person], T0)
            if r["channel"] == Channel.SMS
        ]
        db.session.rollback()  # the phone was only needed to build the rows
        insert_rows(rows)
        db.session.commit()
    try:
        yield [r["dedupe_key"] for r in rows]
    finally:
        with app.app_context():
            db.session.execute(delete(Notification).where(Notification.dedupe_key.like(f"{prefix}%")))
            db.session.commit()


@contextmanager
def using(session: Session) -> Iterator[None]:
    original = db.session
    db.session = session  # type: ignore[assignment]
    try:
        yield
    finally:
        db.session = original


def test_two_claimers_on_postgresql_never_get_the_same_rows(app: Flask, backend: str) -> None:
    if backend != "postgis":
        pytest.skip("SQLite has no row locks; its worker runs alone under a lock file")
    with committed_sms_rows(app, "claim-test:", 10) as keys, app.app_context():
        with db.engine.connect() as conn_a, db.engine.connect() as conn_b:
            first, second = Session(bind=conn_a), Session(bind=conn_b)
            # Without SKIP LOCKED the second claim would wait for the first: fail instead of hanging.
            second.execute(text("SET lock_timeout = '3s'"))
            with using(first):
                a = {r.dedupe_key for r in outbox.claim_due(T0, 4)}
            with using(second):
                b = {r.dedupe_key for r in outbox.claim_due(T0, 100)}
            assert len(a) == 4 and len(b) == 6
            assert a.isdisjoint(b) and a | b == set(keys)
            first.rollback()  # the first worker dies: its rows become claimable again
            with using(first):
                c = {r.dedupe_key for r in outbox.claim_due(T0, 100)}
            assert c == a
            first.close()
            second.close()


def test_two_workers_on_postgresql_send_each_message_once(app: Flask, backend: str, gateway: Gateway) -> None:
    if backend != "postgis":
        pytest.skip("SQLite has no row locks; its worker runs alone under a lock file")
    gateway.delay = 0.05  # slow enough that both workers are mid-batch at once
    senders = senders_from_config({"SMS_WEBHOOK_URL": gateway.url})
    start = threading.Barrier(2)
    results: dict[str, dict[str, int]] = {}
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        total = none()
        try:
            with app.app_context():  # its own app context, so its own session and connection
                start.wait()
                while True:
                    counts = outbox.deliver_due(T0, senders, batch=3, max_attempts=8, backoff_seconds=30)
                    db.session.commit()  # a job commits once per batch
                    total = {k: total[k] + counts[k] for k in total}
                    if not any(counts.values()):
                        break
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        results[name] = total

    with committed_sms_rows(app, "two-workers:", 12) as keys:
        threads = [threading.Thread(target=worker, args=(n,)) for n in ("a", "b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors, errors
        sent_keys = [p["key"] for p in gateway.received]
        assert sorted(sent_keys) == sorted(keys)  # every message, each exactly once
        assert results["a"]["sent"] + results["b"]["sent"] == 12
        assert results["a"]["sent"] > 0 and results["b"]["sent"] > 0  # both really worked at once
        with app.app_context():
            states = db.session.scalars(select(Notification.state).where(Notification.dedupe_key.in_(keys))).all()
            assert set(states) == {DeliveryState.SENT}
