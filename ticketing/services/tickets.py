"""The ticket use cases: report, then every action of the transition table.

Each function takes the actor, `now` and what the action needs; checks visibility
(NotFound), the state (TransitionNotAllowed), the actor's relation (Forbidden) and the
evidence (EvidenceRequired) in that order, before anything is written; then changes the
ticket, appends one event, and flushes. The caller commits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import Point
from sqlalchemy import select, update

from geo.crs import SUPPORTED_CRS, to_wgs84
from ticketing.errors import EvidenceRequired, Forbidden, InvalidInput, TransitionNotAllowed
from ticketing.extensions import db
from ticketing.models import (
    Category,
    Extension,
    OrgUnit,
    Photo,
    Rating,
    Ticket,
    TicketCoHandler,
    TicketCounter,
    TicketEvent,
    TicketFollower,
    UnitKind,
    User,
)
from ticketing.models.tickets import ExtensionState, ReporterKind, Visibility
from ticketing.bridge import webhooks
from ticketing.services import access, dispatch, notify
from ticketing.services import evidence as evidence_check
from ticketing.services import photos as photo_service
from ticketing.services.photos import ProcessedPhoto, Upload
from ticketing.settings import TicketSettings
from ticketing.storage import PhotoStore
from ticketing.workflow import Action, ClosedReason, Outcome, Relation, Role, Rule, Score, State, rule_for


# The largest value of an INTEGER id column (PostgreSQL's int4).
MAX_ID = 2**31 - 1


@dataclass(frozen=True)
class Evidence:
    """What a step brings: a note and already-uploaded files (verified here, stored on success)."""

    note: str = ""
    uploads: Sequence[Upload] = ()


# ---------------------------------------------------------------------------- report


def report(
    *,
    actor: User,
    category_code: str,
    description: str,
    lon: float | None,
    lat: float | None,
    crs: str = "wgs84",
    visibility: str = "public",
    title: str = "",
    address: str = "",
    uploads: Sequence[Upload] = (),
    now: datetime,
    settings: TicketSettings,
    store: PhotoStore,
) -> Ticket:
    """Create a ticket, route it and dispatch it as a work order, in the caller's transaction.

    Everything is validated (category, coordinates, every photo) before the first write,
    so a refused report leaves nothing behind in the database. Without coordinates the
    first photo with an EXIF GPS position locates the report (the event says so); with
    both, a photo taken far from the given position flags the ticket for review.
    """
    if actor.role != Role.DEPUTY:
        raise Forbidden(
            "only deputies report through this channel", code="action_forbidden", details={"action": "report"}
        )
    if visibility not in (v.value for v in Visibility):
        raise InvalidInput("visibility must be public or private", code="invalid_visibility")
    intake = _intake(category_code, description, lon, lat, crs, uploads, settings)
    category, routing, review_reasons, location_data = (
        intake.category, intake.routing, intake.review_reasons, intake.location_data
    )
    deadlines = dispatch.deadlines_from(now, category, settings)
    ticket = Ticket(
        number=next_number(now, settings),
        category=category,
        title=title.strip()[:200],
        description=description.strip(),
        address=address.strip()[:300],
        location=from_shape(Point(intake.lon, intake.lat), srid=4326),
        input_crs=intake.crs,
        visibility=Visibility(visibility),
        state=State.DISPATCHED,
        reporter_kind=ReporterKind.DEPUTY,
        reporter_id=actor.id,
        handling_unit=routing.handling_unit,
        routed_generation_id=routing.generation_id,
        routed_unit_id=routing.covering_unit.id if routing.covering_unit else None,
        routing=routing.snapshot,
        needs_review=bool(review_reasons),
        review_reasons=review_reasons,
        round=1,
        dispatched_at=now,
        next_check_at=now,
        response_due_at=deadlines.response_due_at,
        resolution_due_at=deadlines.resolution_due_at,
        deadline_fallback=deadlines.fallback,
        created_at=now,
        updated_at=now,
    )
    db.session.add(ticket)
    db.session.flush()
    event = _event(
        ticket,
        Action.REPORT,
        actor,
        now,
        from_state=None,
        to_state=State.DISPATCHED,
        data={"routing": routing.snapshot, **_deadline_data(ticket), **location_data},
    )
    _attach_photos(ticket, event, intake.processed, actor, now, store)
    return ticket


@dataclass(frozen=True)
class _Intake:
    """A report's checked inputs: its category, WGS-84 position, verified photos and routing."""

    category: Category
    lon: float
    lat: float
    crs: str
    processed: list[ProcessedPhoto]
    routing: dispatch.Routing
    review_reasons: list[str]
    location_data: dict[str, Any]


