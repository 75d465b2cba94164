"""Working time: official working days, office hours and the deadlines built on them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from geo.models import Base
from ticketing.models.calendar import CalendarDay, CalendarYear
from ticketing.worktime import (
    Deadlines,
    WorkCalendar,
    calendar_for,
    compute_deadlines,
    exceptions_from_package,
    package_years,
    seed_calendar,
    working_hours_between,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC = timezone.utc


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


def official_calendar(*years: int) -> WorkCalendar:
    """A calendar from the package's data for `years`, known exactly for those years."""
    return WorkCalendar(exceptions_from_package(years), known_years=set(years))


def plain_calendar(**kwargs: object) -> WorkCalendar:
    """Monday–Friday with no exceptions, every year from 2000 to 2100 counted as known."""
    return WorkCalendar({}, known_years=set(range(2000, 2101)), **kwargs)  # type: ignore[arg-type]


# --- working days ---------------------------------------------------------------------------


def test_spring_festival_2024_weekday_is_a_holiday_and_swapped_sunday_is_a_workday() -> None:
    cal = official_calendar(2024)
    assert not cal.is_workday(date(2024, 2, 12))  # Monday inside the break 2/10–2/17
    assert cal.is_workday(date(2024, 2, 4))  # Sunday, worked in exchange (调休)
    assert cal.is_workday(date(2024, 2, 18))  # the other swapped Sunday
    assert cal.fallback_years == set()


def test_new_years_eve_2024_was_an_official_working_day() -> None:
    # The 2024 notice only *encouraged* a day off on 除夕 (2/9); officially it was a working Friday.
    assert official_calendar(2024).is_workday(date(2024, 2, 9))


def test_unknown_year_falls_back_to_monday_to_friday_and_is_reported() -> None:
    cal = official_calendar(*package_years())
    assert 2027 not in package_years()
    # 2027-02-08 falls inside the real 2027 Spring Festival break, but nothing says so yet.
    assert cal.is_workday(date(2027, 2, 8))
    assert not cal.is_workday(date(2027, 2, 6))  # a Saturday
    assert cal.fallback_years == {2027}


def test_admin_rows_in_an_unknown_year_are_used_but_the_year_is_still_reported() -> None:
    cal = WorkCalendar({date(2027, 2, 8): False}, known_years={2026})
    assert not cal.is_workday(date(2027, 2, 8))
    assert cal.fallback_years == {2027}


def test_known_year_is_not_reported_as_fallback() -> None:
    cal = official_calendar(2025)
    cal.is_workday(date(2025, 3, 14))
    assert cal.fallback_years == set()


def test_is_workday_refuses_a_datetime() -> None:
    with pytest.raises(TypeError):
        plain_calendar().is_workday(local(2025, 3, 14, 10))  # type: ignore[arg-type]


# --- working hours ----------------------------------------------------------------------------


def test_friday_17_plus_4_hours_is_monday_noon() -> None:
    cal = official_calendar(2025)
    due = cal.add_working_hours(local(2025, 3, 14, 17), 4)  # Friday
    assert due == local(2025, 3, 17, 12)  # Monday: 1 h on Friday, 3 h in Monday's morning


def test_results_are_aware_utc() -> None:
    due = official_calendar(2025).add_working_hours(local(2025, 3, 14, 17), 4)
    assert due.tzinfo is UTC
    assert due == datetime(2025, 3, 17, 4, tzinfo=UTC)


def test_shanghai_has_no_summer_time() -> None:
    # 09:00 local is 01:00 UTC in January and in July alike.
    cal = plain_calendar()
    assert cal.add_working_hours(local(2025, 1, 13, 8), 1) == datetime(2025, 1, 13, 2, tzinfo=UTC)
    assert cal.add_working_hours(local(2025, 7, 14, 8), 1) == datetime(2025, 7, 14, 2, tzinfo=UTC)


def test_a_zone_with_summer_time_uses_the_offset_of_each_office_day() -> None:
    # Berlin moves to CEST on 2025-03-30: Friday's office closes at 17:00 UTC, Monday's opens at 07:00 UTC.
    berlin = ZoneInfo("Europe/Berlin")
    cal = plain_calendar(tz=berlin)
    due = cal.add_working_hours(datetime(2025, 3, 28, 17, tzinfo=berlin), 2)
    assert due == datetime(2025, 3, 31, 8, tzinfo=UTC)


def test_start_in_the_evening_counts_from_next_morning() -> None:
    cal = plain_calendar()
    assert cal.add_working_hours(local(2025, 3, 17, 20), 1) == local(2025, 3, 18, 10)


def test_start_before_opening_or_at_lunch_counts_from_the_next_interval() -> None:
    cal = plain_calendar()
    assert cal.add_working_hours(local(2025, 3, 17, 7), 1) == local(2025, 3, 17, 10)
    assert cal.add_working_hours(local(2025, 3, 17, 12, 30), 1.5) == local(2025, 3, 17, 14, 30)


