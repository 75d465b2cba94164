"""Users, passwords, sign-in (throttle, lock-out, one-time codes) and API tokens.

Passwords are hashed with argon2id (argon2-cffi). Hashes made earlier (Werkzeug's pbkdf2 or
scrypt) or with other argon2 costs still verify, and are redone with the current ones at
the next successful sign-in.

Sign-in goes through `sign_in`: failures are logged in the database (so the count holds
across web workers) and lock the typed username, or the client address, for a while. An
unknown username is answered, counted and timed like a wrong password. A user with
``otp_required`` gets a one-time code (``ticketing.otp``) and completes with `finish_otp`.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, has_app_context
from sqlalchemy import and_, delete, func, or_, select, update
from werkzeug.security import check_password_hash

from ticketing.errors import (
    Conflict, InvalidInput, NotFound, ServiceUnavailable, TooManyRequests, Unauthorized,
)
from ticketing.extensions import db
from ticketing.models import ApiToken, LockKind, LoginFailure, LoginLock, OrgUnit, OtpChallenge, User
from ticketing.models.users import SCOPES
from ticketing.otp import OtpDeliveryError, OtpSender
from ticketing.services import audit
from ticketing.workflow import Role

# Usernames are typed at sign-in and shown in lists: letters, digits and a few separators.
USERNAME = re.compile(r"[A-Za-z0-9_.@-]{2,80}")
USERNAME_MAX = 80
MIN_PASSWORD = 8
# Long enough for any passphrase; a bound keeps a megabyte "password" from costing a hash.
MAX_PASSWORD = 200
MAX_TOKEN_DAYS = 3650
MAX_TOKEN_LABEL = 100
OTP_DIGITS = 6


# ---------------------------------------------------------------------------- passwords


@dataclass(frozen=True)
class PasswordCosts:
    """argon2id's costs (``PASSWORD_ARGON2_*`` settings)."""

    time_cost: int = 3
    memory_kib: int = 65536
    parallelism: int = 4

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> PasswordCosts:
        return cls(
            time_cost=int(config.get("PASSWORD_ARGON2_TIME_COST", cls.time_cost)),
            memory_kib=int(config.get("PASSWORD_ARGON2_MEMORY_KIB", cls.memory_kib)),
            parallelism=int(config.get("PASSWORD_ARGON2_PARALLELISM", cls.parallelism)),
        )


def _costs() -> PasswordCosts:
    # Hashing costs are deployment settings, not request data: read from the app when there is one.
    return PasswordCosts.from_config(current_app.config) if has_app_context() else PasswordCosts()


@lru_cache(maxsize=8)
def _hasher(costs: PasswordCosts) -> PasswordHasher:
    return PasswordHasher(time_cost=costs.time_cost, memory_cost=costs.memory_kib, parallelism=costs.parallelism)


@lru_cache(maxsize=8)
def _decoy(costs: PasswordCosts) -> str:
    """A hash of nothing anyone knows: verified against when the username is unknown, so that
    answer takes as long as a wrong password."""
    return _hasher(costs).hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """The argon2id hash of `password` with the configured costs."""
    return _hasher(_costs()).hash(password)


def verify_password(user: User, password: str) -> bool:
    """Whether `password` is the user's. A correct password stored the old way (Werkzeug's
    hashes, other argon2 costs) is hashed again with the current ones; the caller flushes."""
    stored = user.password_hash or ""
    hasher = _hasher(_costs())
    if stored.startswith("$argon2"):
        try:
            hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False
        if hasher.check_needs_rehash(stored):
            user.password_hash = hasher.hash(password)
        return True
    if not stored or not check_password_hash(stored, password):
        return False
    user.password_hash = hasher.hash(password)
    return True