def _intake(
    category_code: str,
    description: str,
    lon: float | None,
    lat: float | None,
    crs: str,
    uploads: Sequence[Upload],
    settings: TicketSettings,
) -> _Intake:
    """Check what every report channel brings (category, description, position, photos) and route
    it; writes nothing. Without coordinates the first photo with an EXIF GPS position locates the
    report; with both, a photo taken far from the given position flags the ticket for review."""
    category = db.session.scalar(select(Category).where(Category.code == category_code, Category.active.is_(True)))
    if category is None:
        raise InvalidInput(
            f"unknown category {category_code!r}", code="unknown_category", details={"category": category_code}
        )
    if not description.strip():
        raise InvalidInput("a description is required", code="description_required")
    location_data: dict[str, Any] = {}
    review_reasons: list[str] = []
    if lon is None and lat is None:
        processed = _process_all(uploads, settings)
        wlon, wlat, index = _photo_point(processed)
        crs = "wgs84"  # EXIF GPS, converted to WGS-84 if it said otherwise
        location_data = {"location_source": "photo_exif", "location_photo": index}
    else:
        wlon, wlat = _checked_point(lon, lat, crs)
        processed = _process_all(uploads, settings)
        mismatch = _photo_mismatch(processed, (wlon, wlat), settings)
        if mismatch is not None:
            review_reasons.append("photo_location_mismatch")
            location_data = {"photo_location_mismatch": mismatch}
    routing = dispatch.route(wlon, wlat, category, settings)
    return _Intake(
        category, wlon, wlat, crs, processed, routing, [*routing.flags, *review_reasons], location_data
    )


def citizen_report(
    *,
    deputy: User,
    category_code: str,
    description: str,
    lon: float | None,
    lat: float | None,
    crs: str = "wgs84",
    address: str = "",
    uploads: Sequence[Upload] = (),
    now: datetime,
    settings: TicketSettings,
    store: PhotoStore,
) -> Ticket:
    """Create a citizen's report to `deputy` (who was reached through their QR code): pending review.

    The same checks as `report` (category, description, position or a photo's GPS, every
    photo) before the first write. The ticket is routed, so the deputy sees where it would
    go, but it is no work order yet: no deadlines, nobody told but the deputy (an inbox
    message), no partner pushes; `forward` dispatches it and `decline` ends it. The report
    step has no actor account (``actor_role`` citizen). The caller checks the deputy (an
    active deputy with a live code) and keeps the citizen's own data
    (`ticketing.services.citizen`).
    """
    if deputy.role != Role.DEPUTY:
        raise InvalidInput("citizen reports go to a deputy", code="not_a_deputy")
    intake = _intake(category_code, description, lon, lat, crs, uploads, settings)
    routing = intake.routing
    ticket = Ticket(
        number=next_number(now, settings),
        category=intake.category,
        description=description.strip(),
        address=address.strip()[:300],
        location=from_shape(Point(intake.lon, intake.lat), srid=4326),
        input_crs=intake.crs,
        visibility=Visibility.PUBLIC,
        state=State.PENDING_REVIEW,
        reporter_kind=ReporterKind.CITIZEN,
        deputy_id=deputy.id,
        handling_unit=routing.handling_unit,
        routed_generation_id=routing.generation_id,
        routed_unit_id=routing.covering_unit.id if routing.covering_unit else None,
        routing=routing.snapshot,
        needs_review=bool(intake.review_reasons),
        review_reasons=intake.review_reasons,
        round=1,
        created_at=now,
        updated_at=now,
    )
    db.session.add(ticket)
    db.session.flush()
    event = _event(
        ticket,
        Action.REPORT,
        None,
        now,
        from_state=None,
        to_state=State.PENDING_REVIEW,
        data={"routing": routing.snapshot, "channel": "citizen_qr", **intake.location_data},
        actor_role=CITIZEN_ROLE,
        announce=False,
    )
    _attach_photos(ticket, event, intake.processed, None, now, store)
    notify.insert_rows(notify.rows_for(
        notify.Message(
            kind="citizen_report",
            subject=f"群众随手拍 {ticket.number} 待您审核",
            body=f"{ticket.number} {intake.category.name}：{ticket.description[:120]}",
            dedupe_base=f"citizen-report:{ticket.id}",
            ticket_id=ticket.id,
            event_id=event.id,
        ),
        [deputy],
        now,
    ))
    return ticket


# The trail's name for steps a citizen took without an account (report, rating).
CITIZEN_ROLE = "citizen"


def next_number(now: datetime, settings: TicketSettings) -> str:
    """The next human-readable number for `now`'s year (``2026-000123``).

    The counter row is incremented with one UPDATE, which takes a row lock on
    PostgreSQL and the write lock on SQLite, so concurrent reports never share a number.
    """
    return next_numbers(now, settings, 1)[0]


