"""A city's two years of tickets with their whole trails, generated set-based (PostgreSQL only).

For the KPI benchmark (`bench.bench_kpis`): N tickets with about ten events each, spread
over the two years before `now`, in ten districts (下城区 of the demo world and nine made
like it: eight streets and two departments each) and every category of the demo world.
Each ticket follows one of a dozen life stories, drawn at random with shares that depend
on its age (recent tickets are often still open):

    closed, rated 满意/基本满意          report urge accept assign progress comment progress resolve rate comment
    不满意 then a second round          report accept progress resolve rate(不满意) accept progress resolve rate comment
    returned and re-dispatched         report urge return redispatch accept assign progress progress resolve auto_close
    transferred to another unit        report transfer accept assign progress comment progress resolve rate comment
    reopened by a supervisor           report accept resolve rate reopen accept progress resolve rate comment
    invalid / withdrawn / closed unrated, and four open ones (dispatched, accepted, returned, resolved)

Times are drawn so that some responses and resolutions are late, a few progress and
resolve steps carry doubtful-evidence flags, and every trail is strictly ordered in time.
The trails are what the services would have written (the same actions, states, rounds,
units and `data`: deadlines on report/transfer/new rounds, none on a redispatch, scores
and rated rounds on ratings), with ratings rows and each ticket's final rating, so the KPI
facts are built from them exactly as from real ones. Tickets, ratings and events of a
chunk go in one statement (the ticket ↔ final rating keys point both ways).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text

from ticketing.extensions import db
from ticketing.models import Category, HandlerRule, OrgUnit, Ticket, User

DISTRICTS = 10
# Who acts in the generated trails (demo users): reporter and rater, handler, supervisor.
ACTORS = ("deputy_wang", "handler_tianshui", "supervisor_district")
STREETS = 8
YEARS_DAYS = 730
FLAG = """json_build_object('evidence_flags', json_build_array(json_build_object('flag', 'report_photo')))"""

# (kind, share among old tickets) for tickets older than ten days; recent ones are mostly open.
CLOSED_KINDS = (
    ("ok", 0.62), ("unsat", 0.10), ("returned", 0.08), ("transfer", 0.08), ("reopen", 0.04),
    ("invalid", 0.04), ("withdrawn", 0.02), ("unrated", 0.02),
)
OPEN_KINDS = (("o_dispatched", 0.30), ("o_accepted", 0.50), ("o_returned", 0.05), ("o_resolved", 0.15))


@dataclass(frozen=True)
class World:
    """What the generator draws from: unit ids per district, categories, the acting users."""

    streets: list[list[int]]  # [district][street]
    departments: list[dict[str, int]]  # [district] dept_kind → unit id
    district_ids: list[int]
    categories: list[tuple[int, HandlerRule, str | None]]
    deputy: int
    handler: int
    supervisor: int


def add_districts(city_code: str) -> None:
    """Nine more districts under the city, each like the demo's 下城区 (eight streets, two departments). Flushes."""
    from ticketing.services import org
    from ticketing.services.categories import LAW_ENFORCEMENT, TRAFFIC_POLICE

    for d in range(1, DISTRICTS):
        code = f"3301{90 + d:02d}"
        org.add_unit(code=code, name=f"测试区{d}", name_en=f"Bench district {d}", kind="district",
                     parent_code=city_code)
        org.add_unit(code=f"{code}-ZF", name=f"测试区{d}执法局", kind="department", parent_code=code,
                     dept_kind=LAW_ENFORCEMENT)
        org.add_unit(code=f"{code}-JJ", name=f"测试区{d}交警大队", kind="department", parent_code=code,
                     dept_kind=TRAFFIC_POLICE)
        for s in range(1, STREETS + 1):
            org.add_unit(code=f"{code}{s:03d}", name=f"测试区{d}街道{s}", kind="street", parent_code=code)


