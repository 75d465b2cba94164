"""Assessment reports (考核报告): generate one, keep every version, and the worker's schedule.

A report is made for a district or a department and a month or a year
(`ticketing.reports.data`); each generation is a new version of that (unit, period), with
its HTML and PDF written to the photo store under ``reports/<unit id>/<period>/`` and its
figures kept in the row. Files are never overwritten: the key carries the version and a
hash of the content.

Two generations of the same (unit, period) cannot take the same version: the row's unique
index (unit, period, version) refuses the second at its flush, which happens before any
file is written. The worker uses that to produce each scheduled report once, even with two
workers at it (`generate_scheduled`).

Functions flush, never commit; the request or job commits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Select, case, func, select
from sqlalchemy.exc import IntegrityError

from ticketing.errors import InvalidInput
from ticketing.extensions import db
from ticketing.models import AssessmentReport, OrgUnit, Photo, ReportKind, User
from ticketing.reports import data, render
from ticketing.reports.data import REPORT_UNIT_KINDS, Period
from ticketing.settings import TicketSettings
from ticketing.storage import PhotoStore, cleanup

# The worker makes last month's reports from 02:00 on the 1st (local time): after midnight's
# last late events, out of office hours.
SCHEDULE_HOUR = 2


@dataclass(frozen=True)
class DueSoon:
    """The working hours before a deadline that count a ticket as due soon (REMIND_*_BEFORE_HOURS)."""

    response_hours: float = 1.0
    resolution_hours: float = 4.0


def generate(
    unit: OrgUnit,
    kind: str,
    period: str,
    now: datetime,
    requested_by: User | None = None,
    *,
    settings: TicketSettings,
    store: PhotoStore,
    due_soon: DueSoon = DueSoon(),
) -> AssessmentReport:
    """Build, render and store a new version of `unit`'s report for `period`; flushes.

    `kind` is monthly or annual and `period` ``2026-03`` or ``2026`` (422 `invalid_period`);
    a period that has not begun is 422 `period_not_started`; a period under way gives a
    report of the figures so far. `requested_by` None means the worker's schedule. Who may
    ask is the caller's check. A concurrent generation that took the same version makes the
    flush raise IntegrityError.
    """
    span = data.parse_period(kind, period)
    start, _ = span.bounds(settings.timezone)
    if start > now:
        raise InvalidInput(
            "that period has not begun", code="period_not_started", details={"period": span.code}
        )
    version, _ = _versions(unit.id, span.code)
    return _generate(unit, span, now, requested_by, version, settings=settings, store=store, due_soon=due_soon)


def scheduled_periods(now: datetime, tz_name: str) -> list[Period]:
    """The periods the worker's schedule owes as of `now`: last month from 02:00 on the 1st (local)
    on, and in January last year too."""
    local = now.astimezone(ZoneInfo(tz_name)) - timedelta(hours=SCHEDULE_HOUR)
    periods = [data.previous_period(ReportKind.MONTHLY, local.date())]
    if local.month == 1:
        periods.append(data.previous_period(ReportKind.ANNUAL, local.date()))
    return periods


def missing_scheduled(now: datetime, tz_name: str) -> list[tuple[int, Period]]:
    """(unit id, period) of every district and department whose scheduled report for a period
    the schedule owes is not made yet, in org-tree order."""
    periods = scheduled_periods(now, tz_name)
    done = set(
        db.session.execute(
            select(AssessmentReport.unit_id, AssessmentReport.period).where(
                AssessmentReport.period.in_([p.code for p in periods]),
                AssessmentReport.requested_by_id.is_(None),
            )
        ).all()
    )
    units = db.session.scalars(
        select(OrgUnit.id).where(OrgUnit.kind.in_(REPORT_UNIT_KINDS)).order_by(OrgUnit.path, OrgUnit.code)
    ).all()
    return [(u, p) for p in periods for u in units if (u, p.code) not in done]


def generate_scheduled(
    unit_id: int,
    period: Period,
    now: datetime,
    *,
    settings: TicketSettings,
    store: PhotoStore,
    due_soon: DueSoon = DueSoon(),
) -> AssessmentReport | None:
    """The worker's report of `unit_id` for `period`, unless one was made by the schedule already
    (or another worker makes it at this moment): then None and nothing is written. Flushes."""
    version, scheduled = _versions(unit_id, period.code)
    unit = db.session.get(OrgUnit, unit_id)
    if scheduled or unit is None:
        return None
    try:
        with db.session.begin_nested():
            return _generate(unit, period, now, None, version, settings=settings, store=store, due_soon=due_soon)
    except IntegrityError:
        # Another worker (or a supervisor's request) took this version first; if that was the
        # scheduled report, the next run finds it, otherwise the next run makes it.
        return None


def report_query(unit_ids: list[int] | None, period: str | None) -> Select[AssessmentReport]:
    """Reports of the given units (all when None) and period, newest period first, then unit, newest version."""
    query = select(AssessmentReport)
    if unit_ids is not None:
        query = query.where(AssessmentReport.unit_id.in_(unit_ids))
    if period:
        query = query.where(AssessmentReport.period == period)
    return query.order_by(
        AssessmentReport.period.desc(), AssessmentReport.unit_id, AssessmentReport.version.desc()
    )


def file_name(report: AssessmentReport, unit: OrgUnit, suffix: str) -> str:
    """A download name such as ``下城区2026年3月考核报告-v2.pdf``."""
    span = data.parse_period(report.kind.value, report.period)
    return f"{unit.name}{span.label}考核报告-v{report.version}.{suffix}"


# ---------------------------------------------------------------------------- internals


def _versions(unit_id: int, period: str) -> tuple[int, bool]:
    """The next version of (unit, period) and whether the schedule made one already.

    One statement, so both answers come from the same snapshot: a worker that does not see
    another's scheduled report takes the very version that report holds, and loses at flush.
    """
    latest, scheduled = db.session.execute(
        select(
            func.coalesce(func.max(AssessmentReport.version), 0),
            func.coalesce(func.sum(case((AssessmentReport.requested_by_id.is_(None), 1), else_=0)), 0),
        ).where(AssessmentReport.unit_id == unit_id, AssessmentReport.period == period)
    ).one()
    return int(latest) + 1, bool(scheduled)


def _generate(
    unit: OrgUnit,
    span: Period,
    now: datetime,
    requested_by: User | None,
    version: int,
    *,
    settings: TicketSettings,
    store: PhotoStore,
    due_soon: DueSoon,
) -> AssessmentReport:
    figures = data.build(
        unit,
        span,
        now,
        settings,
        due_soon_response_hours=due_soon.response_hours,
        due_soon_resolution_hours=due_soon.resolution_hours,
    )
    html_text = render.html(figures, _photo_loader(store), version=version, generated_at=now)
    files = [(html_text.encode("utf-8"), "html", "text/html; charset=utf-8"), (render.pdf(html_text), "pdf",
                                                                               "application/pdf")]
    keys = []
    for body, suffix, _ in files:
        digest = hashlib.sha256(body).hexdigest()
        keys.append((f"reports/{unit.id}/{span.code}/v{version}-{digest[:16]}.{suffix}", digest))
    report = AssessmentReport(
        unit_id=unit.id,
        kind=span.kind,
        period=span.code,
        version=version,
        generated_at=now,
        requested_by_id=requested_by.id if requested_by else None,
        html_key=keys[0][0],
        pdf_key=keys[1][0],
        data=figures,
    )
    db.session.add(report)
    # Claim the version before writing anything: a concurrent generation fails here, not after its files.
    db.session.flush()
    for (body, _, content_type), (key, digest) in zip(files, keys):
        store.put(key, body, content_type)
        # Deleted again if this transaction does not commit.
        cleanup.track(db.session, store, key, digest)
    return report


def _photo_loader(store: PhotoStore) -> Callable[[int], bytes | None]:
    """Reads a photo's display copy (the metadata-free one) by id; None when it is missing."""

    def load(photo_id: int) -> bytes | None:
        photo = db.session.get(Photo, photo_id)
        if photo is None or not photo.display_key:
            return None
        try:
            return store.get(photo.display_key)
        except KeyError:
            return None

    return load
