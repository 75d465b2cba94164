"""Repeated complaints (DESIGN.md §4–5): clusters of same-category tickets become supervision candidates.

The rule, with R = `radius_m`, T = `window_days`, K = `min_count`:

- A ticket *counts* if it was created in the window (now − T days, now] and is still
  open (dispatched, accepted, returned, resolved) or was closed after being handled
  (rated or unrated). Being created in the window, a closed one was also closed in it:
  "open or recent". Tickets ended as invalid, duplicate (counted in their original),
  declined or withdrawn, and citizen reports no deputy has forwarded yet, do not count.
- Each counting ticket belongs to one district: the nearest district at or above its
  routed (covering) unit, else its handling unit. Tickets with no district above them
  (the city's dispatch desk) are left out. Tickets of different districts or categories
  never cluster.
- A ticket already in a candidate of its category is never put in another one. A new
  ticket within a still-open candidate's `radius_m` of its centre joins it (the centre,
  the mean of its members' points, and the count follow). Members of listed or dismissed
  candidates are out of play: a dismissal is not undone by the next run, and only K new
  complaints make a new candidate.
- The remaining tickets cluster around seeds: a ticket's neighbours are the free tickets
  within R metres of it (itself included). The seed with the most neighbours (ties: the
  lowest ticket id) forms a candidate of itself and its neighbours if there are at least
  K of them; its members leave the pool and the next seed is chosen, until no seed has K.
  Members are thus within R of the seed, and at most 2R of each other.

Distances are computed in Python (numpy) on an equirectangular projection around the
points' mean latitude, so both databases give identical results; at city scale (a few
kilometres) its error is far below a metre. A grid of R-sized cells limits the pairwise
work to neighbouring cells.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from geoalchemy2.elements import WKBElement
from geoalchemy2.shape import from_shape
from shapely.geometry import Point
from sqlalchemy import and_, func, or_, select

from ticketing.errors import Conflict, Forbidden, NotFound
from ticketing.extensions import db
from ticketing.models import (
    CandidateState,
    Category,
    OrgUnit,
    SupervisionCandidate,
    SupervisionCandidateTicket,
    Ticket,
    UnitKind,
    User,
)
from ticketing.services import notify
from ticketing.services.tickets import _event
from ticketing.workflow import Action, ClosedReason, Role, State

# The mean Earth radius (IUGG), in metres.
EARTH_RADIUS_M = 6_371_008.8
# Open states that count: a citizen report awaiting its deputy (pending_review) is not yet a complaint.
COUNTED_OPEN = (State.DISPATCHED, State.ACCEPTED, State.RETURNED, State.RESOLVED)
# Closed tickets count when they were handled; a withdrawn report was the reporter's mistake.
COUNTED_CLOSED_REASONS = (ClosedReason.RATED, ClosedReason.UNRATED)
NOTIFY_KIND = "repeat_candidate"


@dataclass(frozen=True)
class _Point:
    ticket_id: int
    lon: float
    lat: float


@dataclass
class _Open:
    """An open candidate with its members' points, as loaded at the start of a run."""

    candidate: SupervisionCandidate
    members: list[_Point] = field(default_factory=list)


# ---------------------------------------------------------------------------- detection


def detect(now: datetime, *, radius_m: float, window_days: int, min_count: int) -> dict[str, int]:
    """Grow open candidates and create new ones from the tickets of the window; flushes, never commits.

    Idempotent: a second run as of the same time finds nothing to do. Two concurrent runs
    are the caller's to prevent (the worker's lock); should they race anyway, the unique
    `dedupe_key` makes the second creation fail rather than duplicate a candidate.
    Returns counts: candidates_created, tickets_added (to new and existing candidates).
    """
    start = now - timedelta(days=window_days)
    rows = _counting_tickets(start, now)
    taken = _tickets_in_candidates()
    district_of = _districts([unit_id for _, _, unit_id in rows])
    free: dict[tuple[int, int], list[_Point]] = defaultdict(list)
    for point, category_id, unit_id in rows:
        district = district_of.get(unit_id)
        if district is None or (point.ticket_id, category_id) in taken:
            continue
        free[(district, category_id)].append(point)
    opened = _open_candidates()

    created = added = 0
    for key in sorted(free):
        pool = sorted(free[key], key=lambda p: p.ticket_id)
        candidates = opened.get(key, [])
        joined = _join_open(pool, candidates, now)
        added += sum(len(v) for v in joined.values())
        gone = {tid for ids in joined.values() for tid in ids}
        pool = [p for p in pool if p.ticket_id not in gone]
        for members in _seed_clusters(pool, radius_m, min_count):
            candidate = _create(key, members, now, radius_m=radius_m, window_days=window_days)
            if candidate is not None:
                created += 1
                added += len(members)
    db.session.flush()
    return {"candidates_created": created, "tickets_added": added}


