"""Import a hotline's export (12345, 311) as tickets, through a documented column mapping.

A mapping (`Mapping`, a small JSON file; `mappings/la311.json` ships with the project) says
which column holds the hotline's ticket number, its creation time (formats and zone), the
request type (with a table from the hotline's types to our category codes and a default),
the coordinates (and their CRS), the address, a description, the agency, and optionally the
unit the hotline itself recorded, to check our routing against. docs/hotline.md has the
reference.

Every row ends in exactly one of three outcomes, so the counts reconcile
(created + skipped + rejected = rows):

* created: a dispatched ticket, routed by polygon like every report
  (`ticketing.services.tickets.report_from_channel`, `ticketing.services.dispatch.route`);
* skipped: the hotline's number was imported before (``already_imported``) or appeared
  earlier in this file (``duplicate_in_file``): importing twice creates nothing;
* rejected, with the first failing reason in this order: ``no_external_id``,
  ``bad_external_id``, ``bad_created_at``, ``created_in_future``, ``unknown_request_type``
  (no table entry, no default), ``type_not_imported`` (the table maps it to null),
  ``no_coordinates``, ``bad_coordinates``, ``outside_boundaries``.

A file that cannot be read as a whole (not UTF-8 text, not CSV, broken JSON, a required
column missing, a mapping naming a category we do not have) is refused before anything is
written, with an `InvalidInput` whose code says which. `plan` only reads (the dry run);
`apply` writes the planned tickets in batches, re-checking the numbers of each batch just
before it is written, so two imports of one file never create a ticket twice.
"""

from __future__ import annotations

import csv
import io
import json
import math
import string
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import String, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY

from geo.crs import SUPPORTED_CRS, to_wgs84
from geo.routing import current_router
from ticketing.errors import InvalidInput
from ticketing.extensions import db
from ticketing.models import Category, Ticket
from ticketing.services import dispatch
from ticketing.services import tickets as ticket_service
from ticketing.settings import TicketSettings
from ticketing.tabular import Column, Table

MAPPINGS = Path(__file__).resolve().parent / "mappings"
REQUIRED_FIELDS = ("external_id", "created_at", "request_type", "lat", "lon")
OPTIONAL_FIELDS = ("address", "description", "agency", "expected_unit")
TEMPLATE_FIELDS = frozenset({"external_id", "created_at", "request_type", "address", "agency", "description"})
FORMATS = ("csv", "json")
# Rows per write batch: a few statements each, whatever the size (report_from_channel).
BATCH = 1000
# The JSON shapes accepted besides a bare array of records (Socrata, CKAN-style wrappers).
JSON_RECORD_KEYS = ("data", "records", "rows", "requests")

CREATED, SKIPPED, REJECTED = "created", "skipped", "rejected"
REASONS = (
    "no_external_id", "bad_external_id", "bad_created_at", "created_in_future", "unknown_request_type",
    "type_not_imported", "no_coordinates", "bad_coordinates", "outside_boundaries",
)


# ---------------------------------------------------------------------------- the mapping


