"""Flask extensions, created unbound and attached in `create_app`."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_babel import Babel
from flask_wtf import CSRFProtect
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy
from marshmallow import Schema, fields
from werkzeug.exceptions import HTTPException

from geo.models import Base

# Paths whose errors are answered in the JSON envelope rather than as HTML pages.
JSON_PREFIXES = ("/api/",)


class ErrorBody(Schema):
    code = fields.String(required=True, metadata={"description": "stable machine-readable code"})
    message = fields.String(required=True, metadata={"description": "for people; may change"})
    details = fields.Dict(required=True, metadata={"description": "e.g. per-field messages under `fields` (422)"})


class Error(Schema):
    """The error envelope every /api/v1 error answers with (DESIGN.md §8)."""

    error = fields.Nested(ErrorBody, required=True)


class EnvelopeApi(Api):
    """flask-smorest, with HTTP errors in the project's envelope ``{"error": {...}}``.

    Validation failures (422) keep webargs' per-field messages under ``details``. The
    OpenAPI document describes the same envelope (``ERROR_SCHEMA``).
    """

    ERROR_SCHEMA = Error

    def handle_http_exception(self, error: HTTPException) -> Any:
        if not request.path.startswith(JSON_PREFIXES):
            return error
        data = getattr(error, "data", None) or {}
        details: dict[str, Any] = {}
        code = {
            400: "bad_request",
            401: "unauthorized",
            403: "forbidden",
            404: "not_found",
            405: "method_not_allowed",
            409: "conflict",
            413: "payload_too_large",
            415: "unsupported_media_type",
            422: "validation_failed",
            429: "rate_limited",
        }.get(error.code or 500, "error")
        if "messages" in data:
            details = {"fields": _string_keys(data["messages"])}
        body = {"error": {"code": code, "message": error.description or error.name, "details": details}}
        # Keep the exception's own headers (405's Allow, 401's WWW-Authenticate), not its HTML type.
        headers = [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]
        return body, error.code or 500, headers


# Models derive from geo.models.Base; Flask-SQLAlchemy shares its metadata.
db = SQLAlchemy(metadata=Base.metadata)
migrate = Migrate()
login_manager = LoginManager()
babel = Babel()
csrf = CSRFProtect()
api = EnvelopeApi()


def _string_keys(value: Any) -> Any:
    """webargs' messages with every key a string: a form part without a name is keyed None,
    which JSON (with sorted keys) cannot write."""
    if isinstance(value, dict):
        return {("" if k is None else str(k)): _string_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_string_keys(v) for v in value]
    return value
