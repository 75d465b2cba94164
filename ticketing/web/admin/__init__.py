"""The admin pages (role admin): the org tree, categories and deadlines, boundary generations,
users and API tokens, beside the working-day calendar (``ticketing.web.calendar_admin``).

Every form is a thin edge: parse, call one service, commit through ``common.perform``, redirect
with a flash; bad input re-renders the page with the error and writes nothing. The service
errors are worded for people by ``ERRORS`` (their English messages carry values, so they are
translated by their stable code instead).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, flash, render_template
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import func, select

from ticketing.errors import DomainError
from ticketing.extensions import db, login_manager
from ticketing.models import ApiToken, BoundaryGeneration, Category, OrgUnit, User
from ticketing.web.common import perform, register_nav, request_now
from ticketing.workflow import Role

bp = Blueprint(
    "admin", __name__, url_prefix="/admin", template_folder="templates", static_folder="static",
    static_url_path="/static",
)

register_nav("admin.index", _l("Admin"), Role.ADMIN, order=90)

# Service errors the admin forms can meet, by code.
ERRORS: dict[str, Any] = {
    "unknown_unit_kind": _l("Choose a kind of unit."),
    "unknown_unit": _l("There is no unit with that code."),
    "invalid_parent": _l("A unit of this kind cannot hang under that parent."),
    "dept_kind_required": _l("A department needs its kind (what it does)."),
    "unit_code_taken": _l("That unit code is taken."),
    "invalid_unit_code": _l("A unit code has 1 to 64 characters."),
    "invalid_unit_name": _l("A unit name has 1 to 200 characters."),
    "unit_not_found": _l("There is no such unit."),
    "category_not_found": _l("There is no such category."),
    "invalid_response_hours": _l("Response time is 1 to 720 working hours."),
    "invalid_resolution_days": _l("Resolution time is 1 to 365 working days."),
    "unknown_role": _l("Choose a role."),
    "unit_required": _l("Handlers and supervisors belong to a unit."),
    "username_taken": _l("That username is taken."),
    "weak_password": _l("A password has at least 8 characters."),
    "invalid_username": _l("A username has 2 to 80 letters, digits or . _ @ -"),
    "invalid_display_name": _l("A display name has 1 to 200 characters."),
    "user_not_found": _l("There is no such user."),
    "cannot_deactivate_self": _l("You cannot deactivate yourself."),
    "token_not_found": _l("There is no such token."),
    "invalid_token_days": _l("A token lives 1 to 3650 days."),
    "invalid_token_label": _l("A token label has at most 100 characters."),
    "user_inactive": _l("The user is inactive."),
}


class FormError(ValueError):
    """A form field that could not be read; its message is already translated."""


@bp.before_request
def _admins_only() -> Any:
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if current_user.role != Role.ADMIN:
        abort(403)
    # Posts are checked for their CSRF token by Flask-WTF (ticketing.web.register_web).
    return None


def run(action: Callable[[], Any], success: str | None = None) -> tuple[bool, Any]:
    """``common.perform`` with the area's wording of service errors (flashed on failure)."""

    def worded() -> Any:
        try:
            return action()
        except DomainError as exc:
            if exc.code in ERRORS:
                exc.message = str(ERRORS[exc.code])
            raise

    return perform(worded, success)


def failed(exc: Exception) -> int:
    """Flash a form error and give the status to answer with (the service's, else 400)."""
    if isinstance(exc, FormError):
        flash(str(exc), "error")
    return exc.status if isinstance(exc, DomainError) else 400


def whole_number(value: str | None, label: str) -> int:
    """A form field as an int, or FormError naming the field."""
    from flask_babel import gettext as _

    try:
        return int((value or "").strip())
    except ValueError:
        raise FormError(_("%(field)s must be a whole number.", field=label)) from None


@bp.get("/")
def index() -> Any:
    """The admin overview: what there is, and links to each page."""
    count = lambda model: db.session.scalar(select(func.count()).select_from(model))  # noqa: E731
    active_generation = db.session.scalar(select(BoundaryGeneration).where(BoundaryGeneration.active.is_(True)))
    live_tokens = db.session.scalar(
        select(func.count()).select_from(ApiToken).where(
            ApiToken.revoked.is_(False), (ApiToken.expires_at.is_(None)) | (ApiToken.expires_at > request_now())
        )
    )
    return render_template(
        "admin/index.html",
        units=count(OrgUnit),
        categories=count(Category),
        generations=count(BoundaryGeneration),
        active_generation=active_generation,
        users=db.session.scalar(select(func.count()).select_from(User).where(User.active.is_(True))),
        tokens=live_tokens,
    )


# The pages register their routes on `bp`.
from ticketing.web.admin import audit, boundaries, categories, people, units  # noqa: E402,F401
