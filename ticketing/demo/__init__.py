"""Demo deployments built from real public data in `data/` (DESIGN.md §3).

`build_hangzhou` creates the 杭州市 / 下城区 deployment: the org tree with the 8 real
street polygons, the departments the categories need, and users per role; `load`
adds the historic tickets driven through the real lifecycle (see `history`).
`build_qingdao` is the second loadable demo at district level (GCJ-02 converted);
`build_la` the Los Angeles world with its 99 neighbourhood councils, for the hotline bridge.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from geo import importer
from ticketing.extensions import db
from ticketing.services import auth, org
from ticketing.services.categories import LAW_ENFORCEMENT, TRAFFIC_POLICE, seed_categories
from ticketing.settings import TicketSettings
from ticketing.storage import PhotoStore
from ticketing.worktime import seed_calendar

DATA = Path(__file__).resolve().parent.parent.parent / "data"
DEMO_PASSWORD = "suishoupai-demo"

HZ_CITY = "330100"
XC_DISTRICT = "330103"
# The streets' 街道编码 in the source data → their NBS 2023 codes (the streets moved to
# 拱墅区 330105 when 下城区 was merged in 2021; the codes are today's official ones).
XC_STREETS = {
    "TS": ("330105012", "天水街道", "Tianshui Street"),
    "WL": ("330105013", "武林街道", "Wulin Street"),
    "CQ": ("330105014", "长庆街道", "Changqing Street"),
    "CM": ("330105015", "潮鸣街道", "Chaoming Street"),
    "ZH": ("330105016", "朝晖街道", "Zhaohui Street"),
    "WH": ("330105017", "文晖街道", "Wenhui Street"),
    "DX": ("330105018", "东新街道", "Dongxin Street"),
    "SQ": ("330105019", "石桥街道", "Shiqiao Street"),
}


@dataclass(frozen=True)
class DemoUser:
    username: str
    display_name: str
    role: str
    unit: str | None
    note: str


HZ_USERS: tuple[DemoUser, ...] = (
    DemoUser("deputy_wang", "王代表", "deputy", XC_DISTRICT, "deputy (下城区)"),
    DemoUser("deputy_li", "李代表", "deputy", XC_DISTRICT, "deputy (下城区)"),
    DemoUser("handler_tianshui", "天水街道 张", "handler", "330105012", "handler, 天水街道"),
    DemoUser("handler_tianshui2", "天水街道 陈", "handler", "330105012", "handler, 天水街道"),
    DemoUser("handler_wulin", "武林街道 刘", "handler", "330105013", "handler, 武林街道"),
    DemoUser("handler_chaohui", "朝晖街道 赵", "handler", "330105016", "handler, 朝晖街道"),
    DemoUser("handler_enforcement", "执法局 孙", "handler", "330103-ZF", "handler, 区综合行政执法局"),
    DemoUser("handler_traffic", "交警大队 周", "handler", "330103-JJ", "handler, 区交警大队"),
    DemoUser("handler_dispatch", "市派单中心 吴", "handler", "330100-PD", "handler, city dispatch desk"),
    DemoUser("supervisor_tianshui", "天水街道 督办 郑", "supervisor", "330105012", "supervisor, 天水街道"),
    DemoUser("supervisor_district", "下城区人大 督办 冯", "supervisor", XC_DISTRICT, "supervisor, 下城区"),
    DemoUser("supervisor_city", "杭州市人大 督办 何", "supervisor", HZ_CITY, "supervisor, 杭州市"),
    DemoUser("admin", "系统管理员", "admin", None, "admin"),
)


def build_hangzhou(now: datetime, *, with_users: bool = True) -> dict[str, int]:
    """Create the 杭州市/下城区 org tree, categories, calendar, boundaries (active) and users. Flushes."""
    seed_categories()
    seed_calendar(db.session, now)
    org.add_unit(code=HZ_CITY, name="杭州市", name_en="Hangzhou", kind="city")
    org.add_unit(code="330100-PD", name="市派单中心", name_en="City dispatch desk", kind="dispatch", parent_code=HZ_CITY)
    org.add_unit(code=XC_DISTRICT, name="下城区", name_en="Xiacheng District", kind="district", parent_code=HZ_CITY)
    org.add_unit(code="330103-ZF", name="下城区综合行政执法局", name_en="Xiacheng law-enforcement bureau",
                 kind="department", parent_code=XC_DISTRICT, dept_kind=LAW_ENFORCEMENT)
    org.add_unit(code="330103-JJ", name="下城区交警大队", name_en="Xiacheng traffic police",
                 kind="department", parent_code=XC_DISTRICT, dept_kind=TRAFFIC_POLICE)
    for code, name, name_en in XC_STREETS.values():
        org.add_unit(code=code, name=name, name_en=name_en, kind="street", parent_code=XC_DISTRICT)
    generation = import_boundaries(
        DATA / "hangzhou_xiacheng" / "xiacheng_streets.geojson",
        key_field="街道编码",
        key_to_code={k: v[0] for k, v in XC_STREETS.items()},
        crs="wgs84",
        label="下城区 streets (zvzuola/address, 2019)",
        now=now,
    )
    users = 0
    if with_users:
        users = create_users(HZ_USERS, now)
    return {"units": 13, "streets": len(XC_STREETS), "generation": generation, "users": users}


def import_boundaries(
    path: Path, *, key_field: str, key_to_code: dict[str, str], crs: str, label: str, now: datetime
) -> int:
    """Import and activate one boundary file whose features name units through `key_to_code`."""
    from sqlalchemy import select

    from ticketing.models import OrgUnit

    features = importer.parse_features(json.loads(path.read_text(encoding="utf-8")))
    prepared, report = importer.prepare_boundaries(features, key_field=key_field, crs=crs)
    codes = set(key_to_code.values())
    by_code = {u.code: u.id for u in db.session.scalars(select(OrgUnit).where(OrgUnit.code.in_(codes)))}
    units = {key: (by_code[code], code) for key, code in key_to_code.items() if code in by_code}
    gen = importer.import_generation(
        db.session, prepared, units=units, label=label, source=f"data/{path.parent.name}/{path.name}",
        crs=crs, now=now, report=report,
    )
    importer.activate_generation(db.session, gen.id, now)
    return gen.id


def create_users(users: tuple[DemoUser, ...], now: datetime) -> int:
    """Create demo users, all with the demo password."""
    for u in users:
        auth.create_user(
            username=u.username, password=DEMO_PASSWORD, display_name=u.display_name, role=u.role,
            unit_code=u.unit, now=now,
        )
    return len(users)


def load(city: str, *, now: datetime, settings: TicketSettings, store: PhotoStore) -> str:
    """Load a demo deployment into an empty database; returns a one-line summary. Flushes."""
    if city == "qingdao":
        from ticketing.demo.qingdao import build_qingdao

        summary = build_qingdao(now)
        return f"Qingdao demo loaded: {summary}"
    if city == "la":
        from ticketing.demo.la import build_la

        return f"Los Angeles demo loaded (import data/la311/ with flask hotline import): {build_la(now)}"
    summary = build_hangzhou(now)
    from ticketing.demo.history import replay_history

    counts = replay_history(now=now, settings=settings, store=store)
    return f"Hangzhou/Xiacheng demo loaded: {summary}; historic tickets by state: {counts}"


def logins_text(url: str) -> str:
    """What `make run` prints: the address and the demo logins."""
    lines = [
        "",
        f"Suishoupai is running at {url}",
        f"  API: {url}api/v1/  (OpenAPI: {url}api/v1/openapi.json)",
        f"Demo logins (password for all: {DEMO_PASSWORD}):",
    ]
    lines += [f"  {u.username:<22} {u.note}" for u in HZ_USERS]
    lines.append("Ctrl-C stops the web app and the worker.")
    return "\n".join(lines)
