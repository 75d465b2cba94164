"""The Hangzhou demo's historic tickets: 228 real grid events replayed through the real lifecycle.

The points, event types, reporting grids and report times are real: the grid events that
天水街道 (下城区, 杭州) recorded in September 2018 (`data/hangzhou_xiacheng/`, personal data
already removed; see its PROVENANCE). Everything after the report is DEMO, NOT THE REAL
HISTORY: which deputy reported it, the category it maps to, who accepted it and when, the
notes, photos, ratings, returns and re-dispatches are generated here, deterministically
(every random choice comes from a generator seeded with `SEED` and the event's index), to
show a believable spread of states. No step writes rows directly: each one calls the service
a person would call (`ticketing.services.tickets`), with its own `now`.

Dates: the 2018 timeline is shifted by whole days so that the newest event lands on the
`NEWEST_WORKDAYS_AGO`-th working day before the load's `now` (working days, so that a long
holiday just before today does not leave the whole history untouched), keeping the events'
spacing and times of day; the tickets are therefore dated relative to today, and their
deadlines come from the real working calendar of the shifted dates. Handlers and supervisors act in office hours
(their delays are measured in working hours), deputies between 08:00 and 22:00. A step that
would fall after `now` is not taken, so the newest tickets are naturally the ones still open.
"""

from __future__ import annotations

import io
import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
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

EVENTS_FILE = Path(__file__).resolve().parents[2] / "data" / "hangzhou_xiacheng" / "xiacheng_grid_events_2018.geojson"
SOURCE_TZ = ZoneInfo("Asia/Shanghai")  # the source's 上报时间 are local wall-clock times
SEED = 2018
NEWEST_WORKDAYS_AGO = 3

TIANSHUI = "330105012"  # 天水街道: all 228 points lie in it
ENFORCEMENT = "330103-ZF"  # 下城区综合行政执法局: environment categories are routed to it
DEPUTIES = ("deputy_wang", "deputy_li")
TIANSHUI_HANDLERS = ("handler_tianshui", "handler_tianshui2")
HANDLERS_BY_UNIT = {TIANSHUI: TIANSHUI_HANDLERS, ENFORCEMENT: ("handler_enforcement",)}
SUPERVISORS_BY_UNIT = {TIANSHUI: "supervisor_tianshui", ENFORCEMENT: "supervisor_district"}
DISTRICT_SUPERVISOR = "supervisor_district"

# 事件类型 (the grid platform's type, named for the office that files it) → our category code
# (named for what the reporter sees). The source's event text was removed for privacy, so the
# type is all there is to go on. Counts are those of the 228 events.
CATEGORY_BY_TYPE: dict[str, str] = {
    "民政": "services.elderly",  # 57: civil-affairs visits, mostly to elderly residents
    "消防安全": "safety.fire",  # 45: fire hazards found on patrol
    "市容环境": "city.litter",  # 26 (综合执法 platform); every third → environment.dumping, see below
    "民生服务": "services.social_security",  # 21: general livelihood matters
    "卫生安全": "services.clinics",  # 14: hygiene and health
    "公平交易秩序": "city.vendors",  # 11: market order, unlicensed or street trading
    "社保": "services.social_security",  # 10
    "证照管理": "city.vendors",  # 9: trading without the required licence
    "卫计": "services.clinics",  # 8: health and family planning
    "统战工作": "services.social_security",  # 5  internal grid duties with no public-service
    "党建宣传": "services.social_security",  # 3  counterpart: filed under the 民生服务 catch-all;
    "组织工作": "services.social_security",  # 2  a supervisor marks some of them invalid
    "国家安全": "services.social_security",  # 1  (INVALID_TYPES)
    "综合受理": "services.social_security",  # 4: the general service window
    "文体教育": "services.schools",  # 3
    "老龄殡葬": "services.elderly",  # 3
    "残联": "services.social_security",  # 2: disability services
    "物业管理": "property.management",  # 2
    "安全生产": "safety.structures",  # 1: workplace safety
    "矛盾纠纷": "services.social_security",  # 1: neighbourhood disputes (the street's mediation)
}
FALLBACK_CATEGORY = "services.social_security"  # a type a newer data file might add
# 市容环境 covers litter, dumping, vendors and more, and the text that would tell them apart is
# gone: every third one is filed as illegal dumping, which routes to the district's
# law-enforcement bureau, so the demo shows both the street-office and the department route.
DUMPING_EVERY = 3
INVALID_TYPES = frozenset({"党建宣传", "组织工作", "统战工作", "国家安全"})

