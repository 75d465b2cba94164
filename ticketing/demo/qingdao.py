"""The second demo: 青岛市 at district level, with boundaries that arrive in GCJ-02 (DESIGN.md §3).

Qingdao's 10 districts and county-level cities come from `data/qingdao/` (Aliyun DataV
GeoAtlas, GCJ-02; see its PROVENANCE); the import converts them to WGS84, so the demo
exercises coordinate conversion and city-wide routing. There are no street polygons at this
level: a district's polygon covers its points and the district itself is the territorial
handling unit, with a law-enforcement bureau and a traffic-police brigade under each district
for the categories routed to departments. No historic tickets are loaded.

Load it into a database of its own, not next to Hangzhou: only one boundary generation can be
active, and importing Qingdao's activates it (Hangzhou's reports would then fall outside
every polygon). For example::

    DATABASE_URL=sqlite:///var/qingdao.db flask db upgrade
    DATABASE_URL=sqlite:///var/qingdao.db flask demo load --city qingdao
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from ticketing.demo import DATA, DemoUser, create_users, import_boundaries
from ticketing.extensions import db
from ticketing.services import org
from ticketing.services.categories import LAW_ENFORCEMENT, TRAFFIC_POLICE, seed_categories
from ticketing.worktime import seed_calendar

QD_CITY = "370200"
QD_DISPATCH = "370200-PD"
BOUNDARIES = DATA / "qingdao" / "qingdao_districts_datav_gcj02.geojson"
# English names by adcode; the Chinese names come from the data file.
NAMES_EN = {
    "370202": "Shinan District",
    "370203": "Shibei District",
    "370211": "Huangdao District",
    "370212": "Laoshan District",
    "370213": "Licang District",
    "370214": "Chengyang District",
    "370215": "Jimo District",
    "370281": "Jiaozhou",
    "370283": "Pingdu",
    "370285": "Laixi",
}
# Usernames start with qd_ so that they never collide with Hangzhou's demo users.
QD_USERS: tuple[DemoUser, ...] = (
    DemoUser("qd_deputy", "青岛 林代表", "deputy", QD_CITY, "deputy (青岛市)"),
    DemoUser("qd_handler_shinan", "市南区 王", "handler", "370202", "handler, 市南区"),
    DemoUser("qd_handler_shibei", "市北区 李", "handler", "370203", "handler, 市北区"),
    DemoUser("qd_handler_huangdao", "黄岛区 赵", "handler", "370211", "handler, 黄岛区"),
    DemoUser("qd_handler_laoshan", "崂山区 孙", "handler", "370212", "handler, 崂山区"),
    DemoUser("qd_handler_shinan_zf", "市南区执法局 周", "handler", "370202-ZF", "handler, 市南区综合行政执法局"),
    DemoUser("qd_supervisor_shinan", "市南区人大 督办 吴", "supervisor", "370202", "supervisor, 市南区"),
    DemoUser("qd_supervisor_city", "青岛市人大 督办 郑", "supervisor", QD_CITY, "supervisor, 青岛市"),
    DemoUser("qd_admin", "青岛 系统管理员", "admin", None, "admin"),
)


def districts(path: Path = BOUNDARIES) -> list[tuple[str, str]]:
    """(adcode, name) of every district in the boundary file, in file order."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return [(str(f["properties"]["adcode"]), str(f["properties"]["name"])) for f in data["features"]]


def build_qingdao(now: datetime) -> dict[str, int]:
    """Create the 青岛市 org tree, its GCJ-02 boundaries (converted, activated) and users. Flushes.

    Categories and the calendar are seeded only where missing, so this also runs in an
    empty database (`flask demo load --city qingdao`).
    """
    categories = seed_categories()
    seed_calendar(db.session, now)
    org.add_unit(code=QD_CITY, name="青岛市", name_en="Qingdao", kind="city")
    org.add_unit(code=QD_DISPATCH, name="青岛市派单中心", name_en="Qingdao dispatch desk", kind="dispatch",
                 parent_code=QD_CITY)
    units = 2
    found = districts()
    for code, name in found:
        name_en = NAMES_EN.get(code, code)
        org.add_unit(code=code, name=name, name_en=name_en, kind="district", parent_code=QD_CITY)
        org.add_unit(code=f"{code}-ZF", name=f"{name}综合行政执法局", name_en=f"{name_en} law-enforcement bureau",
                     kind="department", parent_code=code, dept_kind=LAW_ENFORCEMENT)
        org.add_unit(code=f"{code}-JJ", name=f"{name}交警大队", name_en=f"{name_en} traffic police",
                     kind="department", parent_code=code, dept_kind=TRAFFIC_POLICE)
        units += 3
    generation = import_boundaries(
        BOUNDARIES,
        key_field="adcode",
        key_to_code={code: code for code, _ in found},
        crs="gcj02",
        label="青岛市 districts (DataV GeoAtlas, GCJ-02 converted)",
        now=now,
    )
    users = create_users(QD_USERS, now)
    return {"units": units, "districts": len(found), "generation": generation, "users": users,
            "categories_added": categories}
