"""Deputy points, participation, the duty record and the quarterly snapshot (ticketing.services.points)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from geoalchemy2.shape import from_shape
from shapely.geometry import Point
from sqlalchemy import select, text

from tests.conftest import NOW, TIANSHUI, rolled_back

# The period of the hand-built history: March 2026 (UTC), after the demo world's own tickets.
START = datetime(2026, 3, 1, tzinfo=timezone.utc)
END = datetime(2026, 4, 1, tzinfo=timezone.utc)
IN = datetime(2026, 3, 10, 2, 0, tzinfo=timezone.utc)
BEFORE = datetime(2026, 2, 10, 2, 0, tzinfo=timezone.utc)
AFTER = datetime(2026, 4, 10, 2, 0, tzinfo=timezone.utc)
P = {"per_valid": "0.3", "per_solved": "0.5"}

_seq = iter(range(1, 10_000))


def _user(username: str) -> Any:
    from ticketing.extensions import db
    from ticketing.models import User

    return db.session.scalar(select(User).where(User.username == username))


def make_ticket(
    reporter: str,
    state: str = "dispatched",
    *,
    created: datetime = IN,
    closed: datetime | None = None,
    scores: tuple[str, ...] = (),
    closed_reason: str | None = None,
    citizen: bool = False,
) -> Any:
    """A ticket row as the lifecycle would leave it, with its ratings (one per round)."""
    from ticketing.extensions import db
    from ticketing.models import Category, OrgUnit, Rating, Ticket

    user = _user(reporter)
    n = next(_seq)
    t = Ticket(
        number=f"2099-{n:06d}",
        category_id=db.session.scalar(select(Category.id).where(Category.code == "city")),
        description="hand-built",
        location=from_shape(Point(*TIANSHUI), srid=4326),
        state="dispatched" if state == "closed" else state,  # closed needs its rating first
        reporter_kind="citizen" if citizen else "deputy",
        reporter_id=None if citizen else user.id,
        deputy_id=user.id if citizen else None,
        handling_unit_id=db.session.scalar(select(OrgUnit.id).where(OrgUnit.code == "330105012")),
        created_at=created,
        updated_at=closed or created,
        closed_at=closed,
        round=max(1, len(scores)),
        outcome="solved" if state in ("resolved", "closed") else None,
    )
    if state == "duplicate":
        t.duplicate_of_id = db.session.scalar(select(Ticket.id).limit(1))
    db.session.add(t)
    db.session.flush()
    for i, score in enumerate(scores, start=1):
        r = Rating(ticket_id=t.id, round=i, score=score, rater_id=user.id, at=closed or created)
        db.session.add(r)
        db.session.flush()
        t.final_rating_id = r.id
    if state == "closed":
        t.state = state
        t.closed_reason = closed_reason or ("rated" if scores else "unrated")
    db.session.flush()
    return t


def build_history() -> None:
    """Wang: 6 valid (one of them from a citizen via his QR code), 3 solved in March.
    Li: 2 valid, 1 solved in March (a ticket reported in February)."""
    # deputy_wang
    make_ticket("deputy_wang")  # valid, open
    make_ticket("deputy_wang", "invalid")  # not valid
    make_ticket("deputy_wang", "duplicate")  # not valid
    make_ticket("deputy_wang", "closed", closed=IN, scores=("satisfied",))  # valid + solved
    make_ticket("deputy_wang", "closed", closed=IN, scores=("basically_satisfied",))  # valid + solved
    make_ticket("deputy_wang", "closed", closed=IN, scores=("unsatisfied", "satisfied"))  # valid + solved once
    make_ticket("deputy_wang", "closed", closed=IN, closed_reason="withdrawn")  # not valid
    make_ticket("deputy_wang", "closed", closed=IN, closed_reason="unrated")  # valid, not solved
    make_ticket("deputy_wang", "dispatched", scores=("unsatisfied",))  # second round: valid, not solved
    make_ticket("deputy_wang", "pending_review", citizen=True)  # not forwarded yet: not valid
    make_ticket("deputy_wang", "declined", citizen=True)  # not valid
    make_ticket("deputy_wang", "accepted", citizen=True)  # forwarded citizen report: valid
    make_ticket("deputy_wang", created=BEFORE)  # another period
    make_ticket("deputy_wang", created=AFTER)  # another period
    # deputy_li
    make_ticket("deputy_li", "accepted")  # valid
    make_ticket("deputy_li", "resolved")  # valid, awaiting the rating
    make_ticket("deputy_li", "closed", created=BEFORE, closed=IN, scores=("satisfied",))  # solved in March only
    make_ticket("deputy_li", "closed", closed=AFTER, scores=("satisfied",))  # valid in March, solved in April


def test_points_follow_the_definitions_on_a_hand_built_history(ctx):
    from ticketing.services import points

    build_history()
    ranking = {r.user.username: (r.valid, r.solved, r.points, r.rank) for r in points.points(START, END, **P)}
    # wang: 0.3 × 7 + 0.5 × 3 = 3.6; li: 0.3 × 3 + 0.5 × 1 = 1.4
    assert ranking == {
        "deputy_wang": (7, 3, Decimal("3.6"), 1),
        "deputy_li": (3, 1, Decimal("1.4"), 2),
    }
    # Exact, not 3.5999999...: the sums are decimals.
    assert str(ranking["deputy_wang"][2]) == "3.6"
    # February and April: one valid each for wang; li solved one in April.
    feb = {r.user.username: (r.valid, r.solved) for r in points.points(BEFORE - timedelta(days=9), START, **P)}
    assert feb == {"deputy_wang": (1, 0), "deputy_li": (1, 0)}
    apr = {r.user.username: (r.valid, r.solved) for r in points.points(END, END + timedelta(days=30), **P)}
    assert apr == {"deputy_wang": (1, 0), "deputy_li": (0, 1)}


def test_points_settings_are_configurable(ctx):
    from ticketing.services import points

    build_history()
    ranking = {r.user.username: r.points for r in points.points(START, END, per_valid=1, per_solved=2)}
    assert ranking == {"deputy_wang": Decimal(13), "deputy_li": Decimal(5)}
    assert str(ctx.config["POINTS_PER_VALID"]) == "0.3" and str(ctx.config["POINTS_PER_SOLVED"]) == "0.5"


def test_ties_share_a_rank_and_the_next_rank_skips(ctx):
    from ticketing.extensions import db
    from ticketing.models import User
    from ticketing.services import points

    li = _user("deputy_li")
    db.session.add(User(username="deputy_zhao", display_name="赵代表", password_hash="x", role="deputy",
                        unit_id=li.unit_id, created_at=NOW))
    db.session.flush()
    # wang: 2 valid (0.6); li: 2 valid (0.6); zhao: none.
    make_ticket("deputy_wang")
    make_ticket("deputy_wang")
    make_ticket("deputy_li")
    make_ticket("deputy_li")
    rows = [(r.user.username, r.points, r.rank) for r in points.points(START, END, **P)]
    assert rows == [
        ("deputy_li", Decimal("0.6"), 1),
        ("deputy_wang", Decimal("0.6"), 1),
        ("deputy_zhao", Decimal("0.0"), 3),
    ]
    # Equal points: more valid issues first, the same rank. wang 5 valid (1.5), zhao 3 solved (1.5).
    for _ in range(3):
        make_ticket("deputy_wang")
        make_ticket("deputy_zhao", "closed", created=BEFORE, closed=IN, scores=("satisfied",))
    rows = [(r.user.username, r.valid, r.solved, r.points, r.rank) for r in points.points(START, END, **P)]
    assert rows == [
        ("deputy_wang", 5, 0, Decimal("1.5"), 1),
        ("deputy_zhao", 0, 3, Decimal("1.5"), 1),
        ("deputy_li", 2, 0, Decimal("0.6"), 3),
    ]


def test_participation_counts_deputies_with_a_valid_report(ctx):
    from ticketing.extensions import db
    from ticketing.models import User
    from ticketing.services import points

    li = _user("deputy_li")
    db.session.add(User(username="deputy_zhao", display_name="赵代表", password_hash="x", role="deputy",
                        unit_id=li.unit_id, created_at=NOW))
    db.session.flush()
    assert points.participation(START, END) == (0, 3, Decimal("0"))
    make_ticket("deputy_wang")
    make_ticket("deputy_li", "invalid")
    assert points.participation(START, END) == (1, 3, Decimal("0.3333"))
    make_ticket("deputy_li", "accepted", citizen=True)
    assert points.participation(START, END) == (2, 3, Decimal("0.6667"))


def test_duty_record_lists_the_deputys_tickets_with_what_each_earned(ctx):
    from ticketing.services import points

    build_history()
    record = points.duty_record(_user("deputy_li"), START, END, **P)
    assert (record["valid"], record["solved"], record["points"]) == (3, 1, Decimal("1.4"))
    rows = [(t["state"], t["rating"], t["valid"], t["solved"], t["points"]) for t in record["tickets"]]
    assert rows == [
        ("closed", "satisfied", False, True, Decimal("0.5")),  # reported in February, solved in March
        ("accepted", None, True, False, Decimal("0.3")),
        ("resolved", None, True, False, Decimal("0.3")),
        ("closed", "satisfied", True, False, Decimal("0.3")),  # closed in April
    ]


def test_quarterly_snapshot_is_stored_once_and_never_changes(ctx):
    from ticketing.errors import Conflict, InvalidInput
    from ticketing.services import points

    build_history()
    with pytest.raises(InvalidInput):
        points.snapshot_quarter(2026, 1, NOW, **P)  # 2 March: Q1 is not over
    after_q1 = datetime(2026, 4, 2, tzinfo=timezone.utc)
    snap, created = points.snapshot_quarter(2026, 1, after_q1, **P)
    assert created and snap.period == "2026Q1"
    published = [(r["username"], r["valid"], r["solved"], r["points"], r["rank"]) for r in snap.data["ranking"]]
    # Q1 (Shanghai) holds March and February: wang 7 + 1 valid, li 3 + 1.
    assert published == [("deputy_wang", 8, 3, "3.9", 1), ("deputy_li", 4, 1, "1.7", 2)]
    assert snap.data["participation"] == {"active": 2, "total": 2, "rate": "1.0000"}
    # Tickets change afterwards: the published snapshot does not.
    make_ticket("deputy_li", created=IN)
    make_ticket("deputy_li", created=IN)
    again, created = points.snapshot_quarter(2026, 1, after_q1 + timedelta(days=5), **P)
    assert not created and again.id == snap.id and again.data["ranking"][1]["points"] == "1.7"
    with pytest.raises(Conflict):
        points.snapshot_quarter(2026, 1, after_q1, recompute=True, **P)


# --- the demo history -------------------------------------------------------------------

# A hand count of the replayed demo (228 grid events, alternately deputy_wang and deputy_li):
# (valid, solved, points) over all time, written down once and checked below by plain SQL.
DEMO_COUNT: dict[str, tuple[int, int, Decimal]] = {
    "deputy_wang": (110, 84, Decimal("75.0")),  # 0.3 × 110 + 0.5 × 84
    "deputy_li": (111, 80, Decimal("73.3")),  # 0.3 × 111 + 0.5 × 80
}


@pytest.fixture(scope="module")
def demo(app: Flask) -> Iterator[dict[str, Any]]:
    """Replay the demo history once per backend, read what the tests check, and roll it back.

    Reading everything inside keeps no transaction open while other tests run (as in test_demo).
    """
    from ticketing.demo.history import replay_history
    from ticketing.extensions import db
    from ticketing.services import points

    with rolled_back(app):
        replay_history(now=NOW, settings=app.extensions["ticket_settings"], store=app.extensions["photo_store"])
        seen = {
            "ranking": {r.user.username: (r.valid, r.solved, r.points) for r in points.points(*ALL_TIME, **P)},
            "participation": points.participation(*ALL_TIME),
            "sql_valid": dict(db.session.execute(SQL_VALID).all()),
            "sql_solved": dict(db.session.execute(SQL_SOLVED).all()),
        }
    yield seen


ALL_TIME = (datetime(2000, 1, 1, tzinfo=timezone.utc), datetime(2100, 1, 1, tzinfo=timezone.utc))
# The independent count: plain SQL over the tables, no service code.
SQL_VALID = text(
    "SELECT u.username, count(*) FROM tickets t JOIN users u ON u.id = t.reporter_id"
    " WHERE t.reporter_kind = 'deputy'"
    " AND t.state NOT IN ('invalid', 'duplicate', 'declined', 'pending_review')"
    " AND (t.closed_reason IS NULL OR t.closed_reason <> 'withdrawn') GROUP BY u.username"
)
SQL_SOLVED = text(
    "SELECT u.username, count(*) FROM tickets t JOIN users u ON u.id = t.reporter_id"
    " JOIN ratings r ON r.id = t.final_rating_id"
    " WHERE t.reporter_kind = 'deputy' AND t.state = 'closed' AND t.closed_reason = 'rated'"
    " AND r.score IN ('satisfied', 'basically_satisfied') GROUP BY u.username"
)


def test_points_on_the_demo_history_match_the_hand_count(demo):
    assert demo["ranking"] == DEMO_COUNT
    assert demo["participation"] == (2, 2, Decimal("1.0000"))


def test_the_hand_count_agrees_with_a_plain_sql_count(demo):
    sql = {u: (demo["sql_valid"].get(u, 0), demo["sql_solved"].get(u, 0)) for u in DEMO_COUNT}
    assert sql == {u: (v, s) for u, (v, s, _) in DEMO_COUNT.items()}
    for v, s, p in DEMO_COUNT.values():
        assert p == Decimal("0.3") * v + Decimal("0.5") * s


# --- the API ------------------------------------------------------------------------------

MARCH = "from=2026-03-01&to=2026-04-01"


def test_supervisors_see_the_ranking_and_participation_deputies_do_not(ctx, api):
    build_history()
    resp = api.get(f"/api/v1/deputies/points?{MARCH}", "supervisor_district")
    assert resp.status_code == 200, resp.json
    assert resp.json["filter"] == {"from": "2026-03-01", "to": "2026-04-01"}
    assert [(i["username"], i["valid"], i["solved"], i["points"], i["rank"]) for i in resp.json["items"]] == [
        ("deputy_wang", 7, 3, "3.6", 1),
        ("deputy_li", 3, 1, "1.4", 2),
    ]
    assert api.get(f"/api/v1/deputies/points?{MARCH}", "admin").json["items"][0]["points"] == "3.6"
    # A street supervisor oversees no deputy (they belong to the district).
    assert api.get(f"/api/v1/deputies/points?{MARCH}", "supervisor_tianshui").json["items"] == []
    part = api.get(f"/api/v1/deputies/participation?{MARCH}", "supervisor_city")
    assert part.status_code == 200 and (part.json["active"], part.json["total"], part.json["rate"]) == (2, 2, "1.0000")
    for who in ("deputy_wang", "handler_tianshui"):
        assert api.get(f"/api/v1/deputies/points?{MARCH}", who).status_code == 403
        assert api.get(f"/api/v1/deputies/participation?{MARCH}", who).status_code == 403
    assert api.get("/api/v1/deputies/points?from=2026-04-01&to=2026-03-01", "admin").status_code == 422


def test_a_duty_record_is_for_the_deputy_and_their_supervisors_only(ctx, api):
    build_history()
    own = api.get(f"/api/v1/deputies/deputy_li/record?{MARCH}", "deputy_li")
    assert own.status_code == 200, own.json
    assert (own.json["valid"], own.json["solved"], own.json["points"]) == (3, 1, "1.4")
    assert [t["points"] for t in own.json["tickets"]] == ["0.5", "0.3", "0.3", "0.3"]
    assert api.get(f"/api/v1/deputies/deputy_li/record?{MARCH}", "supervisor_district").status_code == 200
    assert api.get(f"/api/v1/deputies/deputy_li/record?{MARCH}", "admin").status_code == 200
    for who in ("deputy_wang", "handler_tianshui", "supervisor_tianshui"):
        assert api.get(f"/api/v1/deputies/deputy_li/record?{MARCH}", who).status_code == 404
        assert api.get(f"/api/v1/deputies/deputy_li/record.csv?{MARCH}", who).status_code == 404
    assert api.get("/api/v1/deputies/handler_tianshui/record", "admin").status_code == 404
    assert api.get("/api/v1/deputies/nobody/record", "admin").status_code == 404


def test_the_duty_record_exports_as_csv_for_excel(ctx, api):
    build_history()
    resp = api.get(f"/api/v1/deputies/deputy_li/record.csv?{MARCH}", "deputy_li")
    assert resp.status_code == 200
    assert resp.mimetype == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    raw = resp.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][0] == "编号" and rows[0][-1] == "积分"
    assert len(rows) == 1 + 4 + 1
    assert rows[-1][0] == "合计" and rows[-1][-3:] == ["3", "1", "1.4"]
    assert rows[1][6] == "satisfied" and rows[1][-1] == "0.5"


def test_publishing_a_quarter_is_for_admins_and_city_supervisors_and_is_final(ctx, api, clock):
    build_history()
    clock.set(datetime(2026, 4, 2, 1, 0, tzinfo=timezone.utc))
    assert api.post("/api/v1/deputies/snapshots/2026Q1", "supervisor_district").status_code == 403
    assert api.post("/api/v1/deputies/snapshots/2026Q1", "deputy_wang").status_code == 403
    assert api.get("/api/v1/deputies/snapshots/2026Q1", "deputy_wang").status_code == 404
    assert api.post("/api/v1/deputies/snapshots/2026Q2", "admin").status_code == 422  # not over yet
    assert api.post("/api/v1/deputies/snapshots/2026Q5", "admin").status_code == 422
    first = api.post("/api/v1/deputies/snapshots/2026Q1", "supervisor_city")
    assert first.status_code == 201, first.json
    ranking = [(r["username"], r["points"]) for r in first.json["ranking"]]
    assert ranking == [("deputy_wang", "3.9"), ("deputy_li", "1.7")]
    make_ticket("deputy_li")
    again = api.post("/api/v1/deputies/snapshots/2026Q1", "admin")
    assert again.status_code == 200 and again.json == first.json
    assert api.post("/api/v1/deputies/snapshots/2026Q1?recompute=true", "admin").status_code == 409
    published = api.get("/api/v1/deputies/snapshots/2026Q1", "deputy_wang")
    assert published.status_code == 200 and published.json == first.json