@dataclass(frozen=True)
class Mapping:
    """How one hotline's export becomes tickets (see the module docstring and docs/hotline.md)."""

    name: str
    source: str
    columns: dict[str, str | None]
    created_formats: tuple[str, ...]
    created_zone: str
    crs: str
    categories: dict[str, str | None]
    default_category: str | None
    title_template: str
    description_template: str
    expected_unit_code: str | None
    keep_columns: tuple[str, ...]

    @classmethod
    def from_dict(cls, data: Any) -> Mapping:
        """Validate a mapping document; raises InvalidInput(code="invalid_mapping") naming the problem."""
        def bad(message: str) -> InvalidInput:
            return InvalidInput(f"mapping: {message}", code="invalid_mapping")

        if not isinstance(data, dict):
            raise bad("a mapping is a JSON object")
        source = data.get("source")
        if not isinstance(source, str) or not 1 <= len(source) <= 32:
            raise bad("'source' (stored on every ticket) is a name of 1 to 32 characters")
        columns = data.get("columns")
        if not isinstance(columns, dict):
            raise bad("'columns' maps our fields to the export's column names")
        unknown = set(columns) - set(REQUIRED_FIELDS) - set(OPTIONAL_FIELDS)
        if unknown:
            raise bad(f"unknown fields in 'columns': {', '.join(sorted(unknown))}")
        for name in REQUIRED_FIELDS:
            if not isinstance(columns.get(name), str) or not columns[name].strip():
                raise bad(f"'columns.{name}' is required")
        for name, column in columns.items():
            if column is not None and not isinstance(column, str):
                raise bad(f"'columns.{name}' is a column name or null")
        created = data.get("created_at") or {}
        formats = created.get("formats") if isinstance(created, dict) else None
        if not isinstance(formats, list) or not formats or not all(isinstance(f, str) and f for f in formats):
            raise bad("'created_at.formats' lists strptime formats, tried in order")
        zone = created.get("timezone", "UTC")
        try:
            ZoneInfo(str(zone))
        except (ZoneInfoNotFoundError, ValueError):
            raise bad(f"unknown time zone {zone!r} in 'created_at.timezone'") from None
        crs = data.get("crs", "wgs84")
        if crs not in SUPPORTED_CRS:
            raise bad(f"'crs' is one of {', '.join(SUPPORTED_CRS)}")
        categories = data.get("categories", {})
        if not isinstance(categories, dict) or not all(v is None or isinstance(v, str) for v in categories.values()):
            raise bad("'categories' maps request types to category codes (or null: not imported)")
        default = data.get("default_category")
        if default is not None and not isinstance(default, str):
            raise bad("'default_category' is a category code or null")
        title = data.get("title_template", "{request_type}")
        description = data.get("description_template", "{request_type}: {address}")
        for key, template in (("title_template", title), ("description_template", description)):
            _check_template(key, template, TEMPLATE_FIELDS, bad)
        expected = data.get("expected_unit_code")
        if expected is not None:
            _check_template("expected_unit_code", expected, frozenset({"value"}), bad)
        keep = data.get("keep_columns", [])
        if not isinstance(keep, list) or not all(isinstance(k, str) for k in keep):
            raise bad("'keep_columns' lists column names kept on the report event")
        return cls(
            name=str(data.get("name") or source),
            source=source,
            columns={k: (v.strip() if isinstance(v, str) else None) for k, v in columns.items()},
            created_formats=tuple(formats),
            created_zone=str(zone),
            crs=crs,
            # Request types match after trimming and case-folding, like column names.
            categories={_key(k): v for k, v in categories.items()},
            default_category=default,
            title_template=title,
            description_template=description,
            expected_unit_code=expected,
            keep_columns=tuple(keep),
        )

    def column(self, field_name: str) -> str | None:
        """The (normalised) export column that holds one of our fields, if mapped."""
        name = self.columns.get(field_name)
        return _key(name) if name else None

    def category_codes(self) -> set[str]:
        """Every category code the mapping can produce."""
        codes = {c for c in self.categories.values() if c}
        return codes | ({self.default_category} if self.default_category else set())


def _check_template(key: str, template: Any, allowed: frozenset[str], bad: Callable[[str], InvalidInput]) -> None:
    if not isinstance(template, str):
        raise bad(f"'{key}' is a text with {{field}} placeholders")
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
        template.format(**{n: "1" for n in names})
    except (ValueError, KeyError, IndexError) as exc:
        raise bad(f"'{key}' is not a valid template: {exc}") from None
    if names - allowed:
        raise bad(f"'{key}' names unknown fields: {', '.join(sorted(names - allowed))} "
                  f"(allowed: {', '.join(sorted(allowed))})")


def load_mapping(spec: str | Path) -> Mapping:
    """A shipped mapping by name (``la311``) or a mapping file (``my_hotline.json``)."""
    path = Path(spec)
    if not path.suffix and (MAPPINGS / f"{spec}.json").is_file():
        path = MAPPINGS / f"{spec}.json"
    if not path.is_file():
        shipped = ", ".join(sorted(p.stem for p in MAPPINGS.glob("*.json")))
        raise InvalidInput(f"no mapping {str(spec)!r}: name a shipped one ({shipped}) or a JSON file",
                           code="unknown_mapping")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"mapping {path.name} is not valid JSON: {exc}", code="invalid_mapping") from None
    return Mapping.from_dict(data)