def next_numbers(now: datetime, settings: TicketSettings, count: int) -> list[str]:
    """`count` consecutive numbers for `now`'s year, reserved with one UPDATE (see `next_number`)."""
    from zoneinfo import ZoneInfo

    year = now.astimezone(ZoneInfo(settings.timezone)).year
    session = db.session
    result = session.execute(
        update(TicketCounter).where(TicketCounter.year == year).values(last=TicketCounter.last + count)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        session.add(TicketCounter(year=year, last=count))
        session.flush()
        last = count
    else:
        last = int(session.scalar(select(TicketCounter.last).where(TicketCounter.year == year)) or 0)
    return [f"{year}-{n:06d}" for n in range(last - count + 1, last + 1)]


@dataclass(frozen=True)
class ChannelReport:
    """One report another system took in (a 12345 / 311 hotline row), parsed and checked by the caller.

    `lon`/`lat` are WGS84; `routing` is what `dispatch.route` said for them and the category.
    `data` (the hotline's agency, request type...) is kept on the report event.
    """

    external_id: str
    category: Category
    description: str
    lon: float
    lat: float
    routing: dispatch.Routing
    title: str = ""
    address: str = ""
    external_created_at: datetime | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


def report_from_channel(
    items: Sequence[ChannelReport], *, source: str, now: datetime, settings: TicketSettings
) -> list[Ticket]:
    """Create and dispatch tickets that reached us through another system, in the caller's transaction.

    The non-deputy variant of `report`, for bulk channels such as the hotline import
    (`ticketing.bridge.hotline`). Each item arrives with its routing decided by
    `dispatch.route` (the importer needs it before writing, to refuse points outside every
    boundary), so placement follows the rules of every other report. The reporter is a
    citizen known only to that system: `reporter_kind` citizen, no reporter or deputy
    account, so nobody here rates the work (the hotline calls its citizen back; an unrated
    resolved ticket closes itself). The trail starts with a system step (no actor) that
    names the source and external number. Deadlines, notifications and webhook pushes are
    those of a report. Written in a few statements per call, whatever its size (numbers
    reserved by one UPDATE, batched INSERTs); flushes. A (source, external_id) pair that
    exists already violates a unique index: callers skip known numbers first.
    """
    if not items:
        return []
    if not 1 <= len(source) <= 32:
        raise InvalidInput("a source name has 1 to 32 characters", code="invalid_source")
    deadlines: dict[int, Any] = {}
    tickets: list[Ticket] = []
    for item, number in zip(items, next_numbers(now, settings, len(items)), strict=True):
        if item.category.id not in deadlines:  # the same for every ticket of a category at `now`
            deadlines[item.category.id] = dispatch.deadlines_from(now, item.category, settings)
        due = deadlines[item.category.id]
        routing = item.routing
        tickets.append(Ticket(
            number=number,
            category=item.category,
            title=item.title.strip()[:200],
            description=item.description.strip(),
            address=item.address.strip()[:300],
            location=from_shape(Point(item.lon, item.lat), srid=4326),
            input_crs="wgs84",
            visibility=Visibility.PUBLIC,
            state=State.DISPATCHED,
            reporter_kind=ReporterKind.CITIZEN,
            handling_unit=routing.handling_unit,
            routed_generation_id=routing.generation_id,
            routed_unit_id=routing.covering_unit.id if routing.covering_unit else None,
            routing=routing.snapshot,
            needs_review=bool(routing.flags),
            review_reasons=list(routing.flags),
            round=1,
            dispatched_at=now,
            next_check_at=now,
            response_due_at=due.response_due_at,
            resolution_due_at=due.resolution_due_at,
            deadline_fallback=due.fallback,
            created_at=now,
            updated_at=now,
            source=source,
            external_id=item.external_id,
            external_created_at=item.external_created_at,
            co_handlers=[],  # known empty: notify reads it without a query per ticket
        ))
    db.session.add_all(tickets)
    db.session.flush()
    events = [
        TicketEvent(
            ticket_id=ticket.id,
            action=Action.REPORT,
            at=now,
            actor_id=None,
            actor_role="system",
            from_state=None,
            to_state=State.DISPATCHED,
            round=1,
            handling_unit_id=ticket.handling_unit_id,
            note="",
            data={
                "routing": item.routing.snapshot,
                **_deadline_data(ticket),
                "channel": {"source": source, "external_id": item.external_id, **item.data},
            },
        )
        for ticket, item in zip(tickets, items, strict=True)
    ]
    db.session.add_all(events)
    db.session.flush()
    notify.for_events(events, now)
    webhooks.for_events(events, now)
    return tickets


def _checked_point(lon: float | None, lat: float | None, crs: str) -> tuple[float, float]:
    if lon is None or lat is None:
        raise InvalidInput("a location (lon, lat) is required", code="location_required")
    if crs not in SUPPORTED_CRS or crs == "bd09":
        raise InvalidInput("crs must be wgs84 or gcj02", code="invalid_crs", details={"crs": crs})
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0) or lon != lon or lat != lat:
        raise InvalidInput(
            "coordinates out of range", code="location_out_of_range", details={"lon": lon, "lat": lat}
        )
    return to_wgs84(lon, lat, crs)  # type: ignore[arg-type]


def _photo_point(processed: Sequence[ProcessedPhoto]) -> tuple[float, float, int]:
    """The WGS-84 position of the first photo that has one, and that photo's index; else location_required."""
    for index, p in enumerate(processed):
        if p.position is not None:
            return (*p.position, index)
    raise InvalidInput(
        "a location (lon, lat) is required, or a photo with a GPS position", code="location_required"
    )


def _photo_mismatch(
    processed: Sequence[ProcessedPhoto], point: tuple[float, float], settings: TicketSettings
) -> dict[str, Any] | None:
    """How far the first positioned photo was taken from the given point, if further than allowed."""
    for index, p in enumerate(processed):
        if p.position is not None:
            far = evidence_check.distance_m(p.position, point)
            if far <= settings.photo_location_mismatch_m:
                return None
            return {"photo": index, "distance_m": round(far), "max_m": settings.photo_location_mismatch_m}
    return None


# ---------------------------------------------------------------------------- the steps


