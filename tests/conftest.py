"""Fixtures: the core suite runs on SpatiaLite and on PostGIS.

The schema comes from the migrations once per backend and run, with the Hangzhou demo
world (org tree, categories, calendar, street polygons, users) committed on top; each
test then runs inside a transaction that is rolled back (services' commits become
SAVEPOINT releases). PostGIS is the database at $TEST_DATABASE_URL when set (it is
wiped), otherwise a throwaway cluster started by pytest-postgresql.
"""

from __future__ import annotations

import glob
import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

os.environ.setdefault("SPATIALITE_LIBRARY_PATH", "mod_spatialite")

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from pytest_postgresql import factories
from sqlalchemy.orm import scoped_session, sessionmaker

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ("sqlite", "postgis")
# Monday 2 March 2026, 09:00 in Shanghai: a working day with known calendar data.
NOW = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)


def _pg_ctl() -> str:
    if os.geteuid() == 0:
        # pg_ctl refuses to run as root; the wrapper runs it as the postgres user.
        return str(ROOT / "scripts" / "pg_ctl_as_postgres")
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return found[-1] if found else "pg_ctl"


def _create_postgis(host: str, port: int, user: str, dbname: str, password: str | None, **_: Any) -> None:
    with psycopg.connect(host=host, port=port, user=user, dbname=dbname, password=password, autocommit=True) as c:
        c.execute("CREATE EXTENSION IF NOT EXISTS postgis")


postgresql_proc = factories.postgresql_proc(executable=_pg_ctl(), host="127.0.0.1", port=None, load=[_create_postgis])


@pytest.fixture(scope="session")
def postgis_url(request: pytest.FixtureRequest) -> str:
    """A PostGIS database URL with an empty public schema."""
    given = os.environ.get("TEST_DATABASE_URL")
    if given:
        with psycopg.connect(given.replace("+psycopg", ""), autocommit=True) as c:
            c.execute("DROP SCHEMA IF EXISTS public CASCADE")
            c.execute("CREATE SCHEMA public")
            c.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        return given
    proc = request.getfixturevalue("postgresql_proc")
    with psycopg.connect(host=proc.host, port=proc.port, user=proc.user, dbname="postgres", autocommit=True) as c:
        c.execute("DROP DATABASE IF EXISTS suishoupai_test")
        c.execute("CREATE DATABASE suishoupai_test")
    _create_postgis(proc.host, proc.port, proc.user, "suishoupai_test", None)
    return f"postgresql+psycopg://{proc.user}@{proc.host}:{proc.port}/suishoupai_test"


def own_postgis_app(postgis_url: str, name: str, photo_dir: Path) -> Flask:
    """The app on a fresh PostGIS database `name` of its own (dropped and created again), migrated.

    For tests whose data must be committed and seen by other connections (a live server, the fuzzer,
    the browser), so they cannot share the rolled-back session of the `app` fixture."""
    import flask_migrate
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(postgis_url)
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        c.execute(f"CREATE DATABASE {name}")
    own = url.set(database=name)
    with psycopg.connect(own.set(drivername="postgresql").render_as_string(hide_password=False), autocommit=True) as c:
        c.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    application = make_app(own.render_as_string(hide_password=False), photo_dir)
    with application.app_context():
        flask_migrate.upgrade()
    return application


def make_app(url: str, photo_dir: Path) -> Flask:
    from ticketing.app import create_app

    return create_app({"ENV_NAME": "testing", "DATABASE_URL": url, "PHOTO_DIR": str(photo_dir)})


@pytest.fixture(scope="session", params=BACKENDS)
def app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """The app on one backend, migrated, with the Hangzhou world committed."""
    import flask_migrate

    from ticketing.demo import build_hangzhou
    from ticketing.extensions import db

    base = tmp_path_factory.mktemp(request.param)
    if request.param == "sqlite":
        url = f"sqlite:///{base / 'test.db'}"
    else:
        url = request.getfixturevalue("postgis_url")
    application = make_app(url, base / "photos")
    with application.app_context():
        flask_migrate.upgrade()
        build_hangzhou(NOW)
        db.session.commit()
        db.session.remove()
    yield application
    with application.app_context():
        db.engine.dispose()


@contextmanager
def rolled_back(app: Flask) -> Iterator[Flask]:
    """An app context whose session lives in one transaction, rolled back at the end.

    The services' commits become SAVEPOINT releases, so nothing they write outlives the block.
    """
    from geo.routing import reset_cache
    from ticketing.extensions import db

    with app.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        original = db.session
        db.session = scoped_session(  # type: ignore[assignment]
            sessionmaker(bind=connection, join_transaction_mode="create_savepoint")
        )
        reset_cache()
        try:
            yield app
        finally:
            db.session.remove()
            db.session = original
            outer.rollback()
            connection.close()
            reset_cache()


