"""The 12345 / 311 hotline bridge: LA's real MyLA311 rows imported through the la311 mapping,
and state changes pushed back through signed webhooks to a real local HTTP receiver.

The import fixtures are slices of the real exports in `data/la311/` (see tests/data/la311_slices.md);
the LA world (99 neighbourhood councils with their real polygons) is built inside a rolled-back
transaction. Only the partner is a stand-in, and it speaks HTTP on 127.0.0.1 and checks the
signature as a real receiver would.
"""

from __future__ import annotations

import csv
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from tests.conftest import NOW, TIANSHUI, jpeg, rolled_back
from ticketing.bridge import hotline, webhooks
from ticketing.errors import Conflict, InvalidInput
from ticketing.extensions import db
from ticketing.models import (
    Category,
    DeliveryState,
    Notification,
    Ticket,
    TicketEvent,
    User,
    WebhookDelivery,
)
from ticketing.services import dispatch
from ticketing.services import tickets as svc
from ticketing.services.photos import Upload

DATA = Path(__file__).resolve().parent / "data"
SLICE_CSV = DATA / "la311_slice_2017_2018.csv"
SLICE_JSON = DATA / "la311_slice_2020.json"
LA_POINT = (-118.266861909, 34.073216645)  # Greater Echo Park Elysian NC: outside every Hangzhou polygon
REJECT_REASONS = {"no_coordinates", "outside_boundaries", "type_not_imported", "bad_coordinates"}


def _counts() -> dict[str, int]:
    return {
        "tickets": db.session.scalar(select(func.count(Ticket.id))) or 0,
        "events": db.session.scalar(select(func.count(TicketEvent.id))) or 0,
        "notifications": db.session.scalar(select(func.count(Notification.id))) or 0,
        "deliveries": db.session.scalar(select(func.count(WebhookDelivery.id))) or 0,
    }


def _outcomes(report: hotline.ImportReport) -> list[tuple[Any, ...]]:
    return [(r.index, r.external_id, r.outcome, r.reason, r.category, r.covering_unit, r.handling_unit)
            for r in report.rows]


# ------------------------------------------------------------------ the LA import, once per backend


@dataclass
class LaRun:
    before: dict[str, int]
    after_dry: dict[str, int]
    after_import: dict[str, int]
    after_again: dict[str, int]
    dry: hotline.ImportReport
    real: hotline.ImportReport
    again: hotline.ImportReport
    json_run: hotline.ImportReport
    tickets: dict[str, dict[str, Any]] = field(default_factory=dict)
    report_events: int = 0
    echo_park_inbox: int = 0


@pytest.fixture(scope="module")
def la(app: Flask) -> LaRun:
    """Build the LA world, dry-run and import the CSV slice, import it again, import the JSON slice;
    copy out what the tests read, and roll everything back (nothing stays open between tests)."""
    from ticketing.demo.la import build_la

    settings = app.extensions["ticket_settings"]
    with rolled_back(app):
        build_la(NOW)
        mapping = hotline.load_mapping("la311")
        before = _counts()
        dry = hotline.import_file(SLICE_CSV, mapping=mapping, now=NOW, settings=settings, dry_run=True)
        after_dry = _counts()
        # Small batches with a commit after each, as the CLI does (savepoints here).
        real = hotline.import_file(SLICE_CSV, mapping=mapping, now=NOW, settings=settings, batch=700,
                                   after_batch=db.session.commit)
        after_import = _counts()
        again = hotline.import_file(SLICE_CSV, mapping=mapping, now=NOW, settings=settings)
        after_again = _counts()
        json_run = hotline.import_file(SLICE_JSON, mapping=mapping, now=NOW, settings=settings)
        run = LaRun(before, after_dry, after_import, after_again, dry, real, again, json_run)
        for t in db.session.scalars(select(Ticket).where(Ticket.source == "la311")):
            run.tickets[t.external_id] = {
                "number": t.number, "state": t.state.value, "category": t.category.code,
                "routed": t.routed_unit.code if t.routed_unit else None, "handling": t.handling_unit.code,
                "reporter_kind": t.reporter_kind.value, "reporter_id": t.reporter_id, "deputy_id": t.deputy_id,
                "external_created_at": t.external_created_at, "created_at": t.created_at,
                "dispatched_at": t.dispatched_at, "resolution_due_at": t.resolution_due_at,
                "description": t.description, "title": t.title, "address": t.address,
            }
        run.report_events = db.session.scalar(
            select(func.count(TicketEvent.id)).join(Ticket).where(
                Ticket.source == "la311", TicketEvent.action == "report", TicketEvent.actor_id.is_(None))
        ) or 0
        handler = db.session.scalar(select(User).where(User.username == "la_handler_echo_park"))
        run.echo_park_inbox = db.session.scalar(
            select(func.count(Notification.id)).where(Notification.user_id == handler.id,
                                                      Notification.kind == "report")
        ) or 0
    return run