def forward(
    ticket: Ticket,
    actor: User,
    now: datetime,
    *,
    note: str = "",
    category_code: str | None = None,
    private: bool = False,
    settings: TicketSettings,
) -> TicketEvent:
    """The deputy forwards a citizen's report: from now on it is the deputy's work order.

    Optionally with a corrected category and made private. It is routed again (the category
    or the active boundaries may have changed since the citizen sent it) and dispatched with
    deadlines from `now`, as a deputy's own report is at the moment of reporting.
    """
    rule = _guard(ticket, Action.FORWARD, actor, Evidence(note))
    category = ticket.category
    if category_code and category_code != category.code:
        found = db.session.scalar(
            select(Category).where(Category.code == category_code, Category.active.is_(True))
        )
        if found is None:
            raise InvalidInput(
                f"unknown category {category_code!r}", code="unknown_category", details={"category": category_code}
            )
        category = found
    point = to_shape(ticket.location)
    # Routing and deadlines query: both are computed before the ticket changes (autoflush).
    routing = dispatch.route(point.x, point.y, category, settings)
    deadlines = dispatch.deadlines_from(now, category, settings)
    data: dict[str, Any] = {"routing": routing.snapshot}
    if category.id != ticket.category_id:
        data["category"] = {"from": ticket.category.code, "to": category.code}
        ticket.category = category
    if private:
        ticket.visibility = Visibility.PRIVATE
    _set_unit(ticket, routing.handling_unit)
    ticket.routed_generation_id = routing.generation_id
    ticket.routed_unit_id = routing.covering_unit.id if routing.covering_unit else None
    ticket.routing = routing.snapshot
    # Keep the report's own flags (a photo far from the pin); the routing's are taken afresh.
    kept = [r for r in (ticket.review_reasons or []) if r == "photo_location_mismatch"]
    ticket.review_reasons = [*routing.flags, *kept]
    ticket.needs_review = bool(ticket.review_reasons)
    ticket.dispatched_at = now
    ticket.response_due_at = deadlines.response_due_at
    ticket.resolution_due_at = deadlines.resolution_due_at
    ticket.deadline_fallback = deadlines.fallback
    data.update(_deadline_data(ticket))
    return _transition(ticket, rule, actor, now, State.DISPATCHED, note=note, data=data)


def decline(ticket: Ticket, actor: User, now: datetime, *, reason: str) -> TicketEvent:
    """The deputy declines a citizen's report with a reason, which the citizen sees on the tracking page."""
    rule = _guard(ticket, Action.DECLINE, actor, Evidence(reason))
    ticket.closed_at = now
    return _transition(ticket, rule, actor, now, State.DECLINED, note=reason)


def accept(ticket: Ticket, actor: User, now: datetime, *, note: str) -> TicketEvent:
    """The handling unit takes the work order on (a note is required)."""
    rule = _guard(ticket, Action.ACCEPT, actor, Evidence(note))
    ticket.accepted_at = now
    if ticket.assignee_id is None:
        ticket.assignee_id = actor.id
    return _transition(ticket, rule, actor, now, State.ACCEPTED, note=note)


def return_(ticket: Ticket, actor: User, now: datetime, *, reason: str) -> TicketEvent:
    """The handling unit sends the work order back (退单) with a reason, for a supervisor to re-dispatch."""
    rule = _guard(ticket, Action.RETURN, actor, Evidence(reason))
    ticket.returned_at = now  # the decision clock (RETURN_DECISION_HOURS) starts here
    return _transition(ticket, rule, actor, now, State.RETURNED, note=reason)


def redispatch(
    ticket: Ticket, actor: User, now: datetime, *, note: str, unit_code: str | None, settings: TicketSettings
) -> TicketEvent:
    """A supervisor sends a returned ticket out again, to the same or another unit in their subtree.

    The new unit's clock starts afresh: both deadlines are recomputed from `now`.
    """
    rule = _guard(ticket, Action.REDISPATCH, actor, Evidence(note))
    unit = _target_unit(unit_code, actor) if unit_code else ticket.handling_unit
    previous = ticket.handling_unit.code
    _set_unit(ticket, unit)
    _new_deadlines(ticket, now, settings)
    return _transition(
        ticket, rule, actor, now, State.DISPATCHED, note=note, data={"from_unit": previous, "to_unit": unit.code}
    )


def progress(
    ticket: Ticket, actor: User, now: datetime, *, evidence: Evidence, settings: TicketSettings, store: PhotoStore
) -> TicketEvent:
    """A handler (lead or co-handling unit) records a step with a note and photos."""
    rule = _guard(ticket, Action.PROGRESS, actor, evidence)
    processed = _process_all(evidence.uploads, settings)
    # The photos go in first: the event, written once, names the doubtful ones by id.
    photos = _attach_photos(ticket, None, processed, actor, now, store)
    flags = evidence_check.check(ticket, photos, settings)
    event = _transition(ticket, rule, actor, now, None, note=evidence.note, data=evidence_check.event_data(flags))
    _link_photos(photos, event)
    return event


