"""Email over SMTP (smtplib): one connection per message, UTF-8 subject and body."""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from ticketing.channels import DeliveryError, Outgoing


class SmtpSender:
    """Sends each message as a plain-text email from `mail_from` through one SMTP server."""

    def __init__(
        self,
        host: str,
        port: int = 25,
        *,
        mail_from: str,
        user: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        implicit_tls: bool = False,
        timeout: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        self.mail_from = mail_from
        self.user = user
        self.password = password
        self.starttls = starttls
        self.implicit_tls = implicit_tls
        self.timeout = timeout

    def send(self, message: Outgoing) -> None:
        """Deliver one message; raises `DeliveryError` (transient or not) on failure."""
        email = self.compose(message)
        # A fresh connection per message: simple and robust against relays that drop idle
        # connections; the outbox keeps batches small, so the handshakes are cheap.
        try:
            with self._connect() as smtp:
                if self.starttls and not self.implicit_tls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.user:
                    smtp.login(self.user, self.password or "")
                smtp.send_message(email)
        except smtplib.SMTPRecipientsRefused as exc:
            # One recipient per message: it was refused. 5xx means the address is bad for good.
            codes = [code for code, _ in exc.recipients.values()]
            raise DeliveryError(f"recipient refused: {_replies(exc)}", transient=not all(c >= 500 for c in codes)) from exc
        except smtplib.SMTPDataError as exc:
            # The server read the message and refused it (5xx: e.g. policy or content); 4xx: later.
            raise DeliveryError(f"message refused: {exc.smtp_code} {_text(exc.smtp_error)}", transient=exc.smtp_code < 500) from exc
        except smtplib.SMTPResponseException as exc:
            # Sender, HELO or authentication refused: our configuration or the server's state,
            # not this message. Retried (the attempts are bounded) so fixing the settings helps.
            raise DeliveryError(f"SMTP {exc.smtp_code} {_text(exc.smtp_error)}", transient=True) from exc
        except (smtplib.SMTPException, OSError) as exc:
            # Connection refused or dropped, timeouts, TLS failures.
            raise DeliveryError(f"SMTP {type(exc).__name__}: {exc}", transient=True) from exc

    def compose(self, message: Outgoing) -> EmailMessage:
        """The email for one outbox row; an unusable address is a permanent failure."""
        address = message.address.strip()
        if not address or "@" not in address:
            raise DeliveryError(f"not an email address: {address!r}", transient=False)
        email = EmailMessage()
        try:
            email["From"] = self.mail_from
            email["To"] = address
            # Subjects are one line; a stray newline must not become a header break.
            email["Subject"] = " ".join(message.subject.split())
            email["Date"] = formatdate(localtime=False, usegmt=True)
            email["Message-ID"] = message_id(message.dedupe_key, self.mail_from)
        except ValueError as exc:  # CR/LF or unparseable address: header injection refused
            raise DeliveryError(f"bad header: {exc}", transient=False) from exc
        email.set_content(message.body, charset="utf-8")
        return email

    def _connect(self) -> smtplib.SMTP:
        if self.implicit_tls:
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=ssl.create_default_context())
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout)


def message_id(dedupe_key: str, mail_from: str) -> str:
    """A Message-ID derived from the outbox key, the same for every attempt at one message.

    If a crash makes the worker send a message twice, mail systems that collapse
    duplicates by Message-ID show it once.
    """
    domain = mail_from.rpartition("@")[2].strip("<> ") or "localhost"
    digest = hashlib.sha256(dedupe_key.encode()).hexdigest()[:32]
    return f"<{digest}@{domain}>"


def _replies(exc: smtplib.SMTPRecipientsRefused) -> str:
    return "; ".join(f"{code} {_text(reply)}" for code, reply in exc.recipients.values())


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
