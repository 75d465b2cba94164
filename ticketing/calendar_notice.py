"""The State Council's yearly holiday notice: parse it, import it into the calendar table.

`chinesecalendar` only knows the years up to its last release (2026 for 1.11), so each later year
comes from 国务院办公厅关于XXXX年部分节假日安排的通知, published every autumn (DESIGN.md §4).
An admin pastes the notice as published (or a small JSON form) on the admin page or gives it
to `flask calendar import`; `parse_notice` turns it into a `Notice`, `import_notice` writes it.

Which days a notice may name: the days of its own year, and the last `NEW_YEAR_REACH_DAYS` of the
year before, because the New Year break can begin in December (the 2019 notice: 2018年12月30日至
2019年1月1日放假, 2018年12月29日上班; such dates carry their year explicitly). So the notice of year
Y owns the days from 18 December Y-1 to 17 December Y, and re-importing it replaces exactly those.
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from ticketing.models.calendar import CalendarDay, CalendarYear
from ticketing.services import audit
from ticketing.worktime import ADMIN_SOURCE, DEFAULT_TIMEZONE

NOTICE_SOURCE = "notice"
# How far a notice may reach back into December of the year before (see the module docstring).
NEW_YEAR_REACH_DAYS = 14
# The longest break ever announced is 9 days (春节 2026); a longer range is a typo, not a holiday.
MAX_BREAK_DAYS = 15

# The official names and the English names `chinesecalendar` uses, so imported rows read like seeded ones.
HOLIDAY_NAMES: dict[str, str] = {
    "元旦": "New Year's Day",
    "春节": "Spring Festival",
    "清明节": "Tomb-sweeping Day",
    "劳动节": "Labour Day",
    "端午节": "Dragon Boat Festival",
    "中秋节": "Mid-autumn Festival",
    "国庆节": "National Day",
}
# Short forms seen in older notices and in hand-written JSON.
_ALIASES = {"清明": "清明节", "五一": "劳动节", "端午": "端午节", "中秋": "中秋节", "国庆": "国庆节"}

_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
_WEEKDAY_NAMES = "一二三四五六日"

# Applied after NFKC, which turns full-width digits, colons, commas and brackets into ASCII;
# the ideographic comma 、 and full stop 。 survive it.
_TITLE = re.compile(r"(\d{4})\s*年\s*(?:部分)?节假日")
_ENTRY = re.compile(r"(?:^|(?<=[\s。]))([一二三四五六七八九十]{1,3})\s*、\s*([^:\n。]{1,30}?)\s*:", re.MULTILINE)
_TOKEN = re.compile(
    r"(?P<date>(?:(?P<y>\d{4})\s*年\s*)?(?:(?P<m>\d{1,2})\s*月\s*)?(?P<d>\d{1,2})\s*日(?:\s*\((?P<note>[^()]*)\))?)"
    r"|(?P<sep>至|~|—|–|-)"
    r"|(?P<kw>放假|上班|休息)"
    # Line breaks are not stops: text copied from a PDF wraps in the middle of a clause.
    r"|(?P<stop>[。,;])"
    # A bracket not attached to a date is a remark, as in 安排职工在除夕（2月9日）休息: skip it whole.
    r"|(?P<paren>\([^()]*\))"
)
_NOTE_WEEKDAY = re.compile(r"(?:周|星期)([一二三四五六日天])")


class NoticeError(ValueError):
    """The notice cannot be read or contradicts itself; the message says where."""


@dataclass(frozen=True)
class Notice:
    """One year's official arrangement: holiday days and swapped working days (调休), by Chinese name."""

    year: int
    holidays: dict[date, str] = field(default_factory=dict)
    workdays: dict[date, str] = field(default_factory=dict)

    def days(self) -> list[tuple[date, bool, str]]:
        """Every listed day as (day, is_workday, Chinese name), in date order."""
        listed = [(d, False, n) for d, n in self.holidays.items()] + [(d, True, n) for d, n in self.workdays.items()]
        return sorted(listed)