def assign(ticket: Ticket, actor: User, now: datetime, *, assignee_username: str, note: str = "") -> TicketEvent:
    """Give the work order to a person of the handling unit."""
    rule = _guard(ticket, Action.ASSIGN, actor, Evidence(note))
    assignee = db.session.scalar(select(User).where(User.username == assignee_username, User.active.is_(True)))
    if assignee is None or assignee.unit_id != ticket.handling_unit_id or assignee.role != Role.HANDLER:
        raise InvalidInput(
            "the assignee must be an active handler of the handling unit",
            code="invalid_assignee",
            details={"assignee": assignee_username},
        )
    ticket.assignee_id = assignee.id
    return _transition(ticket, rule, actor, now, None, note=note, data={"assignee": assignee.username})


def transfer(
    ticket: Ticket, actor: User, now: datetime, *, unit_code: str, note: str, settings: TicketSettings
) -> TicketEvent:
    """Hand the ticket to another unit (转办); it must accept afresh, so the state becomes dispatched.

    A supervisor may transfer within their subtree; the handling unit itself only
    within its own district. The response deadline restarts; the resolution deadline stands.
    """
    rule = _guard(ticket, Action.TRANSFER, actor, Evidence(note))
    rel = access.relations(actor, ticket)
    unit = _unit_by_code(unit_code)
    if Relation.SUPERVISOR in rel:
        unit = _target_unit(unit_code, actor)
    else:
        district = _district_of(ticket.handling_unit)
        if district is None or not unit.is_within(district):
            raise InvalidInput(
                "a handling unit may only transfer within its district",
                code="transfer_outside_district",
                details={"unit": unit_code},
            )
        _working_unit(unit)
    if unit.id == ticket.handling_unit_id:
        raise InvalidInput("the ticket is already with that unit", code="same_unit")
    previous = ticket.handling_unit.code
    _set_unit(ticket, unit)
    cal_deadlines = dispatch.deadlines_from(now, ticket.category, settings)
    ticket.dispatched_at = now
    ticket.response_due_at = cal_deadlines.response_due_at
    ticket.deadline_fallback = ticket.deadline_fallback or cal_deadlines.fallback
    ticket.accepted_at = None
    return _transition(
        ticket,
        rule,
        actor,
        now,
        State.DISPATCHED,
        note=note,
        data={"from_unit": previous, "to_unit": unit.code, **_deadline_data(ticket)},
    )


def cohandle(ticket: Ticket, actor: User, now: datetime, *, unit_codes: Sequence[str], note: str = "") -> TicketEvent:
    """Call in co-handling units (吹哨): they see the ticket and add progress; the lead unit resolves."""
    rule = _guard(ticket, Action.COHANDLE, actor, Evidence(note))
    if not unit_codes:
        raise InvalidInput("name at least one unit", code="units_required")
    present = {c.unit_id for c in ticket.co_handlers}
    added = []
    for code in dict.fromkeys(unit_codes):
        unit = _unit_by_code(code)
        if unit.id == ticket.handling_unit_id or unit.id in present:
            continue
        if unit.kind not in (UnitKind.STREET, UnitKind.DEPARTMENT):
            raise InvalidInput(
                "co-handlers are streets or departments", code="invalid_co_handler", details={"unit": code}
            )
        ticket.co_handlers.append(TicketCoHandler(unit_id=unit.id, added_at=now))
        present.add(unit.id)
        added.append(unit.code)
    if not added:
        raise InvalidInput("those units already handle this ticket", code="nothing_to_add")
    return _transition(ticket, rule, actor, now, None, note=note, data={"units": added})


def resolve(
    ticket: Ticket,
    actor: User,
    now: datetime,
    *,
    outcome: str,
    evidence: Evidence,
    settings: TicketSettings,
    store: PhotoStore,
) -> TicketEvent:
    """The handling unit reports the result (solved, explained or referred) with a note and photos."""
    rule = _guard(ticket, Action.RESOLVE, actor, evidence)
    try:
        result = Outcome(outcome)
    except ValueError:
        raise InvalidInput(
            "outcome must be solved, explained or referred", code="invalid_outcome", details={"outcome": outcome}
        ) from None
    processed = _process_all(evidence.uploads, settings)
    photos = _attach_photos(ticket, None, processed, actor, now, store)
    flags = evidence_check.check(ticket, photos, settings)
    ticket.outcome = result
    ticket.resolved_at = now
    event = _transition(
        ticket,
        rule,
        actor,
        now,
        State.RESOLVED,
        note=evidence.note,
        data={"outcome": result.value, **evidence_check.event_data(flags)},
    )
    _link_photos(photos, event)
    return event


def rate(
    ticket: Ticket, actor: User, now: datetime, *, score: str, comment: str = "", settings: TicketSettings
) -> TicketEvent:
    """The reporter rates the round: 满意/基本满意 close it; 不满意 opens round + 1 with new deadlines."""
    rule = _guard(ticket, Action.RATE, actor, Evidence(comment))
    return _rate(ticket, rule, actor, now, score=score, comment=comment, settings=settings)


def rate_as_citizen(
    ticket: Ticket, now: datetime, *, score: str, comment: str = "", settings: TicketSettings
) -> TicketEvent:
    """The citizen who reported through a deputy's QR code rates the round, with the deputy's effect.

    The caller (`ticketing.services.citizen`) has checked the tracking link and that the
    deputy lets this citizen rate; here only the state and the score are checked. The step
    has no actor account (``actor_role`` citizen, no rater on the rating).
    """
    rule = rule_for(Action.RATE)
    if ticket.state not in rule.sources:
        raise TransitionNotAllowed(
            f"cannot rate a ticket that is {ticket.state.value}",
            details={"action": Action.RATE.value, "state": ticket.state.value},
        )
    return _rate(ticket, rule, None, now, score=score, comment=comment, settings=settings, actor_role=CITIZEN_ROLE)