def load_world(city_code: str) -> World:
    """The districts under the city (each with ≥ 8 streets), the categories and three acting users."""
    city = db.session.scalar(select(OrgUnit).where(OrgUnit.code == city_code))
    assert city is not None
    districts = db.session.scalars(
        select(OrgUnit).where(OrgUnit.parent_id == city.id, OrgUnit.kind == "district").order_by(OrgUnit.code)
    ).all()
    streets, departments = [], []
    for d in districts:
        children = db.session.scalars(select(OrgUnit).where(OrgUnit.parent_id == d.id).order_by(OrgUnit.code)).all()
        streets.append([u.id for u in children if u.kind == "street"][:STREETS])
        departments.append({u.dept_kind: u.id for u in children if u.kind == "department" and u.dept_kind})
    assert len(districts) == DISTRICTS and all(len(s) == STREETS for s in streets), "run add_districts first"
    categories = [
        (c.id, c.handler_rule, c.dept_kind)
        for c in db.session.scalars(select(Category).where(Category.parent_id.is_not(None)).order_by(Category.code))
    ]

    def uid(name: str) -> int:
        found = db.session.scalar(select(User.id).where(User.username == name))
        assert found is not None, name
        return found

    return World(streets, departments, [d.id for d in districts], categories, *(uid(name) for name in ACTORS))


def _routes(world: World) -> list[tuple[int, int, int, int, int]]:
    """(category index, district, street, handling unit, second unit): where a ticket goes and moves to."""
    rows = []
    for ci, (_, rule, dept_kind) in enumerate(world.categories):
        for d in range(DISTRICTS):
            for s in range(STREETS):
                street = world.streets[d][s]
                unit = street
                if rule == HandlerRule.DEPARTMENT and dept_kind in world.departments[d]:
                    unit = world.departments[d][dept_kind]
                # Moved tickets go to the next street of the district (or from a department to a street).
                other = world.streets[d][(s + 1) % STREETS]
                rows.append((ci, d, s, unit, other))
    return rows


def prepare(world: World) -> None:
    """The route table the chunks join (a temporary table of the session's connection)."""
    conn = db.session.connection()
    conn.exec_driver_sql("DROP TABLE IF EXISTS bench_routes")
    conn.exec_driver_sql(
        "CREATE TEMP TABLE bench_routes (ci int, d int, s int, unit_id int, unit2_id int, PRIMARY KEY (ci, d, s))"
    )
    conn.exec_driver_sql(
        "INSERT INTO bench_routes VALUES " + ", ".join(f"({a}, {b}, {c}, {u}, {v})" for a, b, c, u, v in _routes(world))
    )


def _kind_case(age: str, u_open: str, u_kind: str) -> str:
    """SQL choosing a life story: by age, open or closed (recent tickets mostly open), then which one."""

    def pick(kinds: tuple[tuple[str, float], ...]) -> str:
        parts, edge = [], 0.0
        for name, share in kinds[:-1]:
            edge += share
            parts.append(f"WHEN {u_kind} < {edge:.4f} THEN '{name}'")
        return f"CASE {' '.join(parts)} ELSE '{kinds[-1][0]}' END"

    still_open = (f"({age} < 72 AND {u_open} < 0.70) OR ({age} BETWEEN 72 AND 240 AND {u_open} < 0.35)"
                  f" OR ({age} > 240 AND {u_open} < 0.015)")
    return f"CASE WHEN {still_open} THEN {pick(OPEN_KINDS)} ELSE {pick(CLOSED_KINDS)} END"


