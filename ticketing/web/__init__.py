"""The web edge: sign-in, the landing page, the shared layout, and the page areas.

Areas are blueprint packages listed in ``AREAS``; each brings its templates (``<area>/...``),
its header links (``ticketing.web.common.register_nav``) and its own translation catalog
(``<area>/translations``), so they can grow independently. Forms are protected by
Flask-WTF's CSRF check; the JSON API is exempt (it authenticates by bearer token, and a
session-authenticated API call must send the X-CSRFToken header: ``api.context``).
Third-party browser code (Leaflet) is served from its PyPI XStatic package, never copied.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import importlib
from pathlib import Path

from flask import (
    Blueprint, Flask, abort, current_app, flash, g, make_response, redirect, render_template, request,
    send_from_directory, session, url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from ticketing import otp
from ticketing.errors import DomainError, TooManyRequests, Unauthorized
from ticketing.extensions import csrf, db, login_manager
from ticketing.models import User
from ticketing.ratelimit import client_address
from ticketing.services import auth as auth_service
from ticketing.web import calendar_admin, common

bp = Blueprint("web", __name__, template_folder="templates", static_folder="static", static_url_path="/static/app")

# Page areas, each a package `ticketing.web.<name>` exposing a blueprint `bp`; a missing one is
# skipped so an area can land on its own.
AREAS = ("deputy", "workbench", "supervision", "cockpit", "admin", "citizen")
WEB_ROOT = Path(__file__).resolve().parent


def translation_directories() -> str:
    """Every catalog folder: the shared one first, then each area's (Flask-Babel merges them)."""
    dirs = [WEB_ROOT / "translations", *sorted(WEB_ROOT.glob("*/translations"))]
    return ";".join(str(d) for d in dirs if d.is_dir())


def _vendor_dirs() -> dict[str, str]:
    import xstatic.pkg.leaflet as leaflet

    from ticketing.api import docs_page

    return {"leaflet": leaflet.BASE_DIR, docs_page.VENDOR_NAME: docs_page.swagger_ui_dir()}


