"""The admin audit log: every admin change is recorded with who, when, through what, before and
after, in the change's own transaction; the database keeps the log append-only; admins read it.

Changes are made the way people make them: the admin pages (signed in as ``admin``), the API,
the command line. Each test reads back only the entries it caused (the demo world's own, written
by the loader as the system's, are older).
"""

from __future__ import annotations

import html
import io
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import DBAPIError

from tests.conftest import NOW, TIANSHUI
from ticketing.demo import DEMO_PASSWORD
from ticketing.extensions import db
from ticketing.models import ApiToken, AuditEntry, BoundaryGeneration, User
from ticketing.services import audit

NOTICE_2027 = (Path(__file__).resolve().parent / "data" / "notice_2027_test_fixture.txt").read_text("utf-8")


def _sign_in(client: Any, username: str = "admin") -> None:
    client.post("/logout")
    assert client.post("/login", data={"username": username, "password": DEMO_PASSWORD}).status_code == 302


@pytest.fixture
def admin(client, clock):
    _sign_in(client)
    return client


@pytest.fixture
def first_id() -> int:
    """Entries after this id are the test's own."""
    return db.session.scalar(select(func.coalesce(func.max(AuditEntry.id), 0)))  # type: ignore[no-any-return]


def _entries(first_id: int, action: str | None = None) -> list[AuditEntry]:
    db.session.expire_all()
    query = select(AuditEntry).where(AuditEntry.id > first_id).order_by(AuditEntry.id)
    if action:
        query = query.where(AuditEntry.action == action)
    return list(db.session.scalars(query))


def _one(first_id: int, action: str) -> AuditEntry:
    found = _entries(first_id, action)
    assert len(found) == 1, [(e.action, e.target_id) for e in _entries(first_id)]
    return found[0]


def _user(username: str) -> User:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.username == username))


def _by_admin(entry: AuditEntry, at: datetime = NOW) -> None:
    assert entry.actor is not None and entry.actor.username == "admin"
    assert entry.via == "web"
    assert entry.at == at


# ---------------------------------------------------------------------------- users and tokens


def test_creating_a_user_records_who_what_and_when_but_no_password_or_phone(admin, first_id):
    resp = admin.post("/admin/users", data={"username": "handler_new", "display_name": "新承办人", "role": "handler",
                                            "unit": "330105013", "password": "long-enough", "phone": "13912345678"})
    assert resp.status_code == 302
    entry = _one(first_id, "user.create")
    _by_admin(entry)
    assert (entry.target_type, entry.target_id, entry.before) == ("user", "handler_new", None)
    assert entry.after["role"] == "handler" and entry.after["unit"] == "330105013"
    assert entry.after["display_name"] == "新承办人" and entry.after["active"] is True
    stored = json.dumps(entry.after, ensure_ascii=False)
    assert "13912345678" not in stored and "long-enough" not in stored
    assert _user("handler_new").password_hash not in stored


def test_deactivate_reactivate_and_reset_a_password(admin, clock, first_id):
    wang = _user("deputy_wang")
    admin.post(f"/admin/users/{wang.id}/active", data={"active": "0"})
    clock.advance(minutes=5)
    admin.post(f"/admin/users/{wang.id}/active", data={"active": "1"})
    admin.post(f"/admin/users/{wang.id}/password", data={"password": "another-secret"})
    off, on, reset = _entries(first_id)
    assert (off.action, off.target_id, off.before, off.after) == ("user.deactivate", "deputy_wang",
                                                                  {"active": True}, {"active": False})
    _by_admin(off)
    assert (on.action, on.before, on.after) == ("user.activate", {"active": False}, {"active": True})
    _by_admin(on, NOW + timedelta(minutes=5))
    assert (reset.action, reset.before, reset.after) == ("user.password_reset", {}, {"password": "reset"})
    assert _user("deputy_wang").password_hash not in json.dumps([reset.before, reset.after])


def test_refused_or_idle_changes_write_no_entry(admin, first_id):
    wang = _user("deputy_wang")
    me = _user("admin")
    assert admin.post(f"/admin/users/{wang.id}/password", data={"password": "short"}).status_code == 422
    assert admin.post(f"/admin/users/{me.id}/active", data={"active": "0"}).status_code == 409
    assert admin.post("/admin/users", data={"username": "deputy_wang", "display_name": "x", "role": "deputy",
                                            "password": "long-enough"}).status_code == 422
    # Reactivating someone active changes nothing, so there is nothing to record.
    admin.post(f"/admin/users/{wang.id}/active", data={"active": "1"})
    assert _entries(first_id) == []


