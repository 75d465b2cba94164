"""The Hangzhou demo's historic tickets: 228 real grid events replayed through the real lifecycle.

The points, event types, reporting grids and report times are real: the grid events that
天水街道 (下城区, 杭州) recorded in September 2018 (`data/hangzhou_xiacheng/`, personal data
already removed; see its PROVENANCE). Everything after the report is DEMO, NOT THE REAL
HISTORY: which deputy reported it, the category it maps to, who accepted it and when, the
notes, photos, ratings, returns and re-dispatches are generated here, deterministically
(every random choice comes from a generator seeded with the event's index), to show a
believable spread of states. No step writes rows directly: each one calls the service a
person would call (`ticketing.services.tickets`), at its own `now`.

Dates: the 2018 timeline is shifted by whole days so that the newest event lands
`NEWEST_DAYS_AGO` days before the load's `now`, keeping the events' spacing and times of
day; tickets are therefore "dated relative to today" and their working-time deadlines come
from the real calendar of the shifted dates. Handlers act in office hours (their steps are
measured in working hours), deputies between 08:00 and 22:00; a step that would fall after
`now` is not taken, so the newest tickets are naturally the ones still open.
"""

from __future__ import annotations

import io
import json
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum
from pathlib import Path
from zoneinfo import ZoneInfo

from PIL import Image, ImageDraw
from sqlalchemy import select

from ticketing.extensions import db
from ticketing.models import Ticket, User
from ticketing.services import tickets as svc
from ticketing.services.photos import Upload
from ticketing.services.tickets import Evidence
from ticketing.settings import TicketSettings
from ticketing.storage import PhotoStore
from ticketing.workflow import Outcome, Score
from ticketing.worktime import WorkCalendar, calendar_for

EVENTS_FILE = Path(__file__).resolve().parent.parent.parent / "data" / "hangzhou_xiacheng" / (
    "xiacheng_grid_events_2018.geojson"
)
SEED = 2018
# The newest 2018 event is moved to this many local days before `now`.
NEWEST_DAYS_AGO = 4

TIANSHUI = "330105012"  # 天水街道: every one of the 228 points lies in it
ENFORCEMENT = "330103-ZF"  # 下城区综合行政执法局: where environment categories are routed
DEPUTIES = ("deputy_wang", "deputy_li")
TIANSHUI_HANDLERS = ("handler_tianshui", "handler_tianshui2")

# 事件类型 (the grid platform's type, named for the office that files it) → our category code
# (named for what the reporter sees). The source lost each event's text (事件内容 was removed
# for privacy), so the type is all there is to go on; counts are from the 228 events.
CATEGORY_BY_TYPE: dict[str, str] = {
    "民政": "services.elderly",  # 57: civil-affairs visits, overwhelmingly to elderly residents
    "消防安全": "safety.fire",  # 45: fire hazards found on patrol
    "市容环境": "city.litter",  # 26 (综合执法 platform); every third one → environment.dumping, below
    "民生服务": "services.social_security",  # 21: general livelihood matters
    "卫生安全": "services.clinics",  # 14: hygiene and health
    "公平交易秩序": "city.vendors",  # 11: market order, unlicensed or street trading
    "社保": "services.social_security",  # 10
    "证照管理": "city.vendors",  # 9: trading without the required licence
    "卫计": "services.clinics",  # 8: health and family planning
    "统战工作": "services.social_security",  # 5 ┐ internal grid duties with no public-service
    "党建宣传": "services.social_security",  # 3 │ counterpart: filed under the 民生服务 catch-all;
    "组织工作": "services.social_security",  # 2 │ some of them are the ones a supervisor marks
    "国家安全": "services.social_security",  # 1 ┘ invalid (see INVALID_TYPES)
    "综合受理": "services.social_security",  # 4: the general service window
    "文体教育": "services.schools",  # 3
    "老龄殡葬": "services.elderly",  # 3
    "残联": "services.social_security",  # 2: disability services
    "物业管理": "property.management",  # 2
    "安全生产": "safety.structures",  # 1: workplace safety
    "矛盾纠纷": "services.social_security",  # 1: neighbourhood disputes (the street's mediation)
}
# Any type a newer data file might add.
FALLBACK_CATEGORY = "services.social_security"
# 市容环境 covers litter, dumping, vendors and more; with the text gone we cannot tell which, so
# every third one is filed as illegal dumping, which routes to the district's law-enforcement
# bureau: the demo then shows both the street-office and the department route.
DUMPING_EVERY = 3
INVALID_TYPES = frozenset({"党建宣传", "组织工作", "统战工作", "国家安全"})