def _counting_tickets(start: datetime, now: datetime) -> list[tuple[_Point, int, int]]:
    """The tickets that count in the window, in id order: (point, category id, unit that places it)."""
    # Created after `start`, so a closed one was also closed within the window.
    closed_ok = and_(Ticket.state == State.CLOSED, Ticket.closed_reason.in_(COUNTED_CLOSED_REASONS))
    rows = db.session.execute(
        select(
            Ticket.id,
            Ticket.category_id,
            func.coalesce(Ticket.routed_unit_id, Ticket.handling_unit_id),
            func.ST_X(Ticket.location),
            func.ST_Y(Ticket.location),
        )
        .where(Ticket.created_at > start, Ticket.created_at <= now)
        .where(or_(Ticket.state.in_(COUNTED_OPEN), closed_ok))
        .order_by(Ticket.id)
    ).all()
    return [(_Point(int(tid), float(lon), float(lat)), int(cat), int(unit)) for tid, cat, unit, lon, lat in rows]


def _tickets_in_candidates() -> set[tuple[int, int]]:
    """(ticket id, category id) of every ticket already in a candidate, whatever its state."""
    rows = db.session.execute(
        select(SupervisionCandidateTicket.ticket_id, SupervisionCandidate.category_id).join(
            SupervisionCandidate, SupervisionCandidate.id == SupervisionCandidateTicket.candidate_id
        )
    ).all()
    return {(int(t), int(c)) for t, c in rows}


def _districts(unit_ids: Sequence[int]) -> dict[int, int]:
    """unit id → id of the nearest district at or above it (units with none are absent)."""
    ids = set(unit_ids)
    if not ids:
        return {}
    paths = dict(db.session.execute(select(OrgUnit.id, OrgUnit.path).where(OrgUnit.id.in_(ids))).all())
    districts = set(db.session.scalars(select(OrgUnit.id).where(OrgUnit.kind == UnitKind.DISTRICT)))
    out: dict[int, int] = {}
    for uid, path in paths.items():
        chain = [int(p) for p in path.strip("/").split("/") if p]
        found = next((a for a in reversed(chain) if a in districts), None)
        if found is not None:
            out[uid] = found
    return out


def _open_candidates() -> dict[tuple[int, int], list[_Open]]:
    """Open candidates by (district, category), each with its members' points."""
    rows = db.session.execute(
        select(SupervisionCandidate, Ticket.id, func.ST_X(Ticket.location), func.ST_Y(Ticket.location))
        .join(SupervisionCandidateTicket, SupervisionCandidateTicket.candidate_id == SupervisionCandidate.id)
        .join(Ticket, Ticket.id == SupervisionCandidateTicket.ticket_id)
        .where(SupervisionCandidate.state == CandidateState.OPEN)
        .order_by(SupervisionCandidate.id, Ticket.id)
    ).all()
    by_id: dict[int, _Open] = {}
    for candidate, tid, lon, lat in rows:
        entry = by_id.setdefault(candidate.id, _Open(candidate))
        entry.members.append(_Point(int(tid), float(lon), float(lat)))
    out: dict[tuple[int, int], list[_Open]] = defaultdict(list)
    for entry in by_id.values():
        out[(entry.candidate.district_unit_id, entry.candidate.category_id)].append(entry)
    return out


def _join_open(pool: list[_Point], candidates: list[_Open], now: datetime) -> dict[int, list[int]]:
    """Put free tickets near an open candidate's centre into it; returns candidate id → ticket ids added.

    Centres are those at the start of the run, so the result does not depend on the
    order of the tickets; a ticket near two candidates joins the nearer (then the older).
    """
    if not pool or not candidates:
        return {}
    centres = [_centre(c.members) for c in candidates]
    lat0 = float(np.mean([p.lat for p in pool] + [lat for _, lat in centres]))
    xy = _metres(np.array([(p.lon, p.lat) for p in pool]), lat0)
    cxy = _metres(np.array(centres), lat0)
    dist = np.sqrt(((xy[:, None, :] - cxy[None, :, :]) ** 2).sum(axis=2))  # tickets × candidates
    radii = np.array([c.candidate.radius_m for c in candidates], dtype=float)
    joined: dict[int, list[int]] = {}
    for i, point in enumerate(pool):
        within = np.flatnonzero(dist[i] <= radii)
        if within.size == 0:
            continue
        # argmin keeps the first of equal distances: candidates are in id order, so the older wins.
        best = candidates[int(within[np.argmin(dist[i][within])])]
        best.members.append(point)
        db.session.add(SupervisionCandidateTicket(candidate_id=best.candidate.id, ticket_id=point.ticket_id))
        joined.setdefault(best.candidate.id, []).append(point.ticket_id)
    for entry in candidates:
        if entry.candidate.id in joined:
            entry.candidate.center = _point_geom(_centre(entry.members))
            entry.candidate.ticket_count = len(entry.members)
            entry.candidate.updated_at = now
    return joined