def test_issuing_and_revoking_a_token_never_records_its_value(admin, first_id):
    resp = admin.post("/admin/tokens", data={"username": "handler_wulin", "label": "12345 热线", "days": "30"})
    token = re.search(r'id="new-token" readonly value="([^"]+)"', resp.get_data(as_text=True)).group(1)
    row = db.session.scalar(select(ApiToken).where(ApiToken.label == "12345 热线"))
    admin.post(f"/admin/tokens/{row.id}/revoke")
    admin.post(f"/admin/tokens/{row.id}/revoke")  # twice: harmless, and recorded once
    issued = _one(first_id, "token.issue")
    _by_admin(issued)
    assert (issued.target_type, issued.target_id) == ("token", str(row.id))
    assert issued.after["user"] == "handler_wulin" and issued.after["label"] == "12345 热线"
    assert issued.after["revoked"] is False and issued.after["expires_at"].startswith("2026-04-01")
    revoked = _one(first_id, "token.revoke")
    assert (revoked.target_id, revoked.before, revoked.after) == (str(row.id), {"revoked": False}, {"revoked": True})
    everything = json.dumps([(e.before, e.after) for e in _entries(first_id)], ensure_ascii=False)
    assert token not in everything and row.token_hash not in everything


def test_an_api_sign_in_is_the_users_own_token(api, first_id):
    api.token("deputy_li")
    entry = _one(first_id, "token.issue")
    assert entry.actor.username == "deputy_li" and entry.via == "api"
    assert entry.after["user"] == "deputy_li" and entry.after["label"] == "api"


def test_the_request_scope_does_not_outlive_the_request(admin, api, first_id):
    # The admin's page request ends; the next caller's change is theirs, and code outside any
    # request (the demo loader, a test) writes as the system.
    admin.get("/admin/users")
    api.token("deputy_wang")
    from ticketing.services import auth

    auth.set_active(_user("deputy_li"), False, actor=_user("admin"))
    issued, off = _entries(first_id)
    assert issued.actor.username == "deputy_wang" and issued.via == "api"
    assert off.via == "system" and off.actor.username == "admin"  # the service named the actor itself
    auth.reset_password(_user("deputy_li"), "long-enough")
    reset = _entries(first_id)[-1]
    assert reset.actor is None and reset.via == "system"


# ---------------------------------------------------------------------------- categories, units, boundaries, calendar


def test_category_deadlines_are_recorded_with_their_old_values(admin, first_id):
    admin.post("/admin/categories/city.litter", data={"response_hours": "6", "resolution_days": "4", "active": "1"})
    entry = _one(first_id, "category.update")
    _by_admin(entry)
    assert entry.target_id == "city.litter"
    assert entry.before == {"response_hours": 4, "resolution_days": 3}
    assert entry.after == {"response_hours": 6, "resolution_days": 4}


def test_a_domain_with_its_subcategories_is_one_entry_per_category(admin, first_id):
    admin.post("/admin/categories/safety", data={"response_hours": "2", "resolution_days": "2", "active": "1",
                                                 "with_subcategories": "1"})
    targets = sorted(e.target_id for e in _entries(first_id, "category.update"))
    assert targets == ["safety", "safety.escape", "safety.fire", "safety.structures"]


def test_units_added_and_renamed(admin, first_id):
    admin.post("/admin/units", data={"code": "330105099", "name": "新街道", "name_en": "New Street", "kind": "street",
                                     "parent": "330103"})
    admin.post("/admin/units/330105099/rename", data={"name": "更新街道", "name_en": "Renewed Street"})
    added = _one(first_id, "unit.add")
    _by_admin(added)
    assert added.target_id == "330105099"
    assert added.after == {"code": "330105099", "name": "新街道", "name_en": "New Street", "kind": "street",
                           "dept_kind": None, "parent": "330103"}
    renamed = _one(first_id, "unit.rename")
    assert renamed.before == {"name": "新街道", "name_en": "New Street"}
    assert renamed.after == {"name": "更新街道", "name_en": "Renewed Street"}


def _square(lon: float, lat: float, half: float = 0.002) -> list[list[list[float]]]:
    return [[[lon - half, lat - half], [lon + half, lat - half], [lon + half, lat + half], [lon - half, lat + half],
             [lon - half, lat - half]]]


