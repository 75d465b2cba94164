"""Users and API tokens: create, deactivate and reactivate people, reset a password; issue and
revoke bearer tokens for API clients (the 12345 hotline adapter, a district's own system...).

A token is shown once, on the page that answers the issuing form, and never again: only its
hash is stored. It is not flashed (the session cookie is signed, not encrypted) and the
page is marked ``no-store``.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from ticketing.errors import NotFound
from ticketing.extensions import db
from ticketing.models import OrgUnit, User
from ticketing.services import auth
from ticketing.web.admin import FormError, bp, failed, run, whole_number
from ticketing.web.common import page_user, request_now
from ticketing.workflow import Role

USER_FIELDS = ("username", "display_name", "role", "unit", "phone")


def _units() -> list[OrgUnit]:
    return list(db.session.scalars(select(OrgUnit).order_by(OrgUnit.path, OrgUnit.code)))


def _users_page(status: int = 200, form: dict[str, str] | None = None) -> Any:
    role = request.args.get("role", "")
    query = select(User).order_by(User.active.desc(), User.role, User.username)
    if role in {r.value for r in Role}:
        query = query.where(User.role == role)
    users = db.session.scalars(query.limit(1000)).all()
    return render_template(
        "admin/users.html", users=users, roles=list(Role), units=_units(), form=form or {}, role_filter=role,
    ), status


def _user(user_id: int) -> User:
    found = db.session.get(User, user_id)
    if found is None:
        raise NotFound("no such user", code="user_not_found")
    return found


@bp.get("/users")
def users() -> Any:
    """Everyone who can sign in (and those who no longer can), by role."""
    return _users_page()


@bp.post("/users")
def create_user() -> Any:
    """Create a user with a role, a unit and a first password."""
    f = {k: request.form.get(k, "").strip() for k in USER_FIELDS}
    password = request.form.get("password", "")
    if len(f["phone"]) > 32:
        return _users_page(failed(FormError(_("A phone number has at most 32 characters."))), form=f)
    ok, result = run(
        lambda: auth.create_user(
            username=f["username"], password=password, display_name=f["display_name"], role=f["role"],
            unit_code=f["unit"] or None, now=request_now(), phone=f["phone"],
        ),
        _("Created the user %(username)s.", username=f["username"]),
    )
    if not ok:
        return _users_page(failed(result), form=f)
    return redirect(url_for("admin.users"))


@bp.post("/users/<int:user_id>/active")
def set_user_active(user_id: int) -> Any:
    """Deactivate (active=0) or reactivate (active=1) a user."""
    active = request.form.get("active") == "1"
    ok, result = run(
        lambda: auth.set_active(_user(user_id), active, actor=page_user()),
        _("The user can sign in again.") if active else _("The user can no longer sign in or use a token."),
    )
    if not ok:
        return _users_page(failed(result))
    return redirect(url_for("admin.users"))


@bp.post("/users/<int:user_id>/password")
def reset_password(user_id: int) -> Any:
    """Set a new password that the admin hands over."""
    password = request.form.get("password", "")
    ok, result = run(lambda: auth.reset_password(_user(user_id), password), _("The password was changed."))
    if not ok:
        return _users_page(failed(result))
    return redirect(url_for("admin.users"))


def _tokens_page(status: int = 200, new_token: str | None = None, form: dict[str, str] | None = None) -> Any:
    resp = make_response(render_template(
        "admin/tokens.html",
        tokens=auth.live_tokens(request_now()),
        usernames=list(db.session.scalars(select(User.username).where(User.active.is_(True)).order_by(User.username))),
        new_token=new_token,
        default_days=int(current_app.config["API_TOKEN_DAYS"]),
        form=form or {},
    ), status)
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/tokens")
def tokens() -> Any:
    """Live API tokens (neither revoked nor expired) and the form to issue one."""
    return _tokens_page()


@bp.post("/tokens")
def issue_token() -> Any:
    """Issue a token for a user; the page shows its value this once."""
    f = {k: request.form.get(k, "").strip() for k in ("username", "label", "days")}
    try:
        days = whole_number(f["days"], _("Days"))
    except FormError as exc:
        return _tokens_page(failed(exc), form=f)
    ok, result = run(
        lambda: auth.issue_token(auth.user_by_username(f["username"]), request_now(), days=days, label=f["label"]),
        _("Token issued for %(username)s. Copy it now: it will not be shown again.", username=f["username"]),
    )
    if not ok:
        return _tokens_page(failed(result), form=f)
    return _tokens_page(201, new_token=result)


@bp.post("/tokens/<int:token_id>/revoke")
def revoke_token(token_id: int) -> Any:
    """Revoke a token: its client gets 401 from now on."""
    ok, result = run(lambda: auth.revoke_token(token_id), _("The token was revoked."))
    if not ok:
        return _tokens_page(failed(result))
    return redirect(url_for("admin.tokens"))
