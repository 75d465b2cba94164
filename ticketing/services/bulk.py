"""Set-based writes that behave the same on PostgreSQL and SQLite."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite

from ticketing.extensions import db


def insert_ignoring_duplicates(
    table: Table, rows: Sequence[dict[str, Any]], key: str, returning: str | Sequence[str] | None = None
) -> Any:
    """INSERT many rows, silently skipping those whose unique `key` exists already.

    Returns the number of rows inserted; with `returning` a column name, the list of that
    column's values for the rows actually inserted; with a sequence of names, those rows as
    tuples (both dialects support RETURNING here). The database, not a lock, guarantees
    that a step happens once.
    """
    if not rows:
        return [] if returning else 0
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(table).on_conflict_do_nothing(index_elements=[key])
    if isinstance(returning, str):
        result = db.session.execute(stmt.returning(table.c[returning]), list(rows))
        return list(result.scalars())
    if returning:
        result = db.session.execute(stmt.returning(*(table.c[c] for c in returning)), list(rows))
        return [tuple(r) for r in result]
    result = db.session.execute(stmt.returning(table.c[key]), list(rows))
    return len(result.all())
