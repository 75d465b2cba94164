"""The application factory: config → extensions → storage → blueprints → CLI."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from flask import Flask, request
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url

import config as config_module
from ticketing.extensions import api, babel, db, login_manager, migrate
from ticketing.settings import TicketSettings
from ticketing.storage import make_store

MIGRATIONS = str(Path(__file__).resolve().parent.parent / "migrations")


def create_app(test_config: dict[str, Any] | None = None, *, env: str | None = None) -> Flask:
    """Build the app; `test_config` overrides settings (the tests pass the database URL here)."""
    app = Flask(__name__, instance_relative_config=True)
    from ticketing.api import converters

    converters.install(app.url_map)  # before any route: an id beyond the ids' range names no row
    app.config.from_object(config_module.select(env or (test_config or {}).get("ENV_NAME")))
    _override_from_environment(app)
    if test_config:
        app.config.update(test_config)
    url = app.config["DATABASE_URL"]
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
    if url.startswith("sqlite"):
        _prepare_sqlite(app, url)
    from ticketing.web import translation_directories

    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", translation_directories())
    app.config["OPENAPI_VERSION"] = "3.0.3"
    app.config["API_TITLE"] = "Suishoupai API"
    app.config["API_VERSION"] = "v1"
    app.config["OPENAPI_URL_PREFIX"] = "/api/v1"
    app.config["OPENAPI_JSON_PATH"] = "openapi.json"

    db.init_app(app)
    if url.startswith("sqlite"):
        with app.app_context():
            _attach_sqlite_listeners(db.engine)
    migrate.init_app(app, db, directory=MIGRATIONS, render_as_batch=True, compare_type=True)
    login_manager.init_app(app)
    babel.init_app(app, locale_selector=_select_locale)

    @app.before_request
    def _fresh_locale() -> None:
        # Flask-Babel caches the locale on the app context; an outer one (tests, CLI) outlives
        # requests, so each request chooses again.
        from flask_babel import refresh

        refresh()

    app.extensions["photo_store"] = make_store(app.config)
    app.extensions["ticket_settings"] = TicketSettings.from_config(app.config)

    from ticketing.api import register_api
    from ticketing.web import register_web

    register_api(app, api)
    register_web(app)

    from ticketing.extensions import csrf
    from ticketing.open311 import bp as open311_bp

    # Open311 clients authenticate with api_key, never with the web session: no CSRF token.
    app.register_blueprint(open311_bp)
    csrf.exempt(open311_bp)

    from ticketing import ratelimit

    ratelimit.init_app(app)

    from ticketing.cli import register_cli

    register_cli(app)
    return app


def _override_from_environment(app: Flask) -> None:
    """Settings from the environment: SUISHOUPAI_<NAME>, plus DATABASE_URL and SECRET_KEY."""
    for key in list(app.config):
        value = os.environ.get(f"SUISHOUPAI_{key}")
        if value is not None:
            app.config[key] = _like(app.config[key], value)
    for key in ("DATABASE_URL", "SECRET_KEY"):
        if os.environ.get(key):
            app.config[key] = os.environ[key]


def _like(default: Any, value: str) -> Any:
    """An environment string as the type of the setting's default (bool, int, float, or JSON)."""
    if isinstance(default, bool):
        return value.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        return int(value)
    if isinstance(default, float):
        return float(value)
    if isinstance(default, (list, tuple, dict)):
        import json

        return json.loads(value)
    return value


def _prepare_sqlite(app: Flask, url: str) -> None:
    os.environ.setdefault("SPATIALITE_LIBRARY_PATH", "mod_spatialite")
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    if not hasattr(sqlite3.Connection, "enable_load_extension"):
        raise RuntimeError(
            "this Python's sqlite3 cannot load extensions (SpatiaLite); build the venv from "
            "Debian's /usr/bin/python3, as the Makefile does"
        )
    # Web and worker share the file: wait for the write lock rather than fail at once.
    app.config["SQLALCHEMY_ENGINE_OPTIONS"].setdefault("connect_args", {"timeout": 30})


def _attach_sqlite_listeners(engine: Engine) -> None:
    from geoalchemy2 import load_spatialite

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # pysqlite's own transaction handling breaks SAVEPOINT; let SQLAlchemy emit BEGIN.
        dbapi_conn.isolation_level = None
        load_spatialite(dbapi_conn, init_mode="WGS84")
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA busy_timeout = 30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN")


def _select_locale() -> str | None:
    from flask_login import current_user

    lang = request.args.get("lang") or request.cookies.get("lang")
    if lang in ("zh", "en"):
        return lang
    if getattr(current_user, "is_authenticated", False):
        return current_user.locale
    # Chinese unless the person chose otherwise: the browser's language is not a choice.
    return "zh"
