"""Assessment reports (考核报告, DESIGN.md §7, docs/reports.md) on a hand-built small history.

The world: tickets reported by deputy_wang at a real 天水街道 point in 下城区 (330103) and
driven through the services at explicit local times; office hours 09–12 and 13–18 (8 h a
day); the report of March 2026 is made on 1 April 2026 at 03:00.

A  city.litter  Mon 3/2 09:00, accepted 10:00, resolved Tue 3/3 10:00 (9 working h), 满意.
B  city.litter  Mon 3/2 14:00, accepted 15:00, resolved Wed 3/4 11:00 (14 working h), 满意.
C  city.litter  Mon 3/9 09:00 (a phone number in its text), accepted 10:00, never resolved:
   due Thu 3/12 18:00, 104 working hours overdue on 4/1 03:00.
D  environment.fumes → 下城区综合行政执法局, Tue 3/10 09:00, accepted 10:00, due Fri 3/13 18:00,
   resolved Fri 3/20 10:00 (33 working h late), 基本满意.
E  city.litter  Mon 3/16 09:00, marked invalid: left out.
F  city.litter  Wed 2/25 09:00 (February), accepted 10:00, never resolved: due Sat 2/28 18:00
   (a swapped working Saturday after the Spring Festival), 176 working hours overdue on 4/1 03:00.
G  traffic.signals → 下城区交警大队, Mon 3/23 09:00, never accepted: due Mon 3/30 18:00, 8 h overdue.
"""

from __future__ import annotations

import re
import zlib
from datetime import date, datetime
from typing import Any
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

import pytest
from geoalchemy2.shape import from_shape
from shapely.geometry import Point
from sqlalchemy import func, select

from tests.conftest import TIANSHUI, jpeg

SH = ZoneInfo("Asia/Shanghai")
DISTRICT, ENFORCEMENT, TRAFFIC = "330103", "330103-ZF", "330103-JJ"
AS_OF = datetime(2026, 4, 1, 3, 0, tzinfo=SH)
TITLE = "《下城区2026年3月人大代表随手拍办理情况考核报告》"
PHONE = "13812345678"
REPORT_PHOTO = jpeg((200, 40, 40))
CLEAN_PHOTO = jpeg((20, 160, 60))


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SH)


def user(username: str) -> Any:
    from ticketing.extensions import db
    from ticketing.models import User

    return db.session.scalar(select(User).where(User.username == username))


def unit(code: str) -> Any:
    from ticketing.extensions import db
    from ticketing.models import OrgUnit

    return db.session.scalar(select(OrgUnit).where(OrgUnit.code == code))


class World:
    """Plain factory steps over the ticket services, each at an explicit time."""

    def __init__(self, ctx: Any):
        from ticketing.services import tickets as svc

        self.svc = svc
        self.settings = ctx.extensions["ticket_settings"]
        self.store = ctx.extensions["photo_store"]

    def report(self, when: datetime, category: str = "city.litter", description: str = "垃圾堆积") -> Any:
        from ticketing.services.photos import Upload

        return self.svc.report(
            actor=user("deputy_wang"), category_code=category, description=description, lon=TIANSHUI[0],
            lat=TIANSHUI[1], uploads=[Upload("a.jpg", REPORT_PHOTO)], now=when, settings=self.settings,
            store=self.store, address="杭州市下城区灯芯巷",
        )

    def accept(self, t: Any, who: str, when: datetime) -> None:
        self.svc.accept(t, user(who), when, note="收到")

    def resolve(self, t: Any, who: str, when: datetime) -> None:
        from ticketing.services.photos import Upload
        from ticketing.services.tickets import Evidence

        self.svc.resolve(t, user(who), when, outcome="solved", evidence=Evidence("已清理完毕", [Upload("d.jpg", CLEAN_PHOTO)]),
                         settings=self.settings, store=self.store)

    def rate(self, t: Any, score: str, when: datetime) -> None:
        self.svc.rate(t, user("deputy_wang"), when, score=score, settings=self.settings)


