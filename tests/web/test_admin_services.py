"""The service operations the admin pages call: renaming units, editing deadlines, deactivating
users, resetting passwords, issuing and revoking tokens (each flushes; the test's rollback undoes it)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.conftest import NOW
from ticketing.errors import Conflict, InvalidInput, NotFound, Unauthorized
from ticketing.extensions import db
from ticketing.models import ApiToken, Category, User
from ticketing.services import auth, org
from ticketing.services.categories import update_category


def _user(username: str) -> User:
    return db.session.scalar(select(User).where(User.username == username))


def test_rename_keeps_the_code(ctx):
    unit = org.rename_unit("330105012", name=" 天水街道办事处 ", name_en="Tianshui Subdistrict")
    assert (unit.code, unit.name, unit.name_en) == ("330105012", "天水街道办事处", "Tianshui Subdistrict")


def test_rename_refuses_an_empty_name_and_an_unknown_unit(ctx):
    with pytest.raises(InvalidInput) as exc:
        org.rename_unit("330105012", name="  ")
    assert exc.value.code == "invalid_unit_name"
    with pytest.raises(NotFound):
        org.rename_unit("nope", name="x")
    assert org.unit_by_code("330105012").name == "天水街道"


def test_add_unit_refuses_blank_code_or_name(ctx):
    with pytest.raises(InvalidInput) as exc:
        org.add_unit(code=" ", name="新街道", kind="street", parent_code="330103")
    assert exc.value.code == "invalid_unit_code"
    with pytest.raises(InvalidInput) as exc:
        org.add_unit(code="330105099", name="", kind="street", parent_code="330103")
    assert exc.value.code == "invalid_unit_name"
    assert org.unit_by_code("330105099") is None


def test_boundary_keys_by_code_and_by_name(ctx):
    by_code, _ = org.boundary_keys("code")
    unit = org.unit_by_code("330105012")
    assert by_code["330105012"] == (unit.id, "330105012")
    by_name, shared = org.boundary_keys("name")
    assert by_name["天水街道"] == (unit.id, "330105012") and shared == set()
    org.add_unit(code="330105012-X", name="天水街道", kind="department", parent_code="330105012", dept_kind="x")
    assert "天水街道" in org.boundary_keys("name")[1]


def test_update_category_sets_deadlines_and_active(ctx):
    rows = update_category("city.litter", response_hours=6, resolution_days=4, active=False)
    litter = db.session.scalar(select(Category).where(Category.code == "city.litter"))
    assert rows == [litter] and (litter.response_hours, litter.resolution_days, litter.active) == (6, 4, False)


def test_update_domain_with_its_subcategories(ctx):
    rows = update_category("traffic", response_hours=2, resolution_days=7, active=True, with_subcategories=True)
    assert {r.code for r in rows} == {"traffic", "traffic.guardrail", "traffic.signals", "traffic.road",
                                      "traffic.parking"}
    assert all((r.response_hours, r.resolution_days) == (2, 7) for r in rows)
    city = db.session.scalar(select(Category).where(Category.code == "city.vendors"))
    assert city.response_hours == 4


@pytest.mark.parametrize(("hours", "days", "code"), [(0, 3, "invalid_response_hours"), (721, 3, "invalid_response_hours"),
                                                     (4, 0, "invalid_resolution_days"), (4, 366, "invalid_resolution_days")])
def test_update_category_refuses_deadlines_out_of_range(ctx, hours, days, code):
    with pytest.raises(InvalidInput) as exc:
        update_category("city.litter", response_hours=hours, resolution_days=days, active=True)
    assert exc.value.code == code
    assert db.session.scalar(select(Category.response_hours).where(Category.code == "city.litter")) == 4


def test_update_unknown_category(ctx):
    with pytest.raises(NotFound):
        update_category("nope", response_hours=1, resolution_days=1, active=True)


def test_deactivated_user_can_neither_sign_in_nor_use_a_token(ctx):
    wang = _user("deputy_wang")
    token = auth.issue_token(wang, NOW, days=1)
    auth.set_active(wang, False, actor=_user("admin"))
    with pytest.raises(Unauthorized):
        auth.authenticate("deputy_wang", "suishoupai-demo")
    assert auth.user_for_token(token, NOW) is None
    auth.set_active(wang, True, actor=_user("admin"))
    assert auth.user_for_token(token, NOW) == wang


def test_an_admin_cannot_deactivate_themselves(ctx):
    admin = _user("admin")
    with pytest.raises(Conflict) as exc:
        auth.set_active(admin, False, actor=admin)
    assert exc.value.code == "cannot_deactivate_self" and admin.active


def test_reset_password(ctx):
    wang = _user("deputy_wang")
    auth.reset_password(wang, "a-new-password")
    assert auth.authenticate("deputy_wang", "a-new-password") == wang
    with pytest.raises(InvalidInput) as exc:
        auth.reset_password(wang, "short")
    assert exc.value.code == "weak_password"
    assert wang.password_hash.startswith("$argon2id$") and auth.verify_password(wang, "a-new-password")


def test_revoke_token_and_live_tokens(ctx):
    wang = _user("deputy_wang")
    token = auth.issue_token(wang, NOW, days=30, label="12345")
    row = db.session.scalar(select(ApiToken).where(ApiToken.label == "12345"))
    assert row in auth.live_tokens(NOW)
    assert row not in auth.live_tokens(NOW + timedelta(days=31))
    auth.revoke_token(row.id)
    auth.revoke_token(row.id)  # twice is harmless
    assert auth.user_for_token(token, NOW) is None
    assert row not in auth.live_tokens(NOW)
    with pytest.raises(NotFound):
        auth.revoke_token(10**9)


@pytest.mark.parametrize(("days", "label", "code"), [(0, "x", "invalid_token_days"), (3651, "x", "invalid_token_days"),
                                                     (1, "x" * 101, "invalid_token_label")])
def test_issue_token_refuses_bad_lifetimes_and_labels(ctx, days, label, code):
    with pytest.raises(InvalidInput) as exc:
        auth.issue_token(_user("deputy_wang"), NOW, days=days, label=label)
    assert exc.value.code == code


def test_no_token_for_an_inactive_user(ctx):
    wang = _user("deputy_wang")
    auth.set_active(wang, False, actor=_user("admin"))
    with pytest.raises(Conflict):
        auth.issue_token(wang, NOW, days=1)


@pytest.mark.parametrize(("username", "display", "code"), [("a", "名字", "invalid_username"),
                                                           ("has space", "名字", "invalid_username"),
                                                           ("ok_name", " ", "invalid_display_name")])
def test_create_user_checks_username_and_display_name(ctx, username, display, code):
    with pytest.raises(InvalidInput) as exc:
        auth.create_user(username=username, password="long-enough", display_name=display, role="deputy",
                         unit_code=None, now=NOW)
    assert exc.value.code == code
    assert _user(username) is None


def test_user_by_username(ctx):
    assert auth.user_by_username("admin").role.value == "admin"
    with pytest.raises(NotFound):
        auth.user_by_username("nobody")
