"""The org tree: adding and renaming units, keeping their materialised paths right; switching the boundary generation."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import select

from geo import importer
from ticketing.errors import InvalidInput, NotFound
from ticketing.extensions import db
from ticketing.models import BoundaryGeneration, OrgUnit, UnitKind
from ticketing.services import audit

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
    if not code.strip() or len(code) > 64:
        raise InvalidInput("a unit code has 1 to 64 characters", code="invalid_unit_code")
    _check_names(name, name_en)
    if kind_ == UnitKind.DEPARTMENT and not dept_kind:
        raise InvalidInput("a department needs a dept_kind", code="dept_kind_required")
    if db.session.scalar(select(OrgUnit.id).where(OrgUnit.code == code)) is not None:
        raise InvalidInput(f"unit code {code!r} is taken", code="unit_code_taken")
    unit = OrgUnit(code=code, name=name, name_en=name_en, kind=kind_, dept_kind=dept_kind, parent=parent, path="/")
    db.session.add(unit)
    db.session.flush()  # the id is part of the path
    unit.path = f"{parent.path if parent else '/'}{unit.id}/"
    db.session.flush()
    audit.created("unit.add", unit)
    return unit


def rename_unit(code: str, *, name: str, name_en: str = "") -> OrgUnit:
    """Give a unit a new name (codes are stable: tickets, boundaries and users refer to them). Flushes."""
    unit = unit_by_code(code)
    if unit is None:
        raise NotFound(f"no unit {code!r}", code="unit_not_found")
    _check_names(name, name_en)
    unit.name = name.strip()
    unit.name_en = name_en.strip()
    audit.changed("unit.rename", unit)
    db.session.flush()
    return unit


def _check_names(name: str, name_en: str) -> None:
    if not name.strip() or len(name) > 200 or len(name_en) > 200:
        raise InvalidInput("a unit name has 1 to 200 characters", code="invalid_unit_name")


def boundary_keys(match: str) -> tuple[dict[str, tuple[int, str]], set[str]]:
    """Units keyed by ``code`` or ``name`` as a boundary import matches them (geo.importer's
    ``units``), and the names more than one unit carries (which cannot say whose polygon it is)."""
    units: dict[str, tuple[int, str]] = {}
    seen: Counter[str] = Counter()
    for u in db.session.scalars(select(OrgUnit).order_by(OrgUnit.code)):
        key = u.code if match == "code" else u.name
        units[key] = (u.id, u.code)
        seen[key] += 1
    return units, {key for key, n in seen.items() if n > 1}


def activate_boundaries(generation_id: int, now: datetime) -> BoundaryGeneration:
    """Make a boundary generation the one routing uses (``geo.importer.activate_generation``) and
    audit the switch; activating the active one again changes and records nothing. Flushes.

    Raises ``geo.importer.UnknownGeneration`` for an unknown id.
    """
    previous = importer.active_generation_id(db.session)
    generation = importer.activate_generation(db.session, generation_id, now)
    if previous != generation.id:
        audit.record("boundaries.activate", generation, before={"active_generation": previous},
                     after={"active_generation": generation.id, "label": generation.label}, at=now)
    return generation


def audit_boundary_import(generation: BoundaryGeneration) -> None:
    """Record a new (inactive) generation from ``geo.importer.import_generation``: geo knows nothing
    of the audit log, so its callers (the admin page, the CLI) call this next to it. Flushes."""
    report = generation.report or {}
    audit.created("boundaries.import", generation, at=generation.created_at,
                  accepted=len(report.get("accepted", [])), rejected=len(report.get("rejected", [])))


def unit_by_code(code: str) -> OrgUnit | None:
    """The unit with this code, or None."""
    return db.session.scalar(select(OrgUnit).where(OrgUnit.code == code))
