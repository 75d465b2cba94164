"""Turn models into the dictionaries the response schemas describe."""

from __future__ import annotations

from typing import Any

from flask import url_for
from geoalchemy2.shape import to_shape

from ticketing.models import Extension, OrgUnit, Photo, Ticket, TicketEvent, User
from ticketing.services import access
from ticketing.services import extensions as extension_service
from ticketing.workflow import Action, Relation, allowed_actions


def unit(u: OrgUnit | None) -> dict[str, Any] | None:
    if u is None:
        return None
    return {
        "code": u.code,
        "name": u.name,
        "name_en": u.name_en,
        "kind": u.kind.value,
        "dept_kind": u.dept_kind,
        "parent": u.parent.code if u.parent else None,
    }


def user(u: User) -> dict[str, Any]:
    return {"username": u.username, "display_name": u.display_name, "role": u.role.value, "unit": unit(u.unit)}


def photo(p: Photo) -> dict[str, Any]:
    return {
        "id": p.id,
        "content_type": p.content_type,
        "width": p.width,
        "height": p.height,
        "display_url": url_for("api_photos.photo", photo_id=p.id, variant="display"),
        "thumb_url": url_for("api_photos.photo", photo_id=p.id, variant="thumb"),
    }


# Doubtful-evidence flags are for those who judge the handling, not for everyone on the trail.
EVIDENCE_READERS = frozenset({Relation.SUPERVISOR})


def event(e: TicketEvent, relations: set[Relation] | frozenset[Relation] = frozenset()) -> dict[str, Any]:
    return {
        "id": e.id,
        "action": e.action.value,
        "at": e.at,
        "actor": e.actor.display_name if e.actor else None,
        "actor_role": e.actor_role,
        "from_state": e.from_state.value if e.from_state else None,
        "to_state": e.to_state.value if e.to_state else None,
        "round": e.round,
        "handling_unit": e.handling_unit.code if e.handling_unit else None,
        "note": e.note,
        "data": e.data if relations & EVIDENCE_READERS else {k: v for k, v in e.data.items() if k != "evidence_flags"},
        "photos": [photo(p) for p in e.photos],
    }


def before_after(t: Ticket) -> dict[str, Any]:
    """The problem as reported beside the latest claimed fix, for the timeline and the cockpit.

    `before` holds the report's photos, then those added later with add_info (which only the
    reporter or their deputy may do): both show the problem. `after` holds the photos of the latest
    resolve event only (progress photos are steps, not the result) and `round` is that resolve's
    round: lower than the ticket's own round when the reporter was unsatisfied and the next round
    has not been resolved yet. With no resolve yet, `after` is empty and `round` is null.
    """
    before = [photo(p) for e in t.events if e.action in (Action.REPORT, Action.ADD_INFO) for p in e.photos]
    resolved = [e for e in t.events if e.action is Action.RESOLVE]
    last = resolved[-1] if resolved else None
    return {
        "before": before,
        "after": [photo(p) for p in last.photos] if last else [],
        "round": last.round if last else None,
    }


def extension(e: Extension) -> dict[str, Any]:
    from ticketing.extensions import db

    decider = db.session.get(OrgUnit, e.decider_unit_id) if e.decider_unit_id else None
    return {
        "id": e.id,
        "days": e.days,
        "state": e.state.value,
        "reason": e.reason,
        "requested_at": e.requested_at,
        "decide_by": e.decide_by,
        "decider": decider.code if decider else None,
        "escalation_level": e.escalation_level,
        "decided_at": e.decided_at,
    }


def ticket(t: Ticket, viewer: User, *, trail: bool = True) -> dict[str, Any]:
    """A ticket as its viewer may see it; with `trail`, its photos and full event list."""
    point = to_shape(t.location)
    rel = access.relations(viewer, t)
    extensions = extension_service.for_ticket(t)
    actions = extension_service.applicable_actions(allowed_actions(t.state, rel), extensions, viewer)
    out: dict[str, Any] = {
        "id": t.id,
        "number": t.number,
        "state": t.state.value,
        "category": t.category.code,
        "title": t.title,
        "description": t.description,
        "address": t.address,
        "lon": round(point.x, 7),
        "lat": round(point.y, 7),
        "visibility": t.visibility.value,
        "handling_unit": unit(t.handling_unit),
        "assignee": t.assignee.username if t.assignee else None,
        "co_handlers": [c.unit.code for c in t.co_handlers],
        "round": t.round,
        "dispatched_at": t.dispatched_at,
        "response_due_at": t.response_due_at,
        "resolution_due_at": t.resolution_due_at,
        "deadline_fallback": t.deadline_fallback,
        "accepted_at": t.accepted_at,
        "resolved_at": t.resolved_at,
        "closed_at": t.closed_at,
        "outcome": t.outcome.value if t.outcome else None,
        "closed_reason": t.closed_reason.value if t.closed_reason else None,
        "escalation_level": t.escalation_level,
        "supervised": t.supervised,
        "needs_review": t.needs_review,
        "review_reasons": list(t.review_reasons or []),
        "routing": t.routing,
        "duplicate_of": None,
        "created_at": t.created_at,
        "allowed_actions": [a.value for a in actions],
        "extensions": [extension(e) for e in extensions],
    }
    if t.duplicate_of_id:
        from ticketing.extensions import db

        original = db.session.get(Ticket, t.duplicate_of_id)
        out["duplicate_of"] = original.number if original else None
    if trail:
        out["photos"] = [photo(p) for p in t.photos]
        out["events"] = [event(e, rel) for e in t.events]
        out["before_after"] = before_after(t)
    return out