def _rate(
    ticket: Ticket,
    rule: Rule,
    actor: User | None,
    now: datetime,
    *,
    score: str,
    comment: str,
    settings: TicketSettings,
    actor_role: str | None = None,
) -> TicketEvent:
    try:
        verdict = Score(score)
    except ValueError:
        raise InvalidInput(
            "score must be satisfied, basically_satisfied or unsatisfied",
            code="invalid_score",
            details={"score": score},
        ) from None
    rating = Rating(
        ticket_id=ticket.id, round=ticket.round, score=verdict, comment=comment, rater_id=actor.id if actor else None,
        at=now,
    )
    db.session.add(rating)
    db.session.flush()
    data: dict[str, Any] = {"score": verdict.value, "rated_round": ticket.round}
    if verdict == Score.UNSATISFIED:
        rated_round = ticket.round
        _next_round(ticket, now, settings)
        data.update(_deadline_data(ticket))
        event = _transition(
            ticket, rule, actor, now, State.DISPATCHED, note=comment, data=data, actor_role=actor_role
        )
        if rated_round >= 2:
            _supervise(ticket, now, rated_round)
        return event
    ticket.final_rating_id = rating.id
    ticket.closed_reason = ClosedReason.RATED
    ticket.closed_at = now
    return _transition(ticket, rule, actor, now, State.CLOSED, note=comment, data=data, actor_role=actor_role)


def close_unrated(ticket: Ticket, actor: User | None, now: datetime, *, note: str = "") -> TicketEvent:
    """Close a resolved ticket without a rating: by a supervisor (note required) or by the worker (actor None)."""
    action = Action.AUTO_CLOSE if actor is None else Action.CLOSE
    rule = _guard(ticket, action, actor, Evidence(note))
    ticket.closed_reason = ClosedReason.UNRATED
    ticket.closed_at = now
    return _transition(ticket, rule, actor, now, State.CLOSED, note=note)


def reopen(ticket: Ticket, actor: User, now: datetime, *, reason: str, settings: TicketSettings) -> TicketEvent:
    """A supervisor reopens a closed ticket: round + 1, new deadlines, same handling unit."""
    rule = _guard(ticket, Action.REOPEN, actor, Evidence(reason))
    _next_round(ticket, now, settings)
    ticket.closed_reason = None
    ticket.closed_at = None
    ticket.final_rating_id = None
    return _transition(ticket, rule, actor, now, State.DISPATCHED, note=reason, data=_deadline_data(ticket))


def mark_invalid(ticket: Ticket, actor: User, now: datetime, *, reason: str) -> TicketEvent:
    """A supervisor ends an open ticket as invalid (not a real or not a public matter)."""
    rule = _guard(ticket, Action.INVALID, actor, Evidence(reason))
    ticket.closed_at = now
    return _transition(ticket, rule, actor, now, State.INVALID, note=reason)


def mark_duplicate(ticket: Ticket, actor: User, now: datetime, *, original_number: str, note: str = "") -> TicketEvent:
    """A supervisor folds an open ticket into another; its reporter then follows the original."""
    rule = _guard(ticket, Action.DUPLICATE, actor, Evidence(note))
    original = db.session.scalar(select(Ticket).where(Ticket.number == original_number))
    if original is None or not access.relations(actor, original):
        raise InvalidInput("no such original ticket", code="unknown_original", details={"original": original_number})
    if original.id == ticket.id or original.state == State.DUPLICATE:
        raise InvalidInput(
            "the original must be another ticket that is not itself a duplicate", code="invalid_original"
        )
    ticket.duplicate_of_id = original.id
    ticket.closed_at = now
    followers = {f for f in db.session.scalars(
        select(TicketFollower.user_id).where(TicketFollower.ticket_id == ticket.id)
    )}
    if ticket.reporter_id is not None:
        followers.add(ticket.reporter_id)
    existing = set(db.session.scalars(select(TicketFollower.user_id).where(TicketFollower.ticket_id == original.id)))
    for uid in sorted(followers - existing - {original.reporter_id}):
        db.session.add(TicketFollower(ticket_id=original.id, user_id=uid, added_at=now))
    return _transition(ticket, rule, actor, now, State.DUPLICATE, note=note, data={"original": original.number})


def withdraw(ticket: Ticket, actor: User, now: datetime, *, note: str = "") -> TicketEvent:
    """The reporter withdraws a report the handling unit has not accepted yet; it closes unrated."""
    rule = _guard(ticket, Action.WITHDRAW, actor, Evidence(note))
    ticket.closed_reason = ClosedReason.WITHDRAWN
    ticket.closed_at = now
    return _transition(ticket, rule, actor, now, State.CLOSED, note=note)


def urge(ticket: Ticket, actor: User, now: datetime, *, note: str = "") -> TicketEvent:
    """The reporter or a supervisor presses the handling unit (催办)."""
    rule = _guard(ticket, Action.URGE, actor, Evidence(note))
    return _transition(ticket, rule, actor, now, None, note=note)


