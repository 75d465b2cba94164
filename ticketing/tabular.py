"""Tables as CSV or XLSX: the one writer behind every export (tickets, KPIs, the supervision list).

A table is a title, columns and rows of plain values (str, int, float, bool, None, date,
datetime). CSV is UTF-8 with a byte-order mark so that Excel on a Chinese Windows opens it
with the right encoding; XLSX is written by openpyxl (write-only, streaming) with the title as a bold first row,
bold headers, frozen panes and real dates and numbers (not text), so the recipients can sort
and sum. Aware datetimes are written as local wall-clock time in ``timezone`` (spreadsheets
have no time zones), and the header says which zone.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

CSV_MIMETYPE = "text/csv; charset=utf-8"
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMATS = ("csv", "xlsx")


@dataclass(frozen=True)
class Column:
    """One column: the key of the row dicts, its heading, and an XLSX width in characters."""

    key: str
    heading: str
    width: int = 14


@dataclass
class Table:
    """What an export writes. ``notes`` are printed under the title in XLSX (filter, as-of time)."""

    title: str
    columns: Sequence[Column]
    rows: Iterable[dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    timezone: str = "Asia/Shanghai"


def _local(value: Any, zone: ZoneInfo) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(zone).replace(tzinfo=None) if value.tzinfo else value
    return value


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        # A cell starting like a formula is run by spreadsheets (CSV injection): quote it as text.
        return "'" + value
    return value


def to_csv(table: Table) -> bytes:
    """The table as UTF-8 CSV with a BOM: a header row of headings, then the rows."""
    zone = ZoneInfo(table.timezone)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([c.heading for c in table.columns])
    for row in table.rows:
        writer.writerow([_csv_cell(_local(row.get(c.key), zone)) for c in table.columns])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(table: Table) -> bytes:
    """The table as an XLSX workbook of one sheet: title, notes, headings, rows.

    Written in openpyxl's write-only mode, row by row, so memory stays flat with the row
    count (100k tickets would take a gigabyte as an in-memory workbook)."""
    zone = ZoneInfo(table.timezone)
    book = Workbook(write_only=True)
    sheet = book.create_sheet(table.title[:31] or "Sheet1")  # Excel's limit on sheet names
    for index, column in enumerate(table.columns, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = column.width
    header_row = 2 + len(table.notes)
    sheet.freeze_panes = f"A{header_row + 1}"
    title = WriteOnlyCell(sheet, value=table.title)
    title.font = Font(bold=True, size=14)
    sheet.append([title])
    for note in table.notes:
        sheet.append([note])
    headings = []
    for c in table.columns:
        cell = WriteOnlyCell(sheet, value=c.heading)
        cell.font = Font(bold=True)
        headings.append(cell)
    sheet.append(headings)
    for row in table.rows:
        cells: list[Any] = []
        for c in table.columns:
            value = _local(row.get(c.key), zone)
            if isinstance(value, str) and value[:1] == "=":
                value = "'" + value  # never a formula from user text
            if isinstance(value, (datetime, date)):
                cell = WriteOnlyCell(sheet, value=value)
                cell.number_format = "yyyy-mm-dd hh:mm" if isinstance(value, datetime) else "yyyy-mm-dd"
                value = cell
            cells.append(value)
        sheet.append(cells)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def render(table: Table, fmt: str) -> tuple[bytes, str]:
    """The table in ``fmt`` ("csv" or "xlsx") and its mimetype; ValueError for another format."""
    if fmt == "csv":
        return to_csv(table), CSV_MIMETYPE
    if fmt == "xlsx":
        return to_xlsx(table), XLSX_MIMETYPE
    raise ValueError(f"unknown export format: {fmt}")


def content_disposition(filename: str) -> str:
    """An attachment header that carries a Chinese file name (RFC 6266 / 5987) with an ASCII fallback."""
    from urllib.parse import quote

    fallback = filename.encode("ascii", "ignore").decode() or "export"
    fallback = fallback.replace('"', "")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"