# A colour per category domain for the generated photos (before: the domain colour; after: lighter).
DOMAIN_COLOURS: dict[str, tuple[int, int, int]] = {
    "city": (70, 120, 180),
    "traffic": (230, 160, 40),
    "environment": (60, 140, 70),
    "facilities": (120, 120, 135),
    "safety": (200, 55, 45),
    "property": (150, 100, 60),
    "services": (125, 85, 170),
}


@dataclass(frozen=True)
class GridEvent:
    """One real grid event: where, what, which grid reported it and when (Asia/Shanghai)."""

    index: int
    lon: float
    lat: float
    kind: str
    platform: str
    grid: str
    reported_at: datetime


class Plan(StrEnum):
    """How far a ticket is meant to go; a step later than `now` cuts the plan short."""

    CLOSED = "closed"  # accepted, (progress), resolved, rated 满意/基本满意
    SECOND_ROUND = "second_round"  # rated 不满意, handled again in round 2
    AWAITING_RATING = "awaiting_rating"  # resolved, the deputy has not rated yet
    IN_PROGRESS = "in_progress"  # accepted with progress
    DISPATCHED = "dispatched"  # never accepted (overdue), sometimes urged
    RETURNED = "returned"  # returned by the handler, not re-dispatched yet
    REDISPATCHED = "redispatched"  # returned, re-dispatched by the district supervisor, then handled
    INVALID = "invalid"
    DUPLICATE = "duplicate"
    WITHDRAWN = "withdrawn"


# Fixed numbers of the special plans; every other event is drawn from DRAWN.
QUOTAS: dict[Plan, int] = {
    Plan.INVALID: 3,
    Plan.DUPLICATE: 2,
    Plan.WITHDRAWN: 2,
    Plan.REDISPATCHED: 6,
    Plan.RETURNED: 3,
    Plan.DISPATCHED: 7,
}
DRAWN: tuple[tuple[Plan, int], ...] = (
    (Plan.CLOSED, 76),
    (Plan.SECOND_ROUND, 7),
    (Plan.AWAITING_RATING, 6),
    (Plan.IN_PROGRESS, 11),
)


def read_events(path: Path = EVENTS_FILE) -> list[GridEvent]:
    """The grid events of the data file, in file order (each LineString's first vertex is the point)."""
    tz = ZoneInfo("Asia/Shanghai")
    data = json.loads(path.read_text(encoding="utf-8"))
    events = []
    for index, feature in enumerate(data["features"]):
        props = feature["properties"]
        lon, lat = feature["geometry"]["coordinates"][0][:2]
        reported = datetime.strptime(props["上报时间"], "%m/%d/%Y %H:%M:%S").replace(tzinfo=tz)
        events.append(GridEvent(
            index=index, lon=float(lon), lat=float(lat), kind=props["事件类型"], platform=props["来源平台"],
            grid=props.get("上报部门", ""), reported_at=reported,
        ))
    return events


def category_for(event: GridEvent, nth_of_kind: int) -> str:
    """The category code for an event; `nth_of_kind` counts earlier events of its type (for 市容环境)."""
    if event.kind == "市容环境" and nth_of_kind % DUPLICATE_SAFE_MODULO(DUMPING_EVERY) == DUMPING_EVERY - 1:
        return "environment.dumping"
    return CATEGORY_BY_TYPE.get(event.kind, FALLBACK_CATEGORY)


def DUPLICATE_SAFE_MODULO(n: int) -> int:  # noqa: N802 - placeholder removed below
    return n
