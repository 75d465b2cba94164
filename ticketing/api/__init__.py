"""The JSON API under /api/v1, documented by the OpenAPI file at /api/v1/openapi.json."""

from __future__ import annotations

from typing import Any

from flask import Flask, request

from ticketing.errors import DomainError
from ticketing.extensions import JSON_PREFIXES, EnvelopeApi, db


def register_api(app: Flask, api: EnvelopeApi) -> None:
    """Attach the API blueprints and the error envelope for domain errors."""
    api.init_app(app)
    api.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})

    from ticketing.api import auth, catalog, photos, tickets

    for blp in (auth.blp, catalog.blp, tickets.blp, photos.blp):
        api.register_blueprint(blp, url_prefix="/api/v1")

    @app.errorhandler(DomainError)
    def _domain_error(error: DomainError) -> Any:
        db.session.rollback()
        body = {"error": {"code": error.code, "message": error.message, "details": error.details}}
        if not request.path.startswith(JSON_PREFIXES):
            return error.message, error.status
        return body, error.status