def build(ctx: Any) -> dict[str, Any]:
    from ticketing.extensions import db

    w = World(ctx)
    out: dict[str, Any] = {}
    f = out["F"] = w.report(at(2, 25, 9))
    w.accept(f, "handler_tianshui", at(2, 25, 10))

    a = out["A"] = w.report(at(3, 2, 9))
    w.accept(a, "handler_tianshui", at(3, 2, 10))
    w.resolve(a, "handler_tianshui", at(3, 3, 10))
    w.rate(a, "satisfied", at(3, 3, 11))

    b = out["B"] = w.report(at(3, 2, 14))
    w.accept(b, "handler_tianshui", at(3, 2, 15))
    w.resolve(b, "handler_tianshui", at(3, 4, 11))
    w.rate(b, "satisfied", at(3, 4, 12))

    c = out["C"] = w.report(at(3, 9, 9), description=f"垃圾堆积，联系电话{PHONE}")
    w.accept(c, "handler_tianshui", at(3, 9, 10))

    d = out["D"] = w.report(at(3, 10, 9), category="environment.fumes", description="餐饮油烟扰民")
    assert d.handling_unit.code == ENFORCEMENT
    w.accept(d, "handler_enforcement", at(3, 10, 10))
    w.resolve(d, "handler_enforcement", at(3, 20, 10))
    w.rate(d, "basically_satisfied", at(3, 20, 11))

    e = out["E"] = w.report(at(3, 16, 9))
    w.svc.mark_invalid(e, user("supervisor_district"), at(3, 16, 10), reason="非公共事务")

    g = out["G"] = w.report(at(3, 23, 9), category="traffic.signals", description="信号灯不亮")
    assert g.handling_unit.code == TRAFFIC
    db.session.flush()
    return out


def list_items(ctx: Any, t: dict[str, Any]) -> None:
    """Supervision-list rows: C listed in March, A listed and removed in March, F listed and removed
    in February (outside the period), and a cluster of B and C listed in March."""
    from ticketing.extensions import db
    from ticketing.models import (
        CandidateState,
        SupervisionCandidate,
        SupervisionCandidateTicket,
        SupervisionItem,
    )

    lister = user("supervisor_district").id
    district = unit(DISTRICT).id
    common = {"unit_id": district, "listed_by_id": lister, "leader": "区城管局 王局长", "review_on": date(2026, 4, 10)}
    db.session.add(SupervisionItem(ticket_id=t["C"].id, reason=f"群众反映强烈，电话{PHONE}", listed_at=at(3, 20, 9), **common))
    db.session.add(SupervisionItem(ticket_id=t["A"].id, reason="重点关注", listed_at=at(3, 2, 12),
                                   removed_at=at(3, 3, 12), removed_by_id=lister, **common))
    db.session.add(SupervisionItem(ticket_id=t["F"].id, reason="二月事项", listed_at=at(2, 26, 9),
                                   removed_at=at(2, 27, 9), removed_by_id=lister, **common))
    cluster = SupervisionCandidate(
        dedupe_key="test-cluster", district_unit_id=district, category_id=t["C"].category_id,
        center=from_shape(Point(*TIANSHUI), srid=4326), radius_m=250, window_days=30, ticket_count=2,
        state=CandidateState.LISTED, created_at=at(3, 9, 9), updated_at=at(3, 25, 9),
    )
    db.session.add(cluster)
    db.session.flush()
    for key in ("B", "C"):
        db.session.add(SupervisionCandidateTicket(candidate_id=cluster.id, ticket_id=t[key].id))
    db.session.add(SupervisionItem(candidate_id=cluster.id, reason="同一地点反复投诉", listed_at=at(3, 25, 9), **common))
    db.session.flush()


def figures(ctx: Any, code: str, period: str = "2026-03", kind: str = "monthly") -> dict[str, Any]:
    from ticketing.reports import data

    return data.build(unit(code), data.parse_period(kind, period), AS_OF.astimezone(ZoneInfo("UTC")),
                      ctx.extensions["ticket_settings"])