def _spec_sql() -> str:
    """The temporary table `spec`: one row per new ticket with its story, units and step offsets (hours).

    Offsets of closed stories are drawn in hours after the report (responses mostly fast with a
    long tail past the 4-hour deadline, resolutions up to about a week), then scaled down for
    tickets too young to hold them; open stories use fractions of the ticket's age.
    """
    return f"""
    CREATE TEMP TABLE spec AS
    WITH r AS (
        SELECT :first_id + g - 1 AS tid, :first_rating + 2 * (g - 1) AS rid,
               (date_trunc('day', (CAST(:now AS timestamptz) - random() * interval '{YEARS_DAYS} days')
                                  AT TIME ZONE 'Asia/Shanghai')
                + interval '8 hours' + random() * interval '11 hours') AT TIME ZONE 'Asia/Shanghai' AS drawn,
               random() AS u0, random() AS u1, random() AS u2, random() AS u3, random() AS u4,
               random() AS u5, random() AS u6, random() AS u7, random() AS u8, random() AS u9,
               floor(random() * {DISTRICTS})::int AS d, floor(random() * {STREETS})::int AS s,
               floor(random() * :categories)::int AS ci
        FROM generate_series(1, :n) g
    ),
    aged AS (
        -- a draw later than `now` (today, after the hour) moves to the last few hours
        SELECT r.*, least(r.drawn, CAST(:now AS timestamptz) - interval '5 minutes' - r.u8 * interval '3 hours') AS t0
        FROM r
    ),
    k AS (
        SELECT aged.*, extract(epoch FROM CAST(:now AS timestamptz) - aged.t0) / 3600.0 AS age,
               {_kind_case("extract(epoch FROM CAST(:now AS timestamptz) - aged.t0) / 3600.0", "aged.u0", "aged.u9")}
               AS kind,
               least(1.0, extract(epoch FROM CAST(:now AS timestamptz) - aged.t0) / 3600.0 / 360.0) AS scale,
               0.1 + aged.u1 * aged.u1 * 30 AS a0
        FROM aged
    ),
    o AS (
        SELECT k.*, k.a0 + 0.5 + k.u2 * 5 AS p0, k.a0 + 0.5 + k.u2 * 5 + 1 + k.u3 * k.u3 * 150 AS v0 FROM k
    ),
    o2 AS (
        SELECT o.*, o.v0 + 2 + o.u4 * 48 AS rt0, o.v0 + 2 + o.u4 * 48 + 1 + o.u8 * 24 AS ro0 FROM o
    ),
    o3 AS (
        SELECT o2.*, (CASE WHEN o2.kind = 'reopen' THEN o2.ro0 ELSE o2.rt0 END) + 0.2 + o2.u5 * 5 AS a20 FROM o2
    )
    SELECT o3.tid, o3.rid, o3.kind, o3.t0, o3.age, rt.unit_id AS u, rt.unit2_id AS u2, o3.ci,
           o3.scale * o3.a0 AS a, o3.scale * o3.p0 AS p, o3.scale * o3.v0 AS v, o3.scale * o3.rt0 AS rt,
           o3.scale * o3.ro0 AS ro, o3.scale * o3.a20 AS a2, o3.scale * (o3.a20 + 1 + o3.u6 * 40) AS v2,
           o3.scale * (o3.a20 + 1 + o3.u6 * 40 + 2 + o3.u7 * 24) AS rt2, o3.scale AS scale,
           o3.u1 < 0.06 AS f1, o3.u4 < 0.06 AS f2, o3.u7 < 0.06 AS f3,
           CASE WHEN o3.u9 * 7 - floor(o3.u9 * 7) < 0.75 THEN 'satisfied' ELSE 'basically_satisfied' END AS score
    FROM o3 JOIN bench_routes rt ON rt.ci = o3.ci AND rt.d = o3.d AND rt.s = o3.s
    """


def _at(hours: str) -> str:
    return f"s.t0 + ({hours}) * interval '1 hour'"


def _iso(moment: str) -> str:
    return f"""to_char(({moment}) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') || '+00:00'"""


def _deadlines(start: str, resolution_from: str | None = None) -> str:
    resolution = resolution_from or start
    return (f"json_build_object('response_due_at', {_iso(start + ' + interval ' + chr(39) + '4 hours' + chr(39))}, "
            f"'resolution_due_at', {_iso(resolution + ' + interval ' + chr(39) + '72 hours' + chr(39))}, "
            f"'fallback', false)")


def _flag(column: str, extra: str = "json_build_object()") -> str:
    return f"CASE WHEN s.{column} THEN {FLAG} ELSE {extra} END"


# (action, from_state, to_state, at (hours expression), round, unit column, data expression) per kind.
E = "json_build_object()"