# A colour per category domain for the generated photos ("after" photos are a lighter tint).
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
    """One real grid event: where, what, which grid reported it and when (aware, Asia/Shanghai)."""

    index: int
    lon: float
    lat: float
    kind: str
    platform: str
    grid: str
    reported_at: datetime


class Plan(StrEnum):
    """How far a ticket is meant to go; a step that would come after `now` cuts it short."""

    CLOSED = "closed"  # accepted, (progress), resolved, rated 满意/基本满意
    SECOND_ROUND = "second_round"  # rated 不满意, handled again in round 2
    AWAITING_RATING = "awaiting_rating"  # resolved; the deputy has not rated yet
    IN_PROGRESS = "in_progress"  # accepted, with progress
    DISPATCHED = "dispatched"  # never accepted (overdue), sometimes urged
    RETURNED = "returned"  # returned by the handler, not re-dispatched yet
    REDISPATCHED = "redispatched"  # returned, re-dispatched by the district supervisor, handled
    INVALID = "invalid"
    DUPLICATE = "duplicate"
    WITHDRAWN = "withdrawn"


# Fixed numbers of the special plans; every other event draws from DRAWN by weight.
QUOTAS: dict[Plan, int] = {
    Plan.INVALID: 3,
    Plan.DUPLICATE: 2,
    Plan.WITHDRAWN: 2,
    Plan.REDISPATCHED: 6,
    Plan.RETURNED: 3,
    Plan.DISPATCHED: 7,
}
DRAWN: dict[Plan, int] = {Plan.CLOSED: 78, Plan.SECOND_ROUND: 5, Plan.AWAITING_RATING: 6, Plan.IN_PROGRESS: 11}

# What people write. Generic on purpose: nothing in them describes a real person or address.
ACCEPT_NOTES = ("已接单，安排人员到现场核实", "收到，今日内到场处置", "已签收，联系网格员了解情况")
SECOND_ROUND_ACCEPT = "二次办理：已重新安排人员到现场处置"
PROGRESS_NOTES = {
    "city": "已到现场，督促经营户规范经营并清理现场",
    "environment": "执法队员已到现场取证，责令限期清理",
    "safety": "已会同社区微型消防站检查，督促清理堆放杂物",
    "services": "已上门走访，登记需求并对接社区服务",
    "property": "已约谈物业服务企业，要求限期整改",
}
RESOLVE_NOTES = {
    "city": "现场已清理完毕，经营秩序恢复正常",
    "environment": "堆放物已清运，现场已恢复整洁",
    "safety": "隐患已消除，消防通道已畅通",
    "services": "已落实帮扶措施，并电话回访确认",
    "property": "物业已完成整改，居民反映良好",
}
EXPLAINED_NOTE = "经核实属政策咨询，已当面解释相关政策并告知办理渠道"
REFERRED_NOTE = "经核实属市场监管事项，已移交区市场监管局处理"
GENERIC_PROGRESS = "已联系相关单位安排处置"
GENERIC_RESOLVE = "问题已处理完毕"
SATISFIED_COMMENTS = ("处理及时，谢谢！", "", "效率很高", "")
BASIC_COMMENTS = ("基本解决，希望加强日常巡查", "")
UNSATISFIED_COMMENTS = ("整改不彻底，现场问题仍然存在", "处理结果与现场情况不符，请再核实")
RETURN_TO_ENFORCEMENT = "经核实为无证占道经营，属综合行政执法职责，非街道事权，申请改派"
RETURN_TO_STREET = "经核实为小区内零星堆放，属日常保洁范围，应由属地街道处理，申请改派"
RETURN_LOCATION = "上报位置与现场不符，未找到问题点位，请核实位置后重新派单"
RETURN_REASONS = (
    "问题点位位于在建工地围挡内，需由建设主管部门处理，申请退回",
    "该事项已由12345热线工单受理办理中，申请退回避免重复处置",
    "涉及多个部门职责，请区级协调明确责任单位",
)
REDISPATCH_NOTES = {
    ENFORCEMENT: "同意改派，请区综合行政执法局按期办理",
    TIANSHUI: "同意改派，请天水街道属地处理",
    "": "已与上报代表核实位置，请天水街道重新办理",
}
INVALID_REASON = "经核实为网格内部工作事项，非群众反映的民生问题，不予受理"
DUPLICATE_NOTE = "与同一网格已受理工单重复，合并办理"
WITHDRAW_NOTES = ("问题已自行解决，撤回", "重复上报，撤回")
URGE_NOTE = "请尽快处理，群众反映强烈"
REVIEW_NOTE = "回头看：现场复查，问题未反弹"
ASSIGN_NOTE = "指派专人跟进"
COHANDLE_NOTE = "消防通道被占用，吹哨区综合行政执法局协同处置"
COHANDLER_PROGRESS = "执法队员到场，责令清除占道杂物"


