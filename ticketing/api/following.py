"""Duplicate suggestions while reporting, and following a ticket instead (``services.following``).

``GET /tickets/nearby`` answers the open tickets of a category near a point, public ones shown
without their reporter; ``POST /tickets/<key>/follow`` and ``/unfollow`` add and remove the
caller as a follower (deputies only; both are idempotent).
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from ticketing.api.blueprint import ApiBlueprint
from ticketing.api.context import actor, mutation, now, settings
from ticketing.api.schemas import UnitOut
from ticketing.services import following

blp = ApiBlueprint("api_following", __name__, description="Nearby open tickets and following one")
SECURED = [{"bearer": []}]


class NearbyArgs(Schema):
    category = fields.String(required=True, metadata={"description": "the category about to be reported"})
    lon = fields.Float(required=True, allow_nan=False)
    lat = fields.Float(required=True, allow_nan=False)
    crs = fields.String(load_default="wgs84", validate=validate.OneOf(["wgs84", "gcj02"]))
    limit = fields.Integer(load_default=following.DEFAULT_LIMIT, validate=validate.Range(min=1, max=20))


class SuggestionOut(Schema):
    number = fields.String()
    category = fields.String()
    title = fields.String()
    description = fields.String()
    state = fields.String()
    handling_unit = fields.Nested(UnitOut)
    created_at = fields.DateTime()
    distance_m = fields.Integer(metadata={"description": "metres from the given point"})
    mine = fields.Boolean(metadata={"description": "the caller reported it"})
    following = fields.Boolean(metadata={"description": "the caller follows it already"})


class NearbyOut(Schema):
    radius_m = fields.Integer()
    items = fields.List(fields.Nested(SuggestionOut))


class FollowOut(Schema):
    number = fields.String()
    following = fields.Boolean()
    changed = fields.Boolean(metadata={"description": "false when the call changed nothing (already so)"})


@blp.route("/tickets/nearby", methods=["GET"])
@blp.arguments(NearbyArgs, location="query")
@blp.response(200, NearbyOut)
@blp.doc(security=SECURED)
def nearby(args: dict[str, Any]) -> dict[str, Any]:
    """Open tickets of the category within NEARBY_RADIUS_M of the point, nearest first: "same problem?"."""
    from ticketing.api.presenters import unit

    found = following.nearby_open(
        actor(), args["category"], args["lon"], args["lat"], crs=args["crs"], limit=args["limit"], settings=settings()
    )
    return {
        "radius_m": round(settings().nearby_radius_m),
        "items": [
            {
                "number": s.ticket.number,
                "category": s.ticket.category.code,
                "title": s.ticket.title,
                "description": s.ticket.description,
                "state": s.ticket.state.value,
                "handling_unit": unit(s.ticket.handling_unit),
                "created_at": s.ticket.created_at,
                "distance_m": round(s.distance_m),
                "mine": s.mine,
                "following": s.following,
            }
            for s in found
        ],
    }


@blp.route("/tickets/<key>/follow", methods=["POST"])
@mutation
@blp.response(200, FollowOut)
@blp.doc(security=SECURED)
def follow(key: str) -> dict[str, Any]:
    """Follow an open public ticket instead of reporting the same problem again (deputies)."""
    ticket, changed = following.follow(key, actor(), now())
    return {"number": ticket.number, "following": True, "changed": changed}


@blp.route("/tickets/<key>/unfollow", methods=["POST"])
@mutation
@blp.response(200, FollowOut)
@blp.doc(security=SECURED)
def unfollow(key: str) -> dict[str, Any]:
    """Stop following a ticket."""
    ticket, changed = following.unfollow(key, actor())
    return {"number": ticket.number, "following": False, "changed": changed}
