"""Deadlines around holidays, through the API, with the clock moved by time-machine (no sleeps).

The API takes its time from `datetime.now(timezone.utc)`; time-machine sets that clock to a
moment before a real 2026 break (chinesecalendar's data, seeded into the demo world) and checks
the deadlines the report gets. `city.litter` has a 4 working-hour response and a 3 working-day
resolution; office hours are 09:00–12:00 and 13:00–18:00 in Shanghai.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine

from ticketing.calendar_notice import import_notice, load_notice
from ticketing.extensions import db

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Invented for the tests (its first line says so): not the official 2027 notice.
NOTICE_2027 = (Path(__file__).resolve().parent / "data" / "notice_2027_test_fixture.txt").read_text("utf-8")


def _local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


def _report_at(api: Any, moment: datetime) -> dict[str, Any]:
    # tick=False: every read of the clock during the request sees exactly `moment`.
    with time_machine.travel(moment, tick=False):
        resp = api.report()
    assert resp.status_code == 201, resp.json
    return resp.json  # type: ignore[no-any-return]


def _due(ticket: dict[str, Any], key: str) -> datetime:
    return datetime.fromisoformat(ticket[key].replace("Z", "+00:00")).astimezone(SHANGHAI)


@pytest.mark.parametrize(
    "reported, response_due, resolution_due",
    [
        # Friday before 清明 (Sat 4 – Mon 6 April): the break is skipped, Tuesday is the first day back.
        (_local(2026, 4, 3, 16), _local(2026, 4, 7, 11), _local(2026, 4, 9, 18)),
        # Wednesday before 国庆 (1–7 October): Thursday 8th is day one and Saturday 10th (调休) day three.
        (_local(2026, 9, 30, 16), _local(2026, 10, 8, 11), _local(2026, 10, 10, 18)),
        # Friday before 春节: Saturday 14 February is a working day, then nine days off.
        (_local(2026, 2, 13, 16), _local(2026, 2, 14, 11), _local(2026, 2, 25, 18)),
    ],
    ids=["qingming", "national-day", "spring-festival"],
)
def test_friday_afternoon_report_before_a_holiday_skips_the_break(api, reported, response_due, resolution_due):
    ticket = _report_at(api, reported)
    assert _due(ticket, "dispatched_at") == reported
    assert _due(ticket, "response_due_at") == response_due
    assert _due(ticket, "resolution_due_at") == resolution_due
    assert ticket["deadline_fallback"] is False


def test_swapped_saturday_counts_as_a_working_day(api):
    # Friday 9 October 2026 16:00; Saturday 10 October is 国庆's 调休 working day.
    ticket = _report_at(api, _local(2026, 10, 9, 16))
    # Two hours on Friday, two on Saturday morning (a plain weekend would give Monday 11:00).
    assert _due(ticket, "response_due_at") == _local(2026, 10, 10, 11)
    # Saturday, Monday, Tuesday (a plain weekend would give Wednesday).
    assert _due(ticket, "resolution_due_at") == _local(2026, 10, 13, 18)


def test_2027_without_a_notice_falls_back_to_monday_to_friday(api):
    ticket = _report_at(api, _local(2027, 2, 4, 16))
    # The (test) Spring Festival break is unknown: Friday 5 February counts as a working day.
    assert _due(ticket, "response_due_at") == _local(2027, 2, 5, 11)
    assert _due(ticket, "resolution_due_at") == _local(2027, 2, 9, 18)
    assert ticket["deadline_fallback"] is True


def test_2027_after_importing_the_notice_uses_it(api):
    import_notice(db.session, load_notice(NOTICE_2027), _local(2026, 11, 20, 10))
    db.session.commit()
    ticket = _report_at(api, _local(2027, 2, 4, 16))
    # The break runs Friday 5 to Saturday 13 February; Sunday 14th is a plain Sunday.
    assert _due(ticket, "response_due_at") == _local(2027, 2, 15, 11)
    assert _due(ticket, "resolution_due_at") == _local(2027, 2, 17, 18)
    assert ticket["deadline_fallback"] is False