def _seed_clusters(pool: list[_Point], radius_m: float, min_count: int) -> list[list[_Point]]:
    """Greedy seed clusters of the pool (sorted by ticket id): see the module docstring."""
    n = len(pool)
    if n < max(min_count, 1):
        return []
    xy = _metres(np.array([(p.lon, p.lat) for p in pool]), float(np.mean([p.lat for p in pool])))
    neighbours = _neighbours(xy, radius_m)
    counts = np.array([len(nb) for nb in neighbours])
    free = np.ones(n, dtype=bool)
    clusters: list[list[_Point]] = []
    while True:
        seed = int(np.argmax(counts))  # the first maximum: the lowest ticket id among the largest
        if counts[seed] < min_count:
            break
        members = neighbours[seed][free[neighbours[seed]]]
        clusters.append([pool[int(m)] for m in members])
        free[members] = False
        for m in members:
            counts[neighbours[int(m)]] -= 1  # the relation is symmetric: m was a free neighbour of each
        counts[~free] = -1
    return clusters


def _neighbours(xy: np.ndarray, radius_m: float) -> list[np.ndarray]:
    """For each point, the sorted indices of the points within `radius_m` (itself included)."""
    cells = np.floor(xy / radius_m).astype(np.int64)
    buckets: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, (cx, cy) in enumerate(cells.tolist()):
        buckets[(cx, cy)].append(i)
    out = []
    for i, (cx, cy) in enumerate(cells.tolist()):
        # Cells are R wide, so every point within R lies in this cell or one of its eight neighbours.
        near = np.array([j for dx in (-1, 0, 1) for dy in (-1, 0, 1) for j in buckets.get((cx + dx, cy + dy), ())])
        d2 = ((xy[near] - xy[i]) ** 2).sum(axis=1)
        out.append(np.sort(near[d2 <= radius_m * radius_m]))
    return out


def _metres(lonlat: np.ndarray, lat0: float) -> np.ndarray:
    """Equirectangular projection to metres around latitude `lat0` (origin at lon 0, which cancels out)."""
    rad = np.radians(lonlat)
    return np.column_stack(
        (EARTH_RADIUS_M * rad[:, 0] * np.cos(np.radians(lat0)), EARTH_RADIUS_M * rad[:, 1])
    )


def _centre(points: Sequence[_Point]) -> tuple[float, float]:
    # The mean of lon/lat equals the projected mean at this scale, to well under a metre.
    return float(np.mean([p.lon for p in points])), float(np.mean([p.lat for p in points]))


def _point_geom(lonlat: tuple[float, float]) -> WKBElement:
    return from_shape(Point(*lonlat), srid=4326)


def _create(
    key: tuple[int, int], members: list[_Point], now: datetime, *, radius_m: float, window_days: int
) -> SupervisionCandidate | None:
    """Add one candidate with its members and tell the district's supervisors; None if it exists already."""
    district_id, category_id = key
    dedupe_key = f"repeat:{district_id}:{category_id}:{min(p.ticket_id for p in members)}"
    if db.session.scalar(select(SupervisionCandidate.id).where(SupervisionCandidate.dedupe_key == dedupe_key)):
        return None  # only reachable if another run created it meanwhile
    candidate = SupervisionCandidate(
        dedupe_key=dedupe_key,
        district_unit_id=district_id,
        category_id=category_id,
        center=_point_geom(_centre(members)),
        radius_m=round(radius_m),
        window_days=window_days,
        ticket_count=len(members),
        state=CandidateState.OPEN,
        created_at=now,
        updated_at=now,
    )
    db.session.add(candidate)
    db.session.flush()
    for p in members:
        db.session.add(SupervisionCandidateTicket(candidate_id=candidate.id, ticket_id=p.ticket_id))
    db.session.flush()
    _notify_new(candidate, [p.ticket_id for p in members], now)
    return candidate


def _notify_new(candidate: SupervisionCandidate, ticket_ids: list[int], now: datetime) -> int:
    """Queue the message for the district's supervisors: they decide on the supervision list."""
    district = db.session.get(OrgUnit, candidate.district_unit_id)
    category = db.session.get(Category, candidate.category_id)
    numbers = list(db.session.scalars(select(Ticket.number).where(Ticket.id.in_(ticket_ids)).order_by(Ticket.id)))
    district_name = district.name if district else ""
    category_name = category.name if category else ""
    message = notify.Message(
        kind=NOTIFY_KIND,
        subject=f"{district_name}：{category_name} 重复投诉 {candidate.ticket_count} 件，建议挂牌督办",
        body=(
            f"{candidate.window_days} 天内、{candidate.radius_m} 米范围内同类投诉 {candidate.ticket_count} 件：\n"
            + "、".join(numbers)
        ),
        dedupe_base=f"candidate:{candidate.id}",
    )
    supervisors = notify.unit_users([candidate.district_unit_id], Role.SUPERVISOR)
    return notify.insert_rows(notify.rows_for(message, supervisors, now))


