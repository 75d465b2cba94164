"""Exports (issue 5 item 5): ticket rows with times derived from the trail, the KPI ranking, CSV/XLSX/JSON.

Category city.litter: respond within 4 working hours, resolve by the end of the 3rd working
day after the dispatch day; office hours 09–12 and 13–18 (Asia/Shanghai). 2–6 March 2026 are
ordinary working days.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from fractions import Fraction
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from tests.conftest import TIANSHUI, jpeg

SH = ZoneInfo("Asia/Shanghai")
TIANSHUI_CODE, WULIN_CODE, DISTRICT_CODE = "330105012", "330105013", "330103"
WULIN = (120.153961, 30.267608)  # inside 武林街道
MARCH = "from=2026-03-01&to=2026-04-01"


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SH)


def user(username: str) -> Any:
    from ticketing.extensions import db
    from ticketing.models import User

    return db.session.scalar(select(User).where(User.username == username))


def unit(code: str) -> Any:
    from ticketing.extensions import db
    from ticketing.models import OrgUnit

    return db.session.scalar(select(OrgUnit).where(OrgUnit.code == code))


class Steps:
    """The ticket services at explicit times (plain factory steps, as in tests/test_metrics.py)."""

    def __init__(self, ctx: Any):
        from ticketing.services import tickets as svc

        self.svc = svc
        self.settings = ctx.extensions["ticket_settings"]
        self.store = ctx.extensions["photo_store"]

    def report(self, when: datetime, point: tuple[float, float] = TIANSHUI, category: str = "city.litter") -> Any:
        from ticketing.services.photos import Upload

        return self.svc.report(
            actor=user("deputy_wang"), category_code=category, description="垃圾堆积", lon=point[0], lat=point[1],
            uploads=[Upload("a.jpg", jpeg())], now=when, settings=self.settings, store=self.store,
        )

    def accept(self, t: Any, who: str, when: datetime) -> None:
        self.svc.accept(t, user(who), when, note="收到")

    def resolve(self, t: Any, who: str, when: datetime) -> None:
        from ticketing.services.photos import Upload
        from ticketing.services.tickets import Evidence

        evidence = Evidence("已清理", [Upload("done.jpg", jpeg((20, 160, 60)))])
        self.svc.resolve(t, user(who), when, outcome="solved", evidence=evidence, settings=self.settings,
                         store=self.store)

    def rate(self, t: Any, score: str, when: datetime) -> None:
        self.svc.rate(t, user("deputy_wang"), when, score=score, settings=self.settings)


def rows_for(ctx: Any, who: str, code: str, now: datetime, **kw: Any) -> list[dict[str, Any]]:
    from ticketing.exports import ticket_rows

    return ticket_rows(user(who), unit(code), at(1, 0), at(1, 0, month=4), now, ctx.extensions["ticket_settings"], **kw)


def by_number(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["number"]: r for r in rows}


def local(moment: datetime | None) -> datetime | None:
    return moment.astimezone(SH) if moment is not None else None


# ---------------------------------------------------------------------------- derived times


def build_two_rounds(ctx: Any) -> tuple[Any, Steps]:
    """Report → accept → return → redispatch (武林) → accept → resolve → 不满意 → accept (late) → resolve → 满意."""
    s = Steps(ctx)
    t = s.report(at(2, 9))
    s.accept(t, "handler_tianshui", at(2, 10))
    s.svc.return_(t, user("handler_tianshui"), at(2, 11), reason="不属于本街道")
    s.svc.redispatch(t, user("supervisor_district"), at(2, 13), note="改派武林", unit_code=WULIN_CODE,
                     settings=s.settings)
    s.accept(t, "handler_wulin", at(2, 14))
    s.resolve(t, "handler_wulin", at(3, 10))
    s.rate(t, "unsatisfied", at(3, 11))  # round 2: response due Tue 16:00, resolution due Fri 18:00
    return t, s


def test_derived_times_of_a_returned_redispatched_and_rehandled_ticket(ctx: Any) -> None:
    t, s = build_two_rounds(ctx)
    s.accept(t, "handler_wulin", at(3, 17))  # an hour after the round's response deadline
    s.resolve(t, "handler_wulin", at(4, 10))
    s.rate(t, "satisfied", at(4, 11))

    (row,) = rows_for(ctx, "supervisor_district", DISTRICT_CODE, at(10, 9))
    assert {k: (local(v) if isinstance(v, datetime) else v) for k, v in row.items()} == {
        "number": t.number,
        "category": "city.litter",
        "category_name": t.category.name,
        "category_name_en": t.category.name_en,
        "channel": "deputy",
        "deputy": "王代表",
        "handling_unit": WULIN_CODE,
        "handling_unit_name": "武林街道",
        "handling_unit_name_en": unit(WULIN_CODE).name_en,
        "state": "closed",
        "round": 2,
        "outcome": "solved",
        "created_at": at(2, 9),
        "dispatched_at": at(3, 11),  # the 不满意 rating started the current dispatch
        "response_due_at": at(3, 16),  # 11–12 and 13–16: four working hours
        "resolution_due_at": at(6, 18),  # end of the 3rd working day after Tuesday
        "first_accepted_at": at(2, 10),  # 天水's accept, before it returned the ticket
        "accepted_at": at(3, 17),  # the first accept of round 2
        "resolved_at": at(4, 10),  # the last resolve
        "closed_at": at(4, 11),  # the 满意 rating
        "response_hours": 1.0,  # first dispatch Mon 09:00 → first accept 10:00
        "resolution_hours": 17.0,  # Mon 09:00 → Wed 10:00: 8 + 8 + 1 working hours
        "response_overdue": True,  # round 2 accepted at 17:00, due 16:00
        "resolution_overdue": False,
        "escalation_level": 0,
        "supervised": False,
        "last_rating": "satisfied",
    }


def test_between_rounds_the_last_resolve_stays_and_the_round_has_no_accept(ctx: Any) -> None:
    t, _ = build_two_rounds(ctx)
    row = by_number(rows_for(ctx, "supervisor_district", DISTRICT_CODE, at(3, 17)))[t.number]
    assert (row["state"], row["round"]) == ("dispatched", 2)
    assert local(row["resolved_at"]) == at(3, 10)  # round 1's
    assert row["accepted_at"] is None and local(row["first_accepted_at"]) == at(2, 10)
    assert row["closed_at"] is None
    assert row["last_rating"] == "unsatisfied"
    # Still waiting at 17:00 for a response due at 16:00; the resolution deadline is days away.
    assert (row["response_overdue"], row["resolution_overdue"]) == (True, False)
    early = by_number(rows_for(ctx, "supervisor_district", DISTRICT_CODE, at(3, 15)))[t.number]
    assert early["response_overdue"] is False


def test_a_reopened_ticket_is_no_longer_closed_and_a_withdrawn_one_is(ctx: Any) -> None:
    s = Steps(ctx)
    reopened = s.report(at(2, 9))
    s.accept(reopened, "handler_tianshui", at(2, 9, 30))
    s.resolve(reopened, "handler_tianshui", at(2, 11))
    s.rate(reopened, "basically_satisfied", at(2, 12))
    s.svc.reopen(reopened, user("supervisor_district"), at(3, 9), reason="仍有垃圾", settings=s.settings)
    withdrawn = s.report(at(2, 9))
    s.svc.withdraw(withdrawn, user("deputy_wang"), at(2, 9, 20))

    rows = by_number(rows_for(ctx, "handler_tianshui", TIANSHUI_CODE, at(9, 9)))
    r = rows[reopened.number]
    assert (r["state"], r["round"], r["closed_at"], r["accepted_at"]) == ("dispatched", 2, None, None)
    assert local(r["resolved_at"]) == at(2, 11) and r["last_rating"] == "basically_satisfied"
    assert r["resolution_hours"] == 2.0  # Mon 09:00 → 11:00
    # Round 2 was dispatched Tue 09:00, never accepted: both deadlines passed by the next Monday.
    assert (r["response_overdue"], r["resolution_overdue"]) == (True, True)
    w = rows[withdrawn.number]
    assert (w["state"], local(w["closed_at"]), w["first_accepted_at"], w["response_hours"]) == (
        "closed", at(2, 9, 20), None, None
    )
    assert w["response_overdue"] is False  # withdrawn before its deadline, never late


def test_working_hours_of_an_old_period_use_that_years_holidays(ctx: Any) -> None:
    from ticketing.exports import ticket_rows

    s = Steps(ctx)
    t = s.report(datetime(2024, 9, 30, 17, tzinfo=SH))  # the Monday before National Day 2024 (1–7 October)
    s.accept(t, "handler_tianshui", datetime(2024, 10, 8, 10, tzinfo=SH))
    (row,) = ticket_rows(user("supervisor_district"), unit(DISTRICT_CODE), datetime(2024, 9, 1, tzinfo=SH),
                         datetime(2024, 11, 1, tzinfo=SH), at(10, 9), ctx.extensions["ticket_settings"])
    # Monday 17–18 and Tuesday 8 October 9–10; a Monday–Friday guess would add five holidays (40 h).
    assert row["response_hours"] == 2.0


def test_the_event_aggregates_take_a_fixed_number_of_queries(ctx: Any) -> None:
    from sqlalchemy import event

    from ticketing.extensions import db

    s = Steps(ctx)
    for hour in (9, 10, 11, 13, 14):
        t = s.report(at(2, hour))
        s.accept(t, "handler_tianshui", at(2, hour, 30))
    from ticketing.exports import ticket_rows

    who, district, settings = user("supervisor_district"), unit(DISTRICT_CODE), ctx.extensions["ticket_settings"]
    assert who.unit.path and district.path  # loaded before counting
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    engine = db.session.get_bind()
    event.listen(engine, "before_cursor_execute", count)
    try:
        rows = ticket_rows(who, district, at(1, 0), at(1, 0, month=4), at(3, 9), settings)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(rows) == 5
    selects = [q for q in statements if q.lstrip().upper().startswith("SELECT")]
    # Tickets, event aggregates, last ratings, and the calendar's days and years.
    assert len(selects) <= 5, selects


# ---------------------------------------------------------------------------- who sees what


def test_a_handler_exports_only_their_own_units_tickets_without_names(ctx: Any) -> None:
    s = Steps(ctx)
    mine = s.report(at(2, 9))
    theirs = s.report(at(2, 9), point=WULIN)
    rows = rows_for(ctx, "handler_tianshui", TIANSHUI_CODE, at(3, 9))
    assert [r["number"] for r in rows] == [mine.number]
    assert "deputy" not in rows[0]
    # Even if asked for the district, the visibility rule holds (the API refuses the unit first).
    assert [r["number"] for r in rows_for(ctx, "handler_tianshui", DISTRICT_CODE, at(3, 9))] == [mine.number]
    district = rows_for(ctx, "supervisor_district", DISTRICT_CODE, at(3, 9))
    assert {r["number"] for r in district} == {mine.number, theirs.number}
    assert {r["deputy"] for r in district} == {"王代表"}


def test_filters_by_period_category_and_state(ctx: Any) -> None:
    from ticketing.workflow import State

    s = Steps(ctx)
    march = s.report(at(2, 9))
    april = s.report(at(1, 9, month=4))
    fumes = s.report(at(2, 10), category="environment.fumes")  # routed to the law-enforcement bureau
    s.accept(march, "handler_tianshui", at(2, 11))
    numbers = {r["number"] for r in rows_for(ctx, "supervisor_district", DISTRICT_CODE, at(2, 12, month=4))}
    assert numbers == {march.number, fumes.number}  # April's is outside [03-01, 04-01)
    only = rows_for(ctx, "supervisor_district", DISTRICT_CODE, at(3, 9), category="environment.fumes")
    assert [(r["number"], r["handling_unit"]) for r in only] == [(fumes.number, "330103-ZF")]
    accepted = rows_for(ctx, "supervisor_district", DISTRICT_CODE, at(3, 9), state=State.ACCEPTED)
    assert [r["number"] for r in accepted] == [march.number]
    assert april.number not in numbers


# ---------------------------------------------------------------------------- KPI ranking


def build_kpi_world(ctx: Any) -> None:
    s = Steps(ctx)
    on_time = s.report(at(2, 9))
    s.accept(on_time, "handler_tianshui", at(2, 10))
    s.resolve(on_time, "handler_tianshui", at(3, 10))
    s.report(at(2, 9))  # 天水, never accepted: overdue by the 10th
    w = s.report(at(2, 9), point=WULIN)
    s.accept(w, "handler_wulin", at(2, 9, 30))
    s.resolve(w, "handler_wulin", at(2, 11))
    s.report(at(2, 10), category="environment.fumes")  # 330103-ZF: open, overdue


def test_the_kpi_table_is_metrics_compute_per_child_unit_and_ranked(ctx: Any) -> None:
    from ticketing.exports import kpi_rows
    from ticketing.metrics import KpiFilter, compute

    build_kpi_world(ctx)
    settings = ctx.extensions["ticket_settings"]
    start, end, now = at(1, 0), at(1, 0, month=4), at(10, 9)
    district = unit(DISTRICT_CODE)
    rows = kpi_rows(district, start, end, now, settings)

    children = sorted(c.code for c in district.children)
    assert sorted(r["unit"] for r in rows[:-1]) == children
    assert rows[-1]["unit"] == DISTRICT_CODE and rows[-1]["total"] is True
    for r in rows:
        expected = compute(KpiFilter(unit(r["unit"]).id, start, end), now, settings)
        assert unflatten(r, expected) == expected, r["unit"]
        assert r["total"] is (r["unit"] == DISTRICT_CODE)

    # 武林 on time 1/1 and resolved 1/1; 天水 on time 1/2; ZF 0/1; the rest measured nothing.
    ranked = [(r["rank"], r["unit"]) for r in rows[:-1] if r["rank"] is not None]
    assert ranked == [(1, WULIN_CODE), (2, TIANSHUI_CODE), (3, "330103-ZF")]
    unranked = [r["unit"] for r in rows[:-1] if r["rank"] is None]
    assert unranked == sorted(unranked) and len(unranked) == len(children) - 3
    assert rows[-1]["rank"] is None


def unflatten(row: dict[str, Any], like: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in like.items():
        if isinstance(value, dict) and "denominator" in value:
            out[key] = {"numerator": row[f"{key}_numerator"], "denominator": row[f"{key}_denominator"],
                        "value": row[key]}
        elif isinstance(value, dict):
            out[key] = {part: row[f"{key}_{part}"] for part in value}
        else:
            out[key] = row[key]
    return out


def test_the_category_reaches_metrics_compute(ctx: Any) -> None:
    from ticketing.exports import kpi_rows

    build_kpi_world(ctx)
    rows = kpi_rows(unit(DISTRICT_CODE), at(1, 0), at(1, 0, month=4), at(10, 9), ctx.extensions["ticket_settings"],
                    "environment.fumes")
    assert {r["unit"]: r["dispatches"] for r in rows if r["dispatches"]} == {"330103-ZF": 1, DISTRICT_CODE: 1}


def kpi_row(code: str, on_time: tuple[int, int], resolution: tuple[int, int]) -> dict[str, Any]:
    return {
        "unit": code,
        "on_time_rate_numerator": on_time[0], "on_time_rate_denominator": on_time[1],
        "resolution_rate_numerator": resolution[0], "resolution_rate_denominator": resolution[1],
    }


def test_the_ranking_compares_exact_fractions_and_shares_ranks() -> None:
    from ticketing.exports import rank

    rows = rank([
        kpi_row("d", (6667, 10000), (1, 1)),  # 0.6667 rounded, like 2/3, but more
        kpi_row("c", (2, 3), (1, 2)),
        kpi_row("b", (2, 3), (1, 2)),  # ties c: same rank, listed by code
        kpi_row("a", (2, 3), (2, 3)),
        kpi_row("e", (0, 0), (0, 3)),  # nothing due or resolved: not ranked
        kpi_row("f", (1, 3), (0, 0)),
    ])
    assert [(r["unit"], r["rank"]) for r in rows] == [
        ("d", 1), ("a", 2), ("b", 3), ("c", 3), ("f", 5), ("e", None)
    ]
    assert Fraction(6667, 10000) > Fraction(2, 3)


# ---------------------------------------------------------------------------- the API


def header_row(sheet: Any) -> int:
    for index, row in enumerate(sheet.iter_rows(values_only=True), start=1):
        if row[0] in ("工单编号", "Number", "排名", "Rank"):
            return index
    raise AssertionError("no header row")


def test_xlsx_of_tickets_has_real_local_datetimes(ctx: Any, api: Any, clock: Any) -> None:
    t, s = build_two_rounds(ctx)
    s.accept(t, "handler_wulin", at(3, 17))
    clock.set(at(10, 9))
    resp = api.get(f"/api/v1/exports/tickets?format=xlsx&unit={DISTRICT_CODE}&{MARCH}", "supervisor_district")
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    assert resp.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    disposition = resp.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert quote("工单明细_下城区_20260301-20260331.xlsx") in disposition

    sheet = load_workbook(io.BytesIO(resp.data)).active
    assert sheet.cell(1, 1).value == "工单明细"
    top = header_row(sheet)
    notes = [sheet.cell(i, 1).value for i in range(2, top)]
    assert "单位：下城区（330103）" in notes and "期间：2026-03-01 至 2026-03-31" in notes
    headings = [c.value for c in sheet[top]]
    values = dict(zip(headings, [c.value for c in sheet[top + 1]]))
    assert values["工单编号"] == t.number and values["代表"] == "王代表"
    assert values["提交时间"] == datetime(2026, 3, 2, 9, 0)  # a real datetime, local wall-clock time
    assert values["首次签收时间"] == datetime(2026, 3, 2, 10, 0)
    assert values["本轮签收时间"] == datetime(2026, 3, 3, 17, 0)
    assert values["响应时限"] == datetime(2026, 3, 3, 16, 0)
    assert values["关闭时间"] is None
    assert values["响应用时（工作小时）"] == 1.0 and values["办结用时（工作小时）"] == 9.0
    assert (values["状态"], values["办理轮次"], values["响应超时"], values["最近评价"]) == ("办理中", 2, "是", "不满意")
    assert values["承办单位"] == "武林街道" and values["承办单位代码"] == WULIN_CODE


def test_csv_of_tickets_has_a_bom_and_headings_in_the_callers_language(ctx: Any, api: Any, clock: Any) -> None:
    s = Steps(ctx)
    t = s.report(at(2, 9))
    clock.set(at(3, 9))
    resp = api.get(f"/api/v1/exports/tickets?format=csv&{MARCH}", "handler_tianshui")
    assert resp.status_code == 200
    assert resp.mimetype == "text/csv"
    assert resp.data.startswith("\ufeff".encode())
    lines = list(csv.reader(io.StringIO(resp.data.decode("utf-8-sig"))))
    assert lines[0][:3] == ["工单编号", "问题类别", "来源渠道"]
    assert "代表" not in lines[0]  # a handler's export names no reporter
    assert lines[1][0] == t.number and lines[1][lines[0].index("提交时间")] == "2026-03-02 09:00:00"
    english = api.get(f"/api/v1/exports/tickets?format=csv&lang=en&{MARCH}", "handler_tianshui")
    heads = next(csv.reader(io.StringIO(english.data.decode("utf-8-sig"))))
    assert heads[:3] == ["Number", "Category", "Channel"]
    assert quote("Tickets_") in english.headers["Content-Disposition"]


def test_json_rows_are_codes_and_utc_times(ctx: Any, api: Any, clock: Any) -> None:
    s = Steps(ctx)
    t = s.report(at(2, 9))
    clock.set(at(3, 9))
    body = api.get(f"/api/v1/exports/tickets?format=json&{MARCH}", "supervisor_tianshui").json
    (row,) = body["rows"]
    assert (row["number"], row["state"], row["channel"]) == (t.number, "dispatched", "deputy")
    assert row["created_at"] == "2026-03-02T01:00:00+00:00"
    assert {"key": "number", "heading": "工单编号"} in body["columns"]


def test_kpi_export_as_xlsx_and_csv(ctx: Any, api: Any, clock: Any) -> None:
    from ticketing.metrics import KpiFilter, compute

    build_kpi_world(ctx)
    clock.set(at(10, 9))
    resp = api.get(f"/api/v1/exports/kpis?format=xlsx&unit={DISTRICT_CODE}&{MARCH}", "supervisor_city")
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    assert quote("考核指标排名_下城区_20260301-20260331.xlsx") in resp.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(resp.data)).active
    top = header_row(sheet)
    headings = [c.value for c in sheet[top]]
    table = [dict(zip(headings, [c.value for c in row])) for row in sheet.iter_rows(min_row=top + 1)]
    first, total = table[0], table[-1]
    assert (first["排名"], first["单位"], first["单位代码"]) == (1, "武林街道", WULIN_CODE)
    assert total["单位"] == "合计（下城区）" and total["排名"] is None
    settings = ctx.extensions["ticket_settings"]
    expected = compute(KpiFilter(unit(DISTRICT_CODE).id, at(1, 0), at(1, 0, month=4)), at(10, 9), settings,
                       due_soon_response_hours=1.0, due_soon_resolution_hours=4.0)
    assert total["派单数"] == expected["dispatches"] == 4
    assert (total["按时办结率分子"], total["按时办结率分母"]) == (2, 4)
    assert total["按时办结率"] == expected["on_time_rate"]["value"] == 0.5
    assert total["超期"] == expected["overdue"]

    csv_resp = api.get(f"/api/v1/exports/kpis?format=csv&lang=en&unit={DISTRICT_CODE}&{MARCH}", "supervisor_city")
    lines = list(csv.reader(io.StringIO(csv_resp.data.decode("utf-8-sig"))))
    assert lines[0][:4] == ["Rank", "Unit", "Unit code", "Dispatches"]
    assert lines[-1][1] == "Total (Xiacheng District)"


def test_every_kpi_figure_has_a_heading(ctx: Any) -> None:
    from ticketing.exports import KPI_HEADINGS, flatten
    from ticketing.metrics import KpiFilter, compute

    result = compute(KpiFilter(unit(DISTRICT_CODE).id, at(1, 0), at(1, 0, month=4)), at(10, 9),
                     ctx.extensions["ticket_settings"])
    assert set(flatten(result)) <= {h.key for h in KPI_HEADINGS}


def test_a_handler_exports_the_kpis_of_their_own_unit(ctx: Any, api: Any, clock: Any) -> None:
    build_kpi_world(ctx)
    clock.set(at(10, 9))
    body = api.get(f"/api/v1/exports/kpis?format=json&{MARCH}", "handler_tianshui").json
    (total,) = body["rows"]  # a street has no children: only its own total
    assert (total["unit"], total["total"], total["dispatches"], total["on_time_rate_numerator"]) == (
        TIANSHUI_CODE, True, 2, 1
    )


@pytest.mark.parametrize(
    ("path", "who"),
    [
        (f"/api/v1/exports/tickets?unit={WULIN_CODE}", "handler_tianshui"),
        (f"/api/v1/exports/kpis?unit={DISTRICT_CODE}", "handler_tianshui"),
        ("/api/v1/exports/tickets", "deputy_wang"),
        ("/api/v1/exports/kpis", "deputy_wang"),
        (f"/api/v1/exports/tickets?unit={DISTRICT_CODE}", "supervisor_tianshui"),
        ("/api/v1/exports/kpis?unit=999999", "supervisor_city"),
    ],
)
def test_units_outside_the_callers_reach_are_not_found(api: Any, path: str, who: str) -> None:
    from tests.api.test_bad_input import assert_error

    assert_error(api.get(path, who), 404, "unit_not_found")


@pytest.mark.parametrize(
    ("query", "status", "code", "field"),
    [
        ("format=pdf", 422, "validation_failed", "format"),
        ("from=2026-03-10&to=2026-03-10", 422, "validation_failed", "to"),
        ("from=2026-03-10&to=2026-03-01", 422, "validation_failed", "to"),
        ("from=2026-02-30", 422, "validation_failed", "from"),
        ("lang=fr", 422, "validation_failed", "lang"),
        ("category=no.such", 422, "unknown_category", None),
    ],
)
@pytest.mark.parametrize("kind", ["tickets", "kpis"])
def test_bad_input_is_a_4xx_in_the_envelope(api: Any, kind: str, query: str, status: int, code: str,
                                           field: str | None) -> None:
    from tests.api.test_bad_input import assert_error

    err = assert_error(api.get(f"/api/v1/exports/{kind}?{query}", "supervisor_district"), status, code)
    if field is not None:
        assert field in err["details"]["fields"]["query"], err


def test_an_unknown_state_and_no_token_are_refused(api: Any) -> None:
    from tests.api.test_bad_input import assert_error

    err = assert_error(api.get("/api/v1/exports/tickets?state=lost", "supervisor_district"), 422, "validation_failed")
    assert "state" in err["details"]["fields"]["query"]
    assert_error(api.get("/api/v1/exports/tickets", None), 401, "authentication_required")


def test_the_exports_are_in_the_openapi_document(client: Any) -> None:
    paths = client.get("/api/v1/openapi.json").json["paths"]
    for kind in ("tickets", "kpis"):
        op = paths[f"/api/v1/exports/{kind}"]["get"]
        assert {"text/csv; charset=utf-8", "application/json"} <= set(op["responses"]["200"]["content"])
        assert {"format", "unit", "from", "to", "category", "lang"} <= {p["name"] for p in op["parameters"]}
