"""Warn before the calendar runs out: a year without official data is guessed as Monday–Friday."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from ticketing.calendar_notice import missing_years
from ticketing.extensions import db
from ticketing.models import OrgUnit, UnitKind, User
from ticketing.services import notify
from ticketing.workflow import Role


def warn_missing_years(now: datetime, *, weeks: int) -> dict[str, int]:
    """Queue one warning per missing year to city supervisors and admins (once per year). Flushes."""
    years = missing_years(db.session, now, weeks)
    if not years:
        return {"missing_years": 0, "notifications": 0}
    cities = select(OrgUnit.id).where(OrgUnit.kind == UnitKind.CITY)
    people = list(
        db.session.scalars(
            select(User).where(
                User.active.is_(True),
                (User.role == Role.ADMIN) | ((User.role == Role.SUPERVISOR) & User.unit_id.in_(cities)),
            )
        )
    )
    added = 0
    for year in years:
        message = notify.Message(
            kind="calendar",
            subject=notify.SUBJECTS["calendar"].format(year=year),
            body=(
                f"{year} 年的国务院节假日安排尚未导入，届时期限将按周一至周五计算。"
                "请在管理页面（/admin/calendar）或用 flask calendar import 导入通知。"
            ),
            dedupe_base=f"calendar:{year}",
        )
        added += notify.insert_rows(notify.rows_for(message, people, now))
    return {"missing_years": len(years), "notifications": added}