def english_name(chinese: str) -> str:
    """The English name of a holiday ("春节、国庆节" → "Spring Festival / National Day"); unknown names unchanged."""
    parts = [p.strip() for p in chinese.split("、") if p.strip()]
    return " / ".join(HOLIDAY_NAMES.get(_ALIASES.get(p, p), p) for p in parts) or chinese


def chinese_name(english: str) -> str:
    """The Chinese name for an English holiday name as stored in CalendarDay.name; unknown names unchanged."""
    by_english = {en: zh for zh, en in HOLIDAY_NAMES.items()}
    return "、".join(by_english.get(p.strip(), p.strip()) for p in english.split(" / "))


def owned_span(year: int) -> tuple[date, date]:
    """The first and last day a notice of `year` may name (and that re-importing it replaces)."""
    reach = timedelta(days=NEW_YEAR_REACH_DAYS)
    return date(year, 1, 1) - reach, date(year + 1, 1, 1) - reach - timedelta(days=1)


def decode_notice(data: bytes) -> str:
    """Decode an uploaded notice: UTF-8 (with or without BOM), else GB18030 as older pages are saved."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return data.decode("gb18030")
        except UnicodeDecodeError:
            raise NoticeError("the file is neither UTF-8 nor GB18030 text") from None


def load_notice(text: str, year: int | None = None) -> Notice:
    """Parse a notice given as published text (or its HTML page) or as the JSON form, detected by its first character."""
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise NoticeError(f"invalid JSON: {e}") from None
        return parse_notice_json(data, year)
    return parse_notice(text, year)


def parse_notice(text: str, year: int | None = None) -> Notice:
    """Parse the notice as published; `year` is needed only when the title is not part of the text."""
    text = unicodedata.normalize("NFKC", text)
    if "<" in text and ">" in text:
        # Pasted or saved from the gov.cn page: tags become line breaks, entities become characters.
        text = html.unescape(re.sub(r"<[^>]+>", "\n", text))
    year = _notice_year(text, year)
    entries = list(_ENTRY.finditer(text))
    if not entries:
        raise NoticeError("no holiday line found: expected lines such as 一、元旦：1月1日至3日放假，共3天。")
    holidays: dict[date, str] = {}
    workdays: dict[date, str] = {}
    for index, entry in enumerate(entries):
        end = entries[index + 1].start() if index + 1 < len(entries) else len(text)
        name = entry.group(2).strip()
        label = f"{entry.group(1)}、{name}"
        off, on = _parse_entry(text[entry.end():end], year, label)
        if not off:
            raise NoticeError(f"{label}: no holiday dates found before 放假")
        for day in off:
            holidays.setdefault(day, name)
        for day in on:
            workdays.setdefault(day, name)
    return _checked(Notice(year, holidays, workdays))


def parse_notice_json(data: Any, year: int | None = None) -> Notice:
    """Parse {"year": 2027, "holidays": [{"name", "start", "end"}], "workdays": ["2027-02-14" or {"date", "name"}]}."""
    if not isinstance(data, dict):
        raise NoticeError("the JSON form must be an object with year, holidays and workdays")
    given = data.get("year")
    if not isinstance(given, int) or isinstance(given, bool):
        raise NoticeError('the JSON form needs "year" as a number, e.g. "year": 2027')
    if year is not None and year != given:
        raise NoticeError(f"the JSON says {given}, but {year} was asked for")
    raw_holidays = data.get("holidays")
    raw_workdays = data.get("workdays", [])
    if not isinstance(raw_holidays, list) or not raw_holidays:
        raise NoticeError('the JSON form needs a non-empty "holidays" list')
    if not isinstance(raw_workdays, list):
        raise NoticeError('"workdays" must be a list')
    holidays: dict[date, str] = {}
    for number, item in enumerate(raw_holidays, start=1):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"].strip():
            raise NoticeError(f"holiday {number}: needs a name, a start and optionally an end")
        name = item["name"].strip()
        start = _iso_date(item.get("start"), f"holiday {number} ({name}) start")
        finish = _iso_date(item.get("end", item.get("start")), f"holiday {number} ({name}) end")
        for day in _span(start, finish, f"holiday {number} ({name})"):
            holidays.setdefault(day, name)
    workdays: dict[date, str] = {}
    for number, item in enumerate(raw_workdays, start=1):
        if isinstance(item, dict):
            day = _iso_date(item.get("date"), f"workday {number}")
            name = item.get("name")
            if name is not None and not isinstance(name, str):
                raise NoticeError(f"workday {number}: name must be text")
        else:
            day, name = _iso_date(item, f"workday {number}"), None
        # A bare date is credited to the nearest holiday, as the published text would have it.
        workdays[day] = name.strip() if name else _nearest(day, holidays)
    return _checked(Notice(given, holidays, workdays))


def _notice_year(text: str, year: int | None) -> int:
    found = {int(y) for y in _TITLE.findall(text)}
    if len(found) > 1:
        raise NoticeError(f"the text names several years: {sorted(found)}")
    if found:
        titled = found.pop()
        if year is not None and year != titled:
            raise NoticeError(f"the notice is for {titled}, but {year} was asked for")
        return titled
    if year is None:
        raise NoticeError("cannot tell the year: include the title (关于XXXX年部分节假日安排的通知) or give the year")
    return year


def _parse_entry(body: str, year: int, label: str) -> tuple[list[date], list[date]]:
    """Walk one entry's text: dates (and ranges) collect until 放假 or 上班 says what they are."""
    off: list[date] = []
    on: list[date] = []
    pending: list[tuple[date, date]] = []
    in_range = False
    last: date | None = None
    for token in _TOKEN.finditer(body):
        kind = token.lastgroup  # the outermost group: "date", not its inner y/m/d/note
        if kind == "date":
            day = _token_date(token, last, year, label)
            if in_range and pending:
                start = pending[-1][0]
                if token.group("y") is None and start.month == 12 and day.month == 1:
                    # 12月30日至1月1日: the range runs into the next year.
                    day = day.replace(year=day.year + 1)
                pending[-1] = (start, day)
            else:
                pending.append((day, day))
            in_range = False
            last = day
        elif kind == "sep":
            in_range = bool(pending)
        elif kind == "kw":
            target = {"放假": off, "上班": on}.get(token.group("kw"))
            if target is not None:
                for start, finish in pending:
                    target.extend(_span(start, finish, label))
            # 休息 (a recommended day off, such as 除夕) lists nothing the calendar must follow.
            pending, in_range = [], False
        elif kind == "stop":
            # Dates not followed by 放假/上班 within their clause are remarks, not arrangements.
            pending, in_range = [], False
    return off, on


