"""The deputy's pages (phone first): snap and report, my tickets, and a ticket's trail.

Snap and report works without JavaScript (a multipart form posted to ``report.submit``,
which calls ``services.tickets.report``); with it, the page previews the photos, takes the
position from the phone or a pin on the map, offers nearby open tickets of the same category
to follow instead (``services.following``), and queues the report on the phone (IndexedDB)
until ``POST /api/v1/tickets`` has taken it, with one Idempotency-Key per report, so a flaky
connection neither loses it nor sends it twice. The trail page shows every event, before and
after photos, the running deadlines, the rating form and the deputy's points.
"""

from __future__ import annotations

from flask import Blueprint
from flask_babel import lazy_gettext as _l

from ticketing.web.common import register_nav
from ticketing.workflow import Role

bp = Blueprint(
    "deputy",
    __name__,
    url_prefix="/deputy",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

register_nav("deputy.report_form", _l("Snap and report"), Role.DEPUTY, order=10)
register_nav("deputy.tickets", _l("My tickets"), Role.DEPUTY, order=11)

# The views register themselves on `bp`.
from ticketing.web.deputy import citizen, report, tickets  # noqa: E402,F401
