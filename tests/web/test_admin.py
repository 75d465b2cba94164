"""The admin pages: every form's happy path, bad input (an error shown, nothing written),
other roles kept out, CSRF checked, Chinese by default and English on request."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import TIANSHUI
from ticketing.demo import DEMO_PASSWORD
from ticketing.extensions import db
from ticketing.models import ApiToken, Boundary, BoundaryGeneration, Category, OrgUnit, User


def _sign_in(client: Any, username: str = "admin") -> None:
    client.post("/logout")
    assert client.post("/login", data={"username": username, "password": DEMO_PASSWORD}).status_code == 302


@pytest.fixture
def admin(client):
    _sign_in(client)
    return client


def _count(model: Any, *where: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))  # type: ignore[no-any-return]


def _unit(code: str) -> OrgUnit | None:
    db.session.expire_all()
    return db.session.scalar(select(OrgUnit).where(OrgUnit.code == code))


def _user(username: str) -> User | None:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.username == username))


def _category(code: str) -> Category:
    db.session.expire_all()
    return db.session.scalar(select(Category).where(Category.code == code))


def _errors(body: str) -> list[str]:
    return re.findall(r'<p class="flash error" role="alert">(.*?)</p>', body, re.S)


def _square(lon: float, lat: float, half: float = 0.002) -> list[list[list[float]]]:
    return [[[lon - half, lat - half], [lon + half, lat - half], [lon + half, lat + half], [lon - half, lat + half],
             [lon - half, lat - half]]]


def _geojson(*features: tuple[str, str, Any]) -> bytes:
    return json.dumps({
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"code": key, "name": name},
             "geometry": {"type": "Polygon", "coordinates": coords}}
            for key, name, coords in features
        ],
    }, ensure_ascii=False).encode("utf-8")


def _upload(client: Any, data: bytes, **form: str) -> Any:
    fields = {"key_field": "code", "match": "code", "crs": "wgs84", "label": "", **form,
              "file": (io.BytesIO(data), "streets.geojson")}
    return client.post("/admin/boundaries/import", data=fields, content_type="multipart/form-data")


# ---------------------------------------------------------------------------- who gets in


PAGES = ["/admin/", "/admin/units", "/admin/categories", "/admin/boundaries", "/admin/users", "/admin/tokens"]
POSTS = [
    ("/admin/units", {"code": "X1", "name": "新单位", "kind": "street", "parent": "330103"}),
    ("/admin/units/330105012/rename", {"name": "改名"}),
    ("/admin/categories/city.litter", {"response_hours": "9", "resolution_days": "9", "active": "1"}),
    ("/admin/users", {"username": "newbie", "display_name": "新人", "role": "deputy", "password": "long-enough"}),
    ("/admin/users/1/active", {"active": "0"}),
    ("/admin/users/1/password", {"password": "long-enough"}),
    ("/admin/tokens", {"username": "deputy_wang", "label": "x", "days": "5"}),
    ("/admin/tokens/1/revoke", {}),
    ("/admin/boundaries/1/activate", {}),
]


def _nothing_changed(before: dict[str, Any]) -> None:
    assert _snapshot() == before


def _snapshot() -> dict[str, Any]:
    db.session.expire_all()
    return {
        "units": sorted(db.session.execute(select(OrgUnit.code, OrgUnit.name)).all()),
        "categories": sorted(db.session.execute(
            select(Category.code, Category.response_hours, Category.resolution_days, Category.active)).all()),
        "users": sorted(db.session.execute(select(User.username, User.active, User.password_hash)).all()),
        "tokens": sorted(db.session.execute(select(ApiToken.id, ApiToken.revoked)).all()),
        "generations": sorted(db.session.execute(select(BoundaryGeneration.id, BoundaryGeneration.active)).all()),
    }


@pytest.mark.parametrize("path", PAGES + ["/admin/boundaries/1", "/admin/boundaries/1.geojson"])
def test_anonymous_is_sent_to_sign_in(client, path):
    resp = client.get(path)
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


@pytest.mark.parametrize("username", ["supervisor_city", "handler_tianshui", "deputy_wang"])
def test_other_roles_are_forbidden_and_change_nothing(client, username):
    _sign_in(client, username)
    before = _snapshot()
    for path in PAGES + ["/admin/boundaries/1", "/admin/boundaries/1.geojson"]:
        assert client.get(path).status_code == 403, path
    for path, data in POSTS:
        assert client.post(path, data=data).status_code == 403, path
    _nothing_changed(before)


def test_only_admins_see_the_admin_link(client):
    _sign_in(client, "supervisor_city")
    assert 'href="/admin/"' not in client.get("/").get_data(as_text=True)
    _sign_in(client, "admin")
    assert 'href="/admin/"' in client.get("/").get_data(as_text=True)


def test_every_post_needs_the_csrf_token(client, csrf_on):
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    assert client.post("/login", data={"username": "admin", "password": DEMO_PASSWORD,
                                       "csrf_token": token}).status_code == 302
    before = _snapshot()
    for path, data in POSTS + [("/admin/boundaries/import", {"key_field": "code"})]:
        assert client.post(path, data=data).status_code == 400, path
        assert client.post(path, data={**data, "csrf_token": "forged"}).status_code == 400, path
    _nothing_changed(before)
    # With the page's token the same form goes through.
    page = client.get("/admin/units").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    resp = client.post("/admin/units/330105012/rename", data={"name": "天水街道", "name_en": "Tianshui",
                                                               "csrf_token": token})
    assert resp.status_code == 302


# ---------------------------------------------------------------------------- overview and language


def test_overview_links_every_page_and_the_calendar(admin):
    body = admin.get("/admin/").get_data(as_text=True)
    assert "系统管理" in body
    for path in PAGES[1:] + ["/admin/calendar/"]:
        assert f'href="{path}"' in body, path


@pytest.mark.parametrize(("path", "zh", "en"), [
    ("/admin/", "组织架构", "Org tree"),
    ("/admin/units", "添加单位", "Add a unit"),
    ("/admin/categories", "类别与时限", "Categories and deadlines"),
    ("/admin/boundaries", "导入 GeoJSON 文件", "Import a GeoJSON file"),
    ("/admin/boundaries/1", "地图预览", "Map preview"),
    ("/admin/users", "创建用户", "Create a user"),
    ("/admin/tokens", "签发令牌", "Issue a token"),
])
def test_pages_in_chinese_and_english(admin, path, zh, en):
    assert zh in admin.get(path).get_data(as_text=True)
    body = admin.get(path + ("&" if "?" in path else "?") + "lang=en").get_data(as_text=True)
    assert en in body and zh not in body


# ---------------------------------------------------------------------------- org tree


def test_org_tree_lists_units_with_kinds_and_codes(admin):
    body = admin.get("/admin/units").get_data(as_text=True)
    assert "330105012" in body and "天水街道" in body and "街道（镇）" in body and "下城区综合行政执法局" in body
    # Children right under their parents.
    assert body.index("杭州市") < body.index("下城区") < body.index("天水街道")


def test_add_a_street(admin):
    resp = admin.post("/admin/units", data={"code": "330105099", "name": "新街道", "name_en": "New Street",
                                            "kind": "street", "parent": "330103"}, follow_redirects=True)
    assert "已添加单位 330105099" in resp.get_data(as_text=True)
    unit = _unit("330105099")
    assert unit.parent.code == "330103" and unit.path.startswith(_unit("330103").path)


def test_add_a_department_with_its_kind(admin):
    admin.post("/admin/units", data={"code": "330103-HB", "name": "下城区环保局", "kind": "department",
                                     "parent": "330103", "dept_kind": "environment"})
    assert _unit("330103-HB").dept_kind == "environment"


@pytest.mark.parametrize(("form", "message"), [
    ({"code": "330105012", "name": "重复", "kind": "street", "parent": "330103"}, "该单位编码已被使用"),
    ({"code": "X2", "name": "街道", "kind": "street", "parent": "330100"}, "不能挂在所选上级之下"),
    ({"code": "X3", "name": "部门", "kind": "department", "parent": "330103"}, "部门须填写部门类型"),
    ({"code": "X4", "name": "", "kind": "street", "parent": "330103"}, "单位名称为 1 至 200 个字符"),
    ({"code": "X5", "name": "某", "kind": "planet", "parent": "330103"}, "请选择单位类型"),
    ({"code": "X6", "name": "某", "kind": "street", "parent": "nope"}, "没有该编码的单位"),
])
def test_bad_unit_is_refused_and_nothing_written(admin, form, message):
    before = _snapshot()
    resp = admin.post("/admin/units", data=form)
    assert resp.status_code == 422
    body = resp.get_data(as_text=True)
    assert any(message in e for e in _errors(body)), _errors(body)
    # The form keeps what was typed.
    assert f'value="{form["code"]}"' in body
    _nothing_changed(before)


def test_rename_a_unit(admin):
    resp = admin.post("/admin/units/330105012/rename", data={"name": "天水街道办事处", "name_en": "Tianshui"})
    assert resp.status_code == 302
    assert (_unit("330105012").name, _unit("330105012").name_en) == ("天水街道办事处", "Tianshui")


def test_rename_refuses_an_empty_name_or_unknown_unit(admin):
    before = _snapshot()
    resp = admin.post("/admin/units/330105012/rename", data={"name": "  "})
    assert resp.status_code == 422 and _errors(resp.get_data(as_text=True))
    assert admin.post("/admin/units/nope/rename", data={"name": "x"}).status_code == 404
    _nothing_changed(before)


# ---------------------------------------------------------------------------- categories


def test_categories_list_deadlines(admin):
    body = admin.get("/admin/categories").get_data(as_text=True)
    assert 'id="cat-city.litter"' in body and "垃圾乱扔" in body and "响应（工作小时）" in body


def test_edit_a_category(admin):
    resp = admin.post("/admin/categories/city.litter", data={"response_hours": "6", "resolution_days": "4"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("#cat-city.litter")
    litter = _category("city.litter")
    assert (litter.response_hours, litter.resolution_days, litter.active) == (6, 4, False)


def test_edit_a_domain_and_its_subcategories(admin):
    admin.post("/admin/categories/safety", data={"response_hours": "2", "resolution_days": "2", "active": "1",
                                                 "with_subcategories": "1"})
    assert (_category("safety.fire").response_hours, _category("safety.fire").resolution_days) == (2, 2)
    admin.post("/admin/categories/safety", data={"response_hours": "3", "resolution_days": "2", "active": "1"})
    assert _category("safety").response_hours == 3 and _category("safety.fire").response_hours == 2


@pytest.mark.parametrize(("form", "status", "message"), [
    ({"response_hours": "four", "resolution_days": "3"}, 400, "响应时限必须是整数"),
    ({"response_hours": "4", "resolution_days": ""}, 400, "办理时限必须是整数"),
    ({"response_hours": "0", "resolution_days": "3"}, 422, "响应时限为 1 至 720 个工作小时"),
    ({"response_hours": "4", "resolution_days": "999"}, 422, "办理时限为 1 至 365 个工作日"),
])
def test_bad_deadlines_are_refused(admin, form, status, message):
    before = _snapshot()
    resp = admin.post("/admin/categories/city.litter", data={**form, "active": "1"})
    assert resp.status_code == status
    assert any(message in e for e in _errors(resp.get_data(as_text=True)))
    _nothing_changed(before)


def test_unknown_category(admin):
    resp = admin.post("/admin/categories/nope", data={"response_hours": "4", "resolution_days": "3", "active": "1"})
    # (Its wording may come from another area's catalog: the catalogs are merged.)
    assert resp.status_code == 404 and _errors(resp.get_data(as_text=True))


# ---------------------------------------------------------------------------- boundaries


def test_boundaries_list_the_active_demo_generation(admin):
    body = admin.get("/admin/boundaries").get_data(as_text=True)
    assert 'id="generation-1"' in body and "启用" in body and "下城区 streets" in body


def test_import_creates_an_inactive_generation_with_its_report(admin):
    data = _geojson(("330105012", "天水", _square(*TIANSHUI)), ("999", "nowhere", _square(120.0, 30.0)))
    resp = _upload(admin, data, label="测试边界")
    assert resp.status_code == 302
    generation = db.session.scalar(select(BoundaryGeneration).order_by(BoundaryGeneration.id.desc()))
    assert generation.label == "测试边界" and not generation.active and generation.source_crs == "wgs84"
    assert resp.headers["Location"].endswith(f"/admin/boundaries/{generation.id}")
    assert _count(Boundary, Boundary.generation_id == generation.id) == 1
    body = admin.get(resp.headers["Location"]).get_data(as_text=True)
    assert "已接受：1" in body and "已拒绝：1" in body and "没有单位与此关键字对应" in body
    assert "启用此版本" in body and 'id="preview-map"' in body
    # The routing generation is still the demo's.
    assert db.session.get(BoundaryGeneration, 1).active


def test_preview_geojson_of_a_generation(admin):
    resp = _upload(admin, _geojson(("330105012", "天水", _square(*TIANSHUI))))
    generation_id = int(resp.headers["Location"].rsplit("/", 1)[1])
    data = admin.get(f"/admin/boundaries/{generation_id}.geojson").get_json()
    assert data["type"] == "FeatureCollection" and data["generation"] == generation_id
    assert [f["properties"]["code"] for f in data["features"]] == ["330105012"]
    assert data["features"][0]["geometry"]["type"] == "MultiPolygon"
    demo = admin.get("/admin/boundaries/1.geojson").get_json()
    assert len(demo["features"]) == 8
    assert admin.get("/admin/boundaries/999.geojson").status_code == 404
    assert admin.get("/admin/boundaries/999").status_code == 404


def test_activate_a_generation(admin):
    resp = _upload(admin, _geojson(("330105012", "天水", _square(*TIANSHUI))))
    generation_id = int(resp.headers["Location"].rsplit("/", 1)[1])
    resp = admin.post(f"/admin/boundaries/{generation_id}/activate", follow_redirects=True)
    assert f"第 {generation_id} 版边界已启用" in resp.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(BoundaryGeneration, generation_id).active
    assert not db.session.get(BoundaryGeneration, 1).active
    assert admin.post("/admin/boundaries/999/activate").status_code == 404


def test_import_by_name_in_gcj02(admin):
    data = _geojson(("x", "天水街道", _square(*TIANSHUI)))
    resp = _upload(admin, data, key_field="name", match="name", crs="gcj02")
    assert resp.status_code == 302
    generation = db.session.scalar(select(BoundaryGeneration).order_by(BoundaryGeneration.id.desc()))
    assert generation.source_crs == "gcj02" and generation.label == "streets.geojson"


@pytest.mark.parametrize(("data", "form", "message"), [
    (b"not json", {}, "不是 GeoJSON 要素集合"),
    (b'{"type": "Point", "coordinates": [1, 2]}', {}, "不是 GeoJSON 要素集合"),
    ("\ufffe".encode("utf-16"), {}, "不是 GeoJSON 要素集合"),
    (b"{}", {"key_field": ""}, "请填写存放各多边形所属单位编码或名称的属性名"),
    (b"{}", {"crs": "utm"}, "请选择单位匹配方式和坐标系"),
    (b"{}", {"match": "colour"}, "请选择单位匹配方式和坐标系"),
    (b"{}", {"label": "x" * 201}, "标签最多 200 个字符"),
])
def test_bad_import_is_refused_and_nothing_written(admin, data, form, message):
    before = _snapshot()
    resp = _upload(admin, data, **form)
    assert resp.status_code == 400
    assert any(message in e for e in _errors(resp.get_data(as_text=True))), _errors(resp.get_data(as_text=True))
    _nothing_changed(before)


def test_import_without_a_file(admin):
    before = _snapshot()
    resp = admin.post("/admin/boundaries/import", data={"key_field": "code", "match": "code", "crs": "wgs84"})
    assert resp.status_code == 400 and "请选择 GeoJSON 文件" in resp.get_data(as_text=True)
    _nothing_changed(before)


def test_import_with_no_matching_unit_shows_the_report_and_writes_nothing(admin):
    before = _snapshot()
    data = _geojson(("nope", "x", _square(*TIANSHUI)), ("", "no key", _square(120.0, 30.0)))
    resp = _upload(admin, data)
    assert resp.status_code == 422
    body = resp.get_data(as_text=True)
    assert "导入报告：未导入任何内容" in body and "没有单位与此关键字对应" in body and "关键字段无值" in body
    _nothing_changed(before)


def test_import_by_a_name_several_units_share_is_refused(admin):
    admin.post("/admin/units", data={"code": "330105012-Y", "name": "天水街道", "kind": "department",
                                     "parent": "330105012", "dept_kind": "x"})
    before = _snapshot()
    resp = _upload(admin, _geojson(("x", "天水街道", _square(*TIANSHUI))), key_field="name", match="name")
    assert resp.status_code == 400 and "以下名称对应多个单位：天水街道" in resp.get_data(as_text=True)
    _nothing_changed(before)


# ---------------------------------------------------------------------------- users


def test_users_list_roles_and_units(admin):
    body = admin.get("/admin/users").get_data(as_text=True)
    assert 'id="user-handler_tianshui"' in body and "天水街道 张" in body and "承办人" in body
    only = admin.get("/admin/users?role=deputy").get_data(as_text=True)
    assert 'id="user-deputy_wang"' in only and 'id="user-handler_tianshui"' not in only


def test_create_a_handler(admin):
    resp = admin.post("/admin/users", data={"username": "handler_new", "display_name": "新承办人", "role": "handler",
                                            "unit": "330105013", "password": "long-enough", "phone": "0571-1"},
                      follow_redirects=True)
    assert "已创建用户 handler_new" in resp.get_data(as_text=True)
    user = _user("handler_new")
    assert user.role.value == "handler" and user.unit.code == "330105013" and user.phone == "0571-1"
    admin.post("/logout")
    assert admin.post("/login", data={"username": "handler_new", "password": "long-enough"}).status_code == 302


@pytest.mark.parametrize(("form", "message"), [
    ({"username": "deputy_wang"}, "该用户名已被使用"),
    ({"role": "handler", "unit": ""}, "承办人和督办人员必须属于某个单位"),
    ({"password": "short"}, "密码至少 8 个字符"),
    ({"username": "x"}, "用户名为 2 至 80 个"),
    ({"display_name": ""}, "显示名称为 1 至 200 个字符"),
    ({"role": "mayor"}, "请选择角色"),
    ({"unit": "nope"}, "没有该编码的单位"),
    ({"phone": "1" * 33}, "电话号码最多 32 个字符"),
])
def test_bad_user_is_refused_and_nothing_written(admin, form, message):
    before = _snapshot()
    data = {"username": "someone", "display_name": "某人", "role": "deputy", "unit": "", "password": "long-enough",
            **form}
    resp = admin.post("/admin/users", data=data)
    assert resp.status_code in (400, 422)
    assert any(message in e for e in _errors(resp.get_data(as_text=True))), _errors(resp.get_data(as_text=True))
    _nothing_changed(before)


def test_deactivate_and_reactivate_a_user(admin, client):
    wang = _user("deputy_wang")
    resp = admin.post(f"/admin/users/{wang.id}/active", data={"active": "0"}, follow_redirects=True)
    assert "该用户已停用" in resp.get_data(as_text=True)
    assert not _user("deputy_wang").active
    admin.post("/logout")
    assert admin.post("/login", data={"username": "deputy_wang", "password": DEMO_PASSWORD}).status_code == 401
    _sign_in(admin)
    admin.post(f"/admin/users/{wang.id}/active", data={"active": "1"})
    assert _user("deputy_wang").active


def test_an_admin_cannot_deactivate_themselves_here(admin):
    me = _user("admin")
    resp = admin.post(f"/admin/users/{me.id}/active", data={"active": "0"})
    assert resp.status_code == 409 and "不能停用自己的账号" in resp.get_data(as_text=True)
    assert _user("admin").active


def test_reset_a_password(admin):
    wang = _user("deputy_wang")
    resp = admin.post(f"/admin/users/{wang.id}/password", data={"password": "another-secret"})
    assert resp.status_code == 302
    admin.post("/logout")
    assert admin.post("/login", data={"username": "deputy_wang", "password": "another-secret"}).status_code == 302


def test_bad_password_reset_or_unknown_user(admin):
    before = _snapshot()
    wang = _user("deputy_wang")
    resp = admin.post(f"/admin/users/{wang.id}/password", data={"password": "short"})
    assert resp.status_code == 422 and "密码至少 8 个字符" in resp.get_data(as_text=True)
    assert admin.post("/admin/users/999999/password", data={"password": "long-enough"}).status_code == 404
    assert admin.post("/admin/users/999999/active", data={"active": "0"}).status_code == 404
    _nothing_changed(before)


# ---------------------------------------------------------------------------- API tokens


def test_issue_a_token_shown_once_then_revoke_it(admin, api):
    resp = admin.post("/admin/tokens", data={"username": "handler_wulin", "label": "12345 热线", "days": "30"})
    assert resp.status_code == 201 and resp.headers["Cache-Control"] == "no-store"
    body = resp.get_data(as_text=True)
    token = re.search(r'id="new-token" readonly value="([^"]+)"', body).group(1)
    assert "请立即复制" in body
    me = admin.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json["username"] == "handler_wulin"
    # Never shown again: not on the list, not in the session.
    listing = admin.get("/admin/tokens").get_data(as_text=True)
    assert token not in listing and "12345 热线" in listing
    row = db.session.scalar(select(ApiToken).where(ApiToken.label == "12345 热线"))
    resp = admin.post(f"/admin/tokens/{row.id}/revoke", follow_redirects=True)
    assert "令牌已吊销" in resp.get_data(as_text=True)
    assert admin.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert f'id="token-{row.id}"' not in admin.get("/admin/tokens").get_data(as_text=True)


@pytest.mark.parametrize(("form", "status", "message"), [
    ({"username": "nobody"}, 404, "没有该用户"),
    ({"days": "0"}, 422, "令牌有效期为 1 至 3650 天"),
    ({"days": "soon"}, 400, "天数必须是整数"),
    ({"label": "x" * 101}, 422, "令牌标签最多 100 个字符"),
])
def test_bad_token_request_is_refused_and_nothing_written(admin, form, status, message):
    before = _snapshot()
    resp = admin.post("/admin/tokens", data={"username": "deputy_wang", "label": "x", "days": "5", **form})
    assert resp.status_code == status
    body = resp.get_data(as_text=True)
    assert any(message in e for e in _errors(body)), _errors(body)
    assert 'id="new-token"' not in body
    _nothing_changed(before)


def test_no_token_for_a_deactivated_user(admin):
    wang = _user("deputy_wang")
    admin.post(f"/admin/users/{wang.id}/active", data={"active": "0"})
    before = _snapshot()
    resp = admin.post("/admin/tokens", data={"username": "deputy_wang", "label": "x", "days": "5"})
    assert resp.status_code == 409 and "该用户已停用" in resp.get_data(as_text=True)
    _nothing_changed(before)


def test_revoke_unknown_token(admin):
    assert admin.post("/admin/tokens/999999/revoke").status_code == 404
