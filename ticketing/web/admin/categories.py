"""Categories and deadlines: response hours, resolution days and whether each can be chosen.

Codes and routing rules are fixed here (codes are API values; routing is set when the
category is seeded). New deadlines apply to dispatches from now on; tickets already
dispatched keep the deadlines recorded on them.
"""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from ticketing.extensions import db
from ticketing.models import Category
from ticketing.services import categories as category_service
from ticketing.web.admin import FormError, bp, failed, run, whole_number


def _page(status: int = 200) -> Any:
    rows = db.session.scalars(select(Category).order_by(Category.sort, Category.code)).all()
    return render_template("admin/categories.html", rows=rows), status


@bp.get("/categories")
def categories() -> Any:
    """Every category, domains first with their sub-categories under them."""
    return _page()


@bp.post("/categories/<code>")
def update_category(code: str) -> Any:
    """Save one category's deadlines and active flag (and, for a domain, optionally its sub-categories')."""
    try:
        hours = whole_number(request.form.get("response_hours"), _("Response time"))
        days = whole_number(request.form.get("resolution_days"), _("Resolution time"))
    except FormError as exc:
        return _page(failed(exc))
    cascade = request.form.get("with_subcategories") == "1"
    ok, result = run(
        lambda: category_service.update_category(
            code, response_hours=hours, resolution_days=days, active=request.form.get("active") == "1",
            with_subcategories=cascade,
        ),
        _("Saved the category %(code)s.", code=code),
    )
    if not ok:
        return _page(failed(result))
    return redirect(url_for("admin.categories", _anchor=f"cat-{code}"))