def pdf_text(pdf: bytes) -> str:
    """The PDF with every Flate stream inflated, as Latin-1 text: enough to find its outline and metadata."""
    chunks = [pdf]
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.DOTALL):
        try:
            chunks.append(zlib.decompress(match.group(1)))
        except zlib.error:
            pass
    return b"\n".join(chunks).decode("latin-1").lower()


def in_pdf(text: str, pdf: bytes) -> bool:
    """Whether `text` is one of the PDF's strings (title, bookmarks), written as UTF-16 hex."""
    return ("<feff" + text.encode("utf-16-be").hex()) in pdf_text(pdf)


# ---------------------------------------------------------------------------- periods


def test_periods_are_months_or_years_and_anything_else_is_refused() -> None:
    from ticketing.errors import InvalidInput
    from ticketing.reports.data import parse_period

    march = parse_period("monthly", "2026-03")
    assert (march.first, march.last_exclusive, march.label) == (date(2026, 3, 1), date(2026, 4, 1), "2026年3月")
    assert [b[0] for b in march.buckets()] == ["1–7日", "8–14日", "15–21日", "22–28日", "29–31日"]
    year = parse_period("annual", "2026")
    assert (year.first, year.last_exclusive, year.label) == (date(2026, 1, 1), date(2027, 1, 1), "2026年度")
    assert len(year.buckets()) == 12
    for kind, code in [("monthly", "2026-13"), ("monthly", "2026-3"), ("monthly", "2026"), ("annual", "2026-03"),
                       ("annual", "26"), ("monthly", "1999-12"), ("monthly", "二〇二六-03"), ("weekly", "2026")]:
        with pytest.raises(InvalidInput) as refused:
            parse_period(kind, code)
        assert refused.value.code in ("invalid_period", "invalid_report_kind"), (kind, code)


def test_the_schedule_owes_last_month_from_two_in_the_morning_of_the_first_and_last_year_in_january() -> None:
    from ticketing.services.reports import scheduled_periods

    def owed(moment: datetime) -> list[str]:
        return [p.code for p in scheduled_periods(moment, "Asia/Shanghai")]

    assert owed(datetime(2026, 4, 1, 1, 59, tzinfo=SH)) == ["2026-02"]
    assert owed(datetime(2026, 4, 1, 2, 0, tzinfo=SH)) == ["2026-03"]
    assert owed(datetime(2026, 4, 17, 15, 0, tzinfo=SH)) == ["2026-03"]
    assert owed(datetime(2027, 1, 1, 1, 0, tzinfo=SH)) == ["2026-11"]
    assert owed(datetime(2027, 1, 1, 2, 30, tzinfo=SH)) == ["2026-12", "2026"]


def test_phone_and_id_numbers_are_masked_in_report_text() -> None:
    from ticketing.reports.data import redact

    assert redact(f"电话{PHONE}，座机0571-87654321，身份证33010319900101123X") == (
        "电话[号码已隐去]，座机[号码已隐去]，身份证[号码已隐去]"
    )
    assert redact("门牌 12 号，2026年3月") == "门牌 12 号，2026年3月"
    assert redact("长" * 100, 10) == "长" * 9 + "…"


# ---------------------------------------------------------------------------- figures