def register_web(app: Flask) -> None:
    """Attach the pages and Flask-Login's user loader."""
    login_manager.login_view = "web.login"

    @login_manager.user_loader
    def _load(user_id: str) -> User | None:
        user = db.session.get(User, int(user_id)) if user_id.isdigit() else None
        return user if user is not None and user.active else None

    csrf.init_app(app)
    app.register_blueprint(bp)
    app.register_blueprint(calendar_admin.bp)
    for name in AREAS:
        try:
            area = importlib.import_module(f"ticketing.web.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"ticketing.web.{name}":
                raise
            continue
        if hasattr(area, "bp"):
            app.register_blueprint(area.bp)
    for name, blueprint in app.blueprints.items():
        if name.startswith("api_"):
            csrf.exempt(blueprint)


@bp.route("/static/vendor/<package>/<path:filename>")
def vendor(package: str, filename: str) -> Any:
    """Browser libraries from their Python packages (XStatic), cached for a day."""
    folder = _vendor_dirs().get(package)
    if folder is None:
        abort(404)
    return send_from_directory(folder, filename, max_age=86400)


@bp.route("/")
def index() -> Any:
    """Landing page: who is signed in, where the API lives, and the worker's health line."""
    from ticketing.services import worker_runs

    sweep = next((run for run in worker_runs.latest() if run.job == "sweep"), None)
    return render_template("index.html", sweep=sweep)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """Username and password sign-in for the web pages, under the sign-in throttle; users with
    one-time codes continue at /login/code."""
    if request.method == "POST":
        try:
            result = auth_service.sign_in(
                request.form.get("username", ""),
                request.form.get("password", ""),
                ip=client_address(),
                now=common.request_now(),
                policy=auth_service.LoginPolicy.from_config(current_app.config),
                otp_sender=otp.sender_from_config(current_app.config),
            )
        except DomainError as exc:
            return _sign_in_refused(exc, "login.html")
        db.session.commit()
        _new_session()
        if not result.complete:
            session["otp_challenge"] = result.otp_challenge
            session["otp_channel"] = result.otp_channel
            return redirect(url_for("web.login_code"))
        _start_session(result.user)
        return redirect(url_for("web.index"))
    return render_template("login.html")


@bp.route("/login/code", methods=["GET", "POST"])
def login_code() -> Any:
    """The second step for users with one-time codes: the code sent by SMS or email."""
    challenge = session.get("otp_challenge")
    if not challenge:
        return redirect(url_for("web.login"))
    if request.method == "POST":
        try:
            user = auth_service.finish_otp(
                challenge,
                request.form.get("code", ""),
                ip=client_address(),
                now=common.request_now(),
                policy=auth_service.LoginPolicy.from_config(current_app.config),
            )
        except DomainError as exc:
            if exc.code == "otp_expired":
                session.pop("otp_challenge", None)
                return _sign_in_refused(exc, "login.html")
            return _sign_in_refused(exc, "login_code.html")
        db.session.commit()
        _new_session()
        _start_session(user)
        return redirect(url_for("web.index"))
    return render_template("login_code.html", channel=session.get("otp_channel", ""))


def _new_session() -> None:
    """A fresh session at every sign-in (Flask's session is the cookie): nothing set before it, by
    the person or by someone who planted the cookie, carries over, the CSRF token included."""
    session.clear()
    # Flask-WTF keeps the request's token in `g` too; it belonged to the old session.
    g.pop(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)


def _start_session(user: User) -> None:
    # Permanent: the cookie expires after PERMANENT_SESSION_LIFETIME instead of living on in the browser.
    session.permanent = True
    login_user(user)


def _sign_in_refused(exc: DomainError, template: str) -> Any:
    """The sign-in page again with the reason, the error's status and headers (429's Retry-After)."""
    if isinstance(exc, (Unauthorized, TooManyRequests)):
        # The failure was recorded for the throttle: keep it, unlike a form's usual rollback.
        db.session.commit()
    else:
        db.session.rollback()
    messages = {
        "bad_credentials": _("Wrong username or password."),
        "credentials_too_long": _("The username or the password is too long."),
        "otp_invalid": _("Wrong code. Check the latest message and try again."),
        "otp_expired": _("The code has expired or was used up. Sign in again for a new one."),
        "otp_too_long": _("Wrong code. Check the latest message and try again."),
        "otp_not_sent": _("The sign-in code could not be sent. Try again later or ask the administrator."),
    }
    if isinstance(exc, TooManyRequests):
        minutes = max(1, -(-exc.retry_after // 60))
        message = _("Too many failed sign-ins. Try again in %(minutes)d minutes.", minutes=minutes)
    else:
        message = messages.get(exc.code, _("Sign-in failed."))
    flash(message, "error")
    resp = make_response(render_template(template, channel=session.get("otp_channel", "")), exc.status)
    resp.headers.update(getattr(exc, "headers", None) or {})
    return resp


@bp.route("/logout", methods=["POST"])
@login_required
def logout() -> Any:
    """Sign out: the whole session goes, not just the user in it."""
    _new_session()
    # After the clearing: Flask-Login notes in the new session that a remember cookie must go too.
    logout_user()
    return redirect(url_for("web.login"))


@bp.route("/lang/<code>")
def set_language(code: str) -> Any:
    """Switch the interface language (zh or en) with a cookie."""
    resp = redirect(request.referrer or url_for("web.index"))
    if code in ("zh", "en"):
        resp.set_cookie("lang", code, max_age=365 * 24 * 3600, samesite="Lax")
    return resp


@bp.app_context_processor
def _inject() -> dict[str, Any]:
    return {
        "current_user": current_user,
        "get_locale": get_locale,
        "year": datetime.now(timezone.utc).year,
        "nav_items": common.nav_for(current_user),
        "map_config": {
            "tiles": current_app.config.get("MAP_TILE_URL", ""),
            "attribution": current_app.config.get("MAP_TILE_ATTRIBUTION", ""),
        },
    }
