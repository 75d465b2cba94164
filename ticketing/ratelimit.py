"""Rate limits on intake (Flask-Limiter), and the client address they and the sign-in throttle use.

Reports can be taken in through three doors: ``POST /api/v1/tickets`` (phones, the page's
offline queue), the deputy's report page and Open311's ``POST requests``. Each carries
`intake_limit`, which applies two limits shared by all three doors:

* per signed-in user, ``INTAKE_LIMIT_PER_USER`` (default 30/hour), counting accepted reports
  (answers below 400), so a deputy's typos do not use up the allowance;
* per client address, ``INTAKE_LIMIT_PER_IP`` (default 60/hour), counting every attempt.

Over a limit the answer is 429 with Retry-After (and X-RateLimit-* headers): in the API's
error envelope under /api/, in GeoReport's error list under /open311/, as a page otherwise.

Counters live in ``RATELIMIT_STORAGE_URI``: "memory://" by default, which counts per process
(each gunicorn worker has its own); give a multi-worker deployment a shared store such as
``redis://host:6379``. ``RATE_LIMITS_ENABLED`` switches the limits off (the Testing config
does, except in the tests that switch them on).

Behind a reverse proxy, set ``TRUSTED_PROXIES`` to the number of proxies in front of the
app: the client address is then read from X-Forwarded-For (Werkzeug's ProxyFix); without
it every request would seem to come from the proxy and share one allowance.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Response, current_app, render_template, request
from flask_limiter import Limiter, RequestLimit
from werkzeug.middleware.proxy_fix import ProxyFix

F = TypeVar("F", bound=Callable[..., Any])


def client_address() -> str:
    """The client's IP address (the proxy's X-Forwarded-For when TRUSTED_PROXIES says so)."""
    return request.remote_addr or "unknown"


# Created unbound, attached in the factory (`init_app`), like the other extensions.
limiter = Limiter(key_func=client_address)


def init_app(app: Flask) -> None:
    """Attach the limiter (and ProxyFix when the app sits behind TRUSTED_PROXIES proxies)."""
    proxies = int(app.config.get("TRUSTED_PROXIES") or 0)
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)  # type: ignore[method-assign]
    limiter.init_app(app)


@limiter.request_filter
def _switched_off() -> bool:
    # Read per request, not at start-up, so that a test can switch the limits on for itself.
    return not current_app.config.get("RATE_LIMITS_ENABLED", True)


def _user_key() -> str:
    """Who is reporting: the bearer token's user, the Open311 api_key's, or the session's.
    Anonymous callers (refused later anyway) share their address's key."""
    from flask_login import current_user

    from ticketing.api.context import now
    from ticketing.services import auth

    token = ""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        token = header[7:].strip()
    elif request.blueprint == "open311":
        token = request.values.get("api_key", "")
    if token:
        user = auth.user_for_token(token, now())
        return f"user:{user.id}" if user is not None else f"anonymous:{client_address()}"
    if getattr(current_user, "is_authenticated", False):
        return f"user:{current_user.id}"
    return f"anonymous:{client_address()}"


def _breached(_limit: RequestLimit) -> Response | None:
    """The 429 answer in the door's own format (the API's envelope is made by its error handler)."""
    if request.path.startswith("/api/"):
        return None
    if request.blueprint == "open311":
        from ticketing.open311.formats import XML, Open311Error, error_response

        fmt = (request.view_args or {}).get("fmt", XML)
        return error_response(fmt, [Open311Error(429, "too many requests; try again later")])
    return Response(render_template("rate_limited.html"), status=429, mimetype="text/html")


_per_user = limiter.shared_limit(
    lambda: str(current_app.config["INTAKE_LIMIT_PER_USER"]),
    scope="intake-user",
    key_func=_user_key,
    deduct_when=lambda response: response.status_code < 400,
    on_breach=_breached,
)
_per_address = limiter.shared_limit(
    lambda: str(current_app.config["INTAKE_LIMIT_PER_IP"]),
    scope="intake-ip",
    key_func=client_address,
    on_breach=_breached,
)


def intake_limit(view: F) -> F:
    """Limit a view that takes in reports, per user and per address (the module's docstring)."""
    return _per_address(_per_user(view))  # type: ignore[return-value]
