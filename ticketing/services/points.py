"""Deputy points, participation, the duty record (履职档案) and the quarterly publication.

Definitions (DESIGN.md §1, §7; periods are half-open ``[start, end)`` in UTC):

- A ticket is *credited* to a deputy: the reporter of a deputy report, or the deputy whose QR
  code a citizen scanned (``deputy_id``) for a forwarded citizen report.
- A *valid issue* is a credited ticket **created** in the period that is not invalid, not a
  duplicate, not declined, not still waiting for the deputy's review (pending_review), and not
  withdrawn by its reporter. Open tickets count: validity is about the report, not the outcome.
- A *solved issue* is a credited ticket **closed** in the period with a final rating of
  satisfied (满意) **or basically satisfied (基本满意)**: both are the reporter's acceptance,
  as in the satisfaction rate. Closed unrated, explained-and-closed-unrated or withdrawn do not
  count. An unsatisfied round that is later rated satisfied counts once, when it closes.
  A ticket closed, reopened and closed again is credited in the period of its last close.
- *Points* = ``per_valid × valid + per_solved × solved`` as ``Decimal`` (0.3 and 0.5 by default,
  ``POINTS_PER_VALID`` / ``POINTS_PER_SOLVED``), exact; the API writes them as strings.
- *Ranking*: every active deputy in scope, by points descending, then valid descending, then
  username; ties in points share a rank and the next rank skips (1, 1, 3: "competition ranking").
- *Participation rate* = deputies with at least one valid issue in the period ÷ all active deputies.
- A *quarterly snapshot* (``2026Q1``: 1 January to 1 April in Asia/Shanghai) is computed once,
  after the quarter has ended, and stored; it never changes afterwards.

Functions flush, never commit: the caller commits.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, or_, select

from ticketing.errors import Conflict, Forbidden, InvalidInput
from ticketing.extensions import db
from ticketing.models import OrgUnit, PointsSnapshot, Rating, Ticket, User
from ticketing.models.tickets import ReporterKind
from ticketing.workflow import ClosedReason, Role, Score, State

NOT_VALID_STATES = (State.INVALID, State.DUPLICATE, State.DECLINED, State.PENDING_REVIEW)
SOLVED_SCORES = (Score.SATISFIED, Score.BASICALLY_SATISFIED)
PERIOD = re.compile(r"^(\d{4})Q([1-4])$")


@dataclass(frozen=True)
class DeputyPoints:
    user: User
    valid: int
    solved: int
    points: Decimal
    rank: int


def rate(value: Any) -> Decimal:
    """A points setting (float, string or Decimal) as an exact Decimal: 0.3 stays 0.3."""
    return Decimal(str(value))


def _credited_to() -> Any:
    """The SQL expression of the deputy a ticket is credited to."""
    return case((Ticket.reporter_kind == ReporterKind.DEPUTY, Ticket.reporter_id), else_=Ticket.deputy_id)


def _valid_clause(start: datetime, end: datetime) -> Any:
    return and_(
        Ticket.created_at >= start,
        Ticket.created_at < end,
        Ticket.state.not_in(NOT_VALID_STATES),
        or_(Ticket.closed_reason.is_(None), Ticket.closed_reason != ClosedReason.WITHDRAWN),
    )


def _solved_clause(start: datetime, end: datetime) -> Any:
    return and_(
        Ticket.state == State.CLOSED,
        Ticket.closed_reason == ClosedReason.RATED,
        Ticket.closed_at >= start,
        Ticket.closed_at < end,
        Rating.score.in_(SOLVED_SCORES),
    )


def counts(start: datetime, end: datetime) -> dict[int, tuple[int, int]]:
    """(valid, solved) per credited deputy id in the period; deputies with neither are absent."""
    who = _credited_to()
    valid: dict[int, int] = {}
    for uid, in db.session.execute(select(who).where(_valid_clause(start, end))):
        if uid is not None:
            valid[uid] = valid.get(uid, 0) + 1
    solved: dict[int, int] = {}
    q = select(who).join(Rating, Rating.id == Ticket.final_rating_id).where(_solved_clause(start, end))
    for uid, in db.session.execute(q):
        if uid is not None:
            solved[uid] = solved.get(uid, 0) + 1
    return {uid: (valid.get(uid, 0), solved.get(uid, 0)) for uid in valid.keys() | solved.keys()}


def deputies(scope: OrgUnit | None = None) -> list[User]:
    """Active deputies, those whose unit lies within `scope` when given."""
    users = db.session.scalars(select(User).where(User.role == Role.DEPUTY, User.active.is_(True))).all()
    if scope is not None:
        users = [u for u in users if u.unit is not None and u.unit.is_within(scope)]
    return sorted(users, key=lambda u: u.username)


def points(
    start: datetime,
    end: datetime,
    *,
    per_valid: Any,
    per_solved: Any,
    scope: OrgUnit | None = None,
) -> list[DeputyPoints]:
    """The ranking of the active deputies (within `scope`) for the period, best first."""
    pv, ps = rate(per_valid), rate(per_solved)
    by_id = counts(start, end)
    rows = []
    for user in deputies(scope):
        valid, solved = by_id.get(user.id, (0, 0))
        rows.append((user, valid, solved, pv * valid + ps * solved))
    rows.sort(key=lambda r: (-r[3], -r[1], r[0].username))
    out: list[DeputyPoints] = []
    for i, (user, valid, solved, total) in enumerate(rows):
        rank = out[-1].rank if out and out[-1].points == total else i + 1
        out.append(DeputyPoints(user, valid, solved, total, rank))
    return out


def participation(start: datetime, end: datetime, scope: OrgUnit | None = None) -> tuple[int, int, Decimal]:
    """(deputies with at least one valid issue, all active deputies, rate rounded to 4 places)."""
    users = deputies(scope)
    by_id = counts(start, end)
    active = sum(1 for u in users if by_id.get(u.id, (0, 0))[0] > 0)
    total = len(users)
    share = (Decimal(active) / Decimal(total)).quantize(Decimal("0.0001")) if total else Decimal("0")
    return active, total, share


def duty_record(user: User, start: datetime, end: datetime, *, per_valid: Any, per_solved: Any) -> dict[str, Any]:
    """The deputy's tickets created or closed in the period, with what each earned in it."""
    pv, ps = rate(per_valid), rate(per_solved)
    who = _credited_to()
    q = (
        select(Ticket)
        .where(
            who == user.id,
            or_(
                and_(Ticket.created_at >= start, Ticket.created_at < end),
                and_(Ticket.closed_at >= start, Ticket.closed_at < end),
            ),
        )
        .order_by(Ticket.created_at, Ticket.id)
    )
    tickets = db.session.scalars(q).all()
    valid_ids = set(db.session.scalars(select(Ticket.id).where(who == user.id, _valid_clause(start, end))))
    solved_ids = set(
        db.session.scalars(
            select(Ticket.id)
            .join(Rating, Rating.id == Ticket.final_rating_id)
            .where(who == user.id, _solved_clause(start, end))
        )
    )
    scores = _final_scores(t.final_rating_id for t in tickets)
    items = []
    for t in tickets:
        valid, solved = t.id in valid_ids, t.id in solved_ids
        items.append(
            {
                "number": t.number,
                "title": t.title,
                "category": t.category.code,
                "state": t.state.value,
                "closed_reason": t.closed_reason.value if t.closed_reason else None,
                "created_at": t.created_at,
                "closed_at": t.closed_at,
                "rating": scores.get(t.final_rating_id) if t.final_rating_id else None,
                "valid": valid,
                "solved": solved,
                "points": pv * int(valid) + ps * int(solved),
            }
        )
    n_valid, n_solved = len(valid_ids), len(solved_ids)
    return {
        "username": user.username,
        "display_name": user.display_name,
        "start": start,
        "end": end,
        "valid": n_valid,
        "solved": n_solved,
        "points": pv * n_valid + ps * n_solved,
        "tickets": items,
    }