def test_boundary_import_and_activation(admin, first_id):
    data = json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "330105012"},
         "geometry": {"type": "Polygon", "coordinates": _square(*TIANSHUI)}},
        {"type": "Feature", "properties": {"code": "999"},
         "geometry": {"type": "Polygon", "coordinates": _square(120.0, 30.0)}},
    ]}).encode()
    resp = admin.post("/admin/boundaries/import", content_type="multipart/form-data", data={
        "key_field": "code", "match": "code", "crs": "wgs84", "label": "测试边界",
        "file": (io.BytesIO(data), "streets.geojson")})
    generation_id = int(resp.headers["Location"].rsplit("/", 1)[1])
    admin.post(f"/admin/boundaries/{generation_id}/activate")
    admin.post(f"/admin/boundaries/{generation_id}/activate")  # already active: nothing changes
    imported = _one(first_id, "boundaries.import")
    _by_admin(imported)
    assert imported.target_id == str(generation_id)
    assert imported.after["label"] == "测试边界" and imported.after["active"] is False
    assert (imported.after["accepted"], imported.after["rejected"]) == (1, 1)
    activated = _one(first_id, "boundaries.activate")
    _by_admin(activated)
    previous = db.session.scalar(select(BoundaryGeneration.id).where(BoundaryGeneration.id != generation_id)
                                 .order_by(BoundaryGeneration.id))
    assert activated.before == {"active_generation": previous}
    assert activated.after == {"active_generation": generation_id, "label": "测试边界"}


def test_calendar_import(admin, first_id):
    page = admin.get("/admin/calendar/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert admin.post("/admin/calendar/import", data={"csrf_token": token, "notice": NOTICE_2027}).status_code == 302
    entry = _one(first_id, "calendar.import")
    _by_admin(entry)
    assert (entry.target_type, entry.target_id) == ("calendar", "2027")
    assert entry.after["year"] == 2027 and entry.after["source"] == "notice" and entry.after["holidays"] > 0


def test_command_line_changes_are_the_command_lines(ctx, first_id):
    runner = ctx.test_cli_runner()
    out = runner.invoke(args=["users", "create", "cli_user", "--role", "deputy", "--password", "long-enough"])
    assert out.exit_code == 0, out.output
    out = runner.invoke(args=["users", "token", "cli_user", "--days", "5"])
    assert out.exit_code == 0, out.output
    created, issued = _entries(first_id)
    assert (created.action, created.target_id, created.via, created.actor) == ("user.create", "cli_user", "cli", None)
    # Nobody signs in on the command line; the token's owner stands in for the issuer.
    assert (issued.action, issued.via, issued.actor.username) == ("token.issue", "cli", "cli_user")
    # The command's scope ends with it.
    assert audit._acting.get() is None


# ---------------------------------------------------------------------------- the log itself


def test_the_log_is_append_only_in_the_database(ctx):
    entry = audit.record("unit.rename", ("unit", "X"), before={"name": "a"}, after={"name": "b"}, at=NOW)
    for statement in (update(AuditEntry).where(AuditEntry.id == entry.id).values(action="user.create"),
                      delete(AuditEntry).where(AuditEntry.id == entry.id)):
        savepoint = db.session.begin_nested()
        with pytest.raises(DBAPIError, match="append-only"):
            db.session.execute(statement)
        savepoint.rollback()
    db.session.expire_all()
    assert db.session.get(AuditEntry, entry.id).action == "unit.rename"


def test_unknown_actions_are_a_bug_not_an_entry(ctx):
    with pytest.raises(ValueError):
        audit.record("user.delete", ("user", "x"))
    with pytest.raises(ValueError):
        audit.begin(None, None, via="email")


def test_the_demo_loader_wrote_as_the_system(ctx):
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "user.create",
                                                       AuditEntry.target_id == "deputy_wang"))
    assert entry is not None and entry.via == "system" and entry.actor is None and entry.at == NOW


# ---------------------------------------------------------------------------- reading it: the API


def _make_some(admin: Any, clock: Any) -> None:
    clock.advance(minutes=1)  # after the demo loader's entries, written at NOW
    admin.post("/admin/units", data={"code": "330105098", "name": "甲街道", "kind": "street", "parent": "330103"})
    clock.advance(hours=1)
    admin.post("/admin/units/330105098/rename", data={"name": "乙街道"})
    clock.advance(hours=1)
    admin.post("/admin/categories/city.litter", data={"response_hours": "6", "resolution_days": "4", "active": "1"})