def _burn(password: str) -> None:
    """Spend one verification's time on nothing (an unknown username)."""
    costs = _costs()
    try:
        _hasher(costs).verify(_decoy(costs), password)
    except (VerificationError, InvalidHashError):
        pass


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput("passwords have at least 8 characters", code="weak_password")
    if len(password) > MAX_PASSWORD:
        raise InvalidInput(f"passwords have at most {MAX_PASSWORD} characters", code="password_too_long")


# ---------------------------------------------------------------------------- users


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
        password_hash=hash_password(password),
        role=role_,
        unit=unit,
        phone=phone,
        created_at=now,
    )
    db.session.add(user)
    db.session.flush()
    audit.created("user.create", user, at=now)
    return user


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
    audit.changed("user.activate" if active else "user.deactivate", user, actor=actor)
    db.session.flush()
    return user


def reset_password(user: User, password: str) -> None:
    """Give `user` a new password (the admin tells them out of band). Flushes."""
    _check_password(password)
    user.password_hash = hash_password(password)
    audit.changed("user.password_reset", user, password="reset")
    db.session.flush()


def set_otp_required(user: User, required: bool) -> User:
    """Require (or stop requiring) a one-time code at the user's sign-in. It needs somewhere
    to send the code: a phone number or an email address. Flushes."""
    if required and not (user.phone.strip() or user.email.strip()):
        raise InvalidInput("one-time codes need the user's phone number or email address", code="otp_needs_address")
    user.otp_required = required
    audit.changed("user.update", user)
    db.session.flush()
    return user


def authenticate(username: str, password: str) -> User:
    """The active user with these credentials, or Unauthorized (same answer, and about the same
    time, for every failure). No throttle: sign-ins from outside go through `sign_in`."""
    user = db.session.scalar(select(User).where(User.username == username)) if len(username) <= USERNAME_MAX else None
    if user is None:
        _burn(password)
    if user is None or not verify_password(user, password) or not user.active:
        raise Unauthorized("wrong username or password", code="bad_credentials")
    return user


# ---------------------------------------------------------------------------- sign-in


@dataclass(frozen=True)
class LoginPolicy:
    """The throttle's and the one-time codes' settings (``LOGIN_*``, ``OTP_*``)."""

    max_failures_per_user: int = 5
    max_failures_per_ip: int = 20
    window: timedelta = timedelta(minutes=15)
    lockout: timedelta = timedelta(minutes=15)
    otp_ttl: timedelta = timedelta(minutes=5)
    otp_max_attempts: int = 5

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> LoginPolicy:
        return cls(
            max_failures_per_user=int(config.get("LOGIN_MAX_FAILURES_PER_USER", 5)),
            max_failures_per_ip=int(config.get("LOGIN_MAX_FAILURES_PER_IP", 20)),
            window=timedelta(seconds=int(config.get("LOGIN_WINDOW_SECONDS", 900))),
            lockout=timedelta(seconds=int(config.get("LOGIN_LOCKOUT_SECONDS", 900))),
            otp_ttl=timedelta(seconds=int(config.get("OTP_TTL_SECONDS", 300))),
            otp_max_attempts=int(config.get("OTP_MAX_ATTEMPTS", 5)),
        )


@dataclass(frozen=True)
class SignIn:
    """The outcome of a correct password: either done (`otp_challenge` is None), or waiting for
    the one-time code sent on `otp_channel`; `otp_challenge` is the secret the second step
    (`finish_otp`) needs, to be handed to the browser or client and never stored in clear."""

    user: User
    otp_challenge: str | None = None
    otp_channel: str | None = None
    otp_expires_at: datetime | None = None

    @property
    def complete(self) -> bool:
        return self.otp_challenge is None


