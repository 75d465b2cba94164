"""Users, passwords and API tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from ticketing.errors import InvalidInput, Unauthorized
from ticketing.extensions import db
from ticketing.models import ApiToken, OrgUnit, User
from ticketing.workflow import Role


def create_user(
    *,
    username: str,
    password: str,
    display_name: str,
    role: str,
    unit_code: str | None,
    now: datetime,
    phone: str = "",
) -> User:
    """Add a user; handlers and supervisors must belong to a unit. Flushes."""
    try:
        role_ = Role(role)
    except ValueError:
        raise InvalidInput(f"unknown role {role!r}", code="unknown_role") from None
    unit = None
    if unit_code:
        unit = db.session.scalar(select(OrgUnit).where(OrgUnit.code == unit_code))
        if unit is None:
            raise InvalidInput(f"unknown unit {unit_code!r}", code="unknown_unit")
    if role_ in (Role.HANDLER, Role.SUPERVISOR) and unit is None:
        raise InvalidInput("handlers and supervisors belong to a unit", code="unit_required")
    if db.session.scalar(select(User.id).where(User.username == username)) is not None:
        raise InvalidInput(f"username {username!r} is taken", code="username_taken")
    if len(password) < 8:
        raise InvalidInput("passwords have at least 8 characters", code="weak_password")
    user = User(
        username=username,
        display_name=display_name,
        password_hash=generate_password_hash(password),
        role=role_,
        unit=unit,
        phone=phone,
        created_at=now,
    )
    db.session.add(user)
    db.session.flush()
    return user


def authenticate(username: str, password: str) -> User:
    """The active user with these credentials, or Unauthorized (same answer for every failure)."""
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None or not user.active or not check_password_hash(user.password_hash, password):
        raise Unauthorized("wrong username or password", code="bad_credentials")
    return user


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(user: User, now: datetime, *, days: int, label: str = "") -> str:
    """Create a bearer token for `user` valid for `days`; only its hash is stored. Flushes."""
    token = secrets.token_urlsafe(32)
    db.session.add(
        ApiToken(
            user_id=user.id,
            token_hash=_digest(token),
            label=label,
            created_at=now,
            expires_at=now + timedelta(days=days),
        )
    )
    db.session.flush()
    return token


def user_for_token(token: str, now: datetime) -> User | None:
    """The active user a bearer token belongs to, or None if it is unknown, revoked or expired."""
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(token)))
    if row is None or row.revoked or (row.expires_at is not None and row.expires_at <= now):
        return None
    return row.user if row.user.active else None
