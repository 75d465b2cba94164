"""The calendar admin page: an admin previews and imports a notice; nobody else gets in."""

from __future__ import annotations

import io
import re
from datetime import date, datetime, timezone
from pathlib import Path

from ticketing.demo import DEMO_PASSWORD
from ticketing.extensions import db
from ticketing.models.calendar import CalendarDay, CalendarYear

NOTICE_2027 = (Path(__file__).resolve().parent.parent / "data" / "notice_2027_test_fixture.txt").read_text("utf-8")


def _sign_in(client, username: str) -> None:
    resp = client.post("/login", data={"username": username, "password": DEMO_PASSWORD})
    assert resp.status_code == 302


def _login_token(client) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True))
    assert match
    return match.group(1)


def _token(client) -> str:
    page = client.get("/admin/calendar/").get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match
    return match.group(1)


def test_admin_previews_then_imports_a_2027_notice(client):
    _sign_in(client, "admin")
    page = client.get("/admin/calendar/")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "工作日历" in body and "2026" in body
    token = _token(client)

    preview = client.post("/admin/calendar/preview", data={"csrf_token": token, "notice": NOTICE_2027})
    body = preview.get_data(as_text=True)
    assert preview.status_code == 200
    assert "2027-02-08" in body and "调休上班" in body and "春节" in body
    # Previewing writes nothing.
    assert db.session.get(CalendarYear, 2027) is None

    done = client.post("/admin/calendar/import", data={"csrf_token": token, "notice": NOTICE_2027})
    assert done.status_code == 302
    year = db.session.get(CalendarYear, 2027)
    assert year is not None and year.source == "notice"
    assert db.session.get(CalendarDay, date(2027, 2, 8)).is_workday is False
    assert db.session.get(CalendarDay, date(2027, 2, 20)).is_workday is True
    after = client.get("/admin/calendar/").get_data(as_text=True)
    assert "已导入2027年节假日安排" in after


def test_a_file_upload_works_too(client):
    _sign_in(client, "admin")
    token = _token(client)
    resp = client.post(
        "/admin/calendar/preview",
        data={"csrf_token": token, "file": (io.BytesIO(NOTICE_2027.encode("gb18030")), "notice.txt")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 200
    assert "2027-10-09" in resp.get_data(as_text=True)


def test_unreadable_notice_is_shown_not_imported(client):
    _sign_in(client, "admin")
    token = _token(client)
    resp = client.post("/admin/calendar/import", data={"csrf_token": token, "notice": "节日快乐", "year": "2027"})
    assert resp.status_code == 400
    assert "无法识别该通知" in resp.get_data(as_text=True)
    assert db.session.get(CalendarYear, 2027) is None


def test_the_warning_names_the_year_without_data(client):
    _sign_in(client, "admin")
    body = client.get("/admin/calendar/?lang=en").get_data(as_text=True)
    # The demo knows up to 2026, so the first year without data is 2027 or, later on, the current year.
    assert str(max(2027, datetime.now(timezone.utc).year)) in body


def test_non_admin_is_forbidden(client):
    _sign_in(client, "supervisor_city")
    assert client.get("/admin/calendar/").status_code == 403
    assert client.post("/admin/calendar/import", data={"notice": NOTICE_2027}).status_code == 403
    assert db.session.get(CalendarYear, 2027) is None


def test_anonymous_is_sent_to_sign_in(client):
    resp = client.get("/admin/calendar/")
    assert resp.status_code == 302
    assert "/login" in resp.headers["Location"]


def test_post_without_csrf_token_is_refused(client, csrf_on):
    client.post("/login", data={"username": "admin", "password": DEMO_PASSWORD,
                                "csrf_token": _login_token(client)})
    _token(client)
    assert client.post("/admin/calendar/import", data={"notice": NOTICE_2027}).status_code == 400
    assert client.post("/admin/calendar/import", data={"notice": NOTICE_2027, "csrf_token": "forged"}).status_code == 400
    assert db.session.get(CalendarYear, 2027) is None


def test_the_home_page_links_admins_to_the_calendar(client):
    from ticketing.demo import DEMO_PASSWORD

    client.post("/login", data={"username": "admin", "password": DEMO_PASSWORD})
    assert "/admin/calendar/" in client.get("/").get_data(as_text=True)
    client.post("/logout")
    client.post("/login", data={"username": "deputy_wang", "password": DEMO_PASSWORD})
    assert "/admin/calendar/" not in client.get("/").get_data(as_text=True)
