"""The calendar admin page: the known years, the next year without data, and importing a year's notice.

Paste (or upload) → preview → confirm. The preview carries the notice text in a hidden field and the
confirm parses it again, so nothing half-parsed is kept between the two requests.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from ticketing.calendar_notice import (
    Notice,
    NoticeError,
    chinese_name,
    decode_notice,
    english_name,
    import_notice,
    load_notice,
    missing_years,
)
from ticketing.extensions import db, login_manager
from ticketing.models.calendar import CalendarDay, CalendarYear
from ticketing.workflow import Role

bp = Blueprint("calendar_admin", __name__, url_prefix="/admin/calendar", template_folder="templates")

# A notice is a page of text; anything much larger is not one, and would only be echoed back.
MAX_NOTICE_CHARS = 20_000


@bp.before_request
def _admins_only() -> Any:
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if current_user.role != Role.ADMIN:
        abort(403)
    # Posts are checked for their CSRF token by Flask-WTF (ticketing.web.register_web).
    return None


def _now() -> datetime:
    # The edge reads the clock once and passes it on; the core never does.
    return datetime.now(timezone.utc)


def _page(status: int = 200, **extra: Any) -> Any:
    """Render the page with the known years and the fallback warning, plus `extra`."""
    now = _now()
    day_year = func.extract("year", CalendarDay.day)
    # PostgreSQL's extract gives a numeric, SQLite's an integer.
    counts = {int(y): n for y, n in db.session.execute(select(day_year, func.count()).group_by(day_year)).all()}
    years = [
        {"year": row.year, "source": row.source, "imported_at": row.imported_at, "days": counts.get(row.year, 0)}
        for row in db.session.scalars(select(CalendarYear).order_by(CalendarYear.year.desc()))
    ]
    missing = missing_years(db.session, now, int(current_app.config["CALENDAR_WARN_WEEKS"]),
                            current_app.config["TIMEZONE"])
    known = {y["year"] for y in years}
    this_year = now.astimezone(ZoneInfo(current_app.config["TIMEZONE"])).year
    next_unknown = next(y for y in range(this_year, this_year + 100) if y not in known)
    context: dict[str, Any] = {
        "years": years,
        "missing": missing,
        "next_unknown": next_unknown,
        "text": "",
        "year_given": "",
        "preview": None,
    }
    context.update(extra)
    return render_template("calendar_admin.html", **context), status


def _submitted() -> tuple[str, int | None]:
    """The notice text (upload wins over the textarea) and the optional year from the form."""
    upload = request.files.get("file")
    text = decode_notice(upload.read()) if upload and upload.filename else request.form.get("notice", "")
    if not text.strip():
        raise NoticeError(_("Paste the notice or choose a file."))
    if len(text) > MAX_NOTICE_CHARS:
        raise NoticeError(_("The text is too long to be a holiday notice."))
    raw_year = request.form.get("year", "").strip()
    if raw_year and not (raw_year.isdigit() and len(raw_year) == 4):
        raise NoticeError(_("The year must be four digits."))
    return text, int(raw_year) if raw_year else None


def _preview_rows(notice: Notice) -> list[dict[str, Any]]:
    weekdays = [_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun")]
    return [
        {"day": day, "weekday": weekdays[day.weekday()], "is_workday": is_workday, "name": name,
         "name_en": english_name(name)}
        for day, is_workday, name in notice.days()
    ]


@bp.get("/")
def show() -> Any:
    """The known years, the next year without data, and the import form."""
    return _page()


@bp.post("/preview")
def preview() -> Any:
    """Parse the pasted or uploaded notice and list its days; nothing is written."""
    text, year = "", None
    try:
        text, year = _submitted()
        notice = load_notice(text, year)
    except NoticeError as e:
        return _page(400, error=str(e), text=text, year_given=year or "")
    return _page(text=text, year_given=year or "", preview={"notice": notice, "rows": _preview_rows(notice)})


@bp.post("/import")
def confirm() -> Any:
    """Parse the previewed text again and import it; commits."""
    try:
        text, year = _submitted()
        notice = load_notice(text, year)
    except NoticeError as e:
        return _page(400, error=str(e))
    summary = import_notice(db.session, notice, _now())
    db.session.commit()
    flash(_("Imported the %(year)s calendar: %(holidays)s holidays, %(workdays)s working days.",
            year=notice.year, holidays=summary["holidays"], workdays=summary["workdays"]), "info")
    if summary["kept_admin"]:
        flash(_("Hand-edited days kept: %(days)s", days=", ".join(summary["kept_admin"])), "info")
    return redirect(url_for("calendar_admin.show"))


@bp.app_template_filter("holiday_name")
def _holiday_name(name: str) -> str:
    # Stored names are English (as chinesecalendar's); the Chinese interface shows the official name.
    return name if str(get_locale()) == "en" else chinese_name(name)
