"""The supervisor's dashboard (issue 6, page 4): what it lists and in which order, who sees what,
every action form, the exports of exactly what is shown, both languages, escaping and CSRF.

Times: category city.litter must be accepted within 4 working hours and resolved by the end of
the 3rd working day after the dispatch day; office hours 09–12 and 13–18 (Asia/Shanghai);
2–6 March 2026 are ordinary working days. Due soon: within 1 working hour of the response
deadline or 4 of the resolution deadline (the reminder settings).
"""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from tests.conftest import TIANSHUI, jpeg
from ticketing.demo import DEMO_PASSWORD

SH = ZoneInfo("Asia/Shanghai")
TIANSHUI_CODE, WULIN_CODE, DISTRICT_CODE, CITY_CODE = "330105012", "330105013", "330103", "330100"
WULIN = (120.153961, 30.267608)  # inside 武林街道


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=SH)


def user(username: str) -> Any:
    from ticketing.extensions import db
    from ticketing.models import User

    return db.session.scalar(select(User).where(User.username == username))


def unit(code: str) -> Any:
    from ticketing.extensions import db
    from ticketing.models import OrgUnit

    return db.session.scalar(select(OrgUnit).where(OrgUnit.code == code))


def ticket(number: str) -> Any:
    from ticketing.extensions import db
    from ticketing.models import Ticket

    found = db.session.scalar(select(Ticket).where(Ticket.number == number))
    db.session.refresh(found)
    return found


def events(number: str) -> list[Any]:
    from ticketing.extensions import db
    from ticketing.models import TicketEvent

    return list(db.session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket(number).id).order_by(TicketEvent.id)
    ))


class World:
    """The ticket services at explicit times (plain factory steps), each committed as its request
    would be (in the tests' outer transaction, so a page's rollback of a refused action keeps them)."""

    def __init__(self, ctx: Any):
        from ticketing.services import tickets as svc

        self.svc = svc
        self.ctx = ctx
        self.settings = ctx.extensions["ticket_settings"]
        self.store = ctx.extensions["photo_store"]

    def report(self, when: datetime, point: tuple[float, float] = TIANSHUI, category: str = "city.litter",
               description: str = "垃圾堆积") -> str:
        from ticketing.services.photos import Upload

        t = self.svc.report(
            actor=user("deputy_wang"), category_code=category, description=description, lon=point[0],
            lat=point[1], uploads=[Upload("a.jpg", jpeg())], now=when, settings=self.settings, store=self.store,
        )
        return t.number

    def accept(self, number: str, who: str, when: datetime) -> None:
        self.svc.accept(ticket(number), user(who), when, note="收到")

    def return_(self, number: str, who: str, when: datetime, reason: str = "不属于本街道") -> None:
        self.svc.return_(ticket(number), user(who), when, reason=reason)

    def resolve(self, number: str, who: str, when: datetime) -> None:
        from ticketing.services.photos import Upload
        from ticketing.services.tickets import Evidence

        evidence = Evidence("已清理", [Upload("done.jpg", jpeg((20, 160, 60)))])
        self.svc.resolve(ticket(number), user(who), when, outcome="solved", evidence=evidence,
                         settings=self.settings, store=self.store)

    def rate(self, number: str, score: str, when: datetime) -> None:
        self.svc.rate(ticket(number), user("deputy_wang"), when, score=score, settings=self.settings)

    def extension(self, number: str, who: str, when: datetime, days: int = 2) -> Any:
        from ticketing.services import extensions

        return extensions.request(ticket(number), user(who), when, days=days, reason="需要协调施工队",
                                  settings=self.settings)

    def sweep(self, when: datetime) -> None:
        from ticketing.services.sweep import SweepSettings, sweep_batch

        sweep_batch(when, SweepSettings.from_config(self.ctx.config))


def _committed(method: Any) -> Any:
    def step(self: World, *args: Any, **kwargs: Any) -> Any:
        from ticketing.extensions import db

        result = method(self, *args, **kwargs)
        db.session.commit()
        return result

    return step


for _name in ("report", "accept", "return_", "resolve", "rate", "extension", "sweep"):
    setattr(World, _name, _committed(getattr(World, _name)))


@pytest.fixture
def world(ctx: Any) -> World:
    return World(ctx)


def sign_in(client: Any, username: str) -> None:
    resp = client.post("/login", data={"username": username, "password": DEMO_PASSWORD})
    assert resp.status_code == 302


def fresh_locale() -> None:
    # The test requests share the test's app context, where Flask-Babel caches the locale.
    from flask_babel import refresh

    refresh()


def page(client: Any, path: str, status: int = 200) -> str:
    fresh_locale()
    resp = client.get(path)
    assert resp.status_code == status, resp.get_data(as_text=True)[:2000]
    return resp.get_data(as_text=True)


