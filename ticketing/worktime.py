"""Working time: China's official working days and office hours, and the deadlines built on them.

The calendar is data, not code: `CalendarDay` rows (seeded from `chinesecalendar`, editable by an
admin) say which days differ from Monday–Friday, and `CalendarYear` rows say which years are known.
A year with no official data falls back to Monday–Friday and is reported, never a crash (DESIGN.md §4).
All inputs and outputs are timezone-aware; the rules are applied in local time (Asia/Shanghai).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import chinese_calendar
from sqlalchemy import select
from sqlalchemy.orm import Session

from ticketing.models.calendar import CalendarDay, CalendarYear

# The same defaults as config.Settings; the app passes its own settings in, these serve tests and scripts.
DEFAULT_TIMEZONE = "Asia/Shanghai"
DEFAULT_OFFICE_HOURS: tuple[tuple[str, str], ...] = (("09:00", "12:00"), ("13:00", "18:00"))

PACKAGE_SOURCE = "chinesecalendar"
ADMIN_SOURCE = "admin"
# Seeding starts here: older years matter to no ticket and would only fill the admin screen.
SEED_FROM_YEAR = 2020

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def parse_office_hours(office_hours: Sequence[Sequence[str]]) -> tuple[tuple[time, time], ...]:
    """Parse ("HH:MM", "HH:MM") pairs into sorted, non-overlapping time intervals; raises ValueError."""
    intervals: list[tuple[time, time]] = []
    for pair in office_hours:
        if len(pair) != 2:
            raise ValueError(f"office hours need (start, end) pairs, got {pair!r}")
        parsed = []
        for text in pair:
            match = _HHMM.match(text)
            if not match:
                raise ValueError(f"office hours must be HH:MM, got {text!r}")
            parsed.append(time(int(match.group(1)), int(match.group(2))))
        start, end = parsed
        if start >= end:
            raise ValueError(f"office interval ends before it starts: {pair!r}")
        intervals.append((start, end))
    intervals.sort()
    if not intervals:
        # With no office hours no deadline could ever be reached: refuse rather than loop forever.
        raise ValueError("office hours are empty")
    for (_, previous_end), (next_start, _) in zip(intervals, intervals[1:]):
        if next_start < previous_end:
            raise ValueError("office intervals overlap")
    return tuple(intervals)


class WorkCalendar:
    """Working days (official exceptions over Monday–Friday) and office hours in one local timezone.

    `fallback_years` collects every year that was consulted without official data, so the caller
    can show a warning; it only grows.
    """

    def __init__(
        self,
        exceptions: Mapping[date, bool],
        known_years: Iterable[int],
        office_hours: Sequence[Sequence[str]] = DEFAULT_OFFICE_HOURS,
        tz: ZoneInfo | None = None,
    ) -> None:
        self.exceptions: dict[date, bool] = dict(exceptions)
        self.known_years: frozenset[int] = frozenset(known_years)
        self.office_hours = parse_office_hours(office_hours)
        self.tz = tz if tz is not None else ZoneInfo(DEFAULT_TIMEZONE)
        self.fallback_years: set[int] = set()

    @classmethod
    def load(
        cls,
        session: Session,
        start_year: int,
        end_year: int,
        office_hours: Sequence[Sequence[str]] = DEFAULT_OFFICE_HOURS,
        tz: ZoneInfo | None = None,
    ) -> WorkCalendar:
        """Build a calendar from the CalendarDay/CalendarYear rows of start_year..end_year (inclusive)."""
        days = session.execute(
            select(CalendarDay.day, CalendarDay.is_workday).where(
                CalendarDay.day >= date(start_year, 1, 1), CalendarDay.day <= date(end_year, 12, 31)
            )
        ).all()
        years = session.scalars(
            select(CalendarYear.year).where(
                CalendarYear.year >= start_year, CalendarYear.year <= end_year
            )
        ).all()
        return cls({day: is_workday for day, is_workday in days}, set(years), office_hours, tz)

    def is_known_year(self, year: int) -> bool:
        """Whether the official calendar of `year` is known (otherwise Monday–Friday is a guess)."""
        return year in self.known_years

    def is_workday(self, day: date) -> bool:
        """Whether `day` (a local date) is a working day; records unknown years in fallback_years."""
        if isinstance(day, datetime):
            # A datetime never equals a date key, so it would silently miss every exception.
            raise TypeError("pass a local date, not a datetime")
        if day.year not in self.known_years:
            self.fallback_years.add(day.year)
        # Rows an admin typed in for an unknown year still count: they are better than the guess.
        exception = self.exceptions.get(day)
        if exception is not None:
            return exception
        return day.weekday() < 5

    def local_date(self, moment: datetime) -> date:
        """The local calendar date of an aware datetime."""
        return _aware(moment).astimezone(self.tz).date()

    def _interval(self, day: date, start: time, end: time) -> tuple[datetime, datetime]:
        # Boundaries go to UTC before any arithmetic: aware arithmetic within one ZoneInfo is
        # wall-clock arithmetic, which is wrong across a DST change in zones that have one.
        return (
            datetime.combine(day, start, self.tz).astimezone(timezone.utc),
            datetime.combine(day, end, self.tz).astimezone(timezone.utc),
        )

    def office_intervals(self, first_day: date) -> Iterator[tuple[datetime, datetime]]:
        """Yield the UTC (start, end) office intervals of every working day from first_day on, forever."""
        day = first_day
        while True:
            if self.is_workday(day):
                for start, end in self.office_hours:
                    yield self._interval(day, start, end)
            day += timedelta(days=1)

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        """The aware UTC instant at which `hours` office hours have passed since start."""
        if hours < 0:
            raise ValueError("hours must not be negative")
        moment = _aware(start).astimezone(timezone.utc)
        remaining = timedelta(hours=hours)
        if not remaining:
            return moment
        for interval_start, interval_end in self.office_intervals(self.local_date(moment)):
            if interval_end <= moment:
                continue
            # A start outside office hours counts from the next interval's start.
            begin = max(moment, interval_start)
            available = interval_end - begin
            if remaining <= available:
                # Ending exactly at an interval's end returns that end (12:00), not the next start.
                return begin + remaining
            remaining -= available
        raise AssertionError("unreachable: office_intervals never ends")

    def office_intervals_before(self, last_day: date) -> Iterator[tuple[datetime, datetime]]:
        """Yield the UTC office intervals of every working day from last_day backwards, latest first."""
        day = last_day
        while True:
            if self.is_workday(day):
                for start, end in reversed(self.office_hours):
                    yield self._interval(day, start, end)
            day -= timedelta(days=1)

    def subtract_working_hours(self, end: datetime, hours: float) -> datetime:
        """The aware UTC instant `hours` office hours before end (for "due soon" reminders)."""
        if hours < 0:
            raise ValueError("hours must not be negative")
        moment = _aware(end).astimezone(timezone.utc)
        remaining = timedelta(hours=hours)
        if not remaining:
            return moment
        for interval_start, interval_end in self.office_intervals_before(self.local_date(moment)):
            if interval_start >= moment:
                continue
            finish = min(moment, interval_end)
            available = finish - interval_start
            if remaining <= available:
                return finish - remaining
            remaining -= available
        raise AssertionError("unreachable: office_intervals_before never ends")

    def end_of_working_days(self, start: datetime, days: int) -> datetime:
        """The aware UTC end of office hours on the `days`-th working day after start's local date.

        1 means "by the end of the next working day" (次日解决); 0 means the end of the current
        working day, or of the next one when start's day is not a working day or its office hours are over.
        """
        if days < 0:
            raise ValueError("days must not be negative")
        moment = _aware(start).astimezone(timezone.utc)
        day = self.local_date(moment)
        if days == 0:
            while not self.is_workday(day) or self._day_end(day) <= moment:
                day += timedelta(days=1)
            return self._day_end(day)
        counted = 0
        while counted < days:
            day += timedelta(days=1)
            if self.is_workday(day):
                counted += 1
        return self._day_end(day)

    def _day_end(self, day: date) -> datetime:
        _, last_end = self.office_hours[-1]
        return datetime.combine(day, last_end, self.tz).astimezone(timezone.utc)

    def working_hours_between(self, start: datetime, end: datetime) -> float:
        """Office hours between two aware instants (0.0 if end is not after start)."""
        begin = _aware(start).astimezone(timezone.utc)
        finish = _aware(end).astimezone(timezone.utc)
        total = timedelta()
        if finish <= begin:
            return 0.0
        for interval_start, interval_end in self.office_intervals(self.local_date(begin)):
            if interval_start >= finish:
                break
            overlap = min(interval_end, finish) - max(interval_start, begin)
            if overlap > timedelta():
                total += overlap
        return total / timedelta(hours=1)


def _aware(moment: datetime) -> datetime:
    # Guessing the zone of a naive datetime would shift deadlines by 8 hours without a trace.
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("naive datetime: pass timezone-aware datetimes")
    return moment


def calendar_for(
    session: Session,
    now: datetime,
    office_hours: Sequence[Sequence[str]] = DEFAULT_OFFICE_HOURS,
    tz_name: str = DEFAULT_TIMEZONE,
) -> WorkCalendar:
    """Load the calendar for last, this and next local year around `now`; build one per request or job."""
    tz = ZoneInfo(tz_name)
    year = _aware(now).astimezone(tz).year
    # Next year covers deadlines that run over New Year; a walk past it reports a fallback year.
    return WorkCalendar.load(session, year - 1, year + 1, office_hours, tz)


@dataclass(frozen=True)
class Deadlines:
    """A ticket's deadlines (aware UTC); `fallback` means an unknown year was guessed as Monday–Friday."""

    response_due_at: datetime
    resolution_due_at: datetime
    fallback: bool


