"""The supervision list (挂牌督办): its candidates from repeated complaints, and its items.

The worker finds the candidates (`ticketing.services.repeats.detect`); a supervisor of
the district or above lists (with a reason, a responsible leader and a review date) or
dismisses one. Items are tickets or clusters on a district's or the city's list, with weekly
progress and the formal 《重点督办事项清单》 as CSV or XLSX. The rules live in
`ticketing.services.supervision` (and docs/supervision.md); views parse, call, commit.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, url_for
from geoalchemy2.shape import to_shape
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from ticketing import tabular
from ticketing.api import presenters
from ticketing.api.blueprint import ApiBlueprint
from ticketing.api.context import actor, mutation, now, settings
from ticketing.api.schemas import UnitOut
from ticketing.extensions import db
from ticketing.models import CandidateState, Category, OrgUnit, SupervisionCandidate, SupervisionItem, Ticket, User
from ticketing.services import repeats
from ticketing.services import supervision as svc
from ticketing.services.tickets import MAX_ID

blp = ApiBlueprint("api_supervision", __name__, description="Repeated complaints and the supervision list (挂牌督办)")
SECURED: list[dict[str, list[str]]] = [{"bearer": []}]


class CandidateArgs(Schema):
    state = fields.String(load_default=None, validate=validate.OneOf([s.value for s in CandidateState]))


class DecideIn(Schema):
    listed = fields.Boolean(required=True, metadata={"description": "true: put on the supervision list; false: dismiss"})
    note = fields.String(
        load_default="",
        validate=validate.Length(max=svc.MAX_NOTE),
        metadata={"description": "dismissal: why; listing: the reason when `reason` is not given"},
    )
    reason = fields.String(
        load_default="",
        validate=validate.Length(max=svc.MAX_REASON),
        metadata={"description": "督办理由; with listed=true, this (or note) is required"},
    )
    leader = fields.String(
        load_default="",
        validate=validate.Length(max=svc.MAX_LEADER),
        metadata={"description": "责任领导 (name and post); required with listed=true"},
    )
    review_on = fields.Date(
        load_default=None,
        allow_none=True,
        metadata={"description": "复核日期, not before today (local); required with listed=true"},
    )


class CandidateOut(Schema):
    id = fields.Integer()
    district = fields.Nested(UnitOut)
    category = fields.String(metadata={"description": "the category code"})
    lon = fields.Float(metadata={"description": "the centre of the member tickets (WGS84)"})
    lat = fields.Float()
    radius_m = fields.Integer()
    window_days = fields.Integer()
    ticket_count = fields.Integer()
    state = fields.String()
    tickets = fields.List(fields.String(), metadata={"description": "member ticket numbers"})
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    item_id = fields.Integer(allow_none=True, metadata={"description": "its active supervision-list item, if listed"})


class CandidateList(Schema):
    items = fields.List(fields.Nested(CandidateOut))


def _present(candidates: list[SupervisionCandidate]) -> list[dict[str, Any]]:
    members = repeats.member_tickets([c.id for c in candidates])
    categories = dict(db.session.execute(select(Category.id, Category.code)).all())
    items = dict(
        db.session.execute(
            select(SupervisionItem.candidate_id, SupervisionItem.id).where(
                SupervisionItem.candidate_id.in_([c.id for c in candidates]), SupervisionItem.removed_at.is_(None)
            )
        ).all()
    ) if candidates else {}
    out = []
    for c in candidates:
        centre = to_shape(c.center)
        tickets: list[Ticket] = members.get(c.id, [])
        out.append(
            {
                "id": c.id,
                "district": presenters.unit(db.session.get(OrgUnit, c.district_unit_id)),
                "category": categories.get(c.category_id),
                "lon": centre.x,
                "lat": centre.y,
                "radius_m": c.radius_m,
                "window_days": c.window_days,
                "ticket_count": c.ticket_count,
                "state": c.state.value,
                "tickets": [t.number for t in tickets],
                "created_at": c.created_at,
                "updated_at": c.updated_at,
                "item_id": items.get(c.id),
            }
        )
    return out


@blp.route("/supervision/candidates", methods=["GET"])
@blp.arguments(CandidateArgs, location="query")
@blp.response(200, CandidateList)
@blp.doc(security=SECURED)
def list_candidates(args: dict[str, Any]) -> dict[str, Any]:
    """Candidates of the districts in the caller's subtree, newest first (supervisors only)."""
    state = CandidateState(args["state"]) if args["state"] else None
    return {"items": _present(repeats.visible_candidates(actor(), state))}