def _key(name: str) -> str:
    """Column names and request types match after trimming and case-folding."""
    return name.strip().casefold()


# ---------------------------------------------------------------------------- reading the file


def read_records(data: bytes, fmt: str, mapping: Mapping) -> list[dict[str, str]]:
    """The export's records as {normalised column: text}; refuses an unreadable file as a whole.

    Errors (InvalidInput): ``hotline_not_text`` (not UTF-8), ``hotline_not_csv``,
    ``hotline_broken_json``, ``hotline_bad_json`` (not a list of records),
    ``hotline_missing_columns`` (a required column absent from the export).
    """
    if fmt not in FORMATS:
        raise InvalidInput(f"format is one of {', '.join(FORMATS)}", code="invalid_format")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"the file is not UTF-8 text (byte {exc.start}): not a {fmt.upper()} export",
                           code="hotline_not_text") from None
    records, columns = _read_csv(text) if fmt == "csv" else _read_json(text)
    required = {f: mapping.column(f) for f in REQUIRED_FIELDS}
    missing = sorted({c for c in required.values() if c and c not in columns})
    if missing and (fmt == "csv" or records):
        raise InvalidInput(
            f"required columns missing from the file: {', '.join(missing)}",
            code="hotline_missing_columns",
            details={"missing": missing, "found": sorted(columns)[:60], "mapping": mapping.name},
        )
    return records


def _read_csv(text: str) -> tuple[list[dict[str, str]], set[str]]:
    if "\x00" in text:
        raise InvalidInput("the file contains NUL characters: not a CSV export", code="hotline_not_csv")
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise InvalidInput(f"not a CSV file: {exc}", code="hotline_not_csv") from None
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise InvalidInput("the file is empty: a CSV export starts with a header row", code="hotline_not_csv")
    header = [_key(h) for h in rows[0]]
    records = []
    for row in rows[1:]:
        if not any(cell.strip() for cell in row):
            continue  # blank lines, a trailing newline
        # Short rows read as empty cells; cells beyond the header are ignored.
        records.append({h: (row[i] if i < len(row) else "") for i, h in enumerate(header) if h})
    return records, set(header)


def _read_json(text: str) -> tuple[list[dict[str, str]], set[str]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"broken JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
                           code="hotline_broken_json") from None
    if isinstance(data, dict):
        lists = [data[k] for k in JSON_RECORD_KEYS if isinstance(data.get(k), list)]
        data = lists[0] if lists else None
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise InvalidInput(
            f"a JSON export is an array of records (objects), or an object with it under one of "
            f"{', '.join(JSON_RECORD_KEYS)}",
            code="hotline_bad_json",
        )
    records: list[dict[str, str]] = []
    columns: set[str] = set()
    for raw in data:
        record = {_key(str(k)): _text(v) for k, v in raw.items()}
        columns.update(record)
        records.append(record)
    return records, columns


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


# ---------------------------------------------------------------------------- the report


@dataclass
class RowOutcome:
    """What happened (or, in a dry run, would happen) to one record of the export."""

    index: int  # 1-based position among the export's records
    external_id: str
    outcome: str  # created | skipped | rejected
    reason: str | None = None
    category: str | None = None
    covering_unit: str | None = None  # the polygon that covers the point (None: outside, or no point)
    handling_unit: str | None = None
    expected_unit: str | None = None  # what the hotline recorded, as our unit code
    ticket_number: str | None = None
    lon: float | None = None
    lat: float | None = None
    item: ticket_service.ChannelReport | None = field(default=None, repr=False)

    @property
    def agrees(self) -> bool | None:
        """Whether our routing matches the hotline's recorded unit (None: nothing to compare)."""
        if self.expected_unit is None or self.lon is None:
            return None
        return self.covering_unit == self.expected_unit