def test_district_report_figures_on_a_hand_built_month(ctx) -> None:
    t = build(ctx)
    list_items(ctx, t)
    d = figures(ctx, DISTRICT)

    assert d["title"] == TITLE
    assert (d["unit"]["code"], d["parent"]["code"], d["period"], d["from"], d["to"]) == (
        DISTRICT, "330100", "2026-03", "2026-03-01", "2026-04-01")
    assert d["complete"] is True and d["hours_per_day"] == 8

    k = d["kpis"]
    assert (k["dispatches"], k["excluded"]) == (5, 1)  # A B C D G; E invalid; F was February's
    assert k["response_rate"] == {"numerator": 4, "denominator": 5, "value": 0.8}  # G never accepted
    assert k["on_time_rate"] == {"numerator": 2, "denominator": 5, "value": 0.4}  # A B on time
    assert k["resolution_rate"] == {"numerator": 3, "denominator": 5, "value": 0.6}
    assert k["satisfaction_final"] == {"numerator": 3, "denominator": 3, "value": 1.0}
    assert (k["open"], k["overdue"]) == (3, 3)  # C F G, all past a deadline

    volume = d["volume"]
    assert (volume["total"], volume["excluded"]) == (5, 1)
    by_category = {c["code"]: c["count"] for c in volume["by_category"]}
    assert by_category == {"city": 3, "traffic": 1, "environment": 1, "facilities": 0, "safety": 0,
                           "property": 0, "services": 0}
    assert [(b["label"], b["received"], b["resolved"]) for b in volume["trend"]] == [
        ("1–7日", 2, 2), ("8–14日", 2, 0), ("15–21日", 0, 1), ("22–28日", 1, 0), ("29–31日", 0, 0)]
    assert {p["key"]: p["count"] for p in d["status"]["parts"]} == {
        "closed": 3, "resolved": 0, "in_progress": 0, "overdue": 2, "returned": 0, "moved": 0}

    # The only district of 杭州市 in the demo world.
    assert [(r["code"], r["rank"], r["self"]) for r in d["ranking"]["rows"]] == [(DISTRICT, 1, True)]
    assert d["ranking"]["scope"]["code"] == "330100"

    overdue = d["overdue_cases"]
    assert [(c["number"], c["overdue_hours"], c["overdue_days"], c["state"]) for c in overdue] == [
        (t["F"].number, 176.0, 22.0, "accepted"),  # 2/28 18:00 → 22 working days of March
        (t["C"].number, 104.0, 13.0, "accepted"),
        (t["D"].number, 33.0, 4.1, "closed"),  # resolved late, within the period
        (t["G"].number, 8.0, 1.0, "dispatched"),
    ]
    assert overdue[3]["handling_unit"] == "下城区交警大队"
    assert PHONE not in overdue[1]["summary"] and "[号码已隐去]" in overdue[1]["summary"]

    good = d["good_cases"]
    assert [(c["number"], c["resolution_hours"]) for c in good] == [(t["A"].number, 9.0), (t["B"].number, 14.0)]
    a_photos = {p.event.action.value: p.id for p in t["A"].photos}
    assert (good[0]["before_photo"], good[0]["after_photo"]) == (a_photos["report"], a_photos["resolve"])
    assert good[0]["resolve_note"] == "已清理完毕"

    items = d["supervision"]
    assert [(i["subject"], i["number"], i["status"]) for i in items] == [
        ("ticket", t["A"].number, "已销号"),
        ("ticket", t["C"].number, "督办中"),
        ("cluster", f"{t['B'].number}, {t['C'].number}", "督办中"),
    ]
    assert items[1]["leader"] == "区城管局 王局长" and PHONE not in items[1]["reason"]
    assert items[2]["state_label"] == "1 件未办结"


def test_department_report_ranks_the_departments_of_its_district(ctx) -> None:
    t = build(ctx)
    d = figures(ctx, ENFORCEMENT)
    assert d["title"] == "《下城区综合行政执法局2026年3月人大代表随手拍办理情况考核报告》"
    assert d["volume"]["total"] == 1 and d["kpis"]["dispatches"] == 1
    # Both 0/1 on time; the bureau resolved its ticket (1/1), the traffic police did not (0/1).
    rows = [(r["code"], r["rank"], r["self"], r["on_time_rate"]["value"], r["resolution_rate"]["value"])
            for r in d["ranking"]["rows"]]
    assert rows == [(ENFORCEMENT, 1, True, 0.0, 1.0), (TRAFFIC, 2, False, 0.0, 0.0)]
    assert d["ranking"]["scope"]["code"] == DISTRICT
    assert [c["number"] for c in d["overdue_cases"]] == [t["D"].number]
    assert d["good_cases"] == []  # 基本满意 is not a typical good case


def test_a_street_gets_no_report(ctx) -> None:
    from ticketing.errors import InvalidInput

    with pytest.raises(InvalidInput) as refused:
        figures(ctx, "330105012")
    assert refused.value.code == "report_unit_kind"