def _raw_csv() -> list[dict[str, str]]:
    with SLICE_CSV.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_every_la_row_is_created_with_its_routing_or_rejected_with_a_reason(la: LaRun) -> None:
    raw = _raw_csv()
    counts = la.real.counts()
    assert counts["rows"] == len(raw) == 2000
    assert counts["created"] + counts["skipped"] + counts["rejected"] == counts["rows"]
    assert counts["skipped"] == 0 and counts["created"] > 1600
    for row, record in zip(la.real.rows, raw, strict=True):
        assert row.external_id == record["SRNumber"]
        if row.outcome == "created":
            assert row.reason is None and row.ticket_number and row.covering_unit and row.handling_unit
            ticket = la.tickets[row.external_id]
            assert (ticket["number"], ticket["routed"], ticket["handling"]) == (
                row.ticket_number, row.covering_unit, row.handling_unit)
        else:
            assert row.outcome == "rejected" and row.reason in REJECT_REASONS
        if not record["Latitude"] or not record["Longitude"]:
            assert (row.outcome, row.reason) == ("rejected", "no_coordinates")
        if row.reason == "outside_boundaries":
            assert row.covering_unit is None and row.lon is not None
    # Each created row is one ticket with one report event by no account (the hotline's system step).
    assert la.after_import["tickets"] - la.before["tickets"] == counts["created"]
    assert len(la.tickets) == counts["created"] + la.json_run.counts()["created"]
    assert la.report_events == len(la.tickets)
    assert la.real.reasons()["no_coordinates"] == sum(1 for r in raw if not r["Latitude"])


def test_hotline_tickets_carry_their_source_number_and_time_and_have_no_reporter_account(la: LaRun) -> None:
    # The slice's first row: a homeless encampment reported by phone at 23:59:58 on 31 Dec 2017 in LA,
    # recorded by LA in NC 44 (Greater Echo Park Elysian).
    first = la.tickets["1-870704831"]
    assert first["external_created_at"] == datetime(2018, 1, 1, 7, 59, 58, tzinfo=timezone.utc)
    assert first["created_at"] == first["dispatched_at"] == NOW  # when it reached us
    assert (first["state"], first["category"], first["routed"], first["handling"]) == (
        "dispatched", "services.social_security", "LA-NC-044", "LA-NC-044")
    assert (first["reporter_kind"], first["reporter_id"], first["deputy_id"]) == ("citizen", None, None)
    assert first["title"] == "Homeless Encampment"
    assert first["description"] == "MyLA311 Homeless Encampment (BOS): 2111 W BELLEVUE AVE, 90026"
    assert first["resolution_due_at"] is not None
    # Illegal dumping goes to the city's sanitation department, routed through the council's polygon.
    dumping = [t for t in la.tickets.values() if t["category"] == "environment.dumping"]
    assert dumping and all(t["handling"] == "LA-SAN" and t["routed"].startswith("LA-NC-") for t in dumping)
    # Notifications like any report: the council's handler hears of every ticket of the council.
    assert la.echo_park_inbox == sum(1 for t in la.tickets.values() if t["handling"] == "LA-NC-044") > 0


def test_dry_run_reports_what_the_import_then_does_and_writes_nothing(la: LaRun) -> None:
    assert la.after_dry == la.before
    assert la.dry.dry_run and not la.real.dry_run
    assert _outcomes(la.dry) == _outcomes(la.real)
    assert all(r.ticket_number is None for r in la.dry.rows)
    assert la.dry.table().title.endswith("dry run)")


def test_importing_the_same_export_again_creates_nothing(la: LaRun) -> None:
    first, second = la.real.counts(), la.again.counts()
    assert second["created"] == 0 and second["skipped"] == first["created"]
    assert second["rejected"] == first["rejected"] and second["rows"] == first["rows"]
    assert {r.reason for r in la.again.rows if r.outcome == "skipped"} == {"already_imported"}
    assert la.after_again == la.after_import