def read_events(path: Path = EVENTS_FILE) -> list[GridEvent]:
    """The grid events of the data file in file order; each LineString's first vertex is the point."""
    data = json.loads(path.read_text(encoding="utf-8"))
    events = []
    for index, feature in enumerate(data["features"]):
        props = feature["properties"]
        lon, lat = feature["geometry"]["coordinates"][0][:2]
        reported = datetime.strptime(props["上报时间"], "%m/%d/%Y %H:%M:%S").replace(tzinfo=SOURCE_TZ)
        events.append(GridEvent(
            index=index, lon=float(lon), lat=float(lat), kind=props["事件类型"], platform=props["来源平台"],
            grid=props.get("上报部门", ""), reported_at=reported,
        ))
    return events


def categories_for(events: list[GridEvent]) -> dict[int, str]:
    """Each event's category code (by index), following CATEGORY_BY_TYPE and the 市容环境 split."""
    seen: Counter[str] = Counter()
    codes: dict[int, str] = {}
    for event in sorted(events, key=_chronological):
        code = CATEGORY_BY_TYPE.get(event.kind, FALLBACK_CATEGORY)
        if event.kind == "市容环境" and seen[event.kind] % DUMPING_EVERY == DUMPING_EVERY - 1:
            code = "environment.dumping"
        seen[event.kind] += 1
        codes[event.index] = code
    return codes


def shift_days(events: list[GridEvent], now: datetime, cal: WorkCalendar) -> int:
    """Whole days to add to every event so the newest lands NEWEST_WORKDAYS_AGO working days before `now`."""
    newest = max(e.reported_at for e in events).date()
    target = cal.local_date(now)
    counted = 0
    while counted < NEWEST_WORKDAYS_AGO:
        target -= timedelta(days=1)
        counted += int(cal.is_workday(target))
    return (target - newest).days


def allocate_plans(events: list[GridEvent], categories: dict[int, str]) -> dict[int, Plan]:
    """The plan of every event (by index): fixed quotas for the special plans, weighted draws for the rest."""
    rng = random.Random(SEED)
    order = sorted(e.index for e in events)
    rng.shuffle(order)
    by_index = {e.index: e for e in events}
    plans: dict[int, Plan] = {}

    def take(count: int, plan: Plan, wanted: Callable[[int], bool]) -> None:
        for i in order:
            if count == 0:
                return
            if i not in plans and wanted(i):
                plans[i] = plan
                count -= 1

    take(QUOTAS[Plan.INVALID], Plan.INVALID, lambda i: by_index[i].kind in INVALID_TYPES)
    take(QUOTAS[Plan.WITHDRAWN], Plan.WITHDRAWN, lambda i: categories[i].startswith("services."))
    originals = duplicate_originals(events, categories)
    duplicates = 0
    for i in order:
        if duplicates < QUOTAS[Plan.DUPLICATE] and i not in plans and i in originals and originals[i] not in plans:
            plans[i] = Plan.DUPLICATE
            # The original stays with the same unit and never becomes a duplicate itself.
            plans[originals[i]] = Plan.CLOSED
            duplicates += 1
    # Re-dispatches that make sense: vendors to the enforcement bureau, dumping back to the
    # street, and one wrong location sent back to the same street.
    take(3, Plan.REDISPATCHED, lambda i: categories[i] == "city.vendors")
    take(2, Plan.REDISPATCHED, lambda i: categories[i] == "environment.dumping")
    take(QUOTAS[Plan.REDISPATCHED] - 5, Plan.REDISPATCHED, lambda i: categories[i].startswith("services."))
    take(QUOTAS[Plan.RETURNED], Plan.RETURNED, lambda i: not categories[i].startswith("environment."))
    take(QUOTAS[Plan.DISPATCHED], Plan.DISPATCHED, lambda i: True)
    drawn, weights = list(DRAWN), list(DRAWN.values())
    for i in order:
        if i not in plans:
            plans[i] = random.Random(f"{SEED}:plan:{i}").choices(drawn, weights)[0]
    return plans


