"""The web edge: sign-in and the landing page (the full pages arrive with the web issue)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from flask import Blueprint, Flask, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from ticketing.errors import Unauthorized
from ticketing.extensions import db, login_manager
from ticketing.models import User
from ticketing.services import auth as auth_service
from ticketing.web import calendar_admin

bp = Blueprint("web", __name__, template_folder="templates", static_folder="static", static_url_path="/static/app")


def register_web(app: Flask) -> None:
    """Attach the pages and Flask-Login's user loader."""
    login_manager.login_view = "web.login"

    @login_manager.user_loader
    def _load(user_id: str) -> User | None:
        user = db.session.get(User, int(user_id)) if user_id.isdigit() else None
        return user if user is not None and user.active else None

    app.register_blueprint(bp)
    app.register_blueprint(calendar_admin.bp)


@bp.route("/")
def index() -> Any:
    """Landing page: who is signed in, where the API lives, and the worker's health line."""
    from ticketing.services import worker_runs

    sweep = next((run for run in worker_runs.latest() if run.job == "sweep"), None)
    return render_template("index.html", sweep=sweep)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """Username and password sign-in for the web pages."""
    if request.method == "POST":
        try:
            user = auth_service.authenticate(request.form.get("username", ""), request.form.get("password", ""))
        except Unauthorized:
            flash(_("Wrong username or password."), "error")
            return render_template("login.html"), 401
        login_user(user)
        return redirect(url_for("web.index"))
    return render_template("login.html")


@bp.route("/logout", methods=["POST"])
@login_required
def logout() -> Any:
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
    return {"current_user": current_user, "get_locale": get_locale, "year": datetime.now(timezone.utc).year}