def test_routing_agrees_with_the_council_la_recorded_for_98_percent_of_the_rows(la: LaRun) -> None:
    for report in (la.real, la.json_run):
        check = report.agreement()
        wrong = report.disagreements()
        print(f"\n{report.mapping} {check}: the data disagrees with its polygons on {len(wrong)} rows")
        for r in wrong:
            print(f"  row {r.index} {r.external_id} ({r.lat}, {r.lon}): recorded {r.expected_unit}, "
                  f"routed {r.covering_unit or 'outside every boundary'}")
        assert check["compared"] > 400 and check["rate"] >= 0.98
        # Nothing hidden: every compared row that does not agree is listed, outside ones included.
        assert len(wrong) == check["disagreed"] == check["compared"] - check["agreed"] > 0
        assert check["of_which_outside"] == sum(1 for r in wrong if r.covering_unit is None)
    # The same check on a second import: the data did not change, nor did its agreement.
    assert la.again.agreement() == la.real.agreement()


def test_socrata_style_json_with_lowercase_keys_and_iso_dates_imports_too(la: LaRun) -> None:
    counts = la.json_run.counts()
    assert counts["rows"] == 500 and counts["created"] + counts["rejected"] == 500 and counts["skipped"] == 0
    assert counts["created"] >= 490
    first = la.tickets["1-1523590121"]  # "2020-01-01 00:05:00" in LA, Illegal Dumping Pickup
    assert first["external_created_at"] == datetime(2020, 1, 1, 8, 5, tzinfo=timezone.utc)
    assert first["handling"] == "LA-SAN" and first["routed"] == "LA-NC-019"


# ------------------------------------------------------------------ bad files and mappings (Hangzhou world)


def _tianshui_mapping(tmp_path: Path, **overrides: Any) -> hotline.Mapping:
    data: dict[str, Any] = {
        "name": "test12345", "source": "12345",
        "columns": {"external_id": "工单编号", "created_at": "受理时间", "request_type": "诉求类型",
                    "lat": "纬度", "lon": "经度", "address": "地址", "description": "诉求内容",
                    "agency": "承办单位"},
        "created_at": {"formats": ["%Y-%m-%d %H:%M:%S"], "timezone": "Asia/Shanghai"},
        "crs": "wgs84",
        "categories": {"垃圾": "city.litter", "油烟": "environment.fumes", "咨询": None},
        "default_category": None,
    }
    data.update(overrides)
    path = tmp_path / "mapping.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return hotline.load_mapping(str(path))


HEADER = "工单编号,受理时间,诉求类型,纬度,经度,地址,诉求内容,承办单位\n"
LON, LAT = TIANSHUI


def _rows() -> str:
    return HEADER + "".join([
        f"A1,2026-03-01 10:00:00,垃圾,{LAT},{LON},体育场路,垃圾堆积,城管\n",
        f"A2,2026-03-01 10:05:00,油烟,{LAT},{LON},,饭店油烟扰民,\n",
        f"A1,2026-03-01 10:00:00,垃圾,{LAT},{LON},体育场路,垃圾堆积（重复）,城管\n",  # the same number again
        f",2026-03-01 10:00:00,垃圾,{LAT},{LON},,没有编号,\n",
        f"A3,昨天,垃圾,{LAT},{LON},,日期看不懂,\n",
        f"A4,2026-03-09 10:00:00,垃圾,{LAT},{LON},,将来的日期,\n",
        f"A5,2026-03-01 10:00:00,噪音,{LAT},{LON},,没有对应的类别,\n",
        f"A6,2026-03-01 10:00:00,咨询,{LAT},{LON},,只是咨询,\n",
        "A7,2026-03-01 10:00:00,垃圾,,,,没有坐标,\n",
        "A8,2026-03-01 10:00:00,垃圾,北纬30度,120.1,,坐标不是数字,\n",
        f"A9,2026-03-01 10:00:00,垃圾,{LA_POINT[1]},{LA_POINT[0]},,在洛杉矶,\n",
    ])


