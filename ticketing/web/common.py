"""What every page area shares: the navigation registry, role checks, running an action.

Each area (deputy, workbench, supervision, cockpit, admin) is a blueprint package under
``ticketing/web/`` with its own templates (namespaced ``<area>/...``) and its own
``translations`` folder; ``register_web`` loads them all. Pages call the services directly
(thin edges): parse the form, call one service, commit here, flash the outcome.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import wraps
from typing import Any, TypeVar

from flask import abort, flash
from flask_babel import LazyString
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm.exc import StaleDataError

from ticketing.errors import Conflict, DomainError, InvalidInput
from ticketing.extensions import db
from ticketing.models import User
from ticketing.workflow import Role

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class NavItem:
    """A link in the header: shown to signed-in people of ``roles`` (empty: to everyone, signed in or not)."""

    endpoint: str
    label: LazyString | str
    roles: frozenset[Role] = frozenset()
    order: int = 50


NAV: list[NavItem] = []


def register_nav(endpoint: str, label: LazyString | str, *roles: Role, order: int = 50) -> None:
    """Add a header link (call at import time of an area's blueprint module; idempotent)."""
    item = NavItem(endpoint, label, frozenset(roles), order)
    if all(existing.endpoint != endpoint for existing in NAV):
        NAV.append(item)
        NAV.sort(key=lambda i: i.order)


def nav_for(user: Any) -> list[NavItem]:
    """The header links ``user`` (Flask-Login's current_user) may follow."""
    role = user.role if getattr(user, "is_authenticated", False) else None
    return [i for i in NAV if not i.roles or role in i.roles]


def page_user() -> User:
    """The signed-in person as a session-bound User (current_user is a detached proxy)."""
    user = db.session.get(User, current_user.id) if getattr(current_user, "is_authenticated", False) else None
    if user is None:
        abort(401)
    return user


def roles_required(*roles: Role) -> Callable[[F], F]:
    """Pages for these roles only: 302 to sign-in when anonymous (Flask-Login), 403 for other roles."""
    from flask_login import login_required

    def wrap(view: F) -> F:
        @wraps(view)
        def inner(*args: Any, **kwargs: Any) -> Any:
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return login_required(inner)  # type: ignore[return-value]

    return wrap


def perform(action: Callable[[], Any], success: str | None = None) -> tuple[bool, Any]:
    """Run one service call for a form post: commit on success (and flash ``success``), roll
    back and flash the domain error's message otherwise. Returns (ok, result-or-error)."""
    try:
        result = action()
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        flash(error_text(exc), "error")
        return False, exc
    except StaleDataError:
        # Someone else changed the ticket between this page's load and the post (a double
        # submit, two handlers): nothing was written; the API answers 409 for the same case.
        db.session.rollback()
        conflict = Conflict("the ticket was changed meanwhile; reload and try again", code="concurrent_update")
        flash(error_text(conflict), "error")
        return False, conflict
    if success:
        flash(success, "ok")
    return True, result


def error_text(exc: DomainError) -> str:
    """A service error for people: its message translated when a catalog has it (services speak
    English; each area's catalog translates the messages its pages can show), else as is."""
    return _(exc.message)


def request_now() -> datetime:
    """The request's time, the same clock the API uses (frozen in tests by the ``clock`` fixture)."""
    from ticketing.api.context import now

    return now()


def role_label(role: Role) -> str:
    return _(role.value)


def form_coordinate(raw: str) -> float | None:
    """A coordinate typed or filled into a form: blank is "not given" (the photo's GPS position is
    used then); anything else must be a finite number (the service checks the range)."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInput("coordinates out of range", code="location_out_of_range") from None
    if not math.isfinite(value):
        raise InvalidInput("coordinates out of range", code="location_out_of_range")
    return value
