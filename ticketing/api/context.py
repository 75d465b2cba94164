"""What an API view needs from the request: the actor, the time, the settings, the store."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime, timezone
from functools import wraps
from typing import Any, TypeVar

from flask import Response, current_app, request
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from ticketing.errors import Conflict, DomainError, Forbidden, Unauthorized
from ticketing.extensions import db
from ticketing.models import ApiToken, IdempotencyRecord, User
from ticketing.services import auth as auth_service
from ticketing.services.photos import Upload
from ticketing.settings import TicketSettings
from ticketing.storage import PhotoStore

F = TypeVar("F", bound=Callable[..., Any])


def _cache() -> dict[str, Any]:
    """Per-request memo. Kept in the WSGI environ rather than `g`, whose app context
    may outlive a request (an outer context in tests and commands)."""
    return request.environ.setdefault("suishoupai", {})  # type: ignore[no-any-return]


def now() -> datetime:
    """The request's time; services never read the clock themselves."""
    cache = _cache()
    if "now" not in cache:
        cache["now"] = datetime.now(timezone.utc)
    return cache["now"]  # type: ignore[no-any-return]


def settings() -> TicketSettings:
    return current_app.extensions["ticket_settings"]  # type: ignore[no-any-return]


def store() -> PhotoStore:
    return current_app.extensions["photo_store"]  # type: ignore[no-any-return]


def optional_actor() -> User | None:
    """The caller from a bearer token, else from the web session, else None."""
    cache = _cache()
    if "actor" in cache:
        return cache["actor"]  # type: ignore[no-any-return]
    actor: User | None = None
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("use Authorization: Bearer <token>", code="bad_authorization_header")
        row = auth_service.token_for(token.strip(), now())
        if row is None:
            raise Unauthorized("unknown, revoked or expired token", code="invalid_token")
        _check_scope(row)
        actor = row.user
    elif getattr(current_user, "is_authenticated", False):
        _check_session_csrf()
        actor = db.session.get(User, current_user.id)
    cache["actor"] = actor
    return actor


# Methods that read; every other one changes something and needs the "write" scope.
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def _check_scope(token: ApiToken) -> None:
    """A token reads with the "read" scope and changes things with "write": checked here, for
    every view that asks for its caller, so no endpoint can forget it."""
    needed = "read" if request.method in SAFE_METHODS else "write"
    if not token.allows(needed):
        raise Forbidden(
            f"this token lacks the {needed!r} scope", code="insufficient_scope",
            details={"needed": needed, "scopes": token.scope_list},
        )


def _check_session_csrf() -> None:
    """A cookie rides along on any cross-site request; a bearer token does not. So a change made
    through the API with the web session must also carry the page's CSRF token (X-CSRFToken)."""
    if request.method in SAFE_METHODS or not current_app.config.get("WTF_CSRF_ENABLED", True):
        return
    from flask_wtf.csrf import validate_csrf
    from wtforms.validators import ValidationError

    try:
        validate_csrf(request.headers.get("X-CSRFToken"))
    except ValidationError as exc:
        raise Forbidden("send the page's CSRF token in the X-CSRFToken header", code="csrf_failed") from exc


def actor() -> User:
    """The authenticated caller, or 401."""
    user = optional_actor()
    if user is None:
        raise Unauthorized("sign in first: POST /api/v1/auth/token", code="authentication_required")
    return user


def uploads(files: dict[str, Any]) -> list[Upload]:
    """Read the uploaded photos of a multipart request into memory (size-capped by MAX_CONTENT_LENGTH)."""
    found = [Upload(filename=f.filename or "", data=f.read()) for f in files.get("photos", []) if f is not None]
    # A form's file input left empty arrives as a part with neither name nor content: no photo, not a bad one.
    return [u for u in found if u.filename or u.data]


def _fingerprint() -> str:
    """A hash of what the request asks for: method, path, fields and file contents."""
    h = hashlib.sha256()
    h.update(request.method.encode())
    h.update(request.path.encode())
    if request.is_json:
        h.update(json.dumps(request.get_json(silent=True), sort_keys=True).encode())
    else:
        for key in sorted(request.form):
            h.update(json.dumps([key, request.form.getlist(key)]).encode())
        for key in sorted(request.files):
            for f in request.files.getlist(key):
                h.update(key.encode())
                h.update(hashlib.sha256(f.stream.read()).digest())
                f.stream.seek(0)
    return h.hexdigest()


def _replay(record: IdempotencyRecord) -> Response:
    resp = Response(record.body, status=record.status_code, mimetype="application/json")
    resp.headers["Idempotent-Replayed"] = "true"
    return resp


def mutation(view: F) -> F:
    """Run a changing view in one transaction: commit on success, roll back on any error.

    With an ``Idempotency-Key`` header the first successful response is stored with the
    change, scoped to the caller: the same key and body replay it, the same key with
    another body is a 409.
    """

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        user = actor()
        key = request.headers.get("Idempotency-Key")
        fingerprint = ""
        if key:
            if len(key) > 200:
                raise DomainError("Idempotency-Key is longer than 200 characters", code="bad_idempotency_key")
            fingerprint = _fingerprint()
            earlier = _lookup(user.id, key)
            if earlier is not None:
                return _check_and_replay(earlier, fingerprint)
        try:
            response = view(*args, **kwargs)
            if key and isinstance(response, Response) and response.status_code < 300:
                db.session.add(
                    IdempotencyRecord(
                        user_id=user.id,
                        key=key,
                        fingerprint=fingerprint,
                        status_code=response.status_code,
                        body=response.get_data(),
                        created_at=now(),
                    )
                )
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            if key and (earlier := _lookup(user.id, key)) is not None:
                # A concurrent request with the same key won the race: answer as it did.
                return _check_and_replay(earlier, fingerprint)
            raise Conflict("the change conflicts with another one; reload and retry", code="conflict") from None
        except StaleDataError:
            db.session.rollback()
            raise Conflict("the ticket changed meanwhile; reload and retry", code="concurrent_update") from None
        except BaseException:
            db.session.rollback()
            raise
        return response

    return wrapper  # type: ignore[return-value]


def _lookup(user_id: int, key: str) -> IdempotencyRecord | None:
    return db.session.scalar(
        select(IdempotencyRecord).where(IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key)
    )


def _check_and_replay(record: IdempotencyRecord, fingerprint: str) -> Response:
    if record.fingerprint != fingerprint:
        raise Conflict(
            "this Idempotency-Key was used for a different request", code="idempotency_key_reused"
        )
    return _replay(record)