def listed(html: str, section: str = "attention") -> list[str]:
    """Ticket numbers in page order within the section whose heading has id `<section>-h`."""
    start = html.index(f'id="{section}-h"')
    end = html.find("</section>\n\n<section", start)
    end = len(html) if end < 0 else end
    return re.findall(r'data-number="([^"]+)"', html[start:end])


def flashes(html: str) -> list[str]:
    return re.findall(r'<p class="flash (?:error|ok)"[^>]*>(.*?)</p>', html, re.S)


def zh(message: str) -> str:
    """A service's English message as the pages flash it: through the merged catalogs, in Chinese."""
    from flask import current_app
    from flask_babel import force_locale, gettext

    with current_app.test_request_context(), force_locale("zh"):
        text = gettext(message)
    assert text != message, f"no Chinese for {message!r}"
    return text


def post(client: Any, path: str, data: dict[str, Any]) -> str:
    fresh_locale()
    resp = client.post(path, data=data, follow_redirects=True)
    assert resp.status_code == 200, resp.get_data(as_text=True)[:2000]
    return resp.get_data(as_text=True)



# ---------------------------------------------------------------------------- the attention list


def attention_world(world: World) -> dict[str, str]:
    """A and B overdue since Monday 14:00 (天水, 武林); C due soon (天水, due 14:00 Tuesday); D on time."""
    return {
        "A": world.report(at(2, 9)),
        "B": world.report(at(2, 9), point=WULIN),
        "C": world.report(at(3, 9)),
        "D": world.report(at(3, 13)),
    }


def test_overdue_come_first_then_due_soon_grouped_by_street(client, world, clock):
    t = attention_world(world)
    clock.set(at(3, 13, 30))
    sign_in(client, "supervisor_district")
    html = page(client, "/supervision/")
    # 天水 has one overdue and one due soon, 武林 one overdue: 天水's group comes first.
    assert listed(html) == [t["A"], t["C"], t["B"]]
    assert html.index("天水街道</option>") < html.index('id="attention-h"')  # the unit picker lists streets
    groups = re.findall(r'<section class="group" aria-label="([^"]+)"', html)
    assert groups == ["天水街道", "武林街道"]
    assert re.search(r'id="count-overdue">2<', html) and re.search(r'id="count-due-soon">1<', html)
    # D is on time: only with show=open, and last.
    assert t["D"] not in html
    assert listed(page(client, "/supervision/?show=open&group=category")) == [t["A"], t["B"], t["C"], t["D"]]


def test_grouping_by_handling_unit_and_category(client, world, clock):
    t = attention_world(world)
    enforcement = world.report(at(2, 10), category="environment.fumes")  # 餐饮油烟: the law-enforcement bureau
    clock.set(at(3, 13, 30))
    sign_in(client, "supervisor_district")
    html = page(client, "/supervision/?group=unit")
    groups = re.findall(r'<section class="group" aria-label="([^"]+)"', html)
    assert set(groups) == {"天水街道", "武林街道", "下城区综合行政执法局"}
    html = page(client, "/supervision/?group=category")
    assert re.findall(r'<section class="group" aria-label="([^"]+)"', html) == ["垃圾乱扔", "餐饮油烟"]
    assert listed(html) == [t["A"], t["B"], t["C"], enforcement]


def test_escalated_tickets_show_their_level_after_the_sweep(client, world, clock):
    t = attention_world(world)
    world.sweep(at(3, 13, 30))
    clock.set(at(3, 13, 30))
    sign_in(client, "supervisor_district")
    html = page(client, "/supervision/")
    row = re.search(rf'data-number="{t["A"]}">(.*?)</tr>', html, re.S).group(1)
    assert "1级：下城区" in row
    assert ticket(t["A"]).escalation_level == 1


def test_another_districts_tickets_are_invisible(client, world, clock, ctx):
    from ticketing.services import org

    org.add_unit(code="330106", name="西湖区", name_en="Xihu District", kind="district", parent_code=CITY_CODE)
    org.add_unit(code="330106001", name="北山街道", name_en="Beishan Street", kind="street", parent_code="330106")
    theirs = world.report(at(2, 9))
    world.svc.transfer(ticket(theirs), user("supervisor_city"), at(2, 9, 30), unit_code="330106001",
                       note="属西湖区", settings=world.settings)
    ours = world.report(at(2, 9))
    wulin = world.report(at(2, 9), point=WULIN)
    clock.set(at(3, 17, 30))  # all three overdue by now (the transfer's response deadline too)
    sign_in(client, "supervisor_district")
    html = page(client, "/supervision/?show=open")
    assert ours in html and wulin in html and theirs not in html
    geo = client.get("/supervision/map.geojson").json
    assert {f["properties"]["number"] for f in geo["features"]} >= {ours, wulin}
    assert theirs not in {f["properties"]["number"] for f in geo["features"]}
    assert client.get(f"/supervision/tickets/{theirs}").status_code == 404
    assert theirs not in client.get("/supervision/export/attention.csv?show=open").get_data(as_text=True)
    # Asking for a unit outside one's own: refused with a message, one's own unit shown instead.
    html = page(client, "/supervision/?unit=330106")
    assert "该单位不在您的督办范围内" in html and theirs not in html
    assert client.get("/supervision/export/attention.csv?unit=330106").status_code == 400
    # A street's supervisor sees the street only; the city's sees all three.
    client.post("/logout")
    sign_in(client, "supervisor_tianshui")
    html = page(client, "/supervision/?show=open")
    assert ours in html and wulin not in html and theirs not in html
    client.post("/logout")
    sign_in(client, "supervisor_city")
    html = page(client, "/supervision/?show=open")
    assert {ours, wulin, theirs} <= set(listed(html))


