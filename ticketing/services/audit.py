"""The admin audit log: every change to users, tokens, categories, units, boundaries and the
calendar is written to ``audit_log`` in the same transaction as the change itself.

Tickets are audited by their own trail (``ticket_events``); this is for everything around
them (DESIGN.md §2, the admin's row). Services call `created`, `changed` or `record` next to
the change they make, so an entry exists exactly when the change commits.

Who did it comes from the edge, not from the service's arguments: the web and API edges open
an `acting` scope per request (``ticketing.api.privacy.install``), the command line one per
command (``ticketing.cli``), the worker one per job. Services that know the person anyway
pass it as ``actor`` for the case no edge named anyone (the API's sign-in, which issues a
token to the user who just proved who they are). Without either, the entry is the system's.

What an entry keeps: the audited fields of the target before and after (`FIELDS`), never a
password hash, a token's value, a phone number or an e-mail address. A changed phone number
shows as ``{"phone": "changed"}``. The log outlives every retention period (it is evidence,
append-only in the database), so it must not become a second copy of personal data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass
from datetime import date, datetime, timezone
from enum import Enum
from typing import Any

from sqlalchemy import func, inspect, select

from ticketing.errors import InvalidInput
from ticketing.extensions import db
from ticketing.models import ApiToken, AuditEntry, BoundaryGeneration, Category, OrgUnit, Ticket, User

# Every kind of entry. A plain string column holds it (no CHECK), so adding one needs no migration.
ACTIONS = frozenset({
    "user.create", "user.update", "user.deactivate", "user.activate", "user.password_reset", "login.unlock",
    "token.issue", "token.revoke",
    "category.update",
    "unit.add", "unit.rename",
    "boundaries.import", "boundaries.activate",
    "calendar.import",
    "ticket.anonymise",
})
VIA = frozenset({"web", "api", "cli", "worker", "system"})

# The fields an entry records per kind of target; anything else (hashes, secrets) never appears.
FIELDS: dict[type, tuple[str, ...]] = {
    User: ("username", "display_name", "role", "unit", "unit_id", "active", "locale", "otp_required"),
    ApiToken: ("user", "label", "scopes", "expires_at", "revoked"),
    Category: ("code", "name", "name_en", "response_hours", "resolution_days", "urgent", "active"),
    OrgUnit: ("code", "name", "name_en", "kind", "dept_kind", "parent"),
    BoundaryGeneration: ("label", "source", "source_crs", "active", "activated_at"),
}
# Personal fields: that they changed is recorded, never their values.
REDACTED = frozenset({"phone", "email"})
TARGET_TYPES: dict[type, str] = {
    User: "user", ApiToken: "token", Category: "category", OrgUnit: "unit",
    BoundaryGeneration: "boundaries", Ticket: "ticket",
}


@dataclass(frozen=True)
class Acting:
    """Who stands behind the changes of the current scope: resolved only when an entry is written."""

    via: str
    actor: Callable[[], User | None]
    at: Callable[[], datetime | None]


_acting: ContextVar[Acting | None] = ContextVar("suishoupai_audit_acting", default=None)


def begin(actor: Callable[[], User | None] | User | None, at: Callable[[], datetime | None] | datetime | None,
          *, via: str) -> Token[Acting | None]:
    """Name who makes the changes from now on (values, or callables read only when an entry is
    written); `end` with the returned token. Edges that cannot use `acting` as a block call these."""
    if via not in VIA:
        raise ValueError(f"unknown audit channel {via!r}")
    who = actor if callable(actor) else (lambda: actor)  # type: ignore[misc,return-value]
    when = at if callable(at) else (lambda: at)  # type: ignore[misc,return-value]
    return _acting.set(Acting(via, who, when))  # type: ignore[arg-type]


def end(token: Token[Acting | None]) -> None:
    """Close the scope `begin` opened."""
    _acting.reset(token)


@contextmanager
def acting(actor: User | None, at: datetime | None, *, via: str) -> Iterator[None]:
    """A block whose admin changes are recorded as made by `actor` at `at` through `via`."""
    token = begin(actor, at, via=via)
    try:
        yield
    finally:
        end(token)


# ---------------------------------------------------------------------------- writing


def record(
    action: str,
    target: Any,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    actor: User | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Append one entry about `target` (a model instance, or a ``(type, id)`` pair). Flushes.

    `actor` and `at` are used when the current scope names nobody and no time (see the module
    docstring); without any time at all the entry takes the wall clock, the only place the
    core reads it, so that an entry is never lost for want of a timestamp.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")  # a bug, not bad input
    scope = _acting.get()
    who = (scope.actor() if scope else None) or actor
    when = (scope.at() if scope else None) or at or datetime.now(timezone.utc)
    target_type, target_id = _target(target)
    entry = AuditEntry(
        at=when,
        actor_id=who.id if who is not None else None,
        via=scope.via if scope else "system",
        action=action,
        target_type=target_type,
        target_id=target_id[:64],
        before=_plain(before) if before is not None else None,
        after=_plain(after) if after is not None else None,
    )
    db.session.add(entry)
    db.session.flush()
    return entry


def created(action: str, target: Any, *, actor: User | None = None, at: datetime | None = None,
            **extra: Any) -> AuditEntry:
    """Record that `target` was created: its audited fields (and `extra`) as ``after``. Flushes."""
    return record(action, target, after={**snapshot(target), **extra}, actor=actor, at=at)


def changed(action: str, target: Any, *, actor: User | None = None, at: datetime | None = None,
            **extra: Any) -> AuditEntry | None:
    """Record the audited fields of `target` that changed since it was loaded or last flushed
    (plus `extra`, e.g. ``password="reset"``); nothing when nothing changed. Call it after
    setting the attributes and before the service flushes. Flushes."""
    before, after = _diff(target)
    if not after and not extra:
        return None
    return record(action, target, before=before, after={**after, **extra}, actor=actor, at=at)


def login_unlocked(username: str | None, ip: str | None, lifted: int) -> AuditEntry:
    """Record that an admin lifted the sign-in lock-outs of a username and/or a client address. Flushes."""
    target = ("user", username) if username else ("ip", ip or "")
    return record("login.unlock", target, after={"username": username, "ip": ip, "lifted": lifted})


def snapshot(target: Any) -> dict[str, Any]:
    """The audited fields of a model instance, as plain JSON values."""
    names = FIELDS.get(type(target), ())
    return {name: _plain(getattr(target, name)) for name in names if hasattr(target, name) and name != "unit_id"}


def _diff(target: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    state = inspect(target)
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    names = (*FIELDS.get(type(target), ()), *REDACTED)
    for name in names:
        if name not in state.attrs:
            continue
        history = state.attrs[name].history
        if not history.has_changes():
            continue
        old = history.deleted[0] if history.deleted else None
        new = history.added[0] if history.added else None
        relation = state.mapper.relationships.get(name)
        if relation is not None and not history.deleted and hasattr(target, f"{name}_id"):
            # A many-to-one set while its old object was not loaded: the id column still holds the old id.
            old_id = getattr(target, f"{name}_id")
            old = db.session.get(relation.mapper.class_, old_id) if old_id is not None else None
        if name in REDACTED:
            after[name] = "changed"
            continue
        if _plain(old) == _plain(new):
            continue
        # The relationship and its id column both change on a move; the unit's code says it once.
        key = "unit" if name == "unit_id" else name
        if name == "unit_id":
            old = db.session.get(OrgUnit, old) if old is not None else None
            new = db.session.get(OrgUnit, new) if new is not None else None
        before[key], after[key] = _plain(old), _plain(new)
    return before, after


def _target(target: Any) -> tuple[str, str]:
    if isinstance(target, tuple):
        kind, key = target
        return str(kind), str(key)
    kind = TARGET_TYPES.get(type(target))
    if kind is None:
        raise TypeError(f"cannot audit a {type(target).__name__}")
    if isinstance(target, User):
        return kind, target.username
    if isinstance(target, (Category, OrgUnit)):
        return kind, target.code
    if isinstance(target, Ticket):
        return kind, target.number
    return kind, str(target.id)


def _plain(value: Any) -> Any:
    """A JSON-safe value: units and users by their code / username, enums by value, times in ISO."""
    if isinstance(value, OrgUnit):
        return value.code
    if isinstance(value, User):
        return value.username
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_plain(v) for v in value]
        return sorted(items, key=str) if isinstance(value, (set, frozenset)) else items
    return value


# ---------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class AuditQuery:
    """A filter on the log: every given field must match (``action`` may end in ``.`` for a prefix)."""

    action: str | None = None
    actor: str | None = None  # a username
    target_type: str | None = None
    target_id: str | None = None
    start: datetime | None = None  # inclusive
    end: datetime | None = None  # exclusive


def entries(query: AuditQuery, *, page: int, page_size: int) -> tuple[list[AuditEntry], int]:
    """One page of matching entries, newest first, and how many match in all.

    Read only; the caller checks that the reader is an admin. An unknown actor username matches
    nothing (rather than an error: the person may never have changed anything)."""
    stmt = select(AuditEntry)
    if query.action:
        if query.action.endswith("."):
            stmt = stmt.where(AuditEntry.action.startswith(query.action, autoescape=True))
        else:
            stmt = stmt.where(AuditEntry.action == query.action)
    if query.actor:
        stmt = stmt.join(User, User.id == AuditEntry.actor_id).where(User.username == query.actor)
    if query.target_type:
        stmt = stmt.where(AuditEntry.target_type == query.target_type)
    if query.target_id:
        stmt = stmt.where(AuditEntry.target_id == query.target_id)
    if query.start and query.end and query.end <= query.start:
        raise InvalidInput("the period ends before it starts", code="invalid_period")
    if query.start:
        stmt = stmt.where(AuditEntry.at >= query.start)
    if query.end:
        stmt = stmt.where(AuditEntry.at < query.end)
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = db.session.scalars(
        stmt.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(page_size).offset((page - 1) * page_size)
    ).all()
    return list(rows), total