def duplicate_originals(events: list[GridEvent], categories: dict[int, str]) -> dict[int, int]:
    """Event index → the earlier event it may duplicate: same category, same grid, reported the same day."""
    originals: dict[int, int] = {}
    first: dict[tuple[str, str, object], int] = {}
    for event in sorted(events, key=_chronological):
        key = (categories[event.index], event.grid, event.reported_at.date())
        if key in first:
            originals[event.index] = first[key]
        else:
            first[key] = event.index
    return originals


def replay_history(*, now: datetime, settings: TicketSettings, store: PhotoStore) -> dict[str, int]:
    """Report every grid event as a deputy and drive it through the services; returns counts by state.

    Needs the Hangzhou world (`build_hangzhou`) in the session. Flushes; the caller commits.
    """
    events = read_events()
    categories = categories_for(events)
    plans = allocate_plans(events, categories)
    originals = duplicate_originals(events, categories)
    usernames = {*DEPUTIES, *TIANSHUI_HANDLERS, "handler_enforcement", "supervisor_tianshui", DISTRICT_SUPERVISOR}
    users = {u.username: u for u in db.session.scalars(select(User).where(User.username.in_(usernames)))}
    missing = usernames - users.keys()
    if missing:
        raise RuntimeError(f"the Hangzhou demo users are missing: {sorted(missing)}")
    cal = calendar_for(db.session, now, settings.office_hours, settings.timezone)
    shift = timedelta(days=shift_days(events, now, cal))
    world = _World(
        now=now,
        settings=settings,
        store=store,
        cal=cal,
        tz=ZoneInfo(settings.timezone),
        users=users,
        photos=_photos(),
    )
    numbers: dict[int, str] = {}
    states: Counter[str] = Counter()
    for event in sorted(events, key=_chronological):
        rng = random.Random(f"{SEED}:ticket:{event.index}")
        reported_at = (event.reported_at + shift).astimezone(timezone.utc)
        run = _Run.report(world, event, categories[event.index], reported_at, rng)
        numbers[event.index] = run.ticket.number
        original = numbers.get(originals.get(event.index, -1), "")
        try:
            _PLAYS[plans[event.index]](run, original)
        except _NotYet:
            pass  # the rest of the plan lies in the future
        states[run.ticket.state.value] += 1
    return dict(sorted(states.items()))


# ---------------------------------------------------------------------------- the driver


class _NotYet(Exception):
    """The next step would come after `now`: the ticket stays where it is."""


@dataclass
class _World:
    now: datetime
    settings: TicketSettings
    store: PhotoStore
    cal: WorkCalendar
    tz: ZoneInfo
    users: dict[str, User]
    photos: dict[tuple[str, str], Upload]


