"""The audit log page: admin changes, newest first, filtered by kind, target and person.

Read only; the entries are written by the services themselves (``ticketing.services.audit``)
and the API serves the same log as JSON (``GET /api/v1/audit``).
"""

from __future__ import annotations

import json
from typing import Any

from flask import render_template, request
from flask_babel import lazy_gettext as _l

from ticketing.services import audit
from ticketing.web.admin import bp

PAGE_SIZE = 50
MAX_PAGE = 100_000
# The filter's groups of entries: an action prefix each.
GROUPS = {
    "user.": _l("Users"),
    "login.": _l("Sign-in lock-outs"),
    "token.": _l("API tokens"),
    "category.": _l("Categories and deadlines"),
    "unit.": _l("Org tree"),
    "boundaries.": _l("Boundaries"),
    "calendar.": _l("Working-day calendar"),
    "ticket.": _l("Retention"),
}
ACTIONS = {
    "user.create": _l("Created a user"),
    "user.update": _l("Changed a user"),
    "user.deactivate": _l("Deactivated a user"),
    "user.activate": _l("Reactivated a user"),
    "user.password_reset": _l("Reset a password"),
    "login.unlock": _l("Lifted a sign-in lock-out"),
    "token.issue": _l("Issued an API token"),
    "token.revoke": _l("Revoked an API token"),
    "category.update": _l("Changed a category"),
    "unit.add": _l("Added a unit"),
    "unit.rename": _l("Renamed a unit"),
    "boundaries.import": _l("Imported boundaries"),
    "boundaries.activate": _l("Activated boundaries"),
    "calendar.import": _l("Imported a calendar year"),
    "ticket.anonymise": _l("Removed a finished ticket's personal data"),
}
CHANNELS = {"web": _l("web page"), "api": _l("API"), "cli": _l("command line"), "worker": _l("worker"),
            "system": _l("system")}


def _changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[str]:
    """One line per field: ``name: old → new`` (or just the new value for a creation)."""
    before = before or {}
    lines = []
    for name, value in (after or {}).items():
        new = json.dumps(value, ensure_ascii=False)
        lines.append(f"{name}: {json.dumps(before[name], ensure_ascii=False)} → {new}" if name in before
                     else f"{name}: {new}")
    return lines


@bp.get("/audit")
def audit_log() -> Any:
    """The newest entries of the audit log, a page at a time."""
    group = request.args.get("group", "")
    target = request.args.get("target", "").strip()[:64]
    actor = request.args.get("actor", "").strip()[:80]
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), MAX_PAGE)
    query = audit.AuditQuery(action=group if group in GROUPS else None, target_id=target or None,
                             actor=actor or None)
    rows, total = audit.entries(query, page=page, page_size=PAGE_SIZE)
    return render_template(
        "admin/audit.html", rows=rows, total=total, page=page, pages=max(1, -(-total // PAGE_SIZE)),
        groups=GROUPS, actions=ACTIONS, channels=CHANNELS, changes=_changes,
        form={"group": group, "target": target, "actor": actor},
    )
