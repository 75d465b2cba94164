"""The State Council's holiday notice: parsing the published text and JSON, importing, missing years.

tests/data/notice_2026.txt is the 2026 notice's arrangement as published (its days are checked here
against chinesecalendar, which encodes the same notice); notice_2027_test_fixture.txt is invented
for the tests and says so in its first line.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import chinese_calendar
import pytest
from sqlalchemy import select

from ticketing.calendar_notice import (
    Notice,
    NoticeError,
    chinese_name,
    decode_notice,
    english_name,
    import_notice,
    load_notice,
    missing_years,
    owned_span,
    parse_notice,
    parse_notice_json,
)
from ticketing.extensions import db
from ticketing.models.calendar import CalendarDay, CalendarYear
from ticketing.worktime import WorkCalendar

DATA = Path(__file__).resolve().parent / "data"
NOTICE_2026 = (DATA / "notice_2026.txt").read_text(encoding="utf-8")
NOTICE_2027 = (DATA / "notice_2027_test_fixture.txt").read_text(encoding="utf-8")
SHANGHAI = timezone(timedelta(hours=8))
AT = datetime(2026, 11, 20, 2, 0, tzinfo=timezone.utc)


def _calendar(notice: Notice) -> WorkCalendar:
    return WorkCalendar({day: is_workday for day, is_workday, _ in notice.days()}, [notice.year])


# --- parsing the published text -------------------------------------------------------------------


def test_2026_notice_agrees_with_chinesecalendar_on_every_day():
    notice = parse_notice(NOTICE_2026)
    cal = _calendar(notice)
    days = [date(2026, 1, 1) + timedelta(days=i) for i in range(365)]
    disagree = [d for d in days if cal.is_workday(d) != chinese_calendar.is_workday(d)]
    assert notice.year == 2026
    assert disagree == []
    # The same days, not merely the same answers: holidays and working weekends match one for one.
    assert set(notice.holidays) == {d for d in chinese_calendar.holidays if d.year == 2026}
    assert set(notice.workdays) == {d for d in chinese_calendar.workdays if d.year == 2026}


def test_2026_names_match_the_package_in_english():
    notice = parse_notice(NOTICE_2026)
    for day, name in notice.holidays.items():
        assert english_name(name) == chinese_calendar.holidays[day]
    assert notice.workdays[date(2026, 2, 28)] == "春节"
    assert notice.workdays[date(2026, 9, 20)] == "国庆节"


def test_lunar_notes_with_commas_and_month_carried_into_the_range_end():
    notice = parse_notice(NOTICE_2026)
    spring = sorted(d for d, n in notice.holidays.items() if n == "春节")
    assert spring == [date(2026, 2, 15) + timedelta(days=i) for i in range(9)]
    assert {date(2026, 2, 14), date(2026, 2, 28)} <= set(notice.workdays)


def test_range_across_months_with_and_without_the_second_month():
    text = (
        "国务院办公厅关于2023年部分节假日安排的通知\n"
        "六、中秋节、国庆节：9月29日至10月6日放假调休，共8天。10月7日（周六）、8日（周日）上班。\n"
    )
    notice = parse_notice(text)
    assert sorted(notice.holidays) == [date(2023, 9, 29) + timedelta(days=i) for i in range(8)]
    assert sorted(notice.workdays) == [date(2023, 10, 7), date(2023, 10, 8)]
    assert english_name(notice.holidays[date(2023, 10, 1)]) == "Mid-autumn Festival / National Day"
    # chinesecalendar agrees on those days of the real 2023 notice.
    for day in list(notice.holidays) + list(notice.workdays):
        assert chinese_calendar.is_workday(day) == (day in notice.workdays)


def test_new_year_break_starting_in_the_previous_december():
    # The 2019 notice's first line, with the years written out as it had them.
    text = "一、元旦：2018年12月30日至2019年1月1日放假调休，共3天。2018年12月29日（周六）上班。"
    notice = parse_notice(text, 2019)
    assert sorted(notice.holidays) == [date(2018, 12, 30), date(2018, 12, 31), date(2019, 1, 1)]
    assert list(notice.workdays) == [date(2018, 12, 29)]
    for day in notice.holidays:
        assert not chinese_calendar.is_workday(day)
    assert chinese_calendar.is_workday(date(2018, 12, 29))


def test_single_day_holiday_and_old_style_weekdays():
    text = "五、端午节：6月9日（星期三）放假，共1天。\n六、中秋节：9月15日放假。"
    notice = parse_notice(text, 2027)
    assert notice.holidays == {date(2027, 6, 9): "端午节", date(2027, 9, 15): "中秋节"}
    assert notice.workdays == {}


def test_full_width_digits_and_one_pasted_line():
    text = "关于２０２７年部分节假日安排的通知 一、元旦：１月１日（周五）至３日（周日）放假，共３天。 三、清明节：4月3日至5日放假，共3天。"
    notice = parse_notice(text)
    assert sorted(notice.holidays) == [date(2027, 1, 1), date(2027, 1, 2), date(2027, 1, 3),
                                       date(2027, 4, 3), date(2027, 4, 4), date(2027, 4, 5)]


def test_a_recommended_rest_day_is_not_a_holiday():
    notice = parse_notice(NOTICE_2027)
    # "安排职工在2月4日（周四）休息" recommends leave; the calendar must not close the offices.
    assert date(2027, 2, 4) not in notice.holidays
    rest_in_brackets = "二、春节：2月10日至17日放假调休，共8天。2月4日（周日）、2月18日（周日）上班。鼓励各单位安排职工在除夕（2月9日）休息。"
    notice_2024 = parse_notice(rest_in_brackets, 2024)
    assert date(2024, 2, 9) not in notice_2024.holidays and date(2024, 2, 9) not in notice_2024.workdays
    assert sorted(notice_2024.workdays) == [date(2024, 2, 4), date(2024, 2, 18)]


def test_html_page_is_read_as_text():
    html_page = "<h1>国务院办公厅关于2026年部分节假日安排的通知</h1><p>三、清明节：4月4日（周六）至6日（周一）放假，共3天。</p>"
    assert sorted(parse_notice(html_page).holidays) == [date(2026, 4, 4), date(2026, 4, 5), date(2026, 4, 6)]


def test_gb18030_file_is_decoded():
    assert decode_notice(NOTICE_2026.encode("gb18030")) == NOTICE_2026
    assert decode_notice(b"\xef\xbb\xbf" + NOTICE_2026.encode()) == NOTICE_2026


def test_names_map_both_ways():
    assert english_name("清明节") == "Tomb-sweeping Day"
    assert english_name("清明") == "Tomb-sweeping Day"
    assert english_name("抗战胜利纪念日") == "抗战胜利纪念日"
    assert chinese_name("Labour Day") == "劳动节"
    assert chinese_name("Mid-autumn Festival / National Day") == "中秋节、国庆节"


# --- the JSON form --------------------------------------------------------------------------------


def test_json_form():
    data = {
        "year": 2027,
        "holidays": [{"name": "春节", "start": "2027-02-05", "end": "2027-02-11"}, {"name": "端午节", "start": "2027-06-09"}],
        "workdays": ["2027-02-14", {"date": "2027-01-31", "name": "Spring Festival"}],
    }
    notice = load_notice(json.dumps(data))
    assert notice.year == 2027
    assert sorted(notice.holidays) == [date(2027, 2, 5) + timedelta(days=i) for i in range(7)] + [date(2027, 6, 9)]
    # A bare date is credited to the nearest holiday.
    assert notice.workdays == {date(2027, 2, 14): "春节", date(2027, 1, 31): "Spring Festival"}


@pytest.mark.parametrize(
    "data, message",
    [
        ([], "must be an object"),
        ({"holidays": []}, '"year"'),
        ({"year": 2027, "holidays": []}, "non-empty"),
        ({"year": 2027, "holidays": [{"start": "2027-02-05"}]}, "needs a name"),
        ({"year": 2027, "holidays": [{"name": "春节", "start": "5 Feb"}]}, "YYYY-MM-DD"),
        ({"year": 2027, "holidays": [{"name": "春节", "start": "2027-02-11", "end": "2027-02-05"}]}, "before it starts"),
        ({"year": 2027, "holidays": [{"name": "春节", "start": "2028-02-05"}]}, "outside the 2027 notice"),
        ({"year": 2027, "holidays": [{"name": "春节", "start": "2027-02-05"}], "workdays": ["2027-02-05"]}, "both"),
    ],
)
def test_bad_json_is_refused_with_a_reason(data, message):
    with pytest.raises(NoticeError, match=message):
        parse_notice_json(data)


def test_broken_json_is_a_notice_error():
    with pytest.raises(NoticeError, match="invalid JSON"):
        load_notice('{"year": 2027,')


# --- bad text -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, year, message",
    [
        ("国务院办公厅关于2027年部分节假日安排的通知\n节日快乐。", None, "no holiday line"),
        ("一、元旦：1月1日至3日放假，共3天。", None, "cannot tell the year"),
        ("关于2027年部分节假日安排的通知\n一、元旦：1月1日至3日放假。", 2028, "for 2027, but 2028"),
        ("一、元旦：1月1日（周四）至3日放假。", 2027, "2027-01-01 is a 周五"),
        ("二、春节：2月30日放假。", 2027, "not a date"),
        ("二、春节：15日至23日放假。", 2027, "has no month"),
        ("二、春节：2月15日至1月3日放假。", 2027, "before it starts"),
        ("二、春节：2月1日至28日放假。", 2027, "not plausible"),
        ("一、元旦：共3天。", 2027, "no holiday dates"),
        ("七、国庆节：2028年1月2日放假。", 2027, "outside the 2027 notice"),
        ("七、国庆节：2026年12月1日放假。", 2027, "outside the 2027 notice"),
        ("七、国庆节：10月1日至7日放假调休。10月7日上班。", 2027, "both as holiday and as working day"),
    ],
)
def test_bad_text_is_refused_with_a_reason(text, year, message):
    with pytest.raises(NoticeError, match=message):
        parse_notice(text, year)


def test_the_notice_span_reaches_two_weeks_into_the_previous_december():
    assert owned_span(2027) == (date(2026, 12, 18), date(2027, 12, 17))


# --- importing ------------------------------------------------------------------------------------


def _rows(year: int) -> dict[date, CalendarDay]:
    first, last = owned_span(year)
    return {r.day: r for r in db.session.scalars(select(CalendarDay).where(CalendarDay.day >= first, CalendarDay.day <= last))}


def test_import_writes_days_and_the_year(ctx):
    summary = import_notice(db.session, parse_notice(NOTICE_2027), AT)
    rows = _rows(2027)
    assert summary["year"] == 2027 and summary["holidays"] == 29 and summary["workdays"] == 6
    assert rows[date(2027, 2, 8)].is_workday is False
    assert rows[date(2027, 2, 8)].name == "Spring Festival"
    assert rows[date(2027, 2, 20)].is_workday is True
    assert {r.source for r in rows.values()} == {"notice"}
    year = db.session.get(CalendarYear, 2027)
    assert year is not None and year.source == "notice"
    cal = WorkCalendar.load(db.session, 2027, 2027)
    assert cal.is_known_year(2027)
    assert not cal.is_workday(date(2027, 2, 8)) and cal.is_workday(date(2027, 2, 20))


def test_import_keeps_admin_rows(ctx):
    db.session.add(CalendarDay(day=date(2027, 2, 9), is_workday=True, name="hand-edited", source="admin"))
    db.session.flush()
    summary = import_notice(db.session, parse_notice(NOTICE_2027), AT)
    row = db.session.get(CalendarDay, date(2027, 2, 9))
    assert row.is_workday is True and row.source == "admin" and row.name == "hand-edited"
    assert summary["kept_admin"] == ["2027-02-09"]


def test_reimport_replaces_the_earlier_notice(ctx):
    import_notice(db.session, parse_notice(NOTICE_2027), AT)
    corrected = NOTICE_2027.replace("五、端午节：6月9日（周三）放假，共1天。", "五、端午节：6月11日（周五）放假，共1天。")
    summary = import_notice(db.session, parse_notice(corrected), AT + timedelta(days=1))
    rows = _rows(2027)
    assert date(2027, 6, 9) not in rows and rows[date(2027, 6, 11)].is_workday is False
    assert summary["removed"] == 1
    assert db.session.get(CalendarYear, 2027).imported_at.replace(tzinfo=timezone.utc) == AT + timedelta(days=1)


def test_import_over_package_data_replaces_it(ctx):
    before = _rows(2026)
    assert {r.source for r in before.values()} == {"chinesecalendar"}
    # A (made-up) correction: the Dragon Boat break moved by a day.
    corrected = NOTICE_2026.replace("五、端午节：6月19日（周五）至21日（周日）放假，共3天。",
                                    "五、端午节：6月20日（周六）至22日（周一）放假，共3天。")
    import_notice(db.session, parse_notice(corrected), AT)
    after = _rows(2026)
    assert date(2026, 6, 19) not in after and after[date(2026, 6, 22)].is_workday is False
    assert {r.source for r in after.values()} == {"notice"}
    assert db.session.get(CalendarYear, 2026).source == "notice"
    # Late December 2026 belongs to the 2027 notice and is left alone.
    assert all(d <= date(2026, 12, 17) for d in after)


def test_import_refuses_a_naive_now(ctx):
    with pytest.raises(ValueError, match="naive"):
        import_notice(db.session, parse_notice(NOTICE_2027), datetime(2026, 11, 20))


# --- missing years --------------------------------------------------------------------------------


def _at_shanghai(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


def test_missing_years_around_new_year(ctx):
    # The demo world knows 2020–2026 from the package.
    assert missing_years(db.session, _at_shanghai(2026, 11, 5, 12), weeks=8) == []
    assert missing_years(db.session, _at_shanghai(2026, 11, 6, 12), weeks=8) == [2027]
    assert missing_years(db.session, _at_shanghai(2026, 12, 31, 23, 59), weeks=8) == [2027]
    assert missing_years(db.session, _at_shanghai(2027, 1, 1, 0, 1), weeks=8) == [2027]
    # 16:30 UTC on 31 December is already New Year's Day in Shanghai.
    assert missing_years(db.session, datetime(2026, 12, 31, 16, 30, tzinfo=timezone.utc), weeks=0) == [2027]
    import_notice(db.session, parse_notice(NOTICE_2027), AT)
    assert missing_years(db.session, _at_shanghai(2026, 12, 31, 12), weeks=8) == []
    assert missing_years(db.session, _at_shanghai(2027, 11, 20, 12), weeks=8) == [2028]
    assert missing_years(db.session, _at_shanghai(2028, 3, 1, 12), weeks=8) == [2028]


# --- the CLI --------------------------------------------------------------------------------------


def test_cli_dry_run_lists_days_and_writes_nothing(ctx):
    result = ctx.test_cli_runner().invoke(args=["calendar", "import", str(DATA / "notice_2027_test_fixture.txt"), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "2027-02-20 Sat  workday  春节 (Spring Festival)" in result.output
    assert "dry run" in result.output
    assert db.session.get(CalendarYear, 2027) is None


def test_cli_import_then_status(ctx, tmp_path):
    runner = ctx.test_cli_runner()
    before = runner.invoke(args=["calendar", "status", "--at", "2026-12-01T00:00:00+00:00"])
    assert "falling back to Monday–Friday: 2027" in before.output
    as_json = tmp_path / "2027.json"
    as_json.write_text(json.dumps({"year": 2027, "holidays": [{"name": "春节", "start": "2027-02-05", "end": "2027-02-13"}]}))
    result = runner.invoke(args=["calendar", "import", str(as_json)])
    assert result.exit_code == 0, result.output
    assert db.session.get(CalendarDay, date(2027, 2, 8)).source == "notice"
    after = runner.invoke(args=["calendar", "status", "--at", "2026-12-01T00:00:00+00:00"])
    assert "2027  notice" in after.output and "no fallback year ahead" in after.output


def test_cli_reports_an_unreadable_notice(ctx, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("一、元旦：1月1日至3日放假。")
    result = ctx.test_cli_runner().invoke(args=["calendar", "import", str(bad)])
    assert result.exit_code != 0
    assert "cannot tell the year" in result.output