def add_info(
    ticket: Ticket, actor: User, now: datetime, *, evidence: Evidence, settings: TicketSettings, store: PhotoStore
) -> TicketEvent:
    """The reporter adds a note and/or photos to an open ticket."""
    rule = _guard(ticket, Action.ADD_INFO, actor, evidence)
    if not evidence.note.strip() and not evidence.uploads:
        raise EvidenceRequired("add a note or a photo", code="note_or_photo_required")
    processed = _process_all(evidence.uploads, settings)
    event = _transition(ticket, rule, actor, now, None, note=evidence.note)
    _attach_photos(ticket, event, processed, actor, now, store)
    return event


def comment(
    ticket: Ticket,
    actor: User,
    now: datetime,
    *,
    note: str,
    data: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
) -> TicketEvent:
    """Anyone who may see the ticket leaves a comment on its trail.

    ``dedupe_key`` makes a second comment with the same key impossible (the database refuses
    it); callers relaying another system's updates check ``event_exists`` first."""
    rule = _guard(ticket, Action.COMMENT, actor, Evidence(note))
    return _transition(ticket, rule, actor, now, None, note=note, data=data, dedupe_key=dedupe_key)


def event_exists(dedupe_key: str) -> bool:
    """Whether an event with this dedupe key was written already."""
    return db.session.scalar(select(TicketEvent.id).where(TicketEvent.dedupe_key == dedupe_key)) is not None


def review(ticket: Ticket, actor: User, now: datetime, *, note: str) -> TicketEvent:
    """A supervisor's look-back (回头看) on a finished ticket."""
    rule = _guard(ticket, Action.REVIEW, actor, Evidence(note))
    return _transition(ticket, rule, actor, now, None, note=note)


# ---------------------------------------------------------------------------- reading


def get_visible(actor: User, key: str) -> tuple[Ticket, set[Relation]]:
    """The ticket by number (``2026-000123``) or id, if the actor may see it; else NotFound."""
    query = select(Ticket)
    if key.isascii() and key.isdigit():  # str.isdigit() also admits "²", which int() refuses
        # An id beyond the column's range is simply absent (the databases would raise on it).
        ticket_id = int(key)
        ticket = db.session.scalar(query.where(Ticket.id == ticket_id)) if ticket_id <= MAX_ID else None
    else:
        ticket = db.session.scalar(query.where(Ticket.number == key))
    return ticket, access.require_visible(actor, ticket)  # type: ignore[return-value]


# ---------------------------------------------------------------------------- internals


def _guard(ticket: Ticket, action: Action, actor: User | None, evidence: Evidence) -> Rule:
    """Check visibility, state, relation and evidence, in that order; return the rule."""
    rule = rule_for(action)
    rel = access.require_visible(actor, ticket)
    if ticket.state not in rule.sources:
        raise TransitionNotAllowed(
            f"cannot {action.value} a ticket that is {ticket.state.value}",
            details={"action": action.value, "state": ticket.state.value},
        )
    access.require_relation(rule, rel)
    if rule.note and not evidence.note.strip():
        raise EvidenceRequired(
            f"{action.value} needs a note", code="note_required", details={"action": action.value}
        )
    if rule.photo and not evidence.uploads:
        raise EvidenceRequired(
            f"{action.value} needs at least one photo", code="photo_required", details={"action": action.value}
        )
    return rule


def _transition(
    ticket: Ticket,
    rule: Rule,
    actor: User | None,
    now: datetime,
    target: State | None,
    *,
    note: str = "",
    data: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
    actor_role: str | None = None,
) -> TicketEvent:
    if target is not None and target not in rule.targets:
        raise AssertionError(f"{rule.action} cannot lead to {target}")  # a bug, not bad input
    source = ticket.state
    if target is not None:
        ticket.state = target
    ticket.updated_at = now
    # Whatever changed, the worker recomputes when this ticket next needs it (sweep.py).
    ticket.next_check_at = now
    if target in _ENDS_THE_WORK_ORDER or (target == State.DISPATCHED and source != State.PENDING_REVIEW):
        _lapse_extensions(ticket, now)
    event = _event(
        ticket, rule.action, actor, now, from_state=source, to_state=target or source, note=note, data=data,
        dedupe_key=dedupe_key, actor_role=actor_role,
    )
    db.session.flush()
    return event


def _event(
    ticket: Ticket,
    action: Action,
    actor: User | None,
    now: datetime,
    *,
    from_state: State | None,
    to_state: State | None,
    note: str = "",
    data: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
    actor_role: str | None = None,
    announce: bool = True,
) -> TicketEvent:
    """Append one step; `actor_role` names an actor without an account (a citizen), and
    `announce=False` writes it without notifications and partner pushes."""
    event = TicketEvent(
        ticket_id=ticket.id,
        action=action,
        at=now,
        actor_id=actor.id if actor else None,
        actor_role=actor_role or (actor.role.value if actor else "system"),
        from_state=from_state,
        to_state=to_state,
        round=ticket.round,
        handling_unit_id=ticket.handling_unit_id,
        note=note.strip(),
        data=data or {},
        dedupe_key=dedupe_key,
    )
    db.session.add(event)
    db.session.flush()
    if announce:
        notify.for_event(event, now)
        webhooks.for_event(event, now)
    return event