def _token_date(token: re.Match[str], last: date | None, year: int, label: str) -> date:
    # A date without month or year takes them from the date before it: 2月15日至23日, 10月7日、8日.
    day_year = int(token.group("y")) if token.group("y") else (last.year if last else year)
    if token.group("m"):
        month = int(token.group("m"))
    elif last is not None:
        month = last.month
    else:
        raise NoticeError(f"{label}: {token.group('date')} has no month")
    try:
        day = date(day_year, month, int(token.group("d")))
    except ValueError:
        raise NoticeError(f"{label}: {token.group('date')} is not a date in {day_year}") from None
    note = token.group("note") or ""
    weekday = _NOTE_WEEKDAY.search(note)
    if weekday and _WEEKDAYS[weekday.group(1)] != day.weekday():
        # The weekday in brackets is the cheapest check that the year (or a digit) is right.
        raise NoticeError(
            f"{label}: {day.isoformat()} is a 周{_WEEKDAY_NAMES[day.weekday()]}, "
            f"but the notice says 周{weekday.group(1)} (wrong year?)"
        )
    return day


def _span(start: date, finish: date, label: str) -> list[date]:
    if finish < start:
        raise NoticeError(f"{label}: the range ends ({finish.isoformat()}) before it starts ({start.isoformat()})")
    length = (finish - start).days + 1
    if length > MAX_BREAK_DAYS:
        raise NoticeError(f"{label}: a {length}-day break ({start.isoformat()} to {finish.isoformat()}) is not plausible")
    return [start + timedelta(days=i) for i in range(length)]


