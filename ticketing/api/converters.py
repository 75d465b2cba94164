"""The ``<int:...>`` URL converter of every route: an id beyond the ids' range names no row.

The ids are PostgreSQL ``integer`` (up to MAX_ID). Werkzeug's converter passes any number of
digits on, and a view that looks a larger one up makes PostgreSQL refuse the query ("integer
out of range", a 500). This converter hands such a number to the view as 0, an id no row has
(they start at 1), so every view answers with its own "not found" and needs no range check.
"""

from __future__ import annotations

from werkzeug.routing import IntegerConverter, Map

from ticketing.services.tickets import MAX_ID


class RowId(IntegerConverter):
    """``<int:...>`` whose values beyond MAX_ID arrive as 0 (no such row)."""

    def to_python(self, value: str) -> int:
        number = int(super().to_python(value))
        return number if number <= MAX_ID else 0


def install(url_map: Map) -> None:
    """Make `RowId` the ``int`` converter of `url_map`; call it before any route is added."""
    url_map.converters["int"] = RowId