# A pending extension request belongs to one work order: once the order is finished or
# handed out again (transfer, re-dispatch, a new round), nobody is left to answer it.
_ENDS_THE_WORK_ORDER = frozenset({State.RESOLVED, State.CLOSED, State.INVALID, State.DUPLICATE})


def _lapse_extensions(ticket: Ticket, now: datetime) -> None:
    db.session.execute(
        update(Extension)
        .where(Extension.ticket_id == ticket.id, Extension.state == ExtensionState.PENDING)
        .values(state=ExtensionState.REFUSED, decided_at=now, decision_note="lapsed: the work order moved on")
    )


def _process_all(uploads: Sequence[Upload], settings: TicketSettings) -> list[ProcessedPhoto]:
    photo_service.check_request(list(uploads), settings.photo_limits)
    return [photo_service.process(u, settings.photo_limits, local_tz=settings.timezone) for u in uploads]


def _attach_photos(
    ticket: Ticket,
    event: TicketEvent | None,
    processed: list[ProcessedPhoto],
    actor: User | None,
    now: datetime,
    store: PhotoStore,
) -> list[Photo]:
    rows = []
    for p in processed:
        photo_service.store(p, store)
        photo = photo_service.make_photo(p, ticket_id=ticket.id, uploader_id=actor.id if actor else None, now=now)
        photo.event_id = event.id if event is not None else None
        db.session.add(photo)
        rows.append(photo)
    if rows:
        db.session.flush()
    return rows


def _link_photos(photos: Sequence[Photo], event: TicketEvent) -> None:
    for photo in photos:
        photo.event_id = event.id
    if photos:
        db.session.flush()


def _deadline_data(ticket: Ticket) -> dict[str, Any]:
    return {
        "deadlines": {
            "response_due_at": ticket.response_due_at.isoformat() if ticket.response_due_at else None,
            "resolution_due_at": ticket.resolution_due_at.isoformat() if ticket.resolution_due_at else None,
            "fallback": ticket.deadline_fallback,
        }
    }


def _new_deadlines(ticket: Ticket, now: datetime, settings: TicketSettings) -> None:
    d = dispatch.deadlines_from(now, ticket.category, settings)
    ticket.dispatched_at = now
    ticket.response_due_at = d.response_due_at
    ticket.resolution_due_at = d.resolution_due_at
    ticket.deadline_fallback = d.fallback
    ticket.accepted_at = None
    ticket.resolved_at = None
    # A new dispatch starts a new ladder; a supervised ticket stays watched from the level above.
    watched = ticket.supervised and bool(notify.escalation_chain(ticket.handling_unit))
    ticket.escalation_level = 1 if watched else 0
    ticket.escalated_at = now if watched else None


def _supervise(ticket: Ticket, now: datetime, rated_round: int) -> TicketEvent:
    """A second 不满意: district supervision (挂牌督办); the next round runs under its watch."""
    ticket.supervised = True
    if notify.escalation_chain(ticket.handling_unit) and ticket.escalation_level < 1:
        ticket.escalation_level = 1
        ticket.escalated_at = now
    return _event(
        ticket,
        Action.SUPERVISE,
        None,
        now,
        from_state=ticket.state,
        to_state=ticket.state,
        data={"reason": "second_unsatisfied", "rated_round": rated_round},
        dedupe_key=f"supervise:{ticket.id}:{rated_round}",
    )


def _next_round(ticket: Ticket, now: datetime, settings: TicketSettings) -> None:
    # Deadlines first: computing them queries, and an autoflush of a half-changed ticket
    # would trip the database's checks (a resolved ticket without an outcome).
    _new_deadlines(ticket, now, settings)
    ticket.round += 1
    ticket.outcome = None


def _set_unit(ticket: Ticket, unit: OrgUnit) -> None:
    ticket.handling_unit = unit
    ticket.handling_unit_id = unit.id
    ticket.assignee_id = None


def _unit_by_code(code: str) -> OrgUnit:
    unit = db.session.scalar(select(OrgUnit).where(OrgUnit.code == code))
    if unit is None:
        raise InvalidInput(f"unknown unit {code!r}", code="unknown_unit", details={"unit": code})
    return unit


def _target_unit(code: str, actor: User) -> OrgUnit:
    """A unit the supervisor may send work to: inside their subtree, and one that handles work."""
    unit = _unit_by_code(code)
    if actor.unit is not None and not unit.is_within(actor.unit):
        raise InvalidInput("that unit is outside your area", code="unit_outside_scope", details={"unit": code})
    return _working_unit(unit)


# Units that take work orders; cities and districts only oversee them.
WORKING_UNIT_KINDS = frozenset({UnitKind.STREET, UnitKind.DEPARTMENT, UnitKind.DISPATCH})


def _working_unit(unit: OrgUnit) -> OrgUnit:
    if unit.kind not in WORKING_UNIT_KINDS:
        raise InvalidInput(
            "send work to a street, department or dispatch unit",
            code="invalid_target_unit",
            details={"unit": unit.code},
        )
    return unit


def _district_of(unit: OrgUnit) -> OrgUnit | None:
    for uid in reversed(unit.ancestor_ids()):
        u = db.session.get(OrgUnit, uid)
        if u is not None and u.kind == UnitKind.DISTRICT:
            return u
    return None