def _steps() -> dict[str, list[tuple[str, str | None, str, str, int, str, str]]]:
    t0 = "s.t0"
    report = ("report", None, "dispatched", "0", 1, "u", f"json_build_object('deadlines', {_deadlines(t0)})")
    def resolve(at: str, unit: str = "u", rnd: int = 1) -> tuple[str, str | None, str, str, int, str, str]:
        flagged = ("json_build_object('outcome', 'solved', 'evidence_flags', "
                   "json_build_array(json_build_object('flag', 'report_photo')))")
        data = f"CASE WHEN s.f3 THEN {flagged} ELSE json_build_object('outcome', 'solved') END"
        return ("resolve", "accepted", "resolved", at, rnd, unit, data)

    def rate(at: str, rnd: int, score: str = "s.score", to: str = "closed", unit: str = "u",
             deadlines: str | None = None) -> tuple[str, str | None, str, str, int, str, str]:
        data = f"json_build_object('score', {score}, 'rated_round', {rnd}"
        data += f", 'deadlines', {deadlines})" if deadlines else ")"
        return ("rate", "resolved", to, at, rnd if to == "closed" else rnd + 1, unit, data)

    second = _deadlines(_at("s.rt"))
    reopen_deadlines = _deadlines(_at("s.ro"))
    transfer_deadlines = _deadlines(_at("s.a * 0.4"), resolution_from=t0)
    age = "s.age"
    return {
        "ok": [
            report, ("urge", "dispatched", "dispatched", "s.a * 0.5", 1, "u", E),
            ("accept", "dispatched", "accepted", "s.a", 1, "u", E),
            ("assign", "accepted", "accepted", "s.a + 0.05 * s.scale", 1, "u", E),
            ("progress", "accepted", "accepted", "s.p", 1, "u", _flag("f1")),
            ("comment", "accepted", "accepted", "s.p + 0.2 * s.scale", 1, "u", E),
            ("progress", "accepted", "accepted", "(s.p + s.v) / 2 + 0.3 * s.scale", 1, "u", _flag("f2")),
            resolve("s.v + 0.4 * s.scale"), rate("s.rt", 1),
            ("comment", "closed", "closed", "s.rt + 0.5 * s.scale", 1, "u", E),
        ],
        "unsat": [
            report, ("accept", "dispatched", "accepted", "s.a", 1, "u", E),
            ("progress", "accepted", "accepted", "s.p", 1, "u", _flag("f1")),
            resolve("s.v"), rate("s.rt", 1, "'unsatisfied'", "dispatched", deadlines=second),
            ("accept", "dispatched", "accepted", "s.a2", 2, "u", E),
            ("progress", "accepted", "accepted", "(s.a2 + s.v2) / 2", 2, "u", _flag("f2")),
            resolve("s.v2", rnd=2), rate("s.rt2", 2, "'satisfied'"),
            ("comment", "closed", "closed", "s.rt2 + 0.5 * s.scale", 2, "u", E),
        ],
        "returned": [
            report, ("urge", "dispatched", "dispatched", "s.a * 0.3", 1, "u", E),
            ("return", "dispatched", "returned", "s.a * 0.5", 1, "u", E),
            ("redispatch", "returned", "dispatched", "s.a * 0.5 + 1.0 * s.scale", 1, "u2",
             "json_build_object('from_unit', 'x', 'to_unit', 'y')"),
            ("accept", "dispatched", "accepted", "s.a + 1.2 * s.scale", 1, "u2", E),
            ("assign", "accepted", "accepted", "s.a + 1.3 * s.scale", 1, "u2", E),
            ("progress", "accepted", "accepted", "s.p + 1.5 * s.scale", 1, "u2", _flag("f1")),
            ("progress", "accepted", "accepted", "(s.p + s.v) / 2 + 1.6 * s.scale", 1, "u2", _flag("f2")),
            resolve("s.v + 1.7 * s.scale", unit="u2"),
            ("auto_close", "resolved", "closed", "s.v + 169.7 * s.scale", 1, "u2", E),
        ],
        "transfer": [
            report, ("transfer", "dispatched", "dispatched", "s.a * 0.4", 1, "u2",
                     f"json_build_object('from_unit', 'x', 'to_unit', 'y', 'deadlines', {transfer_deadlines})"),
            ("accept", "dispatched", "accepted", "s.a", 1, "u2", E),
            ("assign", "accepted", "accepted", "s.a + 0.05 * s.scale", 1, "u2", E),
            ("progress", "accepted", "accepted", "s.p", 1, "u2", _flag("f1")),
            ("comment", "accepted", "accepted", "s.p + 0.2 * s.scale", 1, "u2", E),
            ("progress", "accepted", "accepted", "(s.p + s.v) / 2 + 0.3 * s.scale", 1, "u2", _flag("f2")),
            resolve("s.v + 0.4 * s.scale", unit="u2"), rate("s.rt", 1, unit="u2"),
            ("comment", "closed", "closed", "s.rt + 0.5 * s.scale", 1, "u2", E),
        ],
        "reopen": [
            report, ("accept", "dispatched", "accepted", "s.a", 1, "u", E),
            resolve("s.v"), rate("s.rt", 1),
            ("reopen", "closed", "dispatched", "s.ro", 2, "u", f"json_build_object('deadlines', {reopen_deadlines})"),
            ("accept", "dispatched", "accepted", "s.a2", 2, "u", E),
            ("progress", "accepted", "accepted", "(s.a2 + s.v2) / 2", 2, "u", _flag("f2")),
            resolve("s.v2", rnd=2), rate("s.rt2", 2, "'basically_satisfied'"),
            ("comment", "closed", "closed", "s.rt2 + 0.5 * s.scale", 2, "u", E),
        ],
        "invalid": [
            report, ("comment", "dispatched", "dispatched", "0.5 * s.scale", 1, "u", E),
            ("invalid", "dispatched", "invalid", "(1 + s.a) * s.scale", 1, "u", E),
            ("comment", "invalid", "invalid", "(2 + s.a) * s.scale", 1, "u", E),
        ],
        "withdrawn": [
            report, ("urge", "dispatched", "dispatched", "s.a * 0.2", 1, "u", E),
            ("withdraw", "dispatched", "closed", "s.a * 0.3", 1, "u", E),
        ],
        "unrated": [
            report, ("urge", "dispatched", "dispatched", "s.a * 0.5", 1, "u", E),
            ("accept", "dispatched", "accepted", "s.a", 1, "u", E),
            ("assign", "accepted", "accepted", "s.a + 0.05 * s.scale", 1, "u", E),
            ("progress", "accepted", "accepted", "s.p", 1, "u", _flag("f1")),
            resolve("s.v"),
            ("comment", "resolved", "resolved", "s.v + 1 * s.scale", 1, "u", E),
            ("auto_close", "resolved", "closed", "s.v + 168 * s.scale", 1, "u", E),
        ],
        "o_dispatched": [report, ("urge", "dispatched", "dispatched", f"{age} * 0.5", 1, "u", E)],
        "o_accepted": [
            report, ("accept", "dispatched", "accepted", f"{age} * 0.1", 1, "u", E),
            ("assign", "accepted", "accepted", f"{age} * 0.2", 1, "u", E),
            ("progress", "accepted", "accepted", f"{age} * 0.5", 1, "u", _flag("f1")),
            ("comment", "accepted", "accepted", f"{age} * 0.7", 1, "u", E),
        ],
        "o_returned": [
            report, ("urge", "dispatched", "dispatched", f"{age} * 0.2", 1, "u", E),
            ("return", "dispatched", "returned", f"{age} * 0.4", 1, "u", E),
        ],
        "o_resolved": [
            report, ("accept", "dispatched", "accepted", f"{age} * 0.1", 1, "u", E),
            ("progress", "accepted", "accepted", f"{age} * 0.3", 1, "u", _flag("f1")),
            ("progress", "accepted", "accepted", f"{age} * 0.45", 1, "u", _flag("f2")),
            resolve(f"{age} * 0.6"),
        ],
    }


