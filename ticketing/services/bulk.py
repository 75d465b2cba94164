"""Set-based writes that behave the same on PostgreSQL and SQLite."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite

from ticketing.extensions import db


def insert_ignoring_duplicates(
    table: Table, rows: Sequence[dict[str, Any]], key: str, returning: str | None = None
) -> Any:
    """INSERT many rows, silently skipping those whose unique `key` exists already.

    Returns the number of rows inserted, or with `returning` the list of that column's
    values for the rows actually inserted (both dialects support RETURNING here). One
    statement per call: the database, not a lock, guarantees that a step happens once.
    """
    if not rows:
        return [] if returning else 0
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(table).on_conflict_do_nothing(index_elements=[key])
    if returning:
        result = db.session.execute(stmt.returning(table.c[returning]), list(rows))
        return list(result.scalars())
    result = db.session.execute(stmt.returning(table.c[key]), list(rows))
    return len(result.all())
