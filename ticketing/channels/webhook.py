"""SMS and WeChat through an HTTP gateway: one JSON POST per message (urllib, no extra dependency).

The body is ``{"to", "subject", "text", "ticket", "key"}``; ``key`` (also sent as the
``Idempotency-Key`` header) is the outbox row's dedupe key, the same on every attempt,
so a gateway that honours it can drop the duplicate a crashed worker might send.
Replies: 2xx delivered; 5xx, 408, 429, timeouts and connection errors are retried;
any other status (4xx, and 3xx, which is never followed: a redirected POST would arrive
as a GET without its body) is permanent. `post` is that rule on its own; the partners'
signed webhooks (`ticketing.bridge.webhooks`) send through it too.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from http.client import HTTPException
from typing import Any

from ticketing.channels import DeliveryError, Outgoing

# Statuses below 500 that still mean "try again later".
RETRYABLE_4XX = frozenset({408, 429})


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib then raises HTTPError with the 3xx status


class WebhookSender:
    """Posts each message as JSON to one gateway URL."""

    def __init__(self, url: str, *, timeout: float = 10.0, token: str | None = None) -> None:
        scheme = urllib.parse.urlsplit(url).scheme
        if scheme not in ("http", "https"):
            # Checked when the worker starts, so a typo never reaches a delivery attempt.
            raise ValueError(f"webhook URL must be http or https, not {url!r}")
        self.url = url
        self.timeout = timeout
        self.token = token
        self._opener = urllib.request.build_opener(_NoRedirects)

    def send(self, message: Outgoing) -> None:
        """Deliver one message; raises `DeliveryError` (transient or not) on failure."""
        if not message.address.strip():
            raise DeliveryError("no address", transient=False)
        payload = {
            "to": message.address.strip(),
            "subject": message.subject,
            "text": message.body,
            "ticket": message.ticket_id,
            "key": message.dedupe_key,
        }
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Accept": "application/json",
            "Idempotency-Key": message.dedupe_key,
        }
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        post(self.url, json.dumps(payload, ensure_ascii=False).encode("utf-8"), headers,
             timeout=self.timeout, opener=self._opener)


def post(
    url: str,
    data: bytes,
    headers: Mapping[str, str],
    *,
    timeout: float,
    opener: urllib.request.OpenerDirector | None = None,
) -> int:
    """POST `data` to `url` without following redirects; returns the 2xx status, or raises
    `DeliveryError` (transient for 5xx, 408, 429 and network faults, permanent otherwise).

    The error's ``__cause__`` is the `urllib.error.HTTPError` when the server answered, so a
    caller that logs statuses can read ``exc.__cause__.code``.
    """
    request = urllib.request.Request(url, data=data, headers=dict(headers), method="POST")
    try:
        with (opener or urllib.request.build_opener(_NoRedirects)).open(request, timeout=timeout) as response:
            response.read(65536)  # drain a little so the connection closes cleanly
            return int(response.status)
    except urllib.error.HTTPError as exc:
        status = exc.code
        detail = _snippet(exc)
        transient = status >= 500 or status in RETRYABLE_4XX
        raise DeliveryError(f"gateway replied {status}{detail}", transient=transient) from exc
    except (urllib.error.URLError, HTTPException, OSError) as exc:
        # Refused, reset, DNS, TLS, and timeouts (TimeoutError is an OSError).
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(f"gateway unreachable: {type(reason).__name__}: {reason}", transient=True) from exc


def _snippet(exc: urllib.error.HTTPError) -> str:
    """The start of an error reply's body, for `last_error`; never raises."""
    try:
        text = exc.read(300).decode("utf-8", "replace").strip()
    except Exception:  # the body is a courtesy; a broken one must not hide the status
        return ""
    finally:
        exc.close()
    return f": {text}" if text else ""
