"""Set-based writes that behave the same on PostgreSQL and SQLite."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import JSON, String, Table, text
from sqlalchemy.dialects import sqlite

from ticketing.extensions import db


def insert_ignoring_duplicates(
    table: Table, rows: Sequence[dict[str, Any]], key: str, returning: str | Sequence[str] | None = None
) -> Any:
    """INSERT many rows, silently skipping those whose unique `key` exists already.

    Returns the number of rows inserted; with `returning` a column name, the list of that
    column's values for the rows actually inserted; with a sequence of names, those rows as
    tuples. One statement per call: the database, not a lock, guarantees that a step
    happens once. Every row must have the same keys.
    """
    if not rows:
        return [] if returning else 0
    columns = (returning,) if isinstance(returning, str) else tuple(returning or (key,))
    if db.session.get_bind().dialect.name == "postgresql":
        inserted = _insert_unnest(table, rows, key, columns)
    else:
        stmt = sqlite.insert(table).on_conflict_do_nothing(index_elements=[key])
        result = db.session.execute(stmt.returning(*(table.c[c] for c in columns)), list(rows))
        inserted = [tuple(r) for r in result]
    if isinstance(returning, str):
        return [r[0] for r in inserted]
    if returning:
        return inserted
    return len(inserted)


def _insert_unnest(
    table: Table, rows: Sequence[dict[str, Any]], key: str, returning: tuple[str, ...]
) -> list[tuple[Any, ...]]:
    """INSERT rows, skipping those whose unique `key` exists already; returns the `returning`
    columns of the rows actually inserted.

    On PostgreSQL: one statement with one array parameter per column, joined through
    `unnest`, however many rows. The portable multi-row VALUES form costs the driver and the
    server per placeholder (a batch of 2,000 events has 24,000). Flushes nothing through the ORM.
    """
    session = db.session
    dialect = session.get_bind().dialect
    names = list(rows[0])
    params: dict[str, Any] = {}
    selected, arrays, aliases = [], [], []
    for i, name in enumerate(names):
        column = table.c[name]
        values = [row[name] for row in rows]
        if isinstance(column.type, JSON):
            dumps = getattr(dialect, "_json_serializer", None) or json.dumps  # what SQLAlchemy would send
            values = [None if v is None else dumps(v) for v in values]
            sql_type = "json"
        else:
            process = column.type.bind_processor(dialect)
            if process is not None:
                values = [process(v) for v in values]
            # Text, not VARCHAR(n): an explicit cast would cut an overlong value where the INSERT must refuse it.
            sql_type = "text" if isinstance(column.type, String) else column.type.compile(dialect=dialect)
        first = values[0]
        if all(v == first and type(v) is type(first) for v in values):
            # The same for every row (the time, the actor, the state...): sent once, not as an array.
            params[f"c{i}"] = first
            selected.append(f"CAST(:c{i} AS {sql_type})")
        else:
            params[f"a{i}"] = values
            arrays.append(f"CAST(:a{i} AS {sql_type}[])")
            aliases.append(f"a{i}")
            selected.append(f"u.a{i}")
    if arrays:
        source = f"unnest({', '.join(arrays)}) AS u({', '.join(aliases)})"
    else:  # every row alike: their dedupe keys are equal, so at most one is new
        source = "(SELECT 1) AS u"
    statement = text(
        f"INSERT INTO {table.name} ({', '.join(names)}) SELECT {', '.join(selected)} FROM {source} "
        f"ON CONFLICT ({key}) DO NOTHING RETURNING {', '.join(returning)}"
    )
    return [tuple(r) for r in session.execute(statement, params)]