def test_hours_skip_the_lunch_break() -> None:
    cal = plain_calendar()
    assert cal.add_working_hours(local(2025, 3, 17, 11), 2) == local(2025, 3, 17, 14)


def test_start_given_in_another_zone_is_read_in_local_time() -> None:
    # 01:30 UTC on Monday is 09:30 in Shanghai.
    cal = plain_calendar()
    due = cal.add_working_hours(datetime(2025, 3, 17, 1, 30, tzinfo=UTC), 1)
    assert due == local(2025, 3, 17, 10, 30)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError):
        plain_calendar().add_working_hours(datetime(2025, 3, 17, 10), 1)


def test_hours_cross_new_year_into_a_swapped_sunday() -> None:
    # 2026: New Year's Day break 1/1–1/3, Sunday 1/4 is worked.
    cal = official_calendar(2025, 2026)
    assert cal.add_working_hours(local(2025, 12, 31, 17), 2) == local(2026, 1, 4, 10)


def test_custom_office_hours_are_used() -> None:
    cal = plain_calendar(office_hours=(("08:30", "11:30"), ("14:30", "17:30")))
    assert cal.add_working_hours(local(2025, 3, 17, 11), 1) == local(2025, 3, 17, 15)


def test_overlapping_office_hours_are_refused() -> None:
    with pytest.raises(ValueError):
        plain_calendar(office_hours=(("09:00", "12:00"), ("11:00", "18:00")))
    with pytest.raises(ValueError):
        plain_calendar(office_hours=())


# --- working days deadlines -----------------------------------------------------------------


def test_one_resolution_day_from_monday_morning_is_tuesday_close() -> None:
    cal = official_calendar(2025)
    assert cal.end_of_working_days(local(2025, 3, 17, 10), 1) == local(2025, 3, 18, 18)


def test_one_resolution_day_from_a_saturday_is_monday_close() -> None:
    cal = official_calendar(2025)
    assert cal.end_of_working_days(local(2025, 3, 15, 10), 1) == local(2025, 3, 17, 18)


def test_zero_resolution_days_is_today_or_the_next_working_day() -> None:
    cal = plain_calendar()
    assert cal.end_of_working_days(local(2025, 3, 17, 10), 0) == local(2025, 3, 17, 18)
    assert cal.end_of_working_days(local(2025, 3, 17, 19), 0) == local(2025, 3, 18, 18)


def test_resolution_days_skip_national_day_week_2025_and_count_the_swapped_saturday() -> None:
    # 2025: break 10/1–10/8, Saturday 10/11 worked. From Tuesday 9/30: 10/9, 10/10, 10/11.
    cal = official_calendar(2025)
    assert cal.end_of_working_days(local(2025, 9, 30, 10), 3) == local(2025, 10, 11, 18)


def test_response_hours_skip_national_day_week_2025() -> None:
    cal = official_calendar(2025)
    assert cal.add_working_hours(local(2025, 9, 30, 17), 4) == local(2025, 10, 9, 12)


def test_swapped_sunday_before_national_day_2025_has_office_hours() -> None:
    cal = official_calendar(2025)
    assert cal.add_working_hours(local(2025, 9, 26, 17), 2) == local(2025, 9, 28, 10)


def test_compute_deadlines_in_a_known_year() -> None:
    cal = official_calendar(2025)
    deadlines = compute_deadlines(cal, local(2025, 3, 17, 10), response_hours=4, resolution_days=3)
    assert deadlines == Deadlines(local(2025, 3, 17, 15), local(2025, 3, 20, 18), fallback=False)


def test_compute_deadlines_reaching_an_unknown_year_are_flagged() -> None:
    cal = official_calendar(2026)
    deadlines = compute_deadlines(cal, local(2026, 12, 30, 10), response_hours=4, resolution_days=3)
    assert deadlines.fallback
    assert deadlines.resolution_due_at == local(2027, 1, 4, 18)
    # The same calendar still reports a later computation inside the known year as exact.
    assert not compute_deadlines(cal, local(2026, 3, 2, 10), 4, 3).fallback


# --- working hours between ------------------------------------------------------------------


def test_working_hours_between_counts_only_office_hours() -> None:
    cal = plain_calendar()
    assert working_hours_between(cal, local(2025, 3, 17, 10), local(2025, 3, 18, 10)) == 8.0
    assert working_hours_between(cal, local(2025, 3, 14, 17), local(2025, 3, 17, 12)) == 4.0


def test_working_hours_between_skips_national_day_week_2025() -> None:
    cal = official_calendar(2025)
    assert working_hours_between(cal, local(2025, 9, 30, 9), local(2025, 10, 9, 18)) == 16.0


def test_working_hours_between_is_zero_when_end_is_not_after_start() -> None:
    cal = plain_calendar()
    assert working_hours_between(cal, local(2025, 3, 18), local(2025, 3, 17)) == 0.0