# The ticket row per kind: state, round, final unit, last dispatch moment (hours), due base
# (hours; resolution due base), accepted (hours or NULL), resolved, closed, closed_reason,
# final rating round, outcome.
_TICKETS: dict[str, tuple[str, int, str, str, str, str, str | None, str | None, str | None, str | None, int | None]] = {
    "ok": ("closed", 1, "u", "0", "0", "0", "s.a", "s.v + 0.4 * s.scale", "s.rt", "rated", 1),
    "unsat": ("closed", 2, "u", "s.rt", "s.rt", "s.rt", "s.a2", "s.v2", "s.rt2", "rated", 2),
    "returned": ("closed", 1, "u2", "s.a * 0.5 + 1.0 * s.scale", "s.a * 0.5 + 1.0 * s.scale",
                 "s.a * 0.5 + 1.0 * s.scale", "s.a + 1.2 * s.scale", "s.v + 1.7 * s.scale", "s.v + 169.7 * s.scale",
                 "unrated", None),
    "transfer": ("closed", 1, "u2", "s.a * 0.4", "s.a * 0.4", "0", "s.a", "s.v + 0.4 * s.scale", "s.rt", "rated", 1),
    "reopen": ("closed", 2, "u", "s.ro", "s.ro", "s.ro", "s.a2", "s.v2", "s.rt2", "rated", 2),
    "invalid": ("invalid", 1, "u", "0", "0", "0", None, None, "(1 + s.a) * s.scale", None, None),
    "withdrawn": ("closed", 1, "u", "0", "0", "0", None, None, "s.a * 0.3", "withdrawn", None),
    "unrated": ("closed", 1, "u", "0", "0", "0", "s.a", "s.v", "s.v + 168 * s.scale", "unrated", None),
    "o_dispatched": ("dispatched", 1, "u", "0", "0", "0", None, None, None, None, None),
    "o_accepted": ("accepted", 1, "u", "0", "0", "0", "s.age * 0.1", None, None, None, None),
    "o_returned": ("returned", 1, "u", "0", "0", "0", None, None, None, None, None),
    "o_resolved": ("resolved", 1, "u", "0", "0", "0", "s.age * 0.1", "s.age * 0.6", None, None, None),
}
# Ratings per kind: (round, score expression, at hours).
_RATINGS: dict[str, list[tuple[int, str, str]]] = {
    "ok": [(1, "s.score", "s.rt")],
    "unsat": [(1, "'unsatisfied'", "s.rt"), (2, "'satisfied'", "s.rt2")],
    "transfer": [(1, "s.score", "s.rt")],
    "reopen": [(1, "s.score", "s.rt"), (2, "'basically_satisfied'", "s.rt2")],
}


