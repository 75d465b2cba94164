"""GET /api/v1/photos/<id>/<variant>: the metadata-free copies, and the original to those who handle it.

The display and thumbnail copies are streamed through the application on every backend:
each request is checked against the ticket's visibility, and the copies are small. The
original (EXIF, GPS and all) is for the people answerable for the ticket; on S3 they are
redirected to a presigned URL that lives ``PHOTO_URL_SECONDS``, locally the bytes are
streamed. Neither may be cached by anything shared.
"""

from __future__ import annotations

from flask import Response, abort, current_app, redirect
from flask_smorest import Blueprint

from ticketing.api.context import actor, store
from ticketing.errors import Forbidden, NotFound
from ticketing.extensions import db
from ticketing.models import Photo
from ticketing.services import access
from ticketing.services.tickets import MAX_ID
from ticketing.workflow import Relation

blp = Blueprint("api_photos", __name__, description="Photos")

VARIANTS = ("display", "thumb", "original")
# Who may see an original: the reporter, the handling and co-handling units, supervisors
# over the handling unit. Followers and supervisors of a co-handling unit see the copies only.
ORIGINAL_RELATIONS = frozenset({Relation.REPORTER, Relation.HANDLING_UNIT, Relation.CO_HANDLER, Relation.SUPERVISOR})


@blp.route("/photos/<int:photo_id>/<variant>", methods=["GET"])
@blp.doc(
    security=[{"bearer": []}],
    responses={
        200: {"description": "display and thumb: a JPEG without metadata; original: the file as uploaded"},
        302: {"description": "original on S3: a presigned URL valid for PHOTO_URL_SECONDS"},
        403: {"description": "original: the caller sees the ticket but does not handle it"},
        404: {"description": "no such photo, or its ticket is not visible to the caller"},
    },
)
def photo(photo_id: int, variant: str) -> Response:
    """A photo's display or thumbnail copy (JPEG, no EXIF), or its original for those who handle the ticket."""
    user = actor()  # authenticate first: an anonymous caller learns nothing about which ids exist
    if variant not in VARIANTS:
        abort(404)
    row = db.session.get(Photo, photo_id) if photo_id <= MAX_ID else None
    if row is None:
        raise NotFound("no such photo", code="photo_not_found")
    try:
        rel = access.require_visible(user, row.ticket)
    except NotFound:
        raise NotFound("no such photo", code="photo_not_found") from None
    if variant == "original":
        return _original(row, rel)
    key = row.display_key if variant == "display" else row.thumb_key
    if not key:  # a video is kept as it is: it has no copies
        raise NotFound(f"this upload has no {variant} copy", code="photo_variant_not_found")
    resp = Response(store().get(key), mimetype="image/jpeg")
    resp.headers["Cache-Control"] = "private, max-age=3600"
    return resp


def _original(row: Photo, rel: set[Relation]) -> Response:
    if not rel & ORIGINAL_RELATIONS:
        raise Forbidden(
            "only the reporter, the handling units and their supervisors see original photos",
            code="photo_original_forbidden",
        )
    if not row.original_key:  # the retention job removed it (ticketing.services.privacy); the copies remain
        raise NotFound("the original was removed after the retention period", code="photo_original_removed")
    url = store().url(row.original_key, expires=int(current_app.config["PHOTO_URL_SECONDS"]))
    if url is not None:
        resp = redirect(url, code=302)
    else:
        resp = Response(store().get(row.original_key), mimetype=row.content_type)
        resp.headers["X-Content-Type-Options"] = "nosniff"
    # The original carries EXIF (position, time, device): no shared cache may keep it or the URL.
    resp.headers["Cache-Control"] = "private, no-store"
    return resp