def test_the_map_gives_open_tickets_as_points_with_their_urgency(client, world, clock):
    t = attention_world(world)
    world.return_(t["D"], "handler_tianshui", at(3, 13, 10))
    clock.set(at(3, 13, 30))
    sign_in(client, "supervisor_district")
    data = client.get("/supervision/map.geojson").json
    assert data["type"] == "FeatureCollection"
    props = {f["properties"]["number"]: f["properties"] for f in data["features"]}
    assert props[t["A"]]["deadline"] == "overdue" and props[t["C"]]["deadline"] == "due_soon"
    assert props[t["D"]]["state"] == "returned" and props[t["D"]]["deadline"] is None
    assert props[t["A"]]["url"] == f"/supervision/tickets/{t['A']}"
    a = next(f for f in data["features"] if f["properties"]["number"] == t["A"])
    assert a["geometry"]["coordinates"] == pytest.approx(list(TIANSHUI), abs=1e-6)
    # The category filter applies to the map as to the list.
    assert client.get("/supervision/map.geojson?category=city.vendors").json["features"] == []
    assert client.get("/supervision/map.geojson?category=nothing").status_code == 400


def test_only_supervisors_and_admins_get_in(client, world):
    assert client.get("/supervision/").status_code == 302  # to sign-in
    for who in ("deputy_wang", "handler_tianshui"):
        sign_in(client, who)
        assert client.get("/supervision/").status_code == 403
        assert client.get("/supervision/export/attention.csv").status_code == 403
        assert "/supervision/" not in page(client, "/")
        client.post("/logout")
    sign_in(client, "admin")
    assert client.get("/supervision/").status_code == 200
    client.post("/logout")
    sign_in(client, "supervisor_tianshui")
    assert 'href="/supervision/"' in page(client, "/") and "督办看板" in page(client, "/")


# ---------------------------------------------------------------------------- actions on one ticket


def _returned(world: World) -> str:
    n = world.report(at(2, 9))
    world.return_(n, "handler_tianshui", at(2, 9, 30))
    return n


def _dispatched(world: World) -> str:
    return world.report(at(2, 9))


def _resolved(world: World) -> str:
    n = world.report(at(2, 9))
    world.accept(n, "handler_tianshui", at(2, 9, 10))
    world.resolve(n, "handler_tianshui", at(2, 9, 20))
    return n


def _closed(world: World) -> str:
    n = _resolved(world)
    world.rate(n, "satisfied", at(2, 9, 30))
    return n


# action → (make the ticket, form fields, then: state, what else holds, the flash)
ACTIONS: dict[str, tuple[Any, dict[str, str], str, Any, str]] = {
    "redispatch": (_returned, {"unit": WULIN_CODE, "note": "请武林街道办理"}, "dispatched",
                   lambda t: t.handling_unit.code == WULIN_CODE, "已改派。"),
    "transfer": (_dispatched, {"unit": WULIN_CODE, "note": "属武林街道"}, "dispatched",
                 lambda t: t.handling_unit.code == WULIN_CODE, "已转办。"),
    "cohandle": (_dispatched, {"unit": "330103-ZF", "note": "请执法局配合"}, "dispatched",
                 lambda t: [c.unit.code for c in t.co_handlers] == ["330103-ZF"], "已吹哨，协办单位已加入。"),
    "assign": (_dispatched, {"assignee": "handler_tianshui2"}, "dispatched",
               lambda t: t.assignee.username == "handler_tianshui2", "已指派。"),
    "urge": (_dispatched, {"note": "请尽快处理"}, "dispatched", lambda t: True, "已催办承办单位。"),
    "invalid": (_dispatched, {"note": "非公共事务"}, "invalid", lambda t: t.closed_at is not None,
                "已标记为无效工单。"),
    "close": (_resolved, {"note": "代表联系不上"}, "closed", lambda t: t.closed_reason.value == "unrated",
              "工单已关闭。"),
    "reopen": (_closed, {"note": "群众再次反映"}, "dispatched", lambda t: t.round == 2, "工单已重新办理。"),
    "review": (_closed, {"note": "回访：已整改到位"}, "closed", lambda t: True, "回头看意见已记录。"),
    "comment": (_dispatched, {"note": "已电话了解情况"}, "dispatched", lambda t: True, "留言已添加。"),
}


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_each_action_form_changes_the_ticket_and_writes_the_trail(client, world, clock, action):
    make, form, state, holds, message = ACTIONS[action]
    n = make(world)
    clock.set(at(2, 10))
    sign_in(client, "supervisor_district")
    html = page(client, f"/supervision/tickets/{n}")
    assert f'data-action="{action}"' in html  # the workflow allows it: its form is offered
    before = len(events(n))
    html = post(client, f"/supervision/tickets/{n}/{action}", form)
    assert message in flashes(html)
    t = ticket(n)
    assert t.state.value == state and holds(t)
    trail = events(n)
    assert len(trail) == before + 1
    assert trail[-1].action.value == action and trail[-1].actor.username == "supervisor_district"
    assert trail[-1].note == form.get("note", "")


