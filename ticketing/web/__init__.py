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

from flask import Blueprint, Flask, abort, current_app, flash, redirect, render_template, request, send_from_directory, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from ticketing.errors import Unauthorized
from ticketing.extensions import csrf, db, login_manager
from ticketing.models import User
from ticketing.services import auth as auth_service
from ticketing.web import calendar_admin, common

bp = Blueprint("web", __name__, template_folder="templates", static_folder="static", static_url_path="/static/app")

# Page areas, each a package `ticketing.web.<name>` exposing a blueprint `bp`; a missing one is
# skipped so an area can land on its own.
AREAS = ("deputy", "workbench", "supervision", "cockpit", "admin")
WEB_ROOT = Path(__file__).resolve().parent


def translation_directories() -> str:
    """Every catalog folder: the shared one first, then each area's (Flask-Babel merges them)."""
    dirs = [WEB_ROOT / "translations", *sorted(WEB_ROOT.glob("*/translations"))]
    return ";".join(str(d) for d in dirs if d.is_dir())


def _vendor_dirs() -> dict[str, str]:
    import xstatic.pkg.leaflet as leaflet

    return {"leaflet": leaflet.BASE_DIR}


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