class _Run:
    """One ticket on its way: the clock (`t`, the time of the last step) and who acts on it."""

    def __init__(self, world: _World, ticket: Ticket, event: GridEvent, rng: random.Random) -> None:
        self.w = world
        self.ticket = ticket
        self.event = event
        self.rng = rng
        self.t = ticket.created_at
        self.reporter = world.users[DEPUTIES[event.index % 2]]
        self.domain = ticket.category.code.split(".")[0]
        self.handler = self._handler()

    @classmethod
    def report(cls, world: _World, event: GridEvent, category: str, at: datetime, rng: random.Random) -> _Run:
        """The deputy's report, with a photo tinted in the category domain's colour."""
        deputy = world.users[DEPUTIES[event.index % 2]]
        # Elderly-care visits are personal matters: some reporters keep them private.
        private = category == "services.elderly" and rng.random() < 0.2
        ticket = svc.report(
            actor=deputy,
            category_code=category,
            title=event.kind,
            description=f"网格事件：{event.kind}（2018年9月天水街道网格上报，演示数据）",
            address=f"天水街道 {event.grid}" if event.grid else "天水街道",
            lon=event.lon,
            lat=event.lat,
            crs="wgs84",
            visibility="private" if private else "public",
            uploads=[world.photos[(category.split(".")[0], "before")]],
            now=at,
            settings=world.settings,
            store=world.store,
        )
        return cls(world, ticket, event, rng)

    # -- the clock

    def _at(self, moment: datetime) -> datetime:
        if moment >= self.w.now:
            raise _NotYet
        self.t = moment
        return moment

    def office_after(self, hours: float) -> datetime:
        """The moment `hours` office hours after the last step; _NotYet if that is after `now`."""
        # At least a few minutes, so that no two steps share a timestamp.
        return self._at(self.w.cal.add_working_hours(self.t, max(hours, 0.05)))

    def awake_after(self, hours: float) -> datetime:
        """About `hours` after the last step, moved into 08:00–22:00; _NotYet if that is after `now`."""
        local = (self.t + timedelta(hours=hours)).astimezone(self.w.tz)
        if local.hour < 8:
            local = local.replace(hour=8, minute=self.rng.randrange(60))
        elif local.hour >= 22:
            local = (local + timedelta(days=1)).replace(hour=8, minute=self.rng.randrange(60))
        return self._at(local.astimezone(timezone.utc))

    def _handler(self) -> User:
        names = HANDLERS_BY_UNIT.get(self.ticket.handling_unit.code)
        if names is None:
            raise RuntimeError(f"grid event {self.event.index} routed to {self.ticket.handling_unit.code}")
        return self.w.users[names[self.event.index % len(names)]]

    def supervisor(self) -> User:
        """The supervisor directly over the handling unit."""
        return self.w.users[SUPERVISORS_BY_UNIT[self.ticket.handling_unit.code]]

    def _photo(self, kind: str) -> list[Upload]:
        return [self.w.photos[(self.domain, kind)]]

    # -- the steps

    def assign(self) -> None:
        """The street's supervisor gives the work order to the other handler."""
        other = next(n for n in TIANSHUI_HANDLERS if n != self.handler.username)
        at = self.office_after(self.rng.uniform(0.1, 0.5))
        svc.assign(self.ticket, self.supervisor(), at, assignee_username=other, note=ASSIGN_NOTE)
        self.handler = self.w.users[other]

    def accept(self, *, late: bool = False, note: str = "") -> None:
        """Accept within the response time, or `late` (1.3–3× the response time)."""
        response = float(self.ticket.category.response_hours)
        share = self.rng.uniform(1.3, 3.0) if late else self.rng.uniform(0.1, 0.8)
        at = self.office_after(response * share)
        svc.accept(self.ticket, self.handler, at, note=note or self.rng.choice(ACCEPT_NOTES))

    def progress(self, actor: User | None = None, note: str = "") -> None:
        """A progress step with an on-site photo."""
        at = self.office_after(self.rng.uniform(0.3, 3.0))
        svc.progress(
            self.ticket, actor or self.handler, at,
            evidence=Evidence(note or PROGRESS_NOTES.get(self.domain, GENERIC_PROGRESS), self._photo("before")),
            settings=self.w.settings, store=self.w.store,
        )

    def cohandle(self) -> None:
        """吹哨: call in the enforcement bureau, which records a step of its own."""
        at = self.office_after(self.rng.uniform(0.2, 1.0))
        svc.cohandle(self.ticket, self.handler, at, unit_codes=[ENFORCEMENT], note=COHANDLE_NOTE)
        self.progress(self.w.users["handler_enforcement"], COHANDLER_PROGRESS)

    def resolve(self, *, late: bool = False) -> None:
        """Resolve, mostly well inside the resolution deadline (次日解决), sometimes after it."""
        due = self.ticket.resolution_due_at
        available = self.w.cal.working_hours_between(self.t, due) if due else 16.0
        if late:
            hours = available + self.rng.uniform(1.0, 12.0)
        else:
            quick = self.rng.uniform(1.5, 12.0)
            hours = quick if quick < 0.9 * available else available * self.rng.uniform(0.4, 0.9)
        at = self.office_after(hours)
        outcome, note = Outcome.SOLVED, RESOLVE_NOTES.get(self.domain, GENERIC_RESOLVE)
        roll = self.rng.random()
        if self.domain == "services" and roll < 0.1:
            outcome, note = Outcome.EXPLAINED, EXPLAINED_NOTE
        elif self.ticket.category.code == "city.vendors" and roll < 0.1:
            outcome, note = Outcome.REFERRED, REFERRED_NOTE
        svc.resolve(
            self.ticket, self.handler, at, outcome=outcome.value, evidence=Evidence(note, self._photo("after")),
            settings=self.w.settings, store=self.w.store,
        )

    def rate(self, score: Score) -> None:
        """The deputy rates the round some hours after it was resolved."""
        comments = {
            Score.SATISFIED: SATISFIED_COMMENTS,
            Score.BASICALLY_SATISFIED: BASIC_COMMENTS,
            Score.UNSATISFIED: UNSATISFIED_COMMENTS,
        }[score]
        at = self.awake_after(self.rng.uniform(0.5, 20.0))
        svc.rate(self.ticket, self.reporter, at, score=score.value, comment=self.rng.choice(comments),
                 settings=self.w.settings)

    def return_(self, reason: str) -> None:
        """The handler returns the work order (退单) soon after receiving it."""
        at = self.office_after(self.rng.uniform(0.2, 2.5))
        svc.return_(self.ticket, self.handler, at, reason=reason)

    def redispatch(self, unit_code: str | None) -> None:
        """The district supervisor sends it out again (to `unit_code`, or the same unit)."""
        at = self.office_after(self.rng.uniform(0.5, 6.0))
        svc.redispatch(
            self.ticket, self.w.users[DISTRICT_SUPERVISOR], at, note=REDISPATCH_NOTES[unit_code or ""],
            unit_code=unit_code, settings=self.w.settings,
        )
        self.handler = self._handler()

    def urge(self) -> None:
        """The deputy presses an overdue work order, if that moment has come."""
        due = self.ticket.response_due_at or self.t
        self.t = max(self.t, due)
        try:
            at = self.awake_after(self.rng.uniform(2.0, 30.0))
        except _NotYet:
            return
        svc.urge(self.ticket, self.reporter, at, note=URGE_NOTE)

    def review(self) -> None:
        """The district supervisor's look-back (回头看) on a closed ticket, if its time has come."""
        try:
            at = self.office_after(self.rng.uniform(8.0, 40.0))
        except _NotYet:
            return
        svc.review(self.ticket, self.w.users[DISTRICT_SUPERVISOR], at, note=REVIEW_NOTE)

    def handle(self, *, rated: Score | None) -> None:
        """Accept, maybe record progress, resolve and (if `rated`) rate: one ordinary round."""
        late_accept = self.rng.random() < 0.12
        late_resolve = self.rng.random() < 0.08
        self.accept(late=late_accept)
        if self.domain == "safety" and self.ticket.handling_unit.code == TIANSHUI and self.rng.random() < 0.07:
            self.cohandle()
        elif self.rng.random() < 0.45:
            self.progress()
        self.resolve(late=late_resolve)
        if rated is not None:
            self.rate(rated)

    def satisfied(self) -> Score:
        """满意 three times in four, else 基本满意."""
        return Score.SATISFIED if self.rng.random() < 0.75 else Score.BASICALLY_SATISFIED