def _iso_date(value: Any, what: str) -> date:
    if not isinstance(value, str):
        raise NoticeError(f"{what}: expected a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise NoticeError(f"{what}: {value!r} is not a date as YYYY-MM-DD") from None


def _nearest(day: date, holidays: dict[date, str]) -> str:
    if not holidays:
        return ""
    return holidays[min(holidays, key=lambda h: (abs((h - day).days), h))]


def _checked(notice: Notice) -> Notice:
    """Refuse days outside the notice's span and days that are both holiday and working day."""
    first, last = owned_span(notice.year)
    for day in sorted(notice.holidays.keys() | notice.workdays.keys()):
        if not first <= day <= last:
            raise NoticeError(
                f"{day.isoformat()} is outside the {notice.year} notice "
                f"(it may name days from {first.isoformat()} to {last.isoformat()})"
            )
    both = sorted(notice.holidays.keys() & notice.workdays.keys())
    if both:
        raise NoticeError(f"{', '.join(d.isoformat() for d in both)}: listed both as holiday and as working day")
    return notice


def import_notice(session: Session, notice: Notice, now: datetime, *, source: str = NOTICE_SOURCE) -> dict[str, Any]:
    """Write a notice's days and its CalendarYear row, replacing the year's earlier non-admin rows; flushes only
    (with its `calendar.import` audit entry).

    Admin rows are hand corrections and win over any import. Returns a summary for the caller to show.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("naive datetime: pass a timezone-aware now")
    first, last = owned_span(notice.year)
    wanted = {day: (is_workday, name) for day, is_workday, name in notice.days()}
    existing = {
        row.day: row
        for row in session.scalars(select(CalendarDay).where(CalendarDay.day >= first, CalendarDay.day <= last))
    }
    removed = written = 0
    kept_admin: list[date] = []
    for day, row in existing.items():
        # Earlier imports and package seeding of this span give way to the notice, absent days included.
        if row.source != ADMIN_SOURCE and day not in wanted:
            session.delete(row)
            removed += 1
    for day, (is_workday, name) in sorted(wanted.items()):
        stored_name = english_name(name)[:100]
        current = existing.get(day)
        if current is None:
            session.add(CalendarDay(day=day, is_workday=is_workday, name=stored_name, source=source))
        elif current.source == ADMIN_SOURCE:
            kept_admin.append(day)
            continue
        else:
            current.is_workday, current.name, current.source = is_workday, stored_name, source
        written += 1
    year_row = session.get(CalendarYear, notice.year)
    imported_at = now.astimezone(timezone.utc)
    if year_row is None:
        session.add(CalendarYear(year=notice.year, source=source, imported_at=imported_at))
    else:
        year_row.source, year_row.imported_at = source, imported_at
    session.flush()
    summary = {
        "year": notice.year,
        "holidays": len(notice.holidays),
        "workdays": len(notice.workdays),
        "written": written,
        "removed": removed,
        "kept_admin": [d.isoformat() for d in kept_admin],
    }
    audit.record("calendar.import", ("calendar", notice.year), after={**summary, "source": source}, at=now)
    return summary


def missing_years(session: Session, now: datetime, weeks: int, tz_name: str = DEFAULT_TIMEZONE) -> list[int]:
    """Years that will fall back to Monday–Friday soon: this year if unknown, next year within `weeks` of 1 January."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("naive datetime: pass a timezone-aware now")
    today = now.astimezone(ZoneInfo(tz_name)).date()
    candidates = [today.year]
    # New Year in local time: in the last hours of 31 December UTC it is already January in Shanghai.
    if date(today.year + 1, 1, 1) - today <= timedelta(weeks=weeks):
        candidates.append(today.year + 1)
    known = set(session.scalars(select(CalendarYear.year).where(CalendarYear.year.in_(candidates))))
    return [year for year in candidates if year not in known]
