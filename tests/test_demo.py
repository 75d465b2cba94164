"""The demo data: Hangzhou's 228 replayed grid events, and the Qingdao district-level deployment."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from tests.conftest import NOW, jpeg, rolled_back

# 五四广场 as a Chinese map app gives it (GCJ-02), inside 市南区.
MAY_FOURTH_SQUARE_GCJ02 = (120.3845, 36.0624)
# A point near the 市南区/市北区 border (by 团岛): 170 m inside 市南区 when read as GCJ-02, but
# 190 m inside 市北区 if the same numbers were taken for WGS84: the ~0.5 km offset at work.
NEAR_BORDER_GCJ02 = (120.317, 36.072)


@dataclass(frozen=True)
class Step:
    action: str
    from_state: str | None
    to_state: str | None
    at: datetime
    actor: str | None
    note: str
    data: dict


@dataclass(frozen=True)
class Replayed:
    number: str
    state: str
    round: int
    closed_reason: str | None
    unit: str
    category: str
    response_due_at: datetime | None
    scores: tuple[str, ...]
    steps: tuple[Step, ...]


@pytest.fixture(scope="module")
def history(app: Flask) -> Iterator[tuple[dict[str, int], list[Replayed]]]:
    """Replay the history once per backend, copy out what the tests read, and roll it back.

    One replay (a few seconds) serves every test below; the copy means no transaction
    stays open while other tests run.
    """
    from ticketing.demo.history import replay_history
    from ticketing.extensions import db
    from ticketing.models import Ticket

    with rolled_back(app):
        counts = replay_history(
            now=NOW, settings=app.extensions["ticket_settings"], store=app.extensions["photo_store"]
        )
        rows = [
            Replayed(
                number=t.number,
                state=t.state.value,
                round=t.round,
                closed_reason=t.closed_reason.value if t.closed_reason else None,
                unit=t.handling_unit.code,
                category=t.category.code,
                response_due_at=t.response_due_at,
                scores=tuple(r.score.value for r in t.ratings),
                steps=tuple(
                    Step(
                        e.action.value,
                        e.from_state.value if e.from_state else None,
                        e.to_state.value if e.to_state else None,
                        e.at,
                        e.actor.username if e.actor else None,
                        e.note,
                        dict(e.data),
                    )
                    for e in t.events
                ),
            )
            for t in db.session.scalars(select(Ticket).order_by(Ticket.id))
        ]
    yield counts, rows


def test_every_grid_event_type_has_a_category_of_its_own() -> None:
    from ticketing.demo.history import CATEGORY_BY_TYPE, read_events

    events = read_events()
    assert len(events) == 228
    assert {e.kind for e in events} <= CATEGORY_BY_TYPE.keys()


def test_every_grid_event_becomes_a_ticket(history) -> None:
    counts, rows = history
    assert len(rows) == 228
    assert counts == dict(Counter(r.state for r in rows))


def test_replay_reaches_a_spread_of_states(history) -> None:
    counts, _ = history
    assert {"dispatched", "accepted", "returned", "resolved", "closed"} <= counts.keys()
    assert counts.get("invalid", 0) + counts.get("duplicate", 0) >= 2
    # Most of the history is finished business.
    assert counts["closed"] > 228 / 2


def test_some_dispatched_tickets_are_overdue(history) -> None:
    _, rows = history
    dispatched = [r for r in rows if r.state == "dispatched"]
    assert any(r.response_due_at is not None and r.response_due_at < NOW for r in dispatched)


def test_every_closed_ticket_says_why(history) -> None:
    _, rows = history
    reasons = Counter(r.closed_reason for r in rows if r.state == "closed")
    assert None not in reasons
    assert reasons["rated"] > 0 and reasons["withdrawn"] > 0
    for r in rows:
        if r.closed_reason == "rated":
            assert r.scores[-1] in ("satisfied", "basically_satisfied")


def test_unsatisfied_rating_sends_the_ticket_into_a_second_round(history) -> None:
    _, rows = history
    unsatisfied = [r for r in rows if "unsatisfied" in r.scores]
    assert unsatisfied
    for r in unsatisfied:
        assert r.round >= 2
        rating = next(s for s in r.steps if s.action == "rate" and s.data.get("score") == "unsatisfied")
        assert rating.to_state == "dispatched"


def test_tickets_stay_with_tianshui_or_the_enforcement_bureau(history) -> None:
    _, rows = history
    assert {r.unit for r in rows} == {"330105012", "330103-ZF"}
    for r in rows:
        if r.category.startswith("environment.") and not any(s.action == "redispatch" for s in r.steps):
            assert r.unit == "330103-ZF", r.number


def test_trails_start_with_the_report_and_chain_their_states(history) -> None:
    _, rows = history
    for r in rows:
        first = r.steps[0]
        assert (first.action, first.from_state, first.to_state) == ("report", None, "dispatched")
        assert first.actor in ("deputy_wang", "deputy_li")
        for before, after in zip(r.steps, r.steps[1:]):
            assert after.from_state == before.to_state, (r.number, before.action, after.action)
            assert before.at <= after.at < NOW
        assert r.steps[-1].to_state == r.state


def test_returns_give_a_reason_and_the_district_supervisor_redispatches(history) -> None:
    _, rows = history
    returns = [s for r in rows for s in r.steps if s.action == "return"]
    redispatches = [s for r in rows for s in r.steps if s.action == "redispatch"]
    assert returns and redispatches
    assert all(s.note and s.actor and s.actor.startswith("handler_") for s in returns)
    assert {s.actor for s in redispatches} == {"supervisor_district"}
    assert {s.data["to_unit"] for s in redispatches} >= {"330103-ZF", "330105012"}


def test_handlers_mostly_accept_within_the_response_deadline(history) -> None:
    _, rows = history
    on_time = late = 0
    for r in rows:
        report = r.steps[0]
        accept = next((s for s in r.steps if s.action == "accept"), None)
        if accept is None or r.round > 1 or any(s.action == "redispatch" for s in r.steps):
            continue
        due = datetime.fromisoformat(report.data["deadlines"]["response_due_at"])
        on_time, late = (on_time + 1, late) if accept.at <= due else (on_time, late + 1)
    assert late > 0
    assert on_time > 4 * late


def test_history_is_dated_relative_to_now_with_its_spacing_kept(history) -> None:
    from ticketing.demo.history import NEWEST_WORKDAYS_AGO, read_events
    from ticketing.worktime import WorkCalendar, exceptions_from_package

    _, rows = history
    cal = WorkCalendar(exceptions_from_package([2026]), [2026])
    reported = sorted(r.steps[0].at for r in rows)
    newest = cal.local_date(reported[-1])
    today = cal.local_date(NOW)
    assert cal.is_workday(newest)
    between = [newest + timedelta(days=d) for d in range(1, (today - newest).days)]
    assert sum(cal.is_workday(d) for d in between) == NEWEST_WORKDAYS_AGO - 1
    original = sorted(e.reported_at for e in read_events())
    assert reported[-1] - reported[0] == original[-1] - original[0]


# ---------------------------------------------------------------------------- Qingdao


def _report(ctx: Flask, lon: float, lat: float, crs: str, category: str = "city.litter"):
    from ticketing.extensions import db
    from ticketing.models import User
    from ticketing.services import tickets
    from ticketing.services.photos import Upload

    deputy = db.session.scalar(select(User).where(User.username == "qd_deputy"))
    return tickets.report(
        actor=deputy, category_code=category, description="垃圾堆积", lon=lon, lat=lat, crs=crs,
        uploads=[Upload("p.jpg", jpeg())], now=NOW,
        settings=ctx.extensions["ticket_settings"], store=ctx.extensions["photo_store"],
    )


def test_qingdao_has_its_ten_districts_with_their_departments(ctx) -> None:
    from ticketing.demo.qingdao import build_qingdao, districts
    from ticketing.extensions import db
    from ticketing.models import BoundaryGeneration, OrgUnit

    summary = build_qingdao(NOW)
    codes = [code for code, _ in districts()]
    assert len(codes) == 10 and "370202" in codes and summary["districts"] == 10
    units = {u.code: u for u in db.session.scalars(select(OrgUnit).where(OrgUnit.code.like("3702%")))}
    assert units["370202"].name == "市南区" and units["370202"].parent.code == "370200"
    for code in codes:
        assert units[code].kind.value == "district"
        assert units[f"{code}-ZF"].dept_kind == "law_enforcement" and units[f"{code}-ZF"].parent.code == code
        assert units[f"{code}-JJ"].dept_kind == "traffic_police"
    active = db.session.scalar(select(BoundaryGeneration).where(BoundaryGeneration.active.is_(True)))
    assert active.id == summary["generation"] and active.source_crs == "gcj02"


def test_gcj02_report_in_shinan_routes_to_shinan(ctx) -> None:
    from geo.crs import gcj02_to_wgs84
    from ticketing.demo.qingdao import build_qingdao

    build_qingdao(NOW)
    ticket = _report(ctx, *MAY_FOURTH_SQUARE_GCJ02, "gcj02")
    assert ticket.handling_unit.code == "370202" and ticket.input_crs == "gcj02"
    same_place = _report(ctx, *gcj02_to_wgs84(*MAY_FOURTH_SQUARE_GCJ02), "wgs84")
    assert same_place.handling_unit.code == "370202"


def test_gcj02_point_near_a_border_would_be_misrouted_without_conversion(ctx) -> None:
    from ticketing.demo.qingdao import build_qingdao

    build_qingdao(NOW)
    assert _report(ctx, *NEAR_BORDER_GCJ02, "gcj02").handling_unit.code == "370202"
    assert _report(ctx, *NEAR_BORDER_GCJ02, "wgs84").handling_unit.code == "370203"


def test_qingdao_environment_report_goes_to_the_district_bureau(ctx) -> None:
    from ticketing.demo.qingdao import build_qingdao

    build_qingdao(NOW)
    ticket = _report(ctx, *MAY_FOURTH_SQUARE_GCJ02, "gcj02", category="environment.fumes")
    assert ticket.handling_unit.code == "370202-ZF"
    assert ticket.routed_unit.code == "370202"
