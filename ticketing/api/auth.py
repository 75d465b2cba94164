"""Sign-in and tokens: POST /api/v1/auth/token (and /auth/token/otp for one-time codes),
GET /api/v1/auth/tokens and DELETE /api/v1/auth/tokens/{id} for one's own tokens, GET /api/v1/me."""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify
from marshmallow import Schema, fields, validate

from ticketing import otp
from ticketing.api import presenters
from ticketing.api.blueprint import ApiBlueprint
from ticketing.api.context import actor, mutation, now
from ticketing.api.schemas import TokenOut, TokenRequest, UserOut
from ticketing.errors import DomainError, TooManyRequests, Unauthorized
from ticketing.extensions import db
from ticketing.models import ApiToken, User
from ticketing.ratelimit import client_address
from ticketing.services import auth as auth_service

blp = ApiBlueprint("api_auth", __name__, description="Sign-in and tokens")

SECURED = [{"bearer": []}]


class OtpChallengeOut(Schema):
    otp_required = fields.Boolean(metadata={"description": "always true: send the code to /auth/token/otp"})
    challenge = fields.String(metadata={"description": "secret of this sign-in; send it back with the code"})
    channel = fields.String(metadata={"description": "where the code went: sms or email"})
    expires_at = fields.DateTime()


class OtpRequest(Schema):
    challenge = fields.String(required=True, validate=validate.Length(min=1, max=100))
    code = fields.String(required=True, validate=validate.Length(min=1, max=20))
    scopes = fields.List(fields.String(validate=validate.OneOf(["read", "write"])),
                         validate=validate.Length(min=1, max=2), load_default=None)
    label = fields.String(load_default="api", validate=validate.Length(max=100))


class TokenInfo(Schema):
    id = fields.Integer()
    label = fields.String()
    scopes = fields.List(fields.String())
    created_at = fields.DateTime()
    expires_at = fields.DateTime(allow_none=True)


class TokenList(Schema):
    items = fields.List(fields.Nested(TokenInfo))


def _policy() -> auth_service.LoginPolicy:
    return auth_service.LoginPolicy.from_config(current_app.config)


def _days() -> int:
    return int(current_app.config["API_TOKEN_DAYS"])


def _keep_failure(call: Any) -> Any:
    """Run a sign-in step; a refused one is committed before the error answers (the error handler
    rolls back), because the recorded failure is what the throttle counts."""
    try:
        return call()
    except (Unauthorized, TooManyRequests):
        db.session.commit()
        raise
    except DomainError:
        db.session.rollback()
        raise


def _token_response(user: User, args: dict[str, Any]) -> dict[str, Any]:
    token, row = auth_service.create_token(user, now(), days=_days(), label=args["label"], scopes=args["scopes"])
    db.session.commit()
    return {
        "id": row.id,
        "token": token,
        "token_type": "Bearer",
        "expires_at": row.expires_at,
        "scopes": row.scope_list,
        "label": row.label,
        "user": presenters.user(user),
    }


@blp.route("/auth/token", methods=["POST"])
@blp.arguments(TokenRequest, location="json_or_form")
@blp.response(201, TokenOut)
@blp.alt_response(202, schema=OtpChallengeOut, success=True,
                  description="a one-time code was sent: finish at /auth/token/otp")
@blp.alt_response(401, schema="Error", description="wrong username or password (the same for an unknown user)")
@blp.alt_response(429, schema="Error", description="too many failed sign-ins: locked; see Retry-After")
@blp.alt_response(503, schema="Error", description="the one-time code could not be sent")
def issue_token(args: dict[str, Any]) -> Any:
    """Exchange a username and password for a bearer token (optionally with fewer scopes).

    Failed attempts are throttled per username and per client address: after too many the
    answer is 429 with Retry-After, even for the right password. A user who needs a one-time
    code gets 202 and the code by SMS or email instead of a token.
    """
    result = _keep_failure(lambda: auth_service.sign_in(
        args["username"], args["password"], ip=client_address(), now=now(), policy=_policy(),
        otp_sender=otp.sender_from_config(current_app.config),
    ))
    if not result.complete:
        db.session.commit()
        # Returned as a Response: the 201 schema above would otherwise serialise it.
        resp = jsonify(OtpChallengeOut().dump({
            "otp_required": True, "challenge": result.otp_challenge, "channel": result.otp_channel,
            "expires_at": result.otp_expires_at,
        }))
        resp.status_code = 202
        return resp
    return _token_response(result.user, args)


@blp.route("/auth/token/otp", methods=["POST"])
@blp.arguments(OtpRequest, location="json_or_form")
@blp.response(201, TokenOut)
@blp.alt_response(401, schema="Error", description="wrong code (otp_invalid) or expired challenge (otp_expired)")
@blp.alt_response(429, schema="Error", description="too many failed sign-ins: locked; see Retry-After")
def finish_otp(args: dict[str, Any]) -> Any:
    """Finish a sign-in that needs a one-time code: the challenge from /auth/token and the code."""
    user = _keep_failure(lambda: auth_service.finish_otp(
        args["challenge"], args["code"], ip=client_address(), now=now(), policy=_policy(),
    ))
    return _token_response(user, args)


def _info(row: ApiToken) -> dict[str, Any]:
    return {"id": row.id, "label": row.label, "scopes": row.scope_list, "created_at": row.created_at,
            "expires_at": row.expires_at}


@blp.route("/auth/tokens", methods=["GET"])
@blp.response(200, TokenList)
@blp.doc(security=SECURED)
def list_tokens() -> dict[str, Any]:
    """The caller's live tokens (neither revoked nor expired), newest first; never their values."""
    return {"items": [_info(t) for t in auth_service.tokens_of(actor(), now())]}


@blp.route("/auth/tokens/<int:token_id>", methods=["DELETE"])
@mutation
@blp.response(204)
@blp.doc(security=SECURED)
def revoke_token(token_id: int) -> None:
    """Revoke one of the caller's tokens, at once (another's is 404). Needs the "write" scope."""
    auth_service.revoke_own_token(actor(), token_id)


@blp.route("/me", methods=["GET"])
@blp.response(200, UserOut)
@blp.doc(security=SECURED)
def me() -> dict[str, Any]:
    """The caller."""
    return presenters.user(actor())