# ---------------------------------------------------------------------------- files


def test_generate_stores_html_and_pdf_as_a_new_version_each_time(ctx) -> None:
    from ticketing.services import reports

    t = build(ctx)
    list_items(ctx, t)
    store, settings = ctx.extensions["photo_store"], ctx.extensions["ticket_settings"]
    first = reports.generate(unit(DISTRICT), "monthly", "2026-03", AS_OF, settings=settings, store=store)
    second = reports.generate(unit(DISTRICT), "monthly", "2026-03", AS_OF, user("supervisor_district"),
                              settings=settings, store=store)
    assert (first.version, second.version) == (1, 2)
    assert (first.requested_by_id, second.requested_by_id) == (None, user("supervisor_district").id)
    assert re.fullmatch(rf"reports/{unit(DISTRICT).id}/2026-03/v1-[0-9a-f]{{16}}\.pdf", first.pdf_key)
    assert len({first.pdf_key, first.html_key, second.pdf_key, second.html_key}) == 4
    assert first.data["title"] == TITLE

    pdf = store.get(first.pdf_key)
    assert pdf.startswith(b"%PDF-")
    assert in_pdf(TITLE, pdf)  # the document title and its first bookmark
    assert in_pdf("六、典型案例", pdf)  # a section heading, as a bookmark
    page = store.get(first.html_key).decode()
    assert f"<title>{TITLE}</title>" in page
    assert "40.0% (2/5)" in page  # the on-time rate with its parts
    # Charts and the before/after photos are inline; nothing is fetched.
    assert page.count('src="data:image/svg+xml;base64,') == 4
    assert page.count('src="data:image/jpeg;base64,') == 4
    assert not re.search(r"""(src|href)=["'](?!data:)""", page)
    for secret in (PHONE, "王代表", "deputy_wang"):
        assert secret not in page


def test_a_report_of_a_period_not_yet_begun_is_refused(ctx) -> None:
    from ticketing.errors import InvalidInput
    from ticketing.services import reports

    with pytest.raises(InvalidInput) as refused:
        reports.generate(unit(DISTRICT), "monthly", "2026-05", AS_OF, settings=ctx.extensions["ticket_settings"],
                         store=ctx.extensions["photo_store"])
    assert refused.value.code == "period_not_started"


def test_charts_are_valid_svg_with_or_without_data() -> None:
    from ticketing.reports import charts

    drawn = [
        charts.bar_chart(["城市管理", "交通出行"], [3, 1], title="受理量"),
        charts.bar_chart(["甲", "乙"], [92.3, None], value_labels=["92.3%", "—"], horizontal=True, highlight=[0]),
        charts.line_chart(["1–7日", "8–14日"], {"受理": [2, 2], "办结": [2, None]}),
        charts.donut_chart(["已办结", "已超期"], [3, 2], centre="60.0%"),
        charts.bar_chart([], []),
        charts.line_chart([], {}),
        charts.donut_chart(["已办结"], [0]),
    ]
    for svg in drawn:
        root = ElementTree.fromstring(svg.encode())
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
    # The same figures draw the same SVG (stable ids), so stored reports can be compared.
    assert charts.bar_chart(["a"], [1]) == charts.bar_chart(["a"], [1])


def test_the_pdf_renderer_fetches_nothing_but_data_uris(tmp_path) -> None:
    import base64

    from ticketing.reports import render

    photo = tmp_path / "photo.jpg"
    photo.write_bytes(CLEAN_PHOTO)
    inline = "data:image/jpeg;base64," + base64.b64encode(CLEAN_PHOTO).decode()
    assert b"/Subtype /Image" in render.pdf(f'<img src="{inline}">')
    assert b"/Subtype /Image" not in render.pdf(f'<img src="{photo.as_uri()}">')


# ---------------------------------------------------------------------------- worker