# ---------------------------------------------------------------------------- the plans


def _play_closed(run: _Run, _original: str) -> None:
    if run.ticket.handling_unit.code == TIANSHUI and run.rng.random() < 0.1:
        run.assign()
    run.handle(rated=run.satisfied())
    if run.rng.random() < 0.08:
        run.review()


def _play_second_round(run: _Run, _original: str) -> None:
    run.handle(rated=Score.UNSATISFIED)
    run.accept(note=SECOND_ROUND_ACCEPT)
    run.progress()
    run.resolve()
    run.rate(run.satisfied())


def _play_awaiting_rating(run: _Run, _original: str) -> None:
    run.handle(rated=None)


def _play_in_progress(run: _Run, _original: str) -> None:
    run.accept(late=run.rng.random() < 0.15)
    run.progress()
    if run.rng.random() < 0.4:
        run.progress()


def _play_dispatched(run: _Run, _original: str) -> None:
    if run.rng.random() < 0.6:
        run.urge()


def _play_returned(run: _Run, _original: str) -> None:
    run.return_(run.rng.choice(RETURN_REASONS))


def _play_redispatched(run: _Run, _original: str) -> None:
    code = run.ticket.category.code
    if code == "city.vendors":
        run.return_(RETURN_TO_ENFORCEMENT)
        run.redispatch(ENFORCEMENT)
    elif code.startswith("environment."):
        run.return_(RETURN_TO_STREET)
        run.redispatch(TIANSHUI)
    else:
        run.return_(RETURN_LOCATION)
        run.redispatch(None)
    run.handle(rated=run.satisfied())