def test_each_rejected_row_names_its_reason_and_the_counts_reconcile(ctx: Flask, tmp_path: Path) -> None:
    mapping = _tianshui_mapping(tmp_path)
    path = tmp_path / "export.csv"
    path.write_text(_rows(), encoding="utf-8")
    report = hotline.import_file(path, mapping=mapping, now=NOW, settings=ctx.extensions["ticket_settings"])
    got = [(r.external_id, r.outcome, r.reason) for r in report.rows]
    assert got == [
        ("A1", "created", None), ("A2", "created", None), ("A1", "skipped", "duplicate_in_file"),
        ("", "rejected", "no_external_id"), ("A3", "rejected", "bad_created_at"),
        ("A4", "rejected", "created_in_future"), ("A5", "rejected", "unknown_request_type"),
        ("A6", "rejected", "type_not_imported"), ("A7", "rejected", "no_coordinates"),
        ("A8", "rejected", "bad_coordinates"), ("A9", "rejected", "outside_boundaries"),
    ]
    assert report.counts() == {"rows": 11, "created": 2, "skipped": 1, "rejected": 8}
    a1, a2 = (db.session.scalar(select(Ticket).where(Ticket.source == "12345", Ticket.external_id == n))
              for n in ("A1", "A2"))
    assert (a1.handling_unit.code, a1.category.code, a1.description) == ("330105012", "city.litter", "垃圾堆积")
    assert a1.external_created_at == datetime(2026, 3, 1, 2, 0, tzinfo=timezone.utc)
    # Fumes go to the district's law-enforcement bureau, as for a deputy's report at the same point.
    assert (a2.handling_unit.code, a2.routed_unit.code) == ("330103-ZF", "330105012")
    assert a1.events[0].data["channel"] == {"source": "12345", "external_id": "A1", "request_type": "垃圾",
                                            "agency": "城管", "created_at": "2026-03-01 10:00:00"}
    # With a default category an unknown type is imported under it.
    report = hotline.import_file(path, mapping=_tianshui_mapping(tmp_path, default_category="city"), now=NOW,
                                 settings=ctx.extensions["ticket_settings"])
    assert [r.reason for r in report.rows if r.external_id == "A5"] == [None]


@pytest.mark.parametrize(
    ("name", "content", "fmt", "code"),
    [
        ("photo.csv", jpeg(), "csv", "hotline_not_text"),
        ("notes.csv", b"Dear colleagues,\nplease find the export attached.\n", "csv",
         "hotline_missing_columns"),
        ("nolatitude.csv", (HEADER.replace("纬度,", "") + "A1,2026-03-01 10:00:00,垃圾,120.1,,,\n").encode(),
         "csv", "hotline_missing_columns"),
        ("empty.csv", b"", "csv", "hotline_not_csv"),
        ("nul.csv", HEADER.encode() + b"A1\x00,x\n", "csv", "hotline_not_csv"),
        ("broken.json", b'[{"\xe5\xb7\xa5\xe5\x8d\x95\xe7\xbc\x96\xe5\x8f\xb7": "A1",', "json", "hotline_broken_json"),
        ("object.json", b'{"count": 1}', "json", "hotline_bad_json"),
        ("scalars.json", b'["A1", "A2"]', "json", "hotline_bad_json"),
        ("missing.json", json.dumps([{"工单编号": "A1", "受理时间": "2026-03-01 10:00:00"}]).encode(), "json",
         "hotline_missing_columns"),
    ],
)
def test_a_bad_file_is_refused_whole_with_a_clear_error(
    ctx: Flask, tmp_path: Path, name: str, content: bytes, fmt: str, code: str
) -> None:
    mapping = _tianshui_mapping(tmp_path)
    path = tmp_path / name
    path.write_bytes(content)
    before = _counts()
    with pytest.raises(InvalidInput) as caught:
        hotline.import_file(path, mapping=mapping, now=NOW, settings=ctx.extensions["ticket_settings"], fmt=fmt)
    assert caught.value.code == code and caught.value.message
    if code == "hotline_missing_columns":
        assert "纬度" in caught.value.details["missing"] or "经度" in caught.value.details["missing"]
    assert _counts() == before


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"categories": {"垃圾": "city.no_such_thing"}}, "unknown_category_in_mapping"),
        ({"description_template": "{request_type} {caller_phone}"}, "invalid_mapping"),
        ({"columns": {"external_id": "工单编号"}}, "invalid_mapping"),
        ({"created_at": {"formats": []}}, "invalid_mapping"),
        ({"created_at": {"formats": ["%Y"], "timezone": "Mars/Olympus"}}, "invalid_mapping"),
        ({"crs": "utm50"}, "invalid_mapping"),
    ],
)
def test_a_bad_mapping_is_refused_before_anything_is_read(
    ctx: Flask, tmp_path: Path, overrides: dict[str, Any], code: str
) -> None:
    path = tmp_path / "export.csv"
    path.write_text(_rows(), encoding="utf-8")
    with pytest.raises(InvalidInput) as caught:
        mapping = _tianshui_mapping(tmp_path, **overrides)
        hotline.import_file(path, mapping=mapping, now=NOW, settings=ctx.extensions["ticket_settings"])
    assert caught.value.code == code
    with pytest.raises(InvalidInput) as unknown:
        hotline.load_mapping("no_such_hotline")
    assert unknown.value.code == "unknown_mapping" and "la311" in unknown.value.message


