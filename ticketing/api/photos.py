"""GET /api/v1/photos/<id>/<variant>: the metadata-free copies, to those who may see the ticket."""

from __future__ import annotations

from flask import Response, abort
from flask_smorest import Blueprint

from ticketing.api.context import actor, store
from ticketing.errors import NotFound
from ticketing.extensions import db
from ticketing.models import Photo
from ticketing.services import access
from ticketing.services.tickets import MAX_ID

blp = Blueprint("api_photos", __name__, description="Photos")

VARIANTS = ("display", "thumb")


@blp.route("/photos/<int:photo_id>/<variant>", methods=["GET"])
@blp.doc(security=[{"bearer": []}], responses={200: {"description": "a JPEG"}})
def photo(photo_id: int, variant: str) -> Response:
    """A photo's display or thumbnail copy (JPEG, no EXIF). Originals are never served here."""
    user = actor()  # authenticate first: an anonymous caller learns nothing about which ids exist
    if variant not in VARIANTS:
        abort(404)
    row = db.session.get(Photo, photo_id) if photo_id <= MAX_ID else None
    if row is None:
        raise NotFound("no such photo", code="photo_not_found")
    try:
        access.require_visible(user, row.ticket)
    except NotFound:
        raise NotFound("no such photo", code="photo_not_found") from None
    key = row.display_key if variant == "display" else row.thumb_key
    resp = Response(store().get(key), mimetype="image/jpeg")
    resp.headers["Cache-Control"] = "private, max-age=3600"
    return resp
