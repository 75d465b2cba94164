"""The supervisor's dashboard (督办看板): what is overdue or due soon, the map, the decisions waiting
(returned tickets, extension requests, repeated complaints), the supervision list, the KPIs and
ranking, the deputies' points, and every table exportable exactly as shown.

Pages for supervisors, and for admins (who oversee their unit's subtree, or everything without
one). The read side is ``board``; the routes are ``views``.
"""

from __future__ import annotations

from flask import Blueprint
from flask_babel import lazy_gettext as _l

from ticketing.web.common import register_nav
from ticketing.workflow import Role

bp = Blueprint(
    "supervision",
    __name__,
    url_prefix="/supervision",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

register_nav("supervision.dashboard", _l("Supervision dashboard"), Role.SUPERVISOR, Role.ADMIN, order=30)

from ticketing.web.supervision import views  # noqa: E402,F401  (routes attach to bp)