@dataclass
class ImportReport:
    """Per-row outcomes of one import (or dry run), with reconciled counts and the routing check."""

    mapping: str
    source: str
    dry_run: bool
    rows: list[RowOutcome]

    def counts(self) -> dict[str, int]:
        """rows, created, skipped, rejected: the last three always add up to the first."""
        c = Counter(r.outcome for r in self.rows)
        return {"rows": len(self.rows), CREATED: c[CREATED], SKIPPED: c[SKIPPED], REJECTED: c[REJECTED]}

    def reasons(self) -> dict[str, int]:
        """Skipped and rejected rows counted by reason."""
        return dict(sorted(Counter(r.reason for r in self.rows if r.reason).items()))

    def disagreements(self) -> list[RowOutcome]:
        """Rows with a point and a recorded unit that our polygons place elsewhere (or nowhere)."""
        return [r for r in self.rows if r.agrees is False]

    def agreement(self) -> dict[str, Any]:
        """The routing check: of the rows with coordinates and a recorded unit, how many agree."""
        compared = [r for r in self.rows if r.agrees is not None]
        agreed = sum(1 for r in compared if r.agrees)
        outside = sum(1 for r in compared if r.covering_unit is None)
        return {
            "compared": len(compared),
            "agreed": agreed,
            "disagreed": len(compared) - agreed,
            "of_which_outside": outside,
            "rate": round(agreed / len(compared), 6) if compared else None,
        }

    def as_dict(self) -> dict[str, Any]:
        """The summary as plain data (the CLI prints it as JSON)."""
        return {
            "mapping": self.mapping,
            "source": self.source,
            "dry_run": self.dry_run,
            "counts": self.counts(),
            "reasons": self.reasons(),
            "routing_agreement": self.agreement(),
            "handling_units": len(self.by_unit()),
        }

    def by_unit(self) -> dict[str, int]:
        """Created (or, in a dry run, creatable) tickets by handling unit code."""
        return dict(sorted(Counter(r.handling_unit or "" for r in self.rows if r.outcome == CREATED).items()))

    def table(self, timezone_name: str = "UTC") -> Table:
        """Every row's outcome as a table for `ticketing.tabular.render` (CSV or XLSX)."""
        verb = "would be created" if self.dry_run else "created"
        columns = [
            Column("index", "row"), Column("external_id", "external id", 18),
            Column("outcome", "outcome"), Column("reason", "reason", 20), Column("category", "category", 20),
            Column("covering_unit", "routed to"), Column("handling_unit", "handling unit"),
            Column("expected_unit", "recorded unit"), Column("agrees", "agrees"),
            Column("ticket_number", "ticket"), Column("lon", "lon"), Column("lat", "lat"),
        ]
        rows = (
            {
                "index": r.index, "external_id": r.external_id,
                "outcome": verb if r.outcome == CREATED else r.outcome, "reason": r.reason,
                "category": r.category, "covering_unit": r.covering_unit, "handling_unit": r.handling_unit,
                "expected_unit": r.expected_unit, "agrees": r.agrees, "ticket_number": r.ticket_number,
                "lon": r.lon, "lat": r.lat,
            }
            for r in self.rows
        )
        title = f"Hotline import ({self.mapping}{', dry run' if self.dry_run else ''})"
        return Table(title=title, columns=columns, rows=rows, timezone=timezone_name)


# ---------------------------------------------------------------------------- plan and apply


