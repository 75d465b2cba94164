"""The citizen's pages (代表二维码), public and without an account.

``/c/<code>`` is what a deputy's QR code opens: a phone-first report form bound to that
deputy (photos from the camera, the position from the phone or a pin on the map, the kind of
problem, a description, an optional name and phone that only the deputy sees). Sending it
shows the secret tracking link ``/t/<token>`` once (and, if asked, sends it by SMS through the
outbox). The tracking page shows the handling in public words (units, never handlers), the
deputy's reason if the report was declined, and the rating form when the deputy allows it
and the ticket is resolved. ``ticketing.services.citizen`` holds the rules.

Every answer here is ``Cache-Control: no-store`` (a shared phone or proxy keeps no copy of a
tracking page), ``Referrer-Policy: same-origin`` (the token in the address never reaches a
map tile server) and ``X-Robots-Tag: noindex``.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

bp = Blueprint(
    "citizen",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/citizen/static",
)


@bp.after_request
def _private(resp: Response) -> Response:
    if request.endpoint == "citizen.static":
        return resp
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Referrer-Policy"] = "same-origin"
    resp.headers["X-Robots-Tag"] = "noindex, nofollow"
    return resp


@bp.app_template_global()
def deputy_title(deputy: object) -> str:
    """The deputy as the citizen's pages name them (see `wording.deputy_title`)."""
    from ticketing.web.citizen.wording import deputy_title as title

    return title(deputy)  # type: ignore[arg-type]


# The views register themselves on `bp`.
from ticketing.web.citizen import views  # noqa: F401