# ---------------------------------------------------------------------------- reading


def list_candidates(district_unit_id: int, state: CandidateState | None = None) -> list[SupervisionCandidate]:
    """The candidates of one district, newest first, optionally of one state."""
    query = select(SupervisionCandidate).where(SupervisionCandidate.district_unit_id == district_unit_id)
    if state is not None:
        query = query.where(SupervisionCandidate.state == state)
    return list(db.session.scalars(query.order_by(SupervisionCandidate.id.desc())))


def visible_candidates(actor: User, state: CandidateState | None = None) -> list[SupervisionCandidate]:
    """The candidates of the districts in a supervisor's (or admin's) subtree, newest first."""
    _require_supervisor(actor)
    query = select(SupervisionCandidate)
    if actor.unit is not None:
        in_subtree = select(OrgUnit.id).where(OrgUnit.path.startswith(actor.unit.path, autoescape=True))
        query = query.where(SupervisionCandidate.district_unit_id.in_(in_subtree))
    if state is not None:
        query = query.where(SupervisionCandidate.state == state)
    return list(db.session.scalars(query.order_by(SupervisionCandidate.id.desc())))


def member_tickets(candidate_ids: Sequence[int]) -> dict[int, list[Ticket]]:
    """candidate id → its member tickets in id order."""
    if not candidate_ids:
        return {}
    rows = db.session.execute(
        select(SupervisionCandidateTicket.candidate_id, Ticket)
        .join(Ticket, Ticket.id == SupervisionCandidateTicket.ticket_id)
        .where(SupervisionCandidateTicket.candidate_id.in_(list(candidate_ids)))
        .order_by(Ticket.id)
    ).all()
    out: dict[int, list[Ticket]] = {cid: [] for cid in candidate_ids}
    for cid, ticket in rows:
        out[cid].append(ticket)
    return out


# ---------------------------------------------------------------------------- deciding


def decide(
    candidate_id: int,
    actor: User,
    listed: bool,
    now: datetime,
    *,
    note: str = "",
    data: dict[str, Any] | None = None,
) -> SupervisionCandidate:
    """A supervisor of the district or above lists (挂牌督办) or dismisses an open candidate; flushes.

    Listing is done by ``services.supervision.add``, which first writes the supervision-list
    item and passes its event `data` (with ``item_id``); listing without it is a programming
    error. Listing flags every member ticket `supervised` and writes a `supervise` event on
    its trail (which notifies its handlers and watchers), also on tickets already supervised:
    each listing and each removal of an item shows on the trail, in pairs. Dismissing only
    closes the candidate.
    """
    if listed and not (data and "item_id" in data):
        raise ValueError("list a candidate through ticketing.services.supervision.add")
    _require_supervisor(actor)
    candidate = db.session.get(SupervisionCandidate, candidate_id)
    district = db.session.get(OrgUnit, candidate.district_unit_id) if candidate is not None else None
    # A candidate outside the actor's subtree is indistinguishable from an absent one, as for tickets.
    if candidate is None or district is None or (actor.unit is not None and not district.is_within(actor.unit)):
        raise NotFound("no such candidate", code="candidate_not_found")
    if candidate.state != CandidateState.OPEN:
        raise Conflict(
            f"the candidate is already {candidate.state.value}",
            code="candidate_decided",
            details={"state": candidate.state.value},
        )
    candidate.state = CandidateState.LISTED if listed else CandidateState.DISMISSED
    candidate.updated_at = now
    if listed:
        for ticket in member_tickets([candidate.id])[candidate.id]:
            ticket.supervised = True
            ticket.updated_at = now
            ticket.next_check_at = now  # as for every change: the worker recomputes the ticket's next moment
            _event(
                ticket,
                Action.SUPERVISE,
                actor,
                now,
                from_state=ticket.state,
                to_state=ticket.state,
                note=note,
                data={**(data or {}), "candidate_id": candidate.id, "source": "repeated_complaints"},
            )
    db.session.flush()
    return candidate


def _require_supervisor(actor: User) -> None:
    if actor.role not in (Role.SUPERVISOR, Role.ADMIN):
        raise Forbidden("only supervisors decide on the supervision list", code="supervisors_only")
    if actor.role == Role.SUPERVISOR and actor.unit is None:
        raise Forbidden("a supervisor without a unit oversees nothing", code="supervisors_only")