def test_cli_dry_run_prints_the_report_and_writes_nothing(ctx: Flask, tmp_path: Path) -> None:
    _tianshui_mapping(tmp_path)
    export = tmp_path / "export.csv"
    export.write_text(_rows(), encoding="utf-8")
    runner = ctx.test_cli_runner()
    before = _counts()
    result = runner.invoke(args=["hotline", "import", str(export), "--mapping", str(tmp_path / "mapping.json"),
                                 "--dry-run", "--report", str(tmp_path / "rows.csv"), "--at", NOW.isoformat()])
    assert result.exit_code == 0, result.output
    assert "11 rows: would create 2, skipped 1, rejected 8 (dry run: nothing written)" in result.output
    assert json.loads(result.output[:result.output.index("\n}") + 2])["reasons"]["outside_boundaries"] == 1
    assert _counts() == before
    lines = (tmp_path / "rows.csv").read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("row,external id,outcome,reason") and len(lines) == 12
    assert lines[1].startswith("1,A1,would be created,,city.litter,330105012,330105012")

    result = runner.invoke(args=["hotline", "import", str(export), "--mapping", str(tmp_path / "mapping.json"),
                                 "--at", NOW.isoformat()])
    assert result.exit_code == 0 and "11 rows: created 2, skipped 1, rejected 8" in result.output
    assert _counts()["tickets"] == before["tickets"] + 2

    export.write_bytes(b'{"not": "a csv"')
    result = runner.invoke(args=["hotline", "import", str(export), "--format", "json",
                                 "--mapping", str(tmp_path / "mapping.json")])
    assert result.exit_code != 0 and "hotline_broken_json: broken JSON at line 1" in result.output


def test_report_from_channel_creates_account_less_tickets_once_per_external_number(ctx: Flask) -> None:
    settings = ctx.extensions["ticket_settings"]
    litter = db.session.scalar(select(Category).where(Category.code == "city.litter"))
    item = svc.ChannelReport(external_id="B-1", category=litter, description="垃圾堆积", lon=LON, lat=LAT,
                             routing=dispatch.route(LON, LAT, litter, settings), title="垃圾")
    (ticket,) = svc.report_from_channel([item], source="12345", now=NOW, settings=settings)
    assert (ticket.state.value, ticket.reporter_kind.value, ticket.reporter_id) == ("dispatched", "citizen", None)
    assert (ticket.source, ticket.external_id, ticket.handling_unit.code) == ("12345", "B-1", "330105012")
    (event,) = ticket.events
    assert (event.action.value, event.actor_id, event.actor_role) == ("report", None, "system")
    # Numbers are reserved in one step for the whole batch, and go on from there.
    assert svc.next_number(NOW, settings) == f"2026-{int(ticket.number[5:]) + 1:06d}"
    # The same hotline number cannot be imported twice, whatever the caller does.
    with pytest.raises(IntegrityError), db.session.begin_nested():
        svc.report_from_channel([item], source="12345", now=NOW, settings=settings)
    # Another hotline may use the same number; our own tickets have none.
    (other,) = svc.report_from_channel([item], source="other", now=NOW, settings=settings)
    assert other.external_id == "B-1"


def test_route_many_answers_as_route_does(ctx: Flask) -> None:
    settings = ctx.extensions["ticket_settings"]
    cats = {c.code: c for c in db.session.scalars(select(Category))}
    points = [(LON, LAT, cats["city.litter"]), (LON, LAT, cats["environment.fumes"]),
              (LON, LAT, cats["traffic.signals"]), (*LA_POINT, cats["city.litter"])]
    many = dispatch.route_many(points, settings)
    one = [dispatch.route(lon, lat, c, settings) for lon, lat, c in points]
    assert [(r.handling_unit.code, r.snapshot, r.flags) for r in many] == [
        (r.handling_unit.code, r.snapshot, r.flags) for r in one]
    assert [r.handling_unit.code for r in many][:3] == ["330105012", "330103-ZF", "330103-JJ"]