def count_reports(period: str) -> dict[str, int]:
    from ticketing.extensions import db
    from ticketing.models import AssessmentReport, OrgUnit

    rows = db.session.execute(
        select(OrgUnit.code, func.count(AssessmentReport.id))
        .join(OrgUnit, OrgUnit.id == AssessmentReport.unit_id)
        .where(AssessmentReport.period == period)
        .group_by(OrgUnit.code)
    ).all()
    return dict(rows)  # type: ignore[arg-type]


def test_worker_job_makes_each_units_monthly_report_once_when_run_twice(ctx) -> None:
    from workers import jobs

    build(ctx)
    first = jobs.reports(ctx, AS_OF)
    second = jobs.reports(ctx, AS_OF.replace(hour=4))
    assert first == {"generated": 3, "skipped": 0}
    assert second == {"generated": 0, "skipped": 0}
    assert count_reports("2026-03") == {DISTRICT: 1, ENFORCEMENT: 1, TRAFFIC: 1}


def test_a_requested_report_does_not_stand_in_for_the_scheduled_one(ctx) -> None:
    from ticketing.models import AssessmentReport
    from ticketing.services import reports
    from workers import jobs

    mid_month = reports.generate(unit(ENFORCEMENT), "monthly", "2026-03", at(3, 15, 9), user("supervisor_district"),
                                 settings=ctx.extensions["ticket_settings"], store=ctx.extensions["photo_store"])
    assert mid_month.data["complete"] is False
    assert jobs.reports(ctx, AS_OF)["generated"] == 3
    from ticketing.extensions import db

    versions = db.session.execute(
        select(AssessmentReport.version, AssessmentReport.requested_by_id)
        .where(AssessmentReport.unit_id == unit(ENFORCEMENT).id)
        .order_by(AssessmentReport.version)
    ).all()
    assert [(v, r is None) for v, r in versions] == [(1, False), (2, True)]


def test_in_january_the_schedule_owes_last_years_reports_too(ctx) -> None:
    from ticketing.services.reports import missing_scheduled

    owed = {(u, p.code) for u, p in missing_scheduled(datetime(2027, 1, 1, 3, 0, tzinfo=SH), "Asia/Shanghai")}
    units = {unit(code).id for code in (DISTRICT, ENFORCEMENT, TRAFFIC)}
    assert owed == {(u, p) for u in units for p in ("2026-12", "2026")}


def test_a_worker_that_loses_the_race_for_a_version_writes_nothing(ctx, monkeypatch) -> None:
    """Two workers that both saw no scheduled report take the same version: the unique index
    refuses the second at its flush, before any file is written."""
    from ticketing.extensions import db
    from ticketing.models import AssessmentReport
    from ticketing.reports.data import parse_period
    from ticketing.services import reports

    store, settings = ctx.extensions["photo_store"], ctx.extensions["ticket_settings"]
    march = parse_period("monthly", "2026-03")
    made = reports.generate_scheduled(unit(TRAFFIC).id, march, AS_OF, settings=settings, store=store)
    assert made is not None
    written: list[str] = []
    monkeypatch.setattr(store, "put", lambda key, *_: written.append(key))
    # What the other worker saw: no report yet.
    monkeypatch.setattr(reports, "_versions", lambda unit_id, period: (1, False))
    assert reports.generate_scheduled(unit(TRAFFIC).id, march, AS_OF, settings=settings, store=store) is None
    assert written == []
    assert db.session.scalar(select(func.count(AssessmentReport.id))) == 1
    # And without the stale view the schedule sees its report and does nothing.
    monkeypatch.undo()
    assert reports.generate_scheduled(unit(TRAFFIC).id, march, AS_OF, settings=settings, store=store) is None


# ---------------------------------------------------------------------------- API


def post(api: Any, who: str, **body: Any) -> Any:
    return api.post("/api/v1/reports", who, json={"unit": DISTRICT, "kind": "monthly", "period": "2026-03", **body})


