"""Domain errors: each carries a stable machine-readable code and an HTTP status.

Services raise these; the API edge turns them into the error envelope
``{"error": {"code", "message", "details"}}`` and rolls the transaction back.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base class: `code` is a stable API value, `status` the HTTP status to answer with."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details or {}


class InvalidInput(DomainError):
    status = 422
    code = "invalid_input"


class NotFound(DomainError):
    """Also raised for tickets the caller may not see: invisible is indistinguishable from absent."""

    status = 404
    code = "not_found"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class TransitionNotAllowed(Conflict):
    """The action is not allowed from the ticket's current state."""

    code = "transition_not_allowed"


class EvidenceRequired(DomainError):
    status = 422
    code = "evidence_required"


class PhotoRejected(DomainError):
    status = 422
    code = "photo_rejected"


class PayloadTooLarge(DomainError):
    status = 413
    code = "payload_too_large"


class TooManyRequests(DomainError):
    """Throttled (a locked sign-in, a rate limit): try again after `retry_after` seconds,
    which the edges send as the Retry-After header."""

    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None, details: dict[str, Any] | None = None):
        super().__init__(message, code=code, details={**(details or {}), "retry_after": retry_after})
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class ServiceUnavailable(DomainError):
    """An outside service the request needs (an SMS gateway, a mail server) failed."""

    status = 503
    code = "service_unavailable"