@blp.route("/supervision/candidates/<int:candidate_id>/decide", methods=["POST"])
@mutation
@blp.arguments(DecideIn, location="json_or_form")
@blp.response(200, CandidateOut)
@blp.doc(security=SECURED)
def decide_candidate(body: dict[str, Any], candidate_id: int) -> dict[str, Any]:
    """Put an open candidate on the supervision list or dismiss it.

    Listing is the same as ``POST /supervision/items`` with this ``candidate_id``: it needs a
    reason (``reason``, else ``note``), a leader and a review date, creates the item, and
    flags every member ticket with a ``supervise`` event.
    """
    if body["listed"]:
        item = svc.add(
            actor(),
            candidate_id=candidate_id,
            reason=body["reason"].strip() or body["note"],
            leader=body["leader"],
            review_on=body["review_on"],
            now=now(),
            settings=settings(),
        )
        assert item.candidate_id is not None
        candidate = db.session.get(SupervisionCandidate, item.candidate_id)
        assert candidate is not None
    else:
        candidate = repeats.decide(candidate_id, actor(), False, now(), note=body["note"])
    return _present([candidate])[0]


# ---------------------------------------------------------------------------- the list's items

LANGUAGES = ("zh", "en")
FILE_RESPONSES = {
    "200": {
        "description": "《重点督办事项清单》 as a download (Content-Disposition: attachment, a Chinese file name)",
        "content": {
            tabular.CSV_MIMETYPE: {"schema": {"type": "string", "format": "binary"}},
            tabular.XLSX_MIMETYPE: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


class SupervisionItemIn(Schema):
    ticket = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=32),
        metadata={"description": "a ticket number (2026-000123) or id; exactly one of ticket and candidate_id"},
    )
    candidate_id = fields.Integer(
        load_default=None,
        strict=True,
        validate=validate.Range(min=1, max=MAX_ID),
        metadata={"description": "a repeated-complaint candidate (cluster) in state open"},
    )
    reason = fields.String(
        load_default="", validate=validate.Length(max=svc.MAX_REASON), metadata={"description": "督办理由 (required)"}
    )
    leader = fields.String(
        load_default="",
        validate=validate.Length(max=svc.MAX_LEADER),
        metadata={"description": "责任领导: name and post (required)"},
    )
    review_on = fields.Date(
        load_default=None, allow_none=True, metadata={"description": "复核日期, not before today (local date)"}
    )


class SupervisionRemoveIn(Schema):
    note = fields.String(
        load_default="", validate=validate.Length(max=svc.MAX_NOTE), metadata={"description": "销号说明 (required)"}
    )


class SupervisionItemArgs(Schema):
    active = fields.Boolean(
        load_default=None,
        allow_none=True,
        metadata={"description": "true: on the list; false: removed; absent: both"},
    )
    unit = fields.String(
        load_default=None,
        metadata={"description": "the lists of this unit (code) and the units below it; default the caller's"},
    )


class SupervisionExportArgs(SupervisionItemArgs):
    active = fields.Boolean(
        load_default=True, metadata={"description": "true (default): the items on the list; false: removed ones"}
    )
    format = fields.String(
        load_default="xlsx", validate=validate.OneOf(tabular.FORMATS), metadata={"description": "csv or xlsx"}
    )
    lang = fields.String(
        load_default=None,
        validate=validate.OneOf(LANGUAGES),
        metadata={"description": "headings and labels: zh or en; default the caller's language"},
    )


class SupervisedTicketOut(Schema):
    number = fields.String()
    title = fields.String()
    category = fields.String(metadata={"description": "the category code"})
    state = fields.String()
    handling_unit = fields.Nested(UnitOut)
    supervised = fields.Boolean()
    overdue = fields.Boolean(metadata={"description": "past a running deadline now (the KPIs' definition)"})
    resolution_due_at = fields.DateTime(allow_none=True)


class SupervisedCandidateOut(Schema):
    id = fields.Integer()
    district = fields.Nested(UnitOut)
    category = fields.String()
    ticket_count = fields.Integer()
    state = fields.String()


class SupervisionWeekOut(Schema):
    week = fields.String(metadata={"description": "ISO week, e.g. 2026-W10 (Monday to Sunday, local time)"})
    start = fields.Date(metadata={"description": "its Monday"})
    end = fields.Date(metadata={"description": "its Sunday"})
    as_of = fields.DateTime(metadata={"description": "when states and overdue are taken: the week's end, or the "
                                                     "removal (or now) in the last week"})
    events = fields.Dict(keys=fields.String(), values=fields.Integer(),
                         metadata={"description": "trail events of the covered tickets in the week, by action"})
    latest_note = fields.String(allow_none=True, metadata={"description": "the latest progress or resolve note"})
    latest_note_at = fields.DateTime(allow_none=True)
    latest_note_ticket = fields.String(allow_none=True)
    states = fields.Dict(keys=fields.String(), values=fields.String(),
                         metadata={"description": "ticket number → state at as_of"})
    state_counts = fields.Dict(keys=fields.String(), values=fields.Integer())
    overdue = fields.Boolean(metadata={"description": "some covered ticket was overdue at as_of"})
    overdue_tickets = fields.List(fields.String())


class SupervisionItemOut(Schema):
    id = fields.Integer()
    unit = fields.Nested(UnitOut, metadata={"description": "the supervising unit: whose list it is on"})
    subject = fields.String(metadata={"description": "ticket or cluster"})
    ticket = fields.Nested(SupervisedTicketOut, allow_none=True)
    candidate = fields.Nested(SupervisedCandidateOut, allow_none=True)
    tickets = fields.List(fields.Nested(SupervisedTicketOut), metadata={"description": "the tickets it covers"})
    reason = fields.String()
    leader = fields.String()
    review_on = fields.Date()
    review_due = fields.Boolean(metadata={"description": "on the list and its review date has come"})
    listed_by = fields.String(metadata={"description": "username"})
    listed_at = fields.DateTime()
    removed_by = fields.String(allow_none=True)
    removed_at = fields.DateTime(allow_none=True)
    removal_note = fields.String()
    active = fields.Boolean()
    overdue = fields.Boolean(metadata={"description": "some covered ticket is overdue now"})


class SupervisionItemDetailOut(SupervisionItemOut):
    weeks = fields.List(fields.Nested(SupervisionWeekOut), metadata={"description": "weekly progress, oldest first"})


class SupervisionItemList(Schema):
    items = fields.List(fields.Nested(SupervisionItemOut))


def _ticket_brief(t: Ticket) -> dict[str, Any]:
    return {
        "number": t.number,
        "title": t.title,
        "category": t.category.code,
        "state": t.state.value,
        "handling_unit": presenters.unit(t.handling_unit),
        "supervised": t.supervised,
        "overdue": svc.is_overdue(t, now()),
        "resolution_due_at": t.resolution_due_at,
    }


def _present_items(items: list[SupervisionItem]) -> list[dict[str, Any]]:
    covered = svc.subjects(items)
    moment, conf = now(), settings()
    out = []
    for item in items:
        tickets = [_ticket_brief(t) for t in covered[item.id]]
        candidate = db.session.get(SupervisionCandidate, item.candidate_id) if item.candidate_id else None
        category = db.session.get(Category, candidate.category_id) if candidate else None
        listed_by = db.session.get(User, item.listed_by_id)
        removed_by = db.session.get(User, item.removed_by_id) if item.removed_by_id else None
        out.append(
            {
                "id": item.id,
                "unit": presenters.unit(db.session.get(OrgUnit, item.unit_id)),
                "subject": "ticket" if item.ticket_id is not None else "cluster",
                "ticket": tickets[0] if item.ticket_id is not None and tickets else None,
                "candidate": {
                    "id": candidate.id,
                    "district": presenters.unit(db.session.get(OrgUnit, candidate.district_unit_id)),
                    "category": category.code if category else None,
                    "ticket_count": candidate.ticket_count,
                    "state": candidate.state.value,
                }
                if candidate is not None
                else None,
                "tickets": tickets,
                "reason": item.reason,
                "leader": item.leader,
                "review_on": item.review_on,
                "review_due": svc.review_due(item, moment, conf),
                "listed_by": listed_by.username if listed_by else None,
                "listed_at": item.listed_at,
                "removed_by": removed_by.username if removed_by else None,
                "removed_at": item.removed_at,
                "removal_note": item.removal_note,
                "active": svc.is_active(item),
                "overdue": any(t["overdue"] for t in tickets),
            }
        )
    return out


def _week(row: svc.WeekRow) -> dict[str, Any]:
    return {
        "week": row.week,
        "start": row.start,
        "end": row.end,
        "as_of": row.as_of,
        "events": row.events,
        "latest_note": row.latest_note,
        "latest_note_at": row.latest_note_at,
        "latest_note_ticket": row.latest_note_ticket,
        "states": row.states,
        "state_counts": row.state_counts(),
        "overdue": row.overdue,
        "overdue_tickets": row.overdue_tickets,
    }


def _item_response(item: SupervisionItem, status: int) -> Response:
    resp = jsonify(SupervisionItemOut().dump(_present_items([item])[0]))
    resp.status_code = status
    resp.headers["Location"] = url_for("api_supervision.get_item", item_id=item.id)
    return resp


@blp.route("/supervision/items", methods=["POST"])
@mutation
@blp.arguments(SupervisionItemIn, location="json")
@blp.response(201, SupervisionItemOut)
@blp.doc(security=SECURED)
def add_item(body: dict[str, Any]) -> Response:
    """Put a ticket or a repeated-complaint cluster on the caller's supervision list (district or city supervisors).

    404 for a subject the caller may not see, 409 for an ended ticket (``ticket_ended``), a decided
    candidate or one already listed (``already_listed``), 403 for other roles and levels, 422 for a
    missing reason or leader, a review date in the past, or not exactly one subject.
    """
    item = svc.add(
        actor(),
        ticket_number=body["ticket"],
        candidate_id=body["candidate_id"],
        reason=body["reason"],
        leader=body["leader"],
        review_on=body["review_on"],
        now=now(),
        settings=settings(),
    )
    return _item_response(item, 201)


@blp.route("/supervision/items", methods=["GET"])
@blp.arguments(SupervisionItemArgs, location="query")
@blp.response(200, SupervisionItemList)
@blp.doc(security=SECURED)
def list_items(args: dict[str, Any]) -> dict[str, Any]:
    """The items on the lists of the caller's unit and the units below it, newest first (supervisors)."""
    return {"items": _present_items(svc.visible_items(actor(), args["active"], args["unit"]))}


@blp.route("/supervision/items/export", methods=["GET"])
@blp.arguments(SupervisionExportArgs, location="query")
@blp.response(200)
@blp.doc(security=SECURED, responses=FILE_RESPONSES)
def export_items(args: dict[str, Any]) -> Response:
    """The formal 《重点督办事项清单》 of the caller's (or the given) unit and those below it, as CSV or XLSX.

    Listing order (oldest first), numbered; state, this week's progress and overdue as of now (as of
    the removal for removed items). Chinese headings unless ``lang=en`` (or the caller's language is English).
    """
    caller = actor()
    items = svc.visible_items(caller, args["active"], args["unit"])
    items.sort(key=lambda i: (i.listed_at, i.id))
    unit = svc.visible_unit(caller, args["unit"]) if args["unit"] else caller.unit
    lang = args["lang"] or (caller.locale if caller.locale in LANGUAGES else "zh")
    moment, conf = now(), settings()
    table = svc.export_table(items, moment, conf, unit=unit, lang=lang)
    body, mimetype = tabular.render(table, args["format"])
    name = svc.export_filename(unit, moment, conf, args["format"], lang)
    return Response(
        body,
        mimetype=mimetype,
        headers={"Content-Disposition": tabular.content_disposition(name), "Cache-Control": "private, no-store"},
    )


@blp.route("/supervision/items/<int:item_id>", methods=["GET"])
@blp.response(200, SupervisionItemDetailOut)
@blp.doc(security=SECURED)
def get_item(item_id: int) -> dict[str, Any]:
    """One item with its weekly progress (ISO weeks, from its listing to its removal or now)."""
    item = svc.get_item(actor(), item_id)
    out = _present_items([item])[0]
    out["weeks"] = [_week(r) for r in svc.progress(item, now(), settings())]
    return out


@blp.route("/supervision/items/<int:item_id>/remove", methods=["POST"])
@mutation
@blp.arguments(SupervisionRemoveIn, location="json")
@blp.response(200, SupervisionItemOut)
@blp.doc(security=SECURED)
def remove_item(body: dict[str, Any], item_id: int) -> Response:
    """Take an item off the list (销号) with a note; its tickets stay supervised only if still covered."""
    item = svc.remove(item_id, actor(), body["note"], now())
    return _item_response(item, 200)