def test_duplicate_names_the_original(client, world, clock):
    original, copy = world.report(at(2, 9)), world.report(at(2, 9, 5))
    clock.set(at(2, 10))
    sign_in(client, "supervisor_district")
    html = post(client, f"/supervision/tickets/{copy}/duplicate", {"original": original, "note": "同一堆垃圾"})
    assert "已标记为重复工单。" in flashes(html)
    t = ticket(copy)
    assert t.state.value == "duplicate" and t.duplicate_of_id == ticket(original).id
    assert events(copy)[-1].data == {"original": original}


def test_only_the_actions_the_workflow_allows_are_offered(client, world, clock):
    dispatched, closed = _dispatched(world), _closed(world)
    clock.set(at(2, 10))
    sign_in(client, "supervisor_district")
    offered = set(re.findall(r'<details class="card action" data-action="([a-z_]+)"', page(client, f"/supervision/tickets/{dispatched}")))
    assert offered == {"transfer", "cohandle", "assign", "urge", "invalid", "duplicate", "comment"}
    offered = set(re.findall(r'<details class="card action" data-action="([a-z_]+)"', page(client, f"/supervision/tickets/{closed}")))
    assert offered == {"reopen", "review", "comment"}


BAD: dict[str, tuple[Any, str, dict[str, str], str]] = {
    "note missing": (_returned, "redispatch", {"unit": WULIN_CODE, "note": "  "}, "redispatch needs a note"),
    "no unit": (_dispatched, "transfer", {"unit": "", "note": "转"}, "Choose a unit."),
    "unit not a working unit": (_dispatched, "transfer", {"unit": DISTRICT_CODE, "note": "转"},
                                "send work to a street, department or dispatch unit"),
    "unknown original": (_dispatched, "duplicate", {"original": "2026-999999"}, "no such original ticket"),
    "not allowed now": (_dispatched, "reopen", {"note": "再办"}, "cannot reopen a ticket that is dispatched"),
    "handler of another unit": (_dispatched, "assign", {"assignee": "handler_wulin"},
                                "the assignee must be an active handler of the handling unit"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_flashes_an_error_and_writes_nothing(client, world, clock, case):
    make, action, form, message = BAD[case]
    n = make(world)
    clock.set(at(2, 10))
    sign_in(client, "supervisor_district")
    before = (ticket(n).state, ticket(n).handling_unit_id, ticket(n).version, len(events(n)))
    html = post(client, f"/supervision/tickets/{n}/{action}", form)
    assert zh(message) in flashes(html)
    assert (ticket(n).state, ticket(n).handling_unit_id, ticket(n).version, len(events(n))) == before


def test_a_street_supervisor_cannot_send_work_outside_the_street(client, world, clock):
    n = _returned(world)
    clock.set(at(2, 10))
    sign_in(client, "supervisor_tianshui")
    html = post(client, f"/supervision/tickets/{n}/redispatch", {"unit": WULIN_CODE, "note": "给武林"})
    assert zh("that unit is outside your area") in flashes(html)
    assert ticket(n).state.value == "returned"


def test_unknown_actions_and_tickets_out_of_sight_are_not_found(client, world, clock):
    n = _dispatched(world)
    wulin = world.report(at(2, 9), point=WULIN)
    sign_in(client, "supervisor_tianshui")
    assert client.post(f"/supervision/tickets/{n}/accept", data={"note": "x"}).status_code == 404
    assert client.post(f"/supervision/tickets/{wulin}/urge", data={"note": "x"}).status_code == 404
    assert client.post("/supervision/tickets/2026-999999/urge", data={"note": "x"}).status_code == 404
    assert len(events(wulin)) == 1


# ---------------------------------------------------------------------------- decisions


def test_the_returned_queue_is_re_dispatched_to_a_picked_unit(client, world, clock):
    n = world.report(at(2, 9))
    world.return_(n, "handler_tianshui", at(2, 9, 30), reason="此处属武林街道")
    clock.set(at(2, 14))  # the decision was due 4 working hours after the return: 14:30
    sign_in(client, "supervisor_district")
    html = page(client, "/supervision/decisions")
    assert listed(html, "returned") == [n]
    assert "此处属武林街道" in html and f'<option value="{WULIN_CODE}">武林街道</option>' in html
    clock.set(at(2, 15))
    assert "已超时" in page(client, "/supervision/decisions")
    resp = client.post(f"/supervision/tickets/{n}/redispatch",
                       data={"unit": WULIN_CODE, "note": "请武林街道办理", "next": "/supervision/decisions?group=unit"})
    assert resp.status_code == 302 and resp.headers["Location"] == "/supervision/decisions?group=unit"
    html = page(client, "/supervision/decisions")
    assert "已改派。" in flashes(html) and listed(html, "returned") == []
    assert ticket(n).handling_unit.code == WULIN_CODE
    # `next` is followed only within this area.
    m = world.report(at(2, 9))
    world.return_(m, "handler_tianshui", at(2, 9, 30))
    resp = client.post(f"/supervision/tickets/{m}/redispatch",
                       data={"note": "原单位再办", "next": "https://example.com/"})
    assert resp.headers["Location"] == f"/supervision/tickets/{m}"
    assert ticket(m).handling_unit.code == TIANSHUI_CODE and ticket(m).state.value == "dispatched"


def test_extension_requests_are_approved_or_refused_with_a_note(client, world, clock):
    n, m = world.report(at(2, 9)), world.report(at(2, 9, 5))
    for x in (n, m):
        world.accept(x, "handler_tianshui", at(2, 9, 30))
    ext_n = world.extension(n, "handler_tianshui", at(2, 10), days=2)
    ext_m = world.extension(m, "handler_tianshui", at(2, 10), days=1)
    due_before = ticket(n).resolution_due_at
    clock.set(at(2, 11))
    # The street's supervisor does not decide: the district does.
    sign_in(client, "supervisor_tianshui")
    assert listed(page(client, "/supervision/decisions"), "extensions") == []
    client.post("/logout")
    sign_in(client, "supervisor_district")
    html = page(client, "/supervision/decisions")
    assert listed(html, "extensions") == [n, m] and "需要协调施工队" in html
    html = post(client, f"/supervision/tickets/{n}/extensions/{ext_n.id}", {"decision": "approve", "note": ""})
    assert "已同意延期。" in flashes(html)
    assert ticket(n).resolution_due_at > due_before and ticket(n).extension_count == 1
    assert events(n)[-1].action.value == "extension_decision" and events(n)[-1].data["approved"] is True
    # A refusal without a note is refused, and nothing changes.
    before = len(events(m))
    html = post(client, f"/supervision/tickets/{m}/extensions/{ext_m.id}", {"decision": "refuse", "note": ""})
    assert zh("a refusal needs a note") in flashes(html)
    assert len(events(m)) == before
    html = post(client, f"/supervision/tickets/{m}/extensions/{ext_m.id}", {"decision": "maybe", "note": "x"})
    assert "请选择同意或不同意。" in flashes(html)
    html = post(client, f"/supervision/tickets/{m}/extensions/{ext_m.id}", {"decision": "refuse", "note": "请按期办结"})
    assert "已不同意延期。" in flashes(html)
    assert events(m)[-1].data["approved"] is False and events(m)[-1].note == "请按期办结"
    assert listed(page(client, "/supervision/decisions"), "extensions") == []


# Real 2018 grid events of 灯芯巷网格4 in 天水街道, within 60 m of each other (tests/test_repeats.py).
E159 = (120.1568697228, 30.2676808938)
E172 = (120.1566646539, 30.2678078436)
E171 = (120.1569445952, 30.2679539755)


def test_repeated_complaints_are_put_under_supervision(client, world, clock, ctx):
    from ticketing.extensions import db
    from ticketing.models import CandidateState, SupervisionCandidate, SupervisionItem
    from ticketing.services import repeats

    numbers = [world.report(at(2, 9, i), point=p) for i, p in enumerate((E159, E172, E171))]
    repeats.detect(at(2, 10), radius_m=250, window_days=30, min_count=3)
    db.session.commit()
    clock.set(at(2, 11))
    sign_in(client, "supervisor_district")
    html = page(client, "/supervision/list")
    cid = int(re.search(r'data-candidate="(\d+)"', html).group(1))
    assert all(n in html for n in numbers) and "投诉 3 件" in html
    form = {"decision": "list", "reason": "同一地点反复投诉", "leader": "天水街道 王主任", "review_on": "2026-03-09"}
    html = post(client, f"/supervision/candidates/{cid}", {**form, "leader": ""})
    assert zh("leader is required") in flashes(html)
    assert db.session.get(SupervisionCandidate, cid).state == CandidateState.OPEN
    html = post(client, f"/supervision/candidates/{cid}", form)
    assert "已挂牌督办。" in flashes(html)
    assert db.session.get(SupervisionCandidate, cid).state == CandidateState.LISTED
    item = db.session.scalar(select(SupervisionItem).where(SupervisionItem.candidate_id == cid))
    assert (item.reason, item.leader) == ("同一地点反复投诉", "天水街道 王主任")
    for n in numbers:
        assert ticket(n).supervised and events(n)[-1].action.value == "supervise"
    # Now on the list, no longer a candidate; deciding again is refused.
    assert f'data-item="{item.id}"' in html and f'data-candidate="{cid}"' not in html
    html = post(client, f"/supervision/candidates/{cid}", {"decision": "dismiss"})
    assert zh("the candidate is already listed") in flashes(html)


def test_a_candidate_can_be_dismissed(client, world, clock, ctx):
    from ticketing.extensions import db
    from ticketing.models import CandidateState, SupervisionCandidate
    from ticketing.services import repeats

    for i, p in enumerate((E159, E172, E171)):
        world.report(at(2, 9, i), point=p)
    repeats.detect(at(2, 10), radius_m=250, window_days=30, min_count=3)
    db.session.commit()
    clock.set(at(2, 11))
    sign_in(client, "supervisor_district")
    cid = int(re.search(r'data-candidate="(\d+)"', page(client, "/supervision/list")).group(1))
    html = post(client, f"/supervision/candidates/{cid}", {"decision": "dismiss", "reason": "已统一整治"})
    assert "已不予督办。" in flashes(html)
    assert db.session.get(SupervisionCandidate, cid).state == CandidateState.DISMISSED


# ---------------------------------------------------------------------------- the supervision list


LISTING = {"reason": "超期未办结，群众反映强烈", "leader": "下城区 李副区长", "review_on": "2026-03-09"}


def test_a_ticket_is_listed_shows_weekly_progress_and_is_taken_off(client, world, clock):
    from ticketing.extensions import db
    from ticketing.models import SupervisionItem

    n = world.report(at(2, 9))
    world.accept(n, "handler_tianshui", at(2, 9, 30))
    clock.set(at(2, 11))
    sign_in(client, "supervisor_district")
    assert 'data-action="supervise"' in page(client, f"/supervision/tickets/{n}")
    html = post(client, "/supervision/list/add", {"ticket": n, **LISTING, "next": f"/supervision/tickets/{n}"})
    assert "已挂牌督办该工单。" in flashes(html) and "下城区 李副区长" in html
    item = db.session.scalar(select(SupervisionItem).where(SupervisionItem.ticket_id == ticket(n).id))
    assert item.review_on.isoformat() == "2026-03-09" and ticket(n).supervised
    assert events(n)[-1].action.value == "supervise" and events(n)[-1].data["item_id"] == item.id
    # A step of the handling unit shows in the week's progress.
    from ticketing.services.photos import Upload
    from ticketing.services.tickets import Evidence

    world.svc.progress(ticket(n), user("handler_tianshui"), at(2, 14), evidence=Evidence("已联系环卫", [Upload("p.jpg", jpeg())]),
                       settings=world.settings, store=world.store)
    db.session.commit()
    clock.set(at(2, 15))
    html = page(client, "/supervision/list")
    assert f'data-item="{item.id}"' in html and "2026-W10" in html and "已联系环卫" in html
    # Taking it off needs a note; then it leaves the list (and stays in its history).
    html = post(client, f"/supervision/list/{item.id}/remove", {"note": " "})
    assert zh("note is required") in flashes(html) and item.removed_at is None
    html = post(client, f"/supervision/list/{item.id}/remove", {"note": "已整改到位"})
    assert "已销号。" in flashes(html)
    db.session.refresh(item)
    assert item.removed_at is not None and not ticket(n).supervised
    assert f'data-item="{item.id}"' not in html
    assert f'data-item="{item.id}"' in page(client, "/supervision/list?items=all")


BAD_LISTING: dict[str, tuple[dict[str, str], str]] = {
    "no leader": ({**LISTING, "leader": ""}, "leader is required"),
    "no reason": ({**LISTING, "reason": "  "}, "reason is required"),
    "review date past": ({**LISTING, "review_on": "2026-03-01"}, "the review date is in the past"),
    "review date unreadable": ({**LISTING, "review_on": "9 March"}, "Dates are written like 2026-03-01."),
}


@pytest.mark.parametrize("case", sorted(BAD_LISTING))
def test_listing_with_bad_input_writes_nothing(client, world, clock, case):
    from ticketing.extensions import db
    from ticketing.models import SupervisionItem

    n = world.report(at(2, 9))
    clock.set(at(2, 11))
    sign_in(client, "supervisor_district")
    form, message = BAD_LISTING[case]
    html = post(client, "/supervision/list/add", {"ticket": n, **form})
    assert zh(message) in flashes(html)
    assert db.session.scalar(select(func.count()).select_from(SupervisionItem)) == 0
    assert not ticket(n).supervised and len(events(n)) == 1


def test_a_street_supervisor_keeps_no_list(client, world, clock):
    n = world.report(at(2, 9))
    clock.set(at(2, 11))
    sign_in(client, "supervisor_tianshui")
    assert 'data-action="supervise"' not in page(client, f"/supervision/tickets/{n}")
    assert 'action="/supervision/list/add"' not in page(client, "/supervision/list")
    html = post(client, "/supervision/list/add", {"ticket": n, **LISTING})
    assert zh("only district and city supervisors keep a supervision list") in flashes(html)
    assert not ticket(n).supervised


# ---------------------------------------------------------------------------- exports of what is shown


def csv_rows(client: Any, path: str) -> list[list[str]]:
    fresh_locale()
    resp = client.get(path)
    assert resp.status_code == 200 and resp.mimetype == "text/csv", resp.get_data(as_text=True)[:500]
    assert resp.headers["Content-Disposition"].startswith("attachment;")
    return list(csv.reader(io.StringIO(resp.data.decode("utf-8-sig"))))


def xlsx_rows(client: Any, path: str, header: str) -> list[list[Any]]:
    """The rows from the heading row (found by its first cell) on."""
    fresh_locale()
    resp = client.get(path)
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    sheet = load_workbook(io.BytesIO(resp.data)).active
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    start = next(i for i, r in enumerate(rows) if r[0] == header)
    return rows[start:]


def headings(html: str, table_class: str) -> list[str]:
    head = re.search(rf'<table class="{table_class}">\s*<thead><tr>(.*?)</tr></thead>', html, re.S).group(1)
    return [re.sub(r"<[^>]+>", "", h).strip() for h in re.findall(r"<th[^>]*>(.*?)</th>", head, re.S)]


@pytest.mark.parametrize("query", ["", "?group=category&show=open", "?group=unit&category=city.litter&lang=en"])
def test_the_attention_export_is_the_screen(client, world, clock, query):
    t = attention_world(world)
    world.report(at(2, 10), category="environment.fumes")
    clock.set(at(3, 13, 30))
    sign_in(client, "supervisor_district")
    html = page(client, f"/supervision/{query}")
    shown = listed(html)
    assert shown and set(shown) >= {t["A"], t["B"], t["C"]}
    links = re.findall(r'href="(/supervision/export/attention\.(?:csv|xlsx)[^"]*)"', html)
    assert len(links) == 2
    csv_link = links[0].replace("&amp;", "&")
    rows = csv_rows(client, csv_link)
    group_heading = rows[0][0]
    assert rows[0][1:] == headings(html, "attention")  # the same columns, the group first
    assert [r[1] for r in rows[1:]] == shown
    groups = re.findall(r'<section class="group" aria-label="([^"]+)"', html)
    assert list(dict.fromkeys(r[0] for r in rows[1:])) == groups
    xlsx = xlsx_rows(client, links[1].replace("&amp;", "&"), group_heading)
    assert [r[1] for r in xlsx[1:]] == shown
    if "lang=en" in query:
        assert group_heading == "By handling unit" and "Number" in rows[0]
    else:
        assert "工单编号" in rows[0]


def test_the_other_exports_are_their_screens(client, world, clock, ctx):
    from ticketing.extensions import db

    a, b = world.report(at(2, 9)), world.report(at(2, 9, 5), point=WULIN)
    world.accept(a, "handler_tianshui", at(2, 9, 30))
    world.resolve(a, "handler_tianshui", at(2, 10))
    world.rate(a, "satisfied", at(2, 10, 30))
    world.return_(b, "handler_wulin", at(2, 10))
    c = world.report(at(2, 11))
    clock.set(at(2, 15))
    sign_in(client, "supervisor_district")
    post(client, "/supervision/list/add", {"ticket": c, **LISTING})
    period = "from=2026-03-01&to=2026-04-01"

    html = page(client, f"/supervision/performance?{period}")
    units = re.findall(r'<tr(?: class="total")? data-unit="([^"]+)"', html)
    assert units[-1] == DISTRICT_CODE and {TIANSHUI_CODE, WULIN_CODE} <= set(units)
    rows = csv_rows(client, f"/supervision/export/kpis.csv?{period}")
    assert [r[rows[0].index("单位代码")] for r in rows[1:]] == units
    ranks = [re.sub(r"\s", "", x) for x in re.findall(r'data-unit="[^"]+">\s*<td>(.*?)</td>', html)]
    assert [r[rows[0].index("排名")] or "—" for r in rows[1:]] == ranks

    names = [re.sub(r"<[^>]+>", "", r).strip() for r in re.findall(
        r'<table class="points">.*?<tbody>(.*?)</tbody>', html, re.S)[0].split("</tr>") if "<td>" in r]
    rows = csv_rows(client, f"/supervision/export/points.csv?{period}")
    assert rows[0] == headings(html, "points")
    shown = [re.findall(r"<td>(.*?)</td>", r) for r in re.findall(
        r"<tr>(<td>.*?)</tr>", re.findall(r'<table class="points">(.*?)</table>', html, re.S)[0], re.S)]
    assert rows[1:] == shown and any(r[1] == "王代表" and r[3] == "3" for r in shown)
    assert names  # the table is there

    html = page(client, "/supervision/decisions")
    assert [r[0] for r in csv_rows(client, "/supervision/export/returned.csv")[1:]] == listed(html, "returned") == [b]

    html = page(client, "/supervision/list")
    subjects = [re.sub(r"<[^>]+>", "", x).strip() for x in re.findall(
        r'<article class="card item" data-item="\d+"[^>]*>\s*<h3[^>]*>\d+\. (.*?)\n', html)]
    rows = csv_rows(client, "/supervision/export/list.csv")
    assert rows[0][:2] == ["序号", "事项"] and [r[1] for r in rows[1:]] == subjects and c in subjects[0]
    resp = client.get("/supervision/export/list.xlsx")
    assert "重点督办事项清单" in load_workbook(io.BytesIO(resp.data)).active.cell(1, 1).value
    db.session.rollback()


def test_exports_refuse_bad_parameters_and_unknown_tables(client):
    sign_in(client, "supervisor_district")
    assert client.get("/supervision/export/attention.pdf").status_code == 404
    assert client.get("/supervision/export/secrets.csv").status_code == 404
    resp = client.get("/supervision/export/attention.csv?group=colour")
    assert resp.status_code == 400 and "请按街道、承办单位或类别分组" in resp.get_data(as_text=True)
    assert client.get("/supervision/export/kpis.csv?from=2026-04-01&to=2026-03-01").status_code == 400


# ---------------------------------------------------------------------------- languages, escaping, CSRF


def test_chinese_by_default_and_english_on_request(client, world, clock):
    t = attention_world(world)
    clock.set(at(3, 13, 30))
    sign_in(client, "supervisor_district")
    for path, zh_text, en_text in (
        ("/supervision/", "超期与临期工单", "Overdue and due soon"),
        ("/supervision/decisions", "退单待改派", "Returned, to re-dispatch"),
        ("/supervision/list", "挂牌督办事项", "Listed items (挂牌督办)"),
        ("/supervision/performance", "各单位考核指标与排名", "KPIs and ranking of the units"),
        (f"/supervision/tickets/{t['A']}", "办理轨迹", "Trail"),
    ):
        html = page(client, path)
        assert zh_text in html and en_text not in html
        html = page(client, path + ("&" if "?" in path else "?") + "lang=en")
        assert en_text in html and '<html lang="en">' in html
    html = page(client, "/supervision/?lang=en")
    assert "Supervision dashboard" in html and "督办看板" not in html and "Tianshui Street" in html
    # The tabs and export links keep the language.
    assert "/supervision/decisions?" in html and "lang=en" in re.search(r'href="(/supervision/decisions[^"]*)"', html).group(1)


def test_text_from_users_is_escaped(client, world, clock):
    n = world.report(at(2, 9), description='<script>alert("x")</script> 垃圾')
    world.return_(n, "handler_tianshui", at(2, 9, 30), reason="<img src=x onerror=alert(1)>不归我们")
    clock.set(at(2, 10))
    sign_in(client, "supervisor_district")
    post(client, f"/supervision/tickets/{n}/comment", {"note": "<b>加粗</b>"})
    html = page(client, f"/supervision/tickets/{n}")
    assert "&lt;script&gt;alert(" in html and "<script>alert(" not in html
    assert "&lt;b&gt;加粗&lt;/b&gt;" in html and "<b>加粗" not in html
    html = page(client, "/supervision/decisions")
    assert "&lt;img src=x onerror=alert(1)&gt;不归我们" in html and "<img src=x" not in html


def _token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_forms_need_the_csrf_token(client, world, clock, csrf_on):
    n = world.report(at(2, 9))
    clock.set(at(2, 10))
    login = page(client, "/login")
    client.post("/login", data={"username": "supervisor_district", "password": DEMO_PASSWORD,
                                "csrf_token": _token(login)})
    html = page(client, f"/supervision/tickets/{n}")
    assert client.post(f"/supervision/tickets/{n}/urge", data={"note": "快"}).status_code == 400
    assert client.post(f"/supervision/tickets/{n}/urge", data={"note": "快", "csrf_token": "forged"}).status_code == 400
    assert client.post("/supervision/list/add", data={"ticket": n, **LISTING}).status_code == 400
    assert len(events(n)) == 1 and not ticket(n).supervised
    resp = client.post(f"/supervision/tickets/{n}/urge", data={"note": "快", "csrf_token": _token(html)})
    assert resp.status_code == 302 and events(n)[-1].action.value == "urge"
