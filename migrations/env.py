"""Alembic environment for Flask-Migrate, on PostGIS and on SpatiaLite alike.

GeoAlchemy2's helpers keep SpatiaLite's own tables (spatial_ref_sys, geometry_columns,
the R*Tree index tables) out of autogenerate, and write geometry columns and their
spatial indexes with the operations each dialect needs.
"""

import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app
from geoalchemy2 import alembic_helpers

config = context.config
if config.config_file_name:
    fileConfig(config.config_file_name)
log = logging.getLogger("alembic.env")

migrate_ext = current_app.extensions["migrate"]
engine = migrate_ext.db.engine
target_metadata = migrate_ext.db.metadata
config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))


def _skip_empty(ctx, revision, directives):
    """No empty revision files from autogenerate; then GeoAlchemy2's rewriting."""
    if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
        directives[:] = []
        log.info("no schema changes")
        return
    alembic_helpers.writer.process_revision_directives(ctx, revision, directives)


# SpatiaLite's own tables, which GeoAlchemy2's filter does not know about.
SPATIALITE_TABLES = {"KNN", "KNN2", "data_licenses", "sql_statements_log", "ElementaryGeometries", "SpatialIndex"}


def _include_object(obj, name, type_, reflected, compare_to):
    if type_ == "table" and reflected and name in SPATIALITE_TABLES:
        return False
    return alembic_helpers.include_object(obj, name, type_, reflected, compare_to)


def _options():
    options = dict(migrate_ext.configure_args)
    options.update(
        target_metadata=target_metadata,
        include_object=_include_object,
        render_item=alembic_helpers.render_item,
        process_revision_directives=_skip_empty,
    )
    return options


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True, **_options())
    with context.begin_transaction():
        context.run_migrations()
else:
    with engine.connect() as connection:
        context.configure(connection=connection, **_options())
        with context.begin_transaction():
            context.run_migrations()
