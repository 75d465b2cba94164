"""People who sign in, their API tokens, and what guards the sign-in: the failure log and
lock-outs of the throttle, and one-time codes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from geo.models import Base
from ticketing.models.enums import enum_column
from ticketing.models.org import OrgUnit
from ticketing.workflow import Role


class User(Base):
    """A deputy, handler, supervisor or admin; every permission is scoped by `unit`."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[Role] = mapped_column(enum_column(Role, "user_role"))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), index=True)
    phone: Mapped[str] = mapped_column(String(32), default="")
    email: Mapped[str] = mapped_column(String(200), default="")
    locale: Mapped[str] = mapped_column(String(8), default="zh")
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    # A second step at sign-in: a one-time code sent by SMS (phone) or email.
    otp_required: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    created_at: Mapped[datetime]

    unit: Mapped[OrgUnit | None] = relationship()

    # Flask-Login protocol.
    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)

    def __repr__(self) -> str:
        return f"<User {self.username} {self.role}>"


# What a bearer token may do (OAuth-style names). The role still decides what its user may do;
# scopes only narrow it: a "read" token cannot change anything whatever its user's role.
SCOPES = ("read", "write")


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored. `scopes` is a space-separated subset of SCOPES."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # Tokens from before scopes existed could do everything their user could.
    scopes: Mapped[str] = mapped_column(String(100), default="read write", server_default=text("'read write'"))

    user: Mapped[User] = relationship()

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()

    def allows(self, scope: str) -> bool:
        """Whether this token carries `scope`."""
        return scope in self.scope_list


class LoginFailure(Base):
    """One failed sign-in (wrong password, unknown user or wrong one-time code), kept for the
    throttle's window and then pruned. `username` is what was typed, lower-cased, whether or
    not such a user exists, so the throttle answers alike for both."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_username_at", "username", "at"),
        Index("ix_login_failures_ip_at", "ip", "at"),
        Index("ix_login_failures_at", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime]
    username: Mapped[str] = mapped_column(String(80))
    ip: Mapped[str] = mapped_column(String(45))  # room for IPv6


class LockKind(StrEnum):
    USERNAME = "username"
    IP = "ip"


class LoginLock(Base):
    """A lock-out: no sign-in for this username (or from this client address) until `locked_until`."""

    __tablename__ = "login_locks"
    __table_args__ = (Index("ix_login_locks_kind_key", "kind", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[LockKind] = mapped_column(enum_column(LockKind, "lock_kind"))
    key: Mapped[str] = mapped_column(String(80))
    locked_until: Mapped[datetime]
    created_at: Mapped[datetime]


class OtpChallenge(Base):
    """A one-time code sent after a correct password; the sign-in completes when it comes back.

    The browser or client holds a random challenge secret; only hashes are stored: of the
    secret, and of the code salted with the secret (so a copy of the table alone cannot be
    used to try the million codes offline).
    """

    __tablename__ = "otp_challenges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    used_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()