def test_admins_page_through_the_log_newest_first_with_filters(admin, api, clock, first_id):
    _make_some(admin, clock)
    # Within the test's hours: the demo loader wrote at NOW, or (without a time of its own) at the wall clock.
    window = "from=2026-03-02T01:00:30Z&to=2026-03-02T04:00:00Z"
    page = api.get(f"/api/v1/audit?page_size=2&{window}", "admin")
    assert page.status_code == 200, page.json
    assert page.json["page"] == 1 and page.json["page_size"] == 2 and page.json["total"] == 4
    newest = page.json["items"][0]
    # The admin's own sign-in for the API call is the newest entry, then the category change.
    assert [i["action"] for i in page.json["items"]] == ["token.issue", "category.update"]
    assert newest["actor"] == "admin" and newest["via"] == "api"
    second = api.get(f"/api/v1/audit?page_size=2&page=2&{window}", "admin").json["items"]
    assert [i["action"] for i in second] == ["unit.rename", "unit.add"]

    units = api.get(f"/api/v1/audit?action=unit.&{window}", "admin").json
    assert [(i["action"], i["target_id"]) for i in units["items"]] == [("unit.rename", "330105098"),
                                                                       ("unit.add", "330105098")]
    one = api.get("/api/v1/audit?target_type=unit&target_id=330105098&action=unit.rename", "admin").json
    assert one["total"] == 1 and (one["items"][0]["before"], one["items"][0]["after"]) == ({"name": "甲街道"},
                                                                                    {"name": "乙街道"})
    mine = api.get("/api/v1/audit?actor=admin&from=2026-03-02T01:30:00%2B00:00&to=2026-03-02T02:30:00Z", "admin").json
    assert [i["action"] for i in mine["items"]] == ["unit.rename"]
    assert api.get("/api/v1/audit?actor=nobody", "admin").json == {"items": [], "page": 1, "page_size": 50,
                                                                   "total": 0}


@pytest.mark.parametrize("query", ["page=0", "page_size=201", "from=2026-03-02T00:00:00", "from=yesterday",
                                   "from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z", "action=" + "x" * 65])
def test_bad_audit_queries_are_422(api, query):
    resp = api.get(f"/api/v1/audit?{query}", "admin")
    assert resp.status_code == 422, resp.json
    assert resp.json["error"]["code"]


@pytest.mark.parametrize("username", ["supervisor_city", "handler_tianshui", "deputy_wang"])
def test_only_admins_read_the_log(api, username):
    resp = api.get("/api/v1/audit", username)
    assert resp.status_code == 403 and resp.json["error"]["code"] == "not_allowed"


def test_anonymous_is_401(client):
    assert client.get("/api/v1/audit").status_code == 401


def test_the_log_is_documented_in_openapi(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/audit" in spec["paths"] and "/api/v1/tickets/{key}/photo-consent" in spec["paths"]


def test_time_of_entries_is_aware_utc(admin, first_id):
    admin.post("/admin/units/330105012/rename", data={"name": "天水街道（新）", "name_en": "Tianshui"})
    entry = _one(first_id, "unit.rename")
    assert entry.at.tzinfo is not None and entry.at.utcoffset() == timezone.utc.utcoffset(None)


# ---------------------------------------------------------------------------- reading it: the admin page


def test_the_admin_page_lists_and_filters_the_log(admin, clock):
    _make_some(admin, clock)
    page = admin.get("/admin/audit")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "审计日志" in body
    assert "单位改名" in body and "修改类别与时限" in body and "网页" in body
    assert '"甲街道" → "乙街道"' in html.unescape(body)
    units = admin.get("/admin/audit?group=unit.&target=330105098").get_data(as_text=True)
    assert 'data-action="unit.rename"' in units and 'data-action="category.update"' not in units
    assert "没有记录" in admin.get("/admin/audit?actor=nobody").get_data(as_text=True)
    assert 'href="/admin/audit"' in admin.get("/admin/").get_data(as_text=True)
    english = admin.get("/admin/audit?lang=en").get_data(as_text=True)
    assert "Audit log" in english and "Renamed a unit" in english


@pytest.mark.parametrize("username", ["supervisor_city", "deputy_wang"])
def test_the_admin_page_is_for_admins(client, username):
    _sign_in(client, username)
    assert client.get("/admin/audit").status_code == 403


def test_lifting_a_lock_out_and_requiring_one_time_codes(ctx, first_id):
    from ticketing.services import auth

    with audit.acting(_user("admin"), NOW, via="cli"):
        auth.unlock(username="deputy_wang", ip="203.0.113.9")
        wang = _user("deputy_wang")
        wang.phone = "13800138000"
        auth.set_otp_required(wang, True)
    unlocked, otp = _entries(first_id)
    assert (unlocked.action, unlocked.target_type, unlocked.target_id) == ("login.unlock", "user", "deputy_wang")
    assert unlocked.after == {"username": "deputy_wang", "ip": "203.0.113.9", "lifted": 0}
    assert unlocked.actor.username == "admin" and unlocked.via == "cli" and unlocked.at == NOW
    # The phone number changed in the same unit of work: that it changed is recorded, not the number.
    assert (otp.action, otp.before, otp.after) == ("user.update", {"otp_required": False},
                                                   {"otp_required": True, "phone": "changed"})
