"""The JSON API under /api/v1, documented by the OpenAPI file at /api/v1/openapi.json."""

from __future__ import annotations

from typing import Any

from flask import Flask, request

from ticketing.errors import DomainError, InvalidInput
from ticketing.extensions import JSON_PREFIXES, EnvelopeApi, db


def register_api(app: Flask, api: EnvelopeApi) -> None:
    """Attach the API blueprints and the error envelope for domain errors."""
    from ticketing.api import docs_page, security

    docs_page.configure(app)
    api.init_app(app)
    api.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})

    from ticketing.api import (
        auth, catalog, deputies, exports, following, health, kpis, photos, reports, supervision, tickets,
    )
    from ticketing.api import privacy
    from ticketing.api import citizen as citizen_api
    from ticketing.api import webhooks as webhooks_api

    for blp in (
        auth.blp, catalog.blp, health.blp, tickets.blp, photos.blp, supervision.blp, kpis.blp, deputies.blp,
        exports.blp, following.blp, reports.blp, webhooks_api.blp, privacy.blp, citizen_api.blp,
    ):
        api.register_blueprint(blp, url_prefix="/api/v1")
    security.install(app, api)
    privacy.install(app)

    @app.before_request
    def _refuse_nul_characters() -> None:
        # PostgreSQL cannot store NUL in text: refuse it here as bad input, not as a 500 later.
        if request.path.startswith(JSON_PREFIXES) and _carries_nul():
            raise InvalidInput("text may not contain NUL characters", code="invalid_characters")

    @app.errorhandler(DomainError)
    def _domain_error(error: DomainError) -> Any:
        db.session.rollback()
        body = {"error": {"code": error.code, "message": error.message, "details": error.details}}
        # Some errors carry headers of their own (429's Retry-After).
        headers = getattr(error, "headers", None) or {}
        if not request.path.startswith(JSON_PREFIXES):
            return error.message, error.status, headers
        return body, error.status, headers


def _carries_nul() -> bool:
    """Whether the path, query, form fields, JSON body or Idempotency-Key contain a NUL character."""
    texts: list[Any] = [request.path, request.headers.get("Idempotency-Key", "")]
    texts += [v for k, vs in request.args.lists() for v in (k, *vs)]
    if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        texts += [v for k, vs in request.form.lists() for v in (k, *vs)]
    if request.is_json:
        texts.append(request.get_json(silent=True))
    return any(_has_nul(t) for t in texts)


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False