def compute_deadlines(
    cal: WorkCalendar, start: datetime, response_hours: float, resolution_days: int
) -> Deadlines:
    """Response (working hours) and resolution (working days) deadlines from start; caller stores them."""
    response = cal.add_working_hours(start, response_hours)
    resolution = cal.end_of_working_days(start, resolution_days)
    # Judged per computation: cal.fallback_years accumulates over the calendar's whole life.
    first_year = cal.local_date(start).year
    last_year = cal.local_date(max(response, resolution)).year
    fallback = any(not cal.is_known_year(y) for y in range(first_year, last_year + 1))
    return Deadlines(response, resolution, fallback)


def working_hours_between(cal: WorkCalendar, start: datetime, end: datetime) -> float:
    """Office hours between two aware instants on cal (0.0 if end is not after start)."""
    return cal.working_hours_between(start, end)


def package_years() -> range:
    """The years the installed chinesecalendar release knows (all of them, from its first year)."""
    # The package itself judges coverage by the span of its holiday table.
    return range(min(chinese_calendar.holidays).year, max(chinese_calendar.holidays).year + 1)


def _package_days(years: Iterable[int]) -> dict[date, tuple[bool, str]]:
    # Every holiday (weekends included, so the admin screen shows whole breaks by name) and every
    # swapped working day the package lists, for the covered years among `years`.
    wanted = set(years) & set(package_years())
    days: dict[date, tuple[bool, str]] = {}
    for day, name in chinese_calendar.holidays.items():
        if day.year in wanted:
            days[day] = (False, name)
    for day, name in chinese_calendar.workdays.items():
        if day.year in wanted:
            days[day] = (True, name)
    return days


