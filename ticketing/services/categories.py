"""The seven domains of DESIGN.md §4 and their sub-categories, with routing and deadlines.

Codes are stable API values; names and deadlines are defaults an admin edits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from ticketing.errors import InvalidInput, NotFound
from ticketing.extensions import db
from ticketing.models import Category, HandlerRule
from ticketing.services import audit

LAW_ENFORCEMENT = "law_enforcement"  # 综合行政执法局
TRAFFIC_POLICE = "traffic_police"  # 交警大队


@dataclass(frozen=True)
class Default:
    code: str
    name: str
    name_en: str
    rule: HandlerRule
    dept_kind: str | None
    response_hours: int
    resolution_days: int
    urgent: bool = False
    subs: tuple[tuple[str, str, str], ...] = ()
    # Sub-categories routed differently from their domain: code -> (rule, dept_kind).
    overrides: tuple[tuple[str, HandlerRule, str], ...] = ()


ST, DEPT = HandlerRule.STREET, HandlerRule.DEPARTMENT

DEFAULTS: tuple[Default, ...] = (
    Default("city", "城市管理", "City management", ST, None, 4, 3, subs=(
        ("city.vendors", "占道经营", "Street vendors"),
        ("city.litter", "垃圾乱扔", "Litter"),
        ("city.construction", "违法建设", "Illegal construction"),
        ("city.advertising", "违规广告", "Illegal advertising"),
    )),
    Default("traffic", "交通出行", "Traffic", ST, None, 4, 5, subs=(
        ("traffic.guardrail", "护栏缺失", "Missing guardrail"),
        ("traffic.signals", "信号灯故障", "Traffic signals"),
        ("traffic.road", "道路破损", "Road damage"),
        ("traffic.parking", "违章停车", "Parking"),
    ), overrides=(("traffic.signals", DEPT, TRAFFIC_POLICE),)),
    Default("environment", "生态环境", "Environment", DEPT, LAW_ENFORCEMENT, 4, 3, subs=(
        ("environment.fumes", "餐饮油烟", "Catering fumes"),
        ("environment.noise", "噪声扰民", "Noise"),
        ("environment.dumping", "违法倾倒", "Illegal dumping"),
        ("environment.water", "水体污染", "Water pollution"),
    )),
    Default("facilities", "市政设施", "Municipal facilities", ST, None, 4, 2, subs=(
        ("facilities.lights", "路灯损坏", "Street lights"),
        ("facilities.manholes", "井盖缺失", "Manholes"),
        ("facilities.poles", "电线杆损坏", "Broken poles"),
        ("facilities.utilities", "水电气故障", "Water, gas, power"),
    )),
    Default("safety", "公共安全", "Public safety", ST, None, 1, 1, urgent=True, subs=(
        ("safety.fire", "消防隐患", "Fire hazards"),
        ("safety.escape", "通道堵塞", "Blocked escape routes"),
        ("safety.structures", "危险建筑", "Unsafe structures"),
    )),
    Default("property", "物业小区", "Residential property", ST, None, 8, 10, subs=(
        ("property.old_compounds", "老旧小区", "Old compounds"),
        ("property.management", "物业管理", "Property management"),
        ("property.lifts", "电梯故障", "Lifts"),
    )),
    Default("services", "民生服务", "Public services", ST, None, 8, 10, subs=(
        ("services.elderly", "养老服务", "Elderly care"),
        ("services.schools", "教育服务", "Schools"),
        ("services.clinics", "医疗卫生", "Clinics"),
        ("services.social_security", "社会保障", "Social security"),
    )),
)


MAX_RESPONSE_HOURS = 720
MAX_RESOLUTION_DAYS = 365


def update_category(
    code: str,
    *,
    response_hours: int,
    resolution_days: int,
    active: bool,
    with_subcategories: bool = False,
) -> list[Category]:
    """Set a category's deadlines (working hours / working days) and whether it can be chosen;
    with `with_subcategories`, a domain's sub-categories get the same. Returns the changed rows.

    Tickets already dispatched keep the deadlines recorded on them; new dispatches use these.
    Flushes.
    """
    category = db.session.scalar(select(Category).where(Category.code == code))
    if category is None:
        raise NotFound(f"no category {code!r}", code="category_not_found")
    if not 1 <= response_hours <= MAX_RESPONSE_HOURS:
        raise InvalidInput(f"response hours are 1 to {MAX_RESPONSE_HOURS}", code="invalid_response_hours")
    if not 1 <= resolution_days <= MAX_RESOLUTION_DAYS:
        raise InvalidInput(f"resolution days are 1 to {MAX_RESOLUTION_DAYS}", code="invalid_resolution_days")
    changed = [category]
    if with_subcategories:
        changed += list(db.session.scalars(select(Category).where(Category.parent_id == category.id)))
    for row in changed:
        row.response_hours = response_hours
        row.resolution_days = resolution_days
        row.active = active
        audit.changed("category.update", row)
    db.session.flush()
    return changed


def seed_categories() -> int:
    """Insert the default categories that are missing (by code); returns how many. Flushes."""
    existing = set(db.session.scalars(select(Category.code)))
    added = 0
    for order, d in enumerate(DEFAULTS):
        parent = db.session.scalar(select(Category).where(Category.code == d.code))
        if parent is None:
            parent = Category(
                code=d.code, name=d.name, name_en=d.name_en, handler_rule=d.rule, dept_kind=d.dept_kind,
                response_hours=d.response_hours, resolution_days=d.resolution_days, urgent=d.urgent,
                sort=order * 100,
            )
            db.session.add(parent)
            db.session.flush()
            added += 1
        overrides = {code: (rule, kind) for code, rule, kind in d.overrides}
        for i, (code, name, name_en) in enumerate(d.subs, start=1):
            if code in existing:
                continue
            rule, kind = overrides.get(code, (d.rule, d.dept_kind))
            db.session.add(Category(
                code=code, name=name, name_en=name_en, parent_id=parent.id, handler_rule=rule, dept_kind=kind,
                response_hours=d.response_hours, resolution_days=d.resolution_days, urgent=d.urgent,
                sort=order * 100 + i,
            ))
            added += 1
    db.session.flush()
    return added


def picker_tree(english: bool = False) -> list[dict[str, Any]]:
    """The active domains in display order, each with its active sub-categories: what a report form
    offers. Names in English when asked and known, else Chinese."""
    rows = db.session.scalars(select(Category).where(Category.active.is_(True)).order_by(Category.sort)).all()

    def name(c: Category) -> str:
        return (c.name_en or c.name) if english else c.name

    by_id: dict[int, dict[str, Any]] = {
        c.id: {"code": c.code, "name": name(c), "urgent": c.urgent, "subs": []} for c in rows if c.parent_id is None
    }
    for c in rows:
        if c.parent_id in by_id:
            by_id[c.parent_id]["subs"].append({"code": c.code, "name": name(c)})
    return list(by_id.values())