def _final_scores(ids: Iterable[int | None]) -> dict[int, str]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    rows = db.session.execute(select(Rating.id, Rating.score).where(Rating.id.in_(wanted)))
    return {rid: score.value for rid, score in rows}


def quarter_bounds(year: int, quarter: int, timezone: str = "Asia/Shanghai") -> tuple[datetime, datetime]:
    """The quarter as a half-open interval of aware datetimes (local midnights)."""
    if not 1 <= quarter <= 4:
        raise InvalidInput("quarter must be 1 to 4", code="bad_period")
    tz = ZoneInfo(timezone)
    start = datetime(year, 3 * quarter - 2, 1, tzinfo=tz)
    end = datetime(year + 1, 1, 1, tzinfo=tz) if quarter == 4 else datetime(year, 3 * quarter + 1, 1, tzinfo=tz)
    return start, end


def parse_period(period: str) -> tuple[int, int]:
    """``2026Q1`` → (2026, 1); anything else is bad input."""
    m = PERIOD.match(period)
    if not m:
        raise InvalidInput("a period looks like 2026Q1", code="bad_period")
    return int(m.group(1)), int(m.group(2))


def get_snapshot(period: str) -> PointsSnapshot | None:
    """The stored snapshot of a period, if published."""
    return db.session.scalar(select(PointsSnapshot).where(PointsSnapshot.period == period))


def snapshot_quarter(
    year: int,
    quarter: int,
    now: datetime,
    *,
    per_valid: Any,
    per_solved: Any,
    timezone: str = "Asia/Shanghai",
    recompute: bool = False,
) -> tuple[PointsSnapshot, bool]:
    """Publish a finished quarter once; (snapshot, created). A stored one is returned as it is;
    asking to recompute it is a Conflict. Flushes; the caller commits."""
    period = f"{year}Q{quarter}"
    start, end = quarter_bounds(year, quarter, timezone)
    existing = get_snapshot(period)
    if existing is not None:
        if recompute:
            raise Conflict(f"{period} is published and cannot change", code="snapshot_published")
        return existing, False
    if now < end:
        raise InvalidInput(f"{period} has not ended yet", code="quarter_not_over")
    ranking = points(start, end, per_valid=per_valid, per_solved=per_solved)
    active, total, share = participation(start, end)
    data = {
        "period": period,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "per_valid": str(rate(per_valid)),
        "per_solved": str(rate(per_solved)),
        "ranking": [
            {
                "rank": r.rank,
                "username": r.user.username,
                "display_name": r.user.display_name,
                "valid": r.valid,
                "solved": r.solved,
                "points": str(r.points),
            }
            for r in ranking
        ],
        "participation": {"active": active, "total": total, "rate": str(share)},
    }
    snap = PointsSnapshot(period=period, created_at=now, data=data)
    db.session.add(snap)
    db.session.flush()
    return snap, True


def ranking_scope(user: User) -> OrgUnit | None:
    """The unit whose deputies `user` may rank (None: an admin without a unit sees all); else Forbidden."""
    if user.role == Role.ADMIN and user.unit is None:
        return None
    if user.role not in (Role.SUPERVISOR, Role.ADMIN) or user.unit is None:
        raise Forbidden("only supervisors and admins see deputies' points", code="not_a_supervisor")
    return user.unit