def plan(
    records: Sequence[MappingABC[str, str]], mapping: Mapping, *, now: datetime, settings: TicketSettings
) -> ImportReport:
    """Decide every record's outcome and routing without writing anything (this is the dry run)."""
    categories = _categories(mapping)
    field_of = {f: mapping.column(f) for f in (*REQUIRED_FIELDS, *OPTIONAL_FIELDS)}
    zone = ZoneInfo(mapping.created_zone)
    ids = [_value(rec, field_of["external_id"]) for rec in records]
    known = _known_ids(mapping.source, ids)
    router = current_router(db.session)
    planned: set[str] = set()
    rows: list[RowOutcome] = []
    creating: list[_Pending] = []
    for index, (rec, ext) in enumerate(zip(records, ids, strict=True), start=1):
        row = RowOutcome(index=index, external_id=ext, outcome=REJECTED)
        rows.append(row)
        point, point_problem = _point(rec, field_of, mapping.crs)
        if point is not None:
            row.lon, row.lat = point
            placement = router.locate(*point) if router is not None else None
            row.covering_unit = placement.unit_code if placement is not None else None
        recorded = _value(rec, field_of["expected_unit"])
        if recorded and mapping.expected_unit_code:
            row.expected_unit = mapping.expected_unit_code.format(value=recorded)
        if not ext:
            row.reason = "no_external_id"
            continue
        if len(ext) > 64:
            row.reason = "bad_external_id"
            continue
        if ext in known or ext in planned:
            row.outcome, row.reason = SKIPPED, "already_imported" if ext in known else "duplicate_in_file"
            continue
        created, date_problem = _created(_value(rec, field_of["created_at"]), mapping.created_formats, zone, now)
        request_type = _value(rec, field_of["request_type"])
        category, type_problem = _category(request_type, mapping, categories)
        reason = date_problem or type_problem or point_problem
        if reason is None and point is not None and row.covering_unit is None:
            reason = "outside_boundaries"
        if reason is not None or category is None or point is None:
            row.reason = reason
            continue
        row.outcome, row.category = CREATED, category.code
        fields = {name: _value(rec, column) for name, column in field_of.items()}
        kept = {name: _value(rec, _key(name)) for name in mapping.keep_columns}
        creating.append(_Pending(row, category, point, created, fields, kept))
        planned.add(ext)
    # Routed like every report, in one pass: the router and each unit's department looked up once.
    routings = dispatch.route_many([(*p.point, p.category) for p in creating], settings)
    for p, routing in zip(creating, routings, strict=True):
        p.row.covering_unit = routing.covering_unit.code if routing.covering_unit else None
        p.row.handling_unit = routing.handling_unit.code
        p.row.item = p.channel_report(mapping, routing)
    return ImportReport(mapping=mapping.name, source=mapping.source, dry_run=True, rows=rows)


@dataclass(frozen=True)
class _Pending:
    """A record that passed every check, waiting for its routing."""

    row: RowOutcome
    category: Category
    point: tuple[float, float]
    created: datetime | None
    fields: dict[str, str]  # our field name → the record's text
    kept: dict[str, str]  # the mapping's keep_columns

    def channel_report(self, mapping: Mapping, routing: dispatch.Routing) -> ticket_service.ChannelReport:
        f = self.fields
        return ticket_service.ChannelReport(
            external_id=self.row.external_id,
            category=self.category,
            title=_fill(mapping.title_template, f) or f["request_type"],
            description=f["description"] or _fill(mapping.description_template, f) or f["request_type"],
            lon=self.point[0],
            lat=self.point[1],
            routing=routing,
            address=f["address"],
            external_created_at=self.created,
            data={"request_type": f["request_type"], "agency": f["agency"], "created_at": f["created_at"],
                  **self.kept},
        )


def apply(
    report: ImportReport,
    *,
    now: datetime,
    settings: TicketSettings,
    batch: int = BATCH,
    after_batch: Callable[[], None] | None = None,
) -> ImportReport:
    """Write the planned tickets in batches of `batch`; returns the report, now of a real run.

    Flushes; `after_batch` runs after each batch (the CLI commits there, so a large import
    holds the database's write lock for one batch at a time, and a crash loses at most the
    batch in flight: running the import again skips what was written). Numbers another
    import wrote since `plan` are skipped as already imported.
    """
    report.dry_run = False
    todo = [r for r in report.rows if r.outcome == CREATED]
    for start in range(0, len(todo), batch):
        chunk = todo[start:start + batch]
        taken = _known_ids(report.source, [r.external_id for r in chunk])
        for row in chunk:
            if row.external_id in taken:
                row.outcome, row.reason, row.item = SKIPPED, "already_imported", None
        fresh = [r for r in chunk if r.outcome == CREATED]
        items = [r.item for r in fresh if r.item is not None]
        made = ticket_service.report_from_channel(items, source=report.source, now=now, settings=settings)
        for row, ticket in zip(fresh, made, strict=True):
            row.ticket_number, row.item = ticket.number, None
        if after_batch is not None:
            after_batch()
    return report


