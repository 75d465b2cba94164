"""The org tree: adding units and keeping their materialised paths right."""

from __future__ import annotations

from sqlalchemy import select

from ticketing.errors import InvalidInput
from ticketing.extensions import db
from ticketing.models import OrgUnit, UnitKind

# Which kinds may hang under which: departments and dispatch desks under any level.
_PARENTS: dict[UnitKind, tuple[UnitKind | None, ...]] = {
    UnitKind.CITY: (None,),
    UnitKind.DISTRICT: (UnitKind.CITY,),
    UnitKind.STREET: (UnitKind.DISTRICT,),
    UnitKind.DEPARTMENT: (UnitKind.CITY, UnitKind.DISTRICT, UnitKind.STREET),
    UnitKind.DISPATCH: (UnitKind.CITY, UnitKind.DISTRICT),
}


def add_unit(
    *,
    code: str,
    name: str,
    kind: str,
    parent_code: str | None = None,
    name_en: str = "",
    dept_kind: str | None = None,
) -> OrgUnit:
    """Add a unit under `parent_code` (None for a city), checking the tree's shape. Flushes."""
    try:
        kind_ = UnitKind(kind)
    except ValueError:
        raise InvalidInput(f"unknown unit kind {kind!r}", code="unknown_unit_kind") from None
    parent = None
    if parent_code is not None:
        parent = db.session.scalar(select(OrgUnit).where(OrgUnit.code == parent_code))
        if parent is None:
            raise InvalidInput(f"unknown parent unit {parent_code!r}", code="unknown_unit")
    if (parent.kind if parent else None) not in _PARENTS[kind_]:
        raise InvalidInput(f"a {kind_.value} cannot hang under {parent_code!r}", code="invalid_parent")
    if kind_ == UnitKind.DEPARTMENT and not dept_kind:
        raise InvalidInput("a department needs a dept_kind", code="dept_kind_required")
    if db.session.scalar(select(OrgUnit.id).where(OrgUnit.code == code)) is not None:
        raise InvalidInput(f"unit code {code!r} is taken", code="unit_code_taken")
    unit = OrgUnit(code=code, name=name, name_en=name_en, kind=kind_, dept_kind=dept_kind, parent=parent, path="/")
    db.session.add(unit)
    db.session.flush()  # the id is part of the path
    unit.path = f"{parent.path if parent else '/'}{unit.id}/"
    db.session.flush()
    return unit


def unit_by_code(code: str) -> OrgUnit | None:
    """The unit with this code, or None."""
    return db.session.scalar(select(OrgUnit).where(OrgUnit.code == code))