def exceptions_from_package(years: Iterable[int]) -> dict[date, bool]:
    """Day → is_workday for the package's holidays and working weekends in `years`; uncovered years are skipped."""
    return {day: is_workday for day, (is_workday, _) in _package_days(years).items()}


def seed_calendar(session: Session, now: datetime, years: Iterable[int] | None = None) -> list[int]:
    """Upsert chinesecalendar's days and years (leaving admin rows alone); flushes, the caller commits.

    Returns the years seeded: those of `years` (default: every covered year from 2020) the package covers.
    """
    imported_at = _aware(now).astimezone(timezone.utc)
    covered = set(package_years())
    wanted = (
        [y for y in package_years() if y >= SEED_FROM_YEAR]
        if years is None
        else sorted(set(years) & covered)
    )
    if not wanted:
        return []
    package = _package_days(wanted)
    existing = {
        row.day: row
        for row in session.scalars(
            select(CalendarDay).where(
                CalendarDay.day >= date(wanted[0], 1, 1), CalendarDay.day <= date(wanted[-1], 12, 31)
            )
        )
        if row.day.year in wanted
    }
    for day, row in existing.items():
        # A day a newer package release no longer lists (a corrected notice) must not linger.
        if row.source == PACKAGE_SOURCE and day not in package:
            session.delete(row)
    for day, (is_workday, name) in sorted(package.items()):
        row = existing.get(day)
        if row is None:
            session.add(CalendarDay(day=day, is_workday=is_workday, name=name, source=PACKAGE_SOURCE))
        elif row.source != ADMIN_SOURCE:
            row.is_workday, row.name, row.source = is_workday, name, PACKAGE_SOURCE
    known = {
        row.year: row
        for row in session.scalars(select(CalendarYear).where(CalendarYear.year.in_(wanted)))
    }
    for year in wanted:
        year_row = known.get(year)
        if year_row is None:
            session.add(CalendarYear(year=year, source=PACKAGE_SOURCE, imported_at=imported_at))
        elif year_row.source == PACKAGE_SOURCE:
            year_row.imported_at = imported_at
        # Any other source (an admin's import of the State Council notice) keeps its record.
    session.flush()
    return wanted