def _opt(hours: str | None) -> str:
    return f"({_at(hours)})" if hours is not None else "NULL::timestamptz"


def _insert_sql(ticket_columns: list[str], world: World) -> str:
    """Tickets, ratings and events of `spec` in one statement (the final-rating keys go both ways)."""
    ticket_rows = []
    for kind, (state, rnd, unit, disp, resp_base, res_base, acc, res, closed, reason, final) in _TICKETS.items():
        over = {
            "id": "s.tid",
            "number": "'B' || lpad(s.tid::text, 10, '0')",
            "category_id": "c.id",
            "state": f"'{state}'",
            "handling_unit_id": f"s.{unit}",
            "routed_unit_id": "s.u",
            "assignee_id": "NULL::int",
            "round": str(rnd),
            "dispatched_at": _opt(disp),
            "response_due_at": f"({_at(resp_base)}) + interval '4 hours'",
            "resolution_due_at": f"({_at(res_base)}) + interval '72 hours'",
            "accepted_at": _opt(acc),
            "resolved_at": _opt(res),
            "closed_at": _opt(closed),
            "returned_at": _opt("s.age * 0.4" if kind == "o_returned" else None),
            "next_check_at": "NULL::timestamptz",
            "escalation_level": "0",
            "escalated_at": "NULL::timestamptz",
            "supervised": "false",
            "outcome": "'solved'" if res is not None else "NULL::text",
            "closed_reason": f"'{reason}'" if reason else "NULL::text",
            "final_rating_id": f"s.rid + {final - 1}" if final else "NULL::int",
            "duplicate_of_id": "NULL::int",
            "created_at": "s.t0",
            "updated_at": "s.t0",
            "version": "1",
            "extension_count": "0",
            "deadline_fallback": "false",
        }
        cols = ", ".join(over.get(name, f"t.{name}") for name in ticket_columns)
        ticket_rows.append(f"SELECT {cols} FROM spec s JOIN bench_cats c ON c.ci = s.ci, tickets t "
                           f"WHERE t.id = :template AND s.kind = '{kind}'")
    rating_rows = []
    for kind, ratings in _RATINGS.items():
        for rnd, score, when in ratings:
            rating_rows.append(
                f"SELECT s.rid + {rnd - 1}, s.tid, {rnd}, {score}, '', {world.deputy}, {_at(when)} "
                f"FROM spec s WHERE s.kind = '{kind}'"
            )
    event_rows = []
    for kind, steps in _steps().items():
        values = []
        for action, source, target, when, rnd, unit, data in steps:
            actor, role = {
                "report": (world.deputy, "deputy"), "rate": (world.deputy, "deputy"),
                "withdraw": (world.deputy, "deputy"), "urge": (world.deputy, "deputy"),
                "redispatch": (world.supervisor, "supervisor"), "reopen": (world.supervisor, "supervisor"),
                "invalid": (world.supervisor, "supervisor"), "auto_close": ("NULL", "system"),
            }.get(action, (world.handler, "handler"))
            src = f"'{source}'" if source else "NULL"
            values.append(f"('{action}', {_at(when)}, {actor}, '{role}', {src}, '{target}', {rnd}, s.{unit}, {data})")
        event_rows.append(
            "SELECT s.tid, v.* FROM spec s CROSS JOIN LATERAL (VALUES " + ", ".join(values) + ") "
            f"AS v(action, at, actor_id, actor_role, from_state, to_state, round, unit, data) WHERE s.kind = '{kind}'"
        )
    return f"""
    WITH t AS (
        INSERT INTO tickets ({", ".join(ticket_columns)})
        {" UNION ALL ".join(ticket_rows)}
        RETURNING id
    ),
    r AS (
        INSERT INTO ratings (id, ticket_id, round, score, comment, rater_id, at)
        {" UNION ALL ".join(rating_rows)}
        RETURNING id
    ),
    e AS (
        INSERT INTO ticket_events (ticket_id, action, at, actor_id, actor_role, from_state, to_state, round,
                                   handling_unit_id, note, data)
        SELECT x.tid, x.action, x.at, x.actor_id, x.actor_role, x.from_state, x.to_state, x.round, x.unit, '', x.data
        FROM ({" UNION ALL ".join(event_rows)}) AS x(tid, action, at, actor_id, actor_role, from_state, to_state,
                                                    round, unit, data)
        ORDER BY x.tid, x.at
        RETURNING id
    )
    SELECT (SELECT count(*) FROM t), (SELECT count(*) FROM r), (SELECT count(*) FROM e)
    """