@pytest.fixture
def ctx(app: Flask) -> Iterator[Flask]:
    """An app context whose session lives in a transaction rolled back after the test."""
    with rolled_back(app) as context:
        yield context


@pytest.fixture
def backend(app: Flask) -> str:
    return "sqlite" if app.config["DATABASE_URL"].startswith("sqlite") else "postgis"


@pytest.fixture
def client(ctx: Flask) -> FlaskClient:
    return ctx.test_client()


def jpeg(color: tuple[int, int, int] = (200, 40, 40), size: tuple[int, int] = (64, 48), exif: bytes | None = None) -> bytes:
    """A small real JPEG made on the spot."""
    out = io.BytesIO()
    img = Image.new("RGB", size, color)
    if exif is not None:
        img.save(out, format="JPEG", exif=exif)
    else:
        img.save(out, format="JPEG")
    return out.getvalue()


class Api:
    """A thin client for /api/v1 that signs in as demo users."""

    def __init__(self, client: FlaskClient):
        self.client = client
        self.tokens: dict[str, str] = {}

    def token(self, username: str) -> str:
        if username not in self.tokens:
            from ticketing.demo import DEMO_PASSWORD

            resp = self.client.post("/api/v1/auth/token", json={"username": username, "password": DEMO_PASSWORD})
            assert resp.status_code == 201, resp.json
            self.tokens[username] = resp.json["token"]
        return self.tokens[username]

    def headers(self, username: str | None, extra: dict[str, str] | None = None) -> dict[str, str]:
        h = {"Authorization": f"Bearer {self.token(username)}"} if username else {}
        return {**h, **(extra or {})}

    def get(self, path: str, as_: str | None, **kw: Any) -> Any:
        return self.client.get(path, headers=self.headers(as_), **kw)

    def post(self, path: str, as_: str | None, *, json: Any = None, photos: list[bytes] | None = None,
             data: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Any:
        if photos is not None or data is not None:
            form: dict[str, Any] = dict(data or {})
            if photos:
                form["photos"] = [(io.BytesIO(p), f"p{i}.jpg") for i, p in enumerate(photos)]
            return self.client.post(path, data=form, headers=self.headers(as_, headers),
                                    content_type="multipart/form-data")
        return self.client.post(path, json=json or {}, headers=self.headers(as_, headers))

    def report(self, as_: str = "deputy_wang", *, photos: list[bytes] | None = None, **fields: Any) -> Any:
        data = {"category": "city.litter", "description": "垃圾堆积", "lon": TIANSHUI[0], "lat": TIANSHUI[1]}
        data.update(fields)
        return self.post("/api/v1/tickets", as_, data=data, photos=photos if photos is not None else [jpeg()])


# A real grid-event point inside 天水街道 (from the 2018 data).
TIANSHUI = (120.1570240345, 30.2674745534)


@pytest.fixture
def api(client: FlaskClient) -> Api:
    return Api(client)


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's S3 server on a free local port for the whole run, reached over HTTP like S3 or MinIO.

    Fake credentials go into the environment, where boto3 looks for them in production too;
    no shared AWS config or endpoint of the machine running the tests can leak in.
    """
    from moto.server import ThreadedMotoServer

    nowhere = str(tmp_path_factory.mktemp("aws") / "none")
    with pytest.MonkeyPatch.context() as mp:
        for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                            "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": nowhere,
                            "AWS_SHARED_CREDENTIALS_FILE": nowhere}.items():
            mp.setenv(name, value)
        for name in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL",
                     "AWS_ENDPOINT_URL_S3"):
            mp.delenv(name, raising=False)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            yield f"http://{host}:{port}"
        finally:
            server.stop()


def s3_bucket(endpoint: str) -> tuple[Any, str]:
    """A new empty bucket on the test S3 server, and a boto3 client to look into it."""
    import uuid

    import boto3
    from botocore.config import Config

    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
    name = f"test-{uuid.uuid4().hex[:20]}"
    client.create_bucket(Bucket=name)
    return client, name


class Clock:
    """The API's request clock, frozen at `at` (Monday 2 March 2026 09:00 in Shanghai to start)."""

    def __init__(self) -> None:
        self.at = NOW

    def set(self, moment: datetime) -> None:
        self.at = moment.astimezone(timezone.utc)

    def advance(self, **delta: float) -> None:
        from datetime import timedelta

        self.at += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Freeze `ticketing.api.context.now`, the one clock every API view and `mutation` read."""
    import ticketing.api.context as context

    c = Clock()

    class Frozen(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            return c.at.astimezone(tz) if tz else c.at

    monkeypatch.setattr(context, "datetime", Frozen)
    return c
