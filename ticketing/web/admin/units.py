"""The org tree page: every unit with its kind and code, adding a unit, renaming one.

Units are not deleted or deactivated: tickets, boundaries and users refer to them by code, and
the model has no such state. A unit that no longer works gets no boundary in the next
generation, and its users are deactivated.
"""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from ticketing.extensions import db
from ticketing.models import OrgUnit, UnitKind, User
from ticketing.services import org
from ticketing.services.categories import LAW_ENFORCEMENT, TRAFFIC_POLICE
from ticketing.web.admin import bp, failed, run

KIND_LABELS = {
    UnitKind.CITY: _l("City"),
    UnitKind.DISTRICT: _l("District"),
    UnitKind.STREET: _l("Street or town"),
    UnitKind.DEPARTMENT: _l("Department"),
    UnitKind.DISPATCH: _l("Dispatch desk"),
}
DEPT_KINDS = {LAW_ENFORCEMENT: _l("Law enforcement"), TRAFFIC_POLICE: _l("Traffic police")}


def _page(status: int = 200, form: dict[str, str] | None = None) -> Any:
    units = db.session.scalars(select(OrgUnit)).all()
    people = dict(
        db.session.execute(
            select(User.unit_id, func.count()).where(User.active.is_(True)).group_by(User.unit_id)
        ).all()
    )
    # Depth first, siblings by code: each unit right under its parent.
    children: dict[int | None, list[OrgUnit]] = {}
    for u in units:
        children.setdefault(u.parent_id, []).append(u)
    rows: list[tuple[int, OrgUnit]] = []

    def walk(parent: int | None, depth: int) -> None:
        for u in sorted(children.get(parent, []), key=lambda x: x.code):
            rows.append((depth, u))
            walk(u.id, depth + 1)

    walk(None, 0)
    return render_template(
        "admin/units.html", rows=rows, people=people, kinds=KIND_LABELS, dept_kinds=DEPT_KINDS,
        form=form or {},
    ), status


@bp.get("/units")
def units() -> Any:
    """The org tree, parents before children."""
    return _page()


@bp.post("/units")
def add_unit() -> Any:
    """Add a unit under a parent; the service checks the tree's shape."""
    f = {k: request.form.get(k, "").strip() for k in ("code", "name", "name_en", "kind", "parent", "dept_kind")}
    ok, result = run(
        lambda: org.add_unit(
            code=f["code"], name=f["name"], name_en=f["name_en"], kind=f["kind"],
            parent_code=f["parent"] or None,
            dept_kind=(f["dept_kind"] or None) if f["kind"] == UnitKind.DEPARTMENT else None,
        ),
        _("Added the unit %(code)s.", code=f["code"]),
    )
    if not ok:
        return _page(failed(result), form=f)
    return redirect(url_for("admin.units"))


@bp.post("/units/<code>/rename")
def rename_unit(code: str) -> Any:
    """Rename a unit (its code stays)."""
    name, name_en = request.form.get("name", ""), request.form.get("name_en", "")
    ok, result = run(
        lambda: org.rename_unit(code, name=name, name_en=name_en),
        _("Renamed the unit %(code)s.", code=code),
    )
    if not ok:
        return _page(failed(result))
    return redirect(url_for("admin.units"))