def sign_in(
    username: str, password: str, *, ip: str | None, now: datetime, policy: LoginPolicy, otp_sender: OtpSender | None,
) -> SignIn:
    """Check a sign-in from `ip` under the throttle; send a one-time code if the user needs one.

    Raises InvalidInput for over-long fields (nothing recorded), TooManyRequests while the
    username or the address is locked (the password is not even checked) or when this
    failure locks it, Unauthorized for wrong credentials (recorded), ServiceUnavailable when
    a code could not be sent. The caller commits after Unauthorized and TooManyRequests too:
    the recorded failure is what the throttle counts. Flushes.
    """
    if len(username) > USERNAME_MAX or len(password) > MAX_PASSWORD:
        raise InvalidInput("the username or the password is too long", code="credentials_too_long")
    key, address = _username_key(username), _address(ip)
    _refuse_if_locked(key, address, now)
    try:
        user = authenticate(username, password)
    except Unauthorized:
        _record_failure(key, address, now, policy)
        raise
    if user.otp_required:
        if otp_sender is None:
            raise ServiceUnavailable("one-time codes cannot be sent here", code="otp_not_sent")
        return _start_otp(user, now, policy, otp_sender)
    _forget_failures(key)
    db.session.flush()
    return SignIn(user)


def finish_otp(challenge: str, code: str, *, ip: str | None, now: datetime, policy: LoginPolicy) -> User:
    """Complete a sign-in with the one-time code sent for `challenge`.

    Raises InvalidInput for over-long fields, Unauthorized ``otp_expired`` when the challenge
    is unknown, used, expired or out of attempts (sign in again), Unauthorized ``otp_invalid``
    for a wrong code (recorded as a failed sign-in), TooManyRequests while locked. As with
    `sign_in`, the caller commits after Unauthorized and TooManyRequests too. Flushes.
    """
    if len(challenge) > 100 or len(code) > 20:
        raise InvalidInput("the challenge or the code is too long", code="otp_too_long")
    row = db.session.scalar(select(OtpChallenge).where(OtpChallenge.secret_hash == _digest(challenge)))
    if row is None or row.used_at is not None or row.expires_at <= now or row.attempts >= policy.otp_max_attempts:
        raise Unauthorized("the sign-in code has expired; sign in again", code="otp_expired")
    user = row.user
    key, address = _username_key(user.username), _address(ip)
    _refuse_if_locked(key, address, now)
    # Count the attempt in one statement, so concurrent guesses cannot share an attempt.
    counted = db.session.execute(
        update(OtpChallenge)
        .where(OtpChallenge.id == row.id, OtpChallenge.attempts < policy.otp_max_attempts,
               OtpChallenge.used_at.is_(None))
        .values(attempts=OtpChallenge.attempts + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    if counted != 1:
        raise Unauthorized("the sign-in code has expired; sign in again", code="otp_expired")
    if not hmac.compare_digest(row.code_hash, _code_digest(challenge, code.strip())):
        _record_failure(key, address, now, policy)
        raise Unauthorized("wrong sign-in code", code="otp_invalid")
    if not user.active:
        raise Unauthorized("wrong username or password", code="bad_credentials")
    row.used_at = now
    _forget_failures(key)
    db.session.flush()
    return user


def _start_otp(user: User, now: datetime, policy: LoginPolicy, sender: OtpSender) -> SignIn:
    # One live code per user: a new sign-in ends the earlier challenges.
    db.session.execute(
        update(OtpChallenge)
        .where(OtpChallenge.user_id == user.id, OtpChallenge.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    secret = secrets.token_urlsafe(32)
    code = f"{secrets.randbelow(10**OTP_DIGITS):0{OTP_DIGITS}d}"
    try:
        channel = sender.send(user, code, ttl_minutes=max(1, round(policy.otp_ttl.total_seconds() / 60)))
    except OtpDeliveryError as exc:
        raise ServiceUnavailable("the sign-in code could not be sent; try again later", code="otp_not_sent") from exc
    row = OtpChallenge(
        user_id=user.id,
        secret_hash=_digest(secret),
        code_hash=_code_digest(secret, code),
        channel=channel,
        created_at=now,
        expires_at=now + policy.otp_ttl,
        attempts=0,
    )
    db.session.add(row)
    db.session.flush()
    return SignIn(user, otp_challenge=secret, otp_channel=channel, otp_expires_at=row.expires_at)


def _code_digest(secret: str, code: str) -> str:
    return hashlib.sha256(f"{secret}:{code}".encode()).hexdigest()


def _username_key(username: str) -> str:
    # What was typed, whether or not such a user exists; case folded so variants share one count.
    return username.strip().lower()[:USERNAME_MAX]


def _address(ip: str | None) -> str:
    return (ip or "unknown")[:45]


def _refuse_if_locked(key: str, address: str, now: datetime) -> None:
    until = db.session.scalar(
        select(func.max(LoginLock.locked_until)).where(
            or_(and_(LoginLock.kind == LockKind.USERNAME, LoginLock.key == key),
                and_(LoginLock.kind == LockKind.IP, LoginLock.key == address)),
            LoginLock.locked_until > now,
        )
    )
    if until is not None:
        raise _locked(until, now)


def _locked(until: datetime, now: datetime) -> TooManyRequests:
    seconds = max(1, math.ceil((until - now).total_seconds()))
    return TooManyRequests(
        "too many failed sign-ins; try again later", retry_after=seconds, code="login_locked",
    )


def _record_failure(key: str, address: str, now: datetime, policy: LoginPolicy) -> None:
    """Log one failure; lock the username and/or the address that reached their limit
    (raising TooManyRequests then, so the person learns it at once). Flushes."""
    since = now - policy.window
    # Failures older than the window count for nothing any more.
    db.session.execute(delete(LoginFailure).where(LoginFailure.at <= since).execution_options(synchronize_session=False))
    db.session.add(LoginFailure(at=now, username=key, ip=address))
    db.session.flush()

    def failures(column: Any, value: str) -> int:
        return db.session.scalar(select(func.count()).where(column == value, LoginFailure.at > since)) or 0

    until = now + policy.lockout
    locked = False
    if failures(LoginFailure.username, key) >= policy.max_failures_per_user:
        db.session.add(LoginLock(kind=LockKind.USERNAME, key=key, locked_until=until, created_at=now))
        locked = True
    if failures(LoginFailure.ip, address) >= policy.max_failures_per_ip:
        db.session.add(LoginLock(kind=LockKind.IP, key=address, locked_until=until, created_at=now))
        locked = True
    db.session.flush()
    if locked:
        raise _locked(until, now)


def _forget_failures(key: str) -> None:
    # A success wipes the username's failures; the address's other failures keep counting, or one
    # valid account would let its owner try passwords on others from the same address for ever.
    db.session.execute(delete(LoginFailure).where(LoginFailure.username == key).execution_options(synchronize_session=False))


def current_locks(now: datetime) -> list[LoginLock]:
    """Lock-outs in force at `now`, the longest first."""
    return list(db.session.scalars(
        select(LoginLock).where(LoginLock.locked_until > now).order_by(LoginLock.locked_until.desc(), LoginLock.id)
    ))


def unlock(*, username: str | None = None, ip: str | None = None) -> int:
    """Lift the lock-outs of a username and/or a client address and forget their failures
    (an admin, after the person proved who they are). Returns how many locks were lifted. Flushes."""
    if not username and not ip:
        raise InvalidInput("name a username or an address to unlock", code="unlock_what")
    lifted = 0
    if username:
        key = _username_key(username)
        lifted += db.session.execute(
            delete(LoginLock).where(LoginLock.kind == LockKind.USERNAME, LoginLock.key == key)
            .execution_options(synchronize_session=False)
        ).rowcount
        _forget_failures(key)
    if ip:
        address = _address(ip)
        lifted += db.session.execute(
            delete(LoginLock).where(LoginLock.kind == LockKind.IP, LoginLock.key == address)
            .execution_options(synchronize_session=False)
        ).rowcount
        db.session.execute(delete(LoginFailure).where(LoginFailure.ip == address).execution_options(synchronize_session=False))
    audit.login_unlocked(username, ip, lifted)
    db.session.flush()
    return lifted


# ---------------------------------------------------------------------------- API tokens


def scopes_for(role: Role) -> tuple[str, ...]:
    """The scopes a token of a user with `role` may carry: all of them (the role itself limits
    what the user may do; scopes narrow a token below that)."""
    return SCOPES


def _scopes(user: User, scopes: Iterable[str] | None) -> str:
    allowed = scopes_for(user.role)
    if scopes is None:
        return " ".join(allowed)
    wanted = {s.strip() for s in scopes}
    if not wanted or not wanted <= set(allowed):
        raise InvalidInput(f"scopes are a non-empty subset of {', '.join(allowed)}", code="invalid_scopes")
    return " ".join(s for s in allowed if s in wanted)


def issue_token(
    user: User, now: datetime, *, days: int, label: str = "", scopes: Iterable[str] | None = None,
) -> str:
    """Create a bearer token for `user` valid for `days` (1 to MAX_TOKEN_DAYS), with `scopes`
    (default: all the role allows); only its hash is stored, so the returned value can be
    shown once and never again. Flushes."""
    return create_token(user, now, days=days, label=label, scopes=scopes)[0]


def create_token(
    user: User, now: datetime, *, days: int, label: str = "", scopes: Iterable[str] | None = None,
) -> tuple[str, ApiToken]:
    """`issue_token`, also giving the stored row (its id, scopes and expiry). Flushes."""
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise InvalidInput(f"a token lives 1 to {MAX_TOKEN_DAYS} days", code="invalid_token_days")
    if len(label) > MAX_TOKEN_LABEL:
        raise InvalidInput("a token label has at most 100 characters", code="invalid_token_label")
    if not user.active:
        raise Conflict("the user is inactive", code="user_inactive")
    scope_text = _scopes(user, scopes)
    token = secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id,
        token_hash=_digest(token),
        label=label,
        scopes=scope_text,
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    db.session.add(row)
    db.session.flush()
    audit.created("token.issue", row, actor=user, at=now)
    return token, row


def token_for(token: str, now: datetime) -> ApiToken | None:
    """The token row, if it is known, not revoked, not expired and its user active; else None."""
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(token)))
    if row is None or row.revoked or (row.expires_at is not None and row.expires_at <= now):
        return None
    return row if row.user.active else None


def user_for_token(token: str, now: datetime, *, scope: str | None = None) -> User | None:
    """The active user a bearer token belongs to, or None if it is unknown, revoked, expired,
    or lacks `scope` (when given)."""
    row = token_for(token, now)
    if row is None or (scope is not None and not row.allows(scope)):
        return None
    return row.user


def revoke_token(token_id: int) -> ApiToken:
    """Revoke a bearer token for good (revoking twice is harmless); NotFound if unknown. Flushes."""
    row = db.session.get(ApiToken, token_id)
    if row is None:
        raise NotFound("no such token", code="token_not_found")
    row.revoked = True
    audit.changed("token.revoke", row)
    db.session.flush()
    return row


def revoke_own_token(user: User, token_id: int) -> ApiToken:
    """Revoke one of `user`'s own tokens; another's is NotFound, as if it did not exist. Flushes."""
    row = db.session.get(ApiToken, token_id)
    if row is None or row.user_id != user.id:
        raise NotFound("no such token", code="token_not_found")
    return revoke_token(token_id)


def tokens_of(user: User, now: datetime) -> list[ApiToken]:
    """`user`'s live tokens (neither revoked nor expired), newest first."""
    return list(
        db.session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user.id, ApiToken.revoked.is_(False),
                   (ApiToken.expires_at.is_(None)) | (ApiToken.expires_at > now))
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        )
    )


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


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