def test_working_hours_between_inverts_add_working_hours() -> None:
    cal = official_calendar(2025)
    start = local(2025, 9, 29, 16, 20)
    due = cal.add_working_hours(start, 13.25)
    assert working_hours_between(cal, start, due) == pytest.approx(13.25)


# --- seeding and loading (in-memory SQLite, only the two calendar tables) --------------------


@pytest.fixture
def session() -> Iterator[Session]:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine, tables=[CalendarDay.__table__, CalendarYear.__table__])
    with Session(engine) as session:
        yield session


NOW = datetime(2025, 6, 1, tzinfo=UTC)


def test_seed_writes_holidays_and_swapped_days_with_english_names(session: Session) -> None:
    assert seed_calendar(session, NOW, [2024]) == [2024]
    festival = session.get(CalendarDay, date(2024, 2, 12))
    swapped = session.get(CalendarDay, date(2024, 2, 4))
    assert festival is not None and not festival.is_workday
    assert festival.name == "Spring Festival" and festival.source == "chinesecalendar"
    assert swapped is not None and swapped.is_workday and swapped.name == "Spring Festival"
    assert session.get(CalendarDay, date(2024, 2, 9)) is None  # an ordinary working Friday
    year = session.get(CalendarYear, 2024)
    assert year is not None and year.imported_at == NOW


def test_seed_skips_years_the_package_does_not_know(session: Session) -> None:
    assert seed_calendar(session, NOW, [2026, 2027]) == [2026]
    assert session.get(CalendarYear, 2027) is None


def test_seed_defaults_to_every_covered_year_from_2020(session: Session) -> None:
    years = seed_calendar(session, NOW)
    assert years[0] == 2020 and years[-1] == max(package_years())
    assert session.scalar(select(func.count()).select_from(CalendarYear)) == len(years)


def test_seed_is_idempotent(session: Session) -> None:
    seed_calendar(session, NOW, [2025])
    count = session.scalar(select(func.count()).select_from(CalendarDay))
    seed_calendar(session, NOW + timedelta(days=1), [2025])
    assert session.scalar(select(func.count()).select_from(CalendarDay)) == count


def test_seed_keeps_admin_rows(session: Session) -> None:
    session.add(CalendarDay(day=date(2025, 10, 2), is_workday=True, name="local rule", source="admin"))
    session.flush()
    seed_calendar(session, NOW, [2025])
    row = session.get(CalendarDay, date(2025, 10, 2))
    assert row is not None and row.is_workday and row.source == "admin"


def test_seed_replaces_stale_package_rows(session: Session) -> None:
    # A day an older release listed but the installed one does not (a corrected notice).
    session.add(CalendarDay(day=date(2025, 3, 17), is_workday=False, name="old", source="chinesecalendar"))
    session.flush()
    seed_calendar(session, NOW, [2025])
    assert session.get(CalendarDay, date(2025, 3, 17)) is None


def test_loaded_calendar_matches_the_package_and_reports_unseeded_years(session: Session) -> None:
    seed_calendar(session, NOW, [2024, 2025, 2026])
    cal = calendar_for(session, local(2025, 9, 30, 10), (("09:00", "12:00"), ("13:00", "18:00")))
    assert cal.known_years == {2024, 2025, 2026}
    assert cal.end_of_working_days(local(2025, 9, 30, 10), 3) == local(2025, 10, 11, 18)
    assert not cal.is_workday(date(2024, 2, 12))

    cal_2027 = calendar_for(session, local(2027, 3, 1, 10))
    deadlines = compute_deadlines(cal_2027, local(2027, 3, 1, 10), 4, 1)
    assert deadlines.fallback and cal_2027.fallback_years == {2027}


def test_subtract_working_hours_walks_back_over_weekends_and_lunch():
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from ticketing.worktime import WorkCalendar, exceptions_from_package

    sh = ZoneInfo("Asia/Shanghai")
    cal = WorkCalendar(exceptions_from_package([2026]), {2026})
    monday_10 = datetime(2026, 3, 9, 10, 0, tzinfo=sh)
    assert cal.subtract_working_hours(monday_10, 1) == datetime(2026, 3, 9, 9, 0, tzinfo=sh)
    # 3 hours before Monday 10:00 reach back over the weekend into Friday afternoon.
    assert cal.subtract_working_hours(monday_10, 3) == datetime(2026, 3, 6, 16, 0, tzinfo=sh)
    # Over lunch: 2 h before 14:00 is 11:00.
    assert cal.subtract_working_hours(datetime(2026, 3, 9, 14, 0, tzinfo=sh), 2) == datetime(2026, 3, 9, 11, 0, tzinfo=sh)
    for hours in (0.5, 4, 8, 13, 40):
        back = cal.subtract_working_hours(monday_10, hours)
        assert cal.add_working_hours(back, hours) == monday_10