def generate(world: World, template_id: int, count: int, now: datetime, seed: float) -> dict[str, int]:
    """Add `count` tickets with their trails and ratings (needs `prepare`); returns what was inserted.

    Flushes nothing through the ORM and commits nothing: the caller commits.
    """
    conn = db.session.connection()
    conn.exec_driver_sql("DROP TABLE IF EXISTS bench_cats")
    conn.exec_driver_sql("CREATE TEMP TABLE bench_cats (ci int PRIMARY KEY, id int)")
    conn.exec_driver_sql(
        "INSERT INTO bench_cats VALUES " + ", ".join(f"({i}, {c[0]})" for i, c in enumerate(world.categories))
    )
    first_id = db.session.execute(
        text("SELECT setval('tickets_id_seq', nextval('tickets_id_seq') + :n - 1) - :n + 1"), {"n": count}
    ).scalar_one()
    first_rating = db.session.execute(
        text("SELECT setval('ratings_id_seq', nextval('ratings_id_seq') + :n - 1) - :n + 1"), {"n": 2 * count}
    ).scalar_one()
    db.session.execute(text("SELECT setseed(:seed)"), {"seed": seed})
    conn.exec_driver_sql("DROP TABLE IF EXISTS spec")
    db.session.execute(text(_spec_sql()), {
        "first_id": first_id, "first_rating": first_rating, "n": count, "now": now,
        "categories": len(world.categories),
    })
    columns = [c.name for c in Ticket.__table__.columns]
    tickets, ratings, events = db.session.execute(
        text(_insert_sql(columns, world)), {"template": template_id}
    ).one()
    if tickets != count:
        raise RuntimeError(f"generated {tickets} of {count} tickets")
    kinds: dict[str, int] = dict(db.session.execute(text("SELECT kind, count(*) FROM spec GROUP BY kind")).all())
    return {"tickets": tickets, "ratings": ratings, "events": events, **{f"kind_{k}": v for k, v in kinds.items()}}

