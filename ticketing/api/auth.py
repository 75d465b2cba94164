"""POST /api/v1/auth/token and GET /api/v1/me."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import current_app
from flask_smorest import Blueprint

from ticketing.api import presenters
from ticketing.api.context import actor, now
from ticketing.api.schemas import TokenOut, TokenRequest, UserOut
from ticketing.extensions import db
from ticketing.services import auth as auth_service

blp = Blueprint("api_auth", __name__, description="Sign-in and tokens")


@blp.route("/auth/token", methods=["POST"])
@blp.arguments(TokenRequest, location="json_or_form")
@blp.response(201, TokenOut)
def issue_token(args: dict[str, Any]) -> dict[str, Any]:
    """Exchange a username and password for a bearer token."""
    user = auth_service.authenticate(args["username"], args["password"])
    days = int(current_app.config["API_TOKEN_DAYS"])
    token = auth_service.issue_token(user, now(), days=days, label="api")
    db.session.commit()
    return {"token": token, "token_type": "Bearer", "expires_at": now() + timedelta(days=days), "user": presenters.user(user)}


@blp.route("/me", methods=["GET"])
@blp.response(200, UserOut)
@blp.doc(security=[{"bearer": []}])
def me() -> dict[str, Any]:
    """The caller."""
    return presenters.user(actor())
