"""Users, passwords and API tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from ticketing.errors import Conflict, InvalidInput, NotFound, Unauthorized
from ticketing.extensions import db
from ticketing.models import ApiToken, OrgUnit, User
from ticketing.workflow import Role

# Usernames are typed at sign-in and shown in lists: letters, digits and a few separators.
USERNAME = re.compile(r"[A-Za-z0-9_.@-]{2,80}")
MIN_PASSWORD = 8
MAX_TOKEN_DAYS = 3650


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
    if not USERNAME.fullmatch(username):
        raise InvalidInput("a username has 2 to 80 letters, digits or . _ @ -", code="invalid_username")
    if not display_name.strip() or len(display_name) > 200:
        raise InvalidInput("a display name has 1 to 200 characters", code="invalid_display_name")
    if db.session.scalar(select(User.id).where(User.username == username)) is not None:
        raise InvalidInput(f"username {username!r} is taken", code="username_taken")
    _check_password(password)
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


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput("passwords have at least 8 characters", code="weak_password")


def user_by_username(username: str) -> User:
    """The user with this username (active or not), or NotFound."""
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user {username!r}", code="user_not_found")
    return user


def set_active(user: User, active: bool, *, actor: User) -> User:
    """Deactivate (or reactivate) a user: an inactive one can neither sign in nor use a token.

    An admin cannot deactivate themselves (nobody would be left to undo it). Flushes.
    """
    if not active and user.id == actor.id:
        raise Conflict("you cannot deactivate yourself", code="cannot_deactivate_self")
    user.active = active
    db.session.flush()
    return user


def reset_password(user: User, password: str) -> None:
    """Give `user` a new password (the admin tells them out of band). Flushes."""
    _check_password(password)
    user.password_hash = generate_password_hash(password)
    db.session.flush()


def revoke_token(token_id: int) -> ApiToken:
    """Revoke a bearer token for good (revoking twice is harmless); NotFound if unknown. Flushes."""
    row = db.session.get(ApiToken, token_id)
    if row is None:
        raise NotFound("no such token", code="token_not_found")
    row.revoked = True
    db.session.flush()
    return row


def live_tokens(now: datetime, limit: int = 500) -> list[ApiToken]:
    """Tokens neither revoked nor expired, newest first (at most `limit`)."""
    return list(
        db.session.scalars(
            select(ApiToken)
            .where(ApiToken.revoked.is_(False), (ApiToken.expires_at.is_(None)) | (ApiToken.expires_at > now))
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
            .limit(limit)
        )
    )


def authenticate(username: str, password: str) -> User:
    """The active user with these credentials, or Unauthorized (same answer for every failure)."""
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None or not user.active or not check_password_hash(user.password_hash, password):
        raise Unauthorized("wrong username or password", code="bad_credentials")
    return user


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(user: User, now: datetime, *, days: int, label: str = "") -> str:
    """Create a bearer token for `user` valid for `days` (1 to MAX_TOKEN_DAYS); only its hash is
    stored, so the returned value can be shown once and never again. Flushes."""
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise InvalidInput(f"a token lives 1 to {MAX_TOKEN_DAYS} days", code="invalid_token_days")
    if len(label) > 100:
        raise InvalidInput("a token label has at most 100 characters", code="invalid_token_label")
    if not user.active:
        raise Conflict("the user is inactive", code="user_inactive")
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
