"""Supervision-list candidates from repeated complaints: list them, list or dismiss one.

The worker finds the candidates (`ticketing.services.repeats.detect`); a supervisor of
the district or above decides. The rules live in the service; views parse, call, commit.
"""

from __future__ import annotations

from typing import Any

from geoalchemy2.shape import to_shape
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from ticketing.api import presenters
from ticketing.api.blueprint import ApiBlueprint
from ticketing.api.context import actor, mutation, now
from ticketing.api.schemas import UnitOut
from ticketing.extensions import db
from ticketing.models import CandidateState, Category, OrgUnit, SupervisionCandidate, Ticket
from ticketing.services import repeats

blp = ApiBlueprint("api_supervision", __name__, description="Repeated complaints and the supervision list (挂牌督办)")
SECURED: list[dict[str, list[str]]] = [{"bearer": []}]


class CandidateArgs(Schema):
    state = fields.String(load_default=None, validate=validate.OneOf([s.value for s in CandidateState]))


class DecideIn(Schema):
    listed = fields.Boolean(required=True, metadata={"description": "true: put on the supervision list; false: dismiss"})
    note = fields.String(load_default="", validate=validate.Length(max=2000))


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


class CandidateList(Schema):
    items = fields.List(fields.Nested(CandidateOut))


def _present(candidates: list[SupervisionCandidate]) -> list[dict[str, Any]]:
    members = repeats.member_tickets([c.id for c in candidates])
    categories = dict(db.session.execute(select(Category.id, Category.code)).all())
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
    """Put an open candidate on the supervision list (its tickets become supervised) or dismiss it."""
    candidate = repeats.decide(candidate_id, actor(), body["listed"], now(), note=body["note"])
    return _present([candidate])[0]