# ------------------------------------------------------------------ webhooks: a real local receiver


@dataclass
class Receiver:
    """A partner's endpoint on 127.0.0.1 that verifies every push as a real one must."""

    secret: str = "s3cret-for-the-hotline-partner"
    answers: list[int] = field(default_factory=list)  # statuses to answer with, then 200
    received: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    box = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            try:
                webhooks.verify(box.secret, timestamp=self.headers.get(webhooks.TIMESTAMP_HEADER),
                                signature=self.headers.get(webhooks.SIGNATURE_HEADER), body=body, now=time.time())
                verified = True
            except webhooks.SignatureError:
                verified = False
            status = (box.answers.pop(0) if box.answers else 200) if verified else 401
            box.received.append({"headers": dict(self.headers), "body": body, "verified": verified,
                                 "status": status})
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"ok": true}' if status == 200 else b'{"error": "try later"}')

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    box.url = f"http://127.0.0.1:{server.server_address[1]}/suishoupai/events"
    try:
        yield box
    finally:
        server.shutdown()
        server.server_close()


def _hotline_ticket(external_id: str = "H-1", source: str = "12345") -> Ticket:
    settings = _settings()
    litter = db.session.scalar(select(Category).where(Category.code == "city.litter"))
    item = svc.ChannelReport(external_id=external_id, category=litter, description="垃圾堆积", lon=LON, lat=LAT,
                             routing=dispatch.route(LON, LAT, litter, settings))
    return svc.report_from_channel([item], source=source, now=NOW, settings=settings)[0]


def _settings() -> Any:
    from flask import current_app

    return current_app.extensions["ticket_settings"]


def _user(name: str) -> User:
    return db.session.scalar(select(User).where(User.username == name))


def _deliveries(sub_id: int) -> list[WebhookDelivery]:
    return list(db.session.scalars(
        select(WebhookDelivery).where(WebhookDelivery.subscription_id == sub_id).order_by(WebhookDelivery.id)))


def test_state_changes_are_queued_in_the_transaction_of_their_event(ctx: Flask, receiver: Receiver) -> None:
    hotline_partner, _ = webhooks.subscribe(name="12345 hotline", url=receiver.url, secret=receiver.secret,
                                            sources=["12345"], now=NOW)
    everything, _ = webhooks.subscribe(name="city dashboard", url=receiver.url, secret=receiver.secret, now=NOW)
    ticket = _hotline_ticket()
    handler = _user("handler_tianshui")
    # A step rolled back pushes nothing.
    with pytest.raises(RuntimeError), db.session.begin_nested():
        svc.accept(ticket, handler, NOW + timedelta(minutes=5), note="收到")
        assert len(_deliveries(hotline_partner.id)) == 2
        raise RuntimeError("the request failed after the step")
    db.session.expire_all()
    assert [d.event_id for d in _deliveries(hotline_partner.id)] == [ticket.events[0].id]
    svc.accept(ticket, handler, NOW + timedelta(minutes=10), note="收到，马上处理")
    svc.comment(ticket, handler, NOW + timedelta(minutes=20), note="已联系环卫")  # no state change: no push
    rows = _deliveries(hotline_partner.id)
    bodies = [json.loads(d.body) for d in rows]
    assert [(b["event"]["action"], b["event"]["from_state"], b["ticket"]["state"]) for b in bodies] == [
        ("report", None, "dispatched"), ("accept", "dispatched", "accepted")]
    assert bodies[1]["ticket"]["number"] == ticket.number and bodies[1]["ticket"]["external_id"] == "H-1"
    assert bodies[1]["event"]["note"] == "收到，马上处理" and bodies[1]["delivery"] == rows[1].dedupe_key
    assert bodies[1]["event"]["at"] == (NOW + timedelta(minutes=10)).isoformat()
    assert all(d.state == DeliveryState.PENDING and d.attempts == 0 for d in rows)
    # A deputy's own report reaches the partner following every source, not the hotline's.
    own = svc.report(actor=_user("deputy_wang"), category_code="city.litter", description="垃圾", lon=LON, lat=LAT,
                     uploads=[Upload("p.jpg", jpeg())], now=NOW, settings=_settings(),
                     store=ctx.extensions["photo_store"])
    assert own.number not in {json.loads(d.body)["ticket"]["number"] for d in _deliveries(hotline_partner.id)}
    assert own.number in {json.loads(d.body)["ticket"]["number"] for d in _deliveries(everything.id)}
    # A paused partner gets no new rows.
    webhooks.set_active("12345 hotline", False)
    svc.urge(ticket, _user("supervisor_district"), NOW + timedelta(hours=1), note="尽快")
    svc.return_(ticket, handler, NOW + timedelta(hours=2), reason="不属于本街道")
    assert len(_deliveries(hotline_partner.id)) == 2 and len(_deliveries(everything.id)) == 4