def _play_invalid(run: _Run, _original: str) -> None:
    at = run.office_after(run.rng.uniform(0.5, 4.0))
    svc.mark_invalid(run.ticket, run.supervisor(), at, reason=INVALID_REASON)


def _play_duplicate(run: _Run, original: str) -> None:
    at = run.office_after(run.rng.uniform(0.5, 4.0))
    svc.mark_duplicate(run.ticket, run.supervisor(), at, original_number=original, note=DUPLICATE_NOTE)


def _play_withdrawn(run: _Run, _original: str) -> None:
    at = run.awake_after(run.rng.uniform(0.3, 3.0))
    svc.withdraw(run.ticket, run.reporter, at, note=run.rng.choice(WITHDRAW_NOTES))


_PLAYS: dict[Plan, Callable[[_Run, str], None]] = {
    Plan.CLOSED: _play_closed,
    Plan.SECOND_ROUND: _play_second_round,
    Plan.AWAITING_RATING: _play_awaiting_rating,
    Plan.IN_PROGRESS: _play_in_progress,
    Plan.DISPATCHED: _play_dispatched,
    Plan.RETURNED: _play_returned,
    Plan.REDISPATCHED: _play_redispatched,
    Plan.INVALID: _play_invalid,
    Plan.DUPLICATE: _play_duplicate,
    Plan.WITHDRAWN: _play_withdrawn,
}


# ---------------------------------------------------------------------------- photos


def _photos() -> dict[tuple[str, str], Upload]:
    """Two small JPEGs per domain (before, after), made once per load: content-hash storage keeps each once."""
    return {
        (domain, kind): Upload(f"{domain}-{kind}.jpg", _tile(colour, after=kind == "after"))
        for domain, colour in DOMAIN_COLOURS.items()
        for kind in ("before", "after")
    }


def _tile(colour: tuple[int, int, int], *, after: bool) -> bytes:
    """A 240×180 street-scene-like tile in `colour`: sky gradient, blocks, a ground band."""
    width, height = 240, 180
    if after:  # the rectified scene: the same colour, lighter
        r, g, b = (int(c + (255 - c) * 0.45) for c in colour)
        colour = (r, g, b)
    img = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(img)
    for y in range(height):
        shade = 0.55 + 0.45 * y / height
        draw.line([(0, y), (width, y)], fill=tuple(int(c * shade) for c in colour))
    # The "after" scene is framed differently (as a handler's own photo would be), so the
    # evidence check does not take it for a copy of the report photo.
    blocks = ((10, 90), (60, 30), (120, 100), (175, 20)) if after else ((20, 60), (75, 40), (140, 70), (190, 50))
    for x, top in blocks:
        draw.rectangle([x, top, x + 40, 140], fill=tuple(int(c * 0.7) for c in colour), outline=(40, 40, 40))
    draw.rectangle([0, 140, width, height], fill=(90, 90, 90) if not after else (170, 170, 170))
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=80)
    return out.getvalue()


def _chronological(event: GridEvent) -> tuple[datetime, int]:
    return (event.reported_at, event.index)