def test_a_supervisor_asks_for_a_report_and_downloads_both_files(ctx, api, clock) -> None:
    build(ctx)
    clock.set(AS_OF)
    resp = post(api, "supervisor_district")
    assert resp.status_code == 201, resp.json
    body = resp.json
    assert (body["unit"]["code"], body["kind"], body["period"], body["version"], body["scheduled"]) == (
        DISTRICT, "monthly", "2026-03", 1, False)
    assert body["title"] == TITLE and body["requested_by"] == "supervisor_district"

    page = api.get(body["html_url"], "supervisor_district")
    assert page.status_code == 200 and page.mimetype == "text/html"
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy and "img-src data:" in policy
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert TITLE in page.get_data(as_text=True)

    pdf = api.get(body["pdf_url"], "supervisor_district")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF-") and in_pdf(TITLE, pdf.data)
    assert "filename*=UTF-8''" in pdf.headers["Content-Disposition"]

    # The city's supervisor sees it too; the list and the figures agree.
    listed = api.get("/api/v1/reports?period=2026-03", "supervisor_city")
    assert [r["id"] for r in listed.json["items"]] == [body["id"]] and listed.json["total"] == 1
    detail = api.get(f"/api/v1/reports/{body['id']}", "supervisor_city")
    assert detail.json["data"]["kpis"]["dispatches"] == 5


def test_who_may_ask_for_and_read_reports(ctx, api, clock) -> None:
    from ticketing.services import org

    org.add_unit(code="330102", name="上城区", name_en="Shangcheng", kind="district", parent_code="330100")
    clock.set(AS_OF)
    # A handler sees their department but may not ask for its report; other units are not there for them.
    assert post(api, "handler_enforcement", unit=ENFORCEMENT).status_code == 403
    assert post(api, "handler_enforcement").status_code == 404
    assert post(api, "deputy_wang").status_code == 404
    # Another district is outside the district supervisor's tree.
    resp = post(api, "supervisor_district", unit="330102")
    assert resp.status_code == 404 and resp.json["error"]["code"] == "unit_not_found"

    made = post(api, "supervisor_district", unit=ENFORCEMENT)
    assert made.status_code == 201
    report_id = made.json["id"]
    # The department's handlers read their own report; a street's handler and a deputy do not.
    assert api.get(f"/api/v1/reports/{report_id}.pdf", "handler_enforcement").status_code == 200
    assert [r["id"] for r in api.get("/api/v1/reports", "handler_enforcement").json["items"]] == [report_id]
    for outsider in ("handler_tianshui", "deputy_wang"):
        assert api.get(f"/api/v1/reports/{report_id}.html", outsider).status_code == 404
        assert api.get(f"/api/v1/reports/{report_id}", outsider).status_code == 404
    assert api.get("/api/v1/reports", "deputy_wang").json["items"] == []
    assert api.get("/api/v1/reports/999999999.pdf", "supervisor_city").status_code == 404
    assert api.get(f"/api/v1/reports/{report_id}.pdf", None).status_code == 401


def test_bad_report_requests_are_refused_and_leave_nothing(ctx, api, clock) -> None:
    from ticketing.extensions import db
    from ticketing.models import AssessmentReport

    clock.set(AS_OF)
    root = ctx.extensions["photo_store"].root
    files_before = set(root.rglob("reports/**/*"))
    cases = [
        ({"period": "2026-13"}, "invalid_period"),
        ({"period": "2026"}, "invalid_period"),  # a year is not a month
        ({"kind": "annual", "period": "2026-03"}, "invalid_period"),
        ({"period": "2026-05"}, "period_not_started"),
        ({"unit": "330105012"}, "report_unit_kind"),  # a street
        ({"kind": "weekly"}, "validation_failed"),
    ]
    for body, code in cases:
        resp = post(api, "supervisor_district", **body)
        assert resp.status_code == 422, (body, resp.json)
        assert resp.json["error"]["code"] == code, body
    assert api.post("/api/v1/reports", "supervisor_district", json={"unit": DISTRICT}).status_code == 422
    bad_filter = api.get("/api/v1/reports?period=March", "supervisor_district")
    assert bad_filter.status_code == 422
    assert db.session.scalar(select(func.count(AssessmentReport.id))) == 0
    assert set(root.rglob("reports/**/*")) == files_before