def test_the_worker_pushes_signed_deliveries_and_retries_with_backoff(ctx: Flask, receiver: Receiver) -> None:
    from workers import jobs

    sub, _ = webhooks.subscribe(name="12345 hotline", url=receiver.url, secret=receiver.secret, sources=["12345"],
                                now=NOW)
    ticket = _hotline_ticket()
    receiver.answers = [503]
    counts = jobs.webhooks(ctx, NOW)
    assert counts["retried"] == 1 and counts["sent"] == 0
    (row,) = _deliveries(sub.id)
    assert (row.state, row.attempts, row.last_status) == (DeliveryState.PENDING, 1, 503)
    assert "503" in row.last_error and row.next_attempt_at == NOW + timedelta(seconds=30)
    assert jobs.webhooks(ctx, NOW + timedelta(seconds=29))["examined"] == 0  # not due yet
    counts = jobs.webhooks(ctx, NOW + timedelta(seconds=30))
    assert counts["sent"] == 1
    db.session.refresh(row)
    assert (row.state, row.attempts, row.last_status, row.last_error) == (DeliveryState.SENT, 2, 200, "")
    assert row.sent_at == row.last_attempt_at == NOW + timedelta(seconds=30)
    first, second = receiver.received
    assert first["verified"] and second["verified"] and second["status"] == 200
    # The same delivery id and bytes on every attempt, each attempt signed afresh.
    assert first["headers"][webhooks.DELIVERY_HEADER] == second["headers"][webhooks.DELIVERY_HEADER] == row.dedupe_key
    assert first["body"] == second["body"] == row.body.encode("utf-8")
    assert first["headers"][webhooks.EVENT_HEADER] == "ticket.state_changed"
    body = json.loads(second["body"])
    assert (body["ticket"]["number"], body["ticket"]["external_id"], body["ticket"]["state"]) == (
        ticket.number, "H-1", "dispatched")
    assert jobs.webhooks(ctx, NOW + timedelta(days=1))["examined"] == 0  # sent rows are done


def test_a_partner_that_keeps_failing_is_given_up_and_the_log_shows_why(
    ctx: Flask, receiver: Receiver, api: Any
) -> None:
    sub, _ = webhooks.subscribe(name="12345 hotline", url=receiver.url, secret=receiver.secret, now=NOW)
    _hotline_ticket("H-1")
    _hotline_ticket("H-2")
    receiver.answers = [500, 410, 500]  # H-1 fails; then H-2 (due first) is gone for good, H-1 fails again
    sender = webhooks.SignedSender(timeout=5)
    assert webhooks.deliver_due(NOW, sender, batch=1, max_attempts=2, backoff_seconds=10) == {
        "sent": 0, "retried": 1, "dead": 0}
    at = NOW + timedelta(seconds=10)
    assert webhooks.deliver_due(at, sender, batch=10, max_attempts=2, backoff_seconds=10) == {
        "sent": 0, "retried": 0, "dead": 2}
    h1, h2 = _deliveries(sub.id)
    assert (h1.state, h1.attempts, h1.last_status) == (DeliveryState.DEAD, 2, 500)
    assert (h2.state, h2.attempts, h2.last_status) == (DeliveryState.DEAD, 1, 410)
    # An unreachable partner is retried, with no status.
    webhooks.subscribe(name="offline", url="http://127.0.0.1:9/none", secret=receiver.secret, now=NOW)
    _hotline_ticket("H-3")
    counts = webhooks.deliver_due(at, sender, batch=10, max_attempts=5, backoff_seconds=10)
    assert counts == {"sent": 1, "retried": 1, "dead": 0}  # H-3 to the hotline, and to "offline"
    offline = db.session.scalar(select(WebhookDelivery).where(WebhookDelivery.state == DeliveryState.PENDING,
                                                              WebhookDelivery.attempts == 1))
    assert offline.last_status is None and "unreachable" in offline.last_error

    resp = api.get("/api/v1/webhooks/deliveries?partner=12345%20hotline&state=dead", "admin")
    assert resp.status_code == 200, resp.json
    assert resp.json["total"] == 2
    items = {i["id"]: i for i in resp.json["items"]}
    assert items[h2.id]["last_status"] == 410 and items[h2.id]["attempts"] == 1 and "410" in items[h2.id]["last_error"]
    assert items[h1.id]["body"]["ticket"]["external_id"] == "H-1"
    partners = api.get("/api/v1/webhooks", "admin").json["items"]
    assert [p["name"] for p in partners] == ["12345 hotline", "offline"]
    assert all("secret" not in p for p in partners)
    assert partners[0]["deliveries"] == {"pending": 0, "sent": 1, "dead": 2}
    assert api.get("/api/v1/webhooks/deliveries", "supervisor_city").status_code == 403
    assert api.get("/api/v1/webhooks", "handler_tianshui").json["error"]["code"] == "admin_only"
    assert api.get("/api/v1/webhooks/deliveries?state=lost", "admin").status_code == 422


