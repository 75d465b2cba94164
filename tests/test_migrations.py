"""The migrations build the models' schema on both databases, and go down and up again."""

from __future__ import annotations

import flask_migrate
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from tests.conftest import make_app


@pytest.fixture(params=["sqlite", "postgis"])
def fresh_app(request, tmp_path, postgis_url):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'm.db'}"
    else:
        import psycopg
        from sqlalchemy.engine import make_url

        base = make_url(postgis_url)
        admin = base.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute("DROP DATABASE IF EXISTS suishoupai_migrations")
            c.execute("CREATE DATABASE suishoupai_migrations")
        own = base.set(database="suishoupai_migrations")
        with psycopg.connect(own.set(drivername="postgresql").render_as_string(hide_password=False),
                             autocommit=True) as c:
            c.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        url = own.render_as_string(hide_password=False)
    app = make_app(url, tmp_path / "photos")
    yield app
    from ticketing.extensions import db

    with app.app_context():
        db.engine.dispose()


def test_migrations_match_the_models_and_round_trip(fresh_app):
    from ticketing.extensions import db

    with fresh_app.app_context():
        flask_migrate.upgrade()
        with db.engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"include_object": _include, "compare_type": False})
            assert compare_metadata(ctx, db.metadata) == []
        flask_migrate.downgrade(revision="base")
        tables = set(inspect(db.engine).get_table_names())
        assert not tables & {"tickets", "ticket_events", "org_units", "boundaries"}
        flask_migrate.upgrade()
        assert {"tickets", "ticket_events"} <= set(inspect(db.engine).get_table_names())


def _include(obj, name, type_, reflected, compare_to):
    # The databases' own tables (SpatiaLite metadata, PostGIS's spatial_ref_sys, alembic_version)
    # and GeoAlchemy2's spatial index naming are not ours to compare.
    from geoalchemy2 import alembic_helpers

    if type_ == "table" and reflected and compare_to is None:
        return False
    return alembic_helpers.include_object(obj, name, type_, reflected, compare_to)