def import_file(
    path: Path,
    *,
    mapping: Mapping,
    now: datetime,
    settings: TicketSettings,
    fmt: str | None = None,
    dry_run: bool = False,
    batch: int = BATCH,
    after_batch: Callable[[], None] | None = None,
) -> ImportReport:
    """Read, plan and (unless `dry_run`) apply one export file; the format defaults to its suffix."""
    fmt = fmt or ("json" if path.suffix.lower() == ".json" else "csv")
    records = read_records(path.read_bytes(), fmt, mapping)
    report = plan(records, mapping, now=now, settings=settings)
    if dry_run:
        return report
    return apply(report, now=now, settings=settings, batch=batch, after_batch=after_batch)


# ---------------------------------------------------------------------------- one field at a time


def _value(record: MappingABC[str, str], column: str | None) -> str:
    if not column:
        return ""
    return (record.get(column) or "").strip()


def _categories(mapping: Mapping) -> dict[str, Category]:
    """The active categories the mapping names; a mapping naming another is refused as a whole."""
    codes = mapping.category_codes()
    found = {c.code: c for c in db.session.scalars(
        select(Category).where(Category.code.in_(codes), Category.active.is_(True))
    )}
    missing = sorted(codes - set(found))
    if missing:
        raise InvalidInput(f"mapping {mapping.name}: no active category {', '.join(missing)}",
                           code="unknown_category_in_mapping", details={"categories": missing})
    return found


def _known_ids(source: str, ids: Iterable[str]) -> set[str]:
    """Which of these external numbers are on tickets from `source` already."""
    wanted = sorted({i for i in ids if i})
    known: set[str] = set()
    if db.session.get_bind().dialect.name == "postgresql":
        # One array parameter: psycopg parses a statement with hundreds of placeholders in
        # Python every time (about 0.2 s for 900), the database answers either in milliseconds.
        for start in range(0, len(wanted), 10_000):
            chunk = bindparam("ids", wanted[start:start + 10_000], type_=ARRAY(String))
            known.update(db.session.scalars(
                select(Ticket.external_id).where(Ticket.source == source, Ticket.external_id == any_(chunk))
            ))
        return known
    for start in range(0, len(wanted), 900):  # SQLite allows 999 parameters by default in old builds
        known.update(db.session.scalars(
            select(Ticket.external_id).where(Ticket.source == source, Ticket.external_id.in_(wanted[start:start + 900]))
        ))
    return known


def _created(
    text: str, formats: Sequence[str], zone: ZoneInfo, now: datetime
) -> tuple[datetime | None, str | None]:
    """The creation time (aware), or the reason it is refused."""
    if not text:
        return None, "bad_created_at"
    for fmt in formats:
        try:
            moment = datetime.strptime(text, fmt)
        except ValueError:
            continue
        moment = moment.replace(tzinfo=zone) if moment.tzinfo is None else moment
        if moment > now:
            return None, "created_in_future"
        return moment.astimezone(timezone.utc), None
    return None, "bad_created_at"


def _category(
    request_type: str, mapping: Mapping, categories: dict[str, Category]
) -> tuple[Category | None, str | None]:
    key = _key(request_type)
    if key in mapping.categories:
        code = mapping.categories[key]
        if code is None:
            return None, "type_not_imported"
        return categories[code], None
    if mapping.default_category:
        return categories[mapping.default_category], None
    return None, "unknown_request_type"


def _point(
    record: MappingABC[str, str], field_of: dict[str, str | None], crs: str
) -> tuple[tuple[float, float] | None, str | None]:
    """The WGS84 point, or the reason there is none."""
    lat_text, lon_text = _value(record, field_of["lat"]), _value(record, field_of["lon"])
    if not lat_text or not lon_text:
        return None, "no_coordinates"
    try:
        lat, lon = float(lat_text), float(lon_text)
    except ValueError:
        return None, "bad_coordinates"
    # (0, 0) is how many exports write "unknown"; nothing is reported from the Gulf of Guinea.
    if not (math.isfinite(lat) and math.isfinite(lon)) or not (-90 <= lat <= 90 and -180 <= lon <= 180) \
            or (lat == 0 and lon == 0):
        return None, "bad_coordinates"
    return to_wgs84(lon, lat, crs), None  # type: ignore[arg-type]


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def _fill(template: str, fields: MappingABC[str, str]) -> str:
    # Empty parts leave tidy text: "Bulky Items (BOS): " loses its trailing separator.
    return template.format_map(_Blank(fields)).strip().rstrip(":").strip()