def test_auto_close_by_the_sweep_is_pushed_too(ctx: Flask, receiver: Receiver) -> None:
    from ticketing.services.sweep import SweepSettings, sweep_batch

    sub, _ = webhooks.subscribe(name="12345 hotline", url=receiver.url, secret=receiver.secret, sources=["12345"],
                                now=NOW)
    ticket = _hotline_ticket()
    handler = _user("handler_tianshui")
    svc.accept(ticket, handler, NOW + timedelta(hours=1), note="收到")
    svc.resolve(ticket, handler, NOW + timedelta(hours=3), outcome="solved",
                evidence=svc.Evidence("已清理", [Upload("after.jpg", jpeg((40, 160, 40)))]), settings=_settings(),
                store=ctx.extensions["photo_store"])
    settings = SweepSettings.from_config(ctx.config)
    later = NOW + timedelta(days=settings.auto_close_days + 1)
    assert sweep_batch(later, settings)["auto_closed"] >= 1
    states = [json.loads(d.body)["ticket"]["state"] for d in _deliveries(sub.id)]
    assert states == ["dispatched", "accepted", "resolved", "closed"]
    assert json.loads(_deliveries(sub.id)[-1].body)["event"]["action"] == "auto_close"


def test_verify_refuses_a_tampered_replayed_or_unsigned_push() -> None:
    secret, body, stamp = "0123456789abcdef-secret", b'{"delivery":"webhook:1:2"}', 1_772_413_200
    signature = webhooks.sign(secret, stamp, body)
    webhooks.verify(secret, timestamp=str(stamp), signature=signature, body=body, now=stamp + 60)
    # A rotating partner may send two signatures; one match is enough.
    webhooks.verify(secret, timestamp=str(stamp), signature=f"v1=00,{signature}", body=body, now=stamp)
    bad: list[tuple[str | None, str | None, bytes, float]] = [
        (str(stamp), signature, body + b" ", stamp),  # the body changed
        (str(stamp + 1), signature, body, stamp),  # the timestamp changed
        (str(stamp), signature, body, stamp + 301),  # replayed later
        (None, signature, body, stamp),
        (str(stamp), None, body, stamp),
        ("-5", signature, body, stamp),
    ]
    for timestamp, sig, data, at in bad:
        with pytest.raises(webhooks.SignatureError):
            webhooks.verify(secret, timestamp=timestamp, signature=sig, body=data, now=at)
    with pytest.raises(webhooks.SignatureError):
        webhooks.verify("another-secret-of-16+", timestamp=str(stamp), signature=signature, body=body, now=stamp)


def test_a_subscription_needs_a_web_url_a_long_secret_and_its_own_name(ctx: Flask) -> None:
    with pytest.raises(InvalidInput) as e:
        webhooks.subscribe(name="x", url="ftp://partner.example/in", now=NOW)
    assert e.value.code == "invalid_webhook_url"
    with pytest.raises(InvalidInput) as e:
        webhooks.subscribe(name="x", url="https://partner.example/in", secret="short", now=NOW)
    assert e.value.code == "invalid_webhook_secret"
    with pytest.raises(InvalidInput) as e:
        webhooks.subscribe(name="x", url="https://partner.example/in", sources=[" "], now=NOW)
    assert e.value.code == "invalid_sources"
    sub, secret = webhooks.subscribe(name="x", url="https://partner.example/in", now=NOW)
    assert len(secret) >= 40 and sub.secret == secret and sub.sources is None
    with pytest.raises(Conflict):
        webhooks.subscribe(name="x", url="https://partner.example/other", now=NOW)
