"""Request and response schemas of /api/v1; the OpenAPI document is generated from them."""

from __future__ import annotations

from flask_smorest.fields import Upload
from marshmallow import Schema, ValidationError, fields, validate
from werkzeug.datastructures import FileStorage

from ticketing.services.extensions import MAX_DAYS, MIN_DAYS
from ticketing.workflow import Outcome, Score


class TokenRequest(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=80))
    password = fields.String(required=True, validate=validate.Length(min=1, max=200), load_only=True)
    scopes = fields.List(
        fields.String(validate=validate.OneOf(["read", "write"])), validate=validate.Length(min=1, max=2),
        load_default=None, metadata={"description": "what the token may do (default: read and write); "
                                                    "a read-only token is refused every change (403 insufficient_scope)"},
    )
    label = fields.String(load_default="api", validate=validate.Length(max=100),
                          metadata={"description": "which client holds the token (shown in token lists)"})


class UnitOut(Schema):
    code = fields.String()
    name = fields.String()
    name_en = fields.String()
    kind = fields.String()
    dept_kind = fields.String(allow_none=True)
    parent = fields.String(allow_none=True, metadata={"description": "the parent unit's code"})


class UserOut(Schema):
    username = fields.String()
    display_name = fields.String()
    role = fields.String()
    unit = fields.Nested(UnitOut, allow_none=True)


class TokenOut(Schema):
    id = fields.Integer(metadata={"description": "the token's id (to revoke it: DELETE /auth/tokens/{id})"})
    token = fields.String()
    token_type = fields.String()
    expires_at = fields.DateTime()
    scopes = fields.List(fields.String())
    label = fields.String()
    user = fields.Nested(UserOut)


class CategoryOut(Schema):
    code = fields.String()
    name = fields.String()
    name_en = fields.String()
    parent = fields.String(allow_none=True)
    handler_rule = fields.String()
    dept_kind = fields.String(allow_none=True)
    response_hours = fields.Integer()
    resolution_days = fields.Integer()
    urgent = fields.Boolean()


class PhotoUpload(Upload):
    """A file part of a multipart body; a plain text field of the same name is refused (422)."""

    def _deserialize(self, value, attr, data, **kwargs):  # type: ignore[no-untyped-def]
        if not isinstance(value, FileStorage):
            raise ValidationError("must be a file part, not a text field")
        return value


def _photos() -> fields.List:
    return fields.List(PhotoUpload(), load_default=list, metadata={"description": "JPEG, PNG, WebP or HEIC photos, or a short MP4 video"})


class BlankableFloat(fields.Float):
    """A float form field for which an empty value means "not given" (a form whose GPS found nothing)."""

    def deserialize(self, value, attr=None, data=None, **kwargs):  # type: ignore[no-untyped-def]
        if isinstance(value, str) and not value.strip():
            value = None
        return super().deserialize(value, attr, data, **kwargs)


class ReportIn(Schema):
    category = fields.String(required=True, metadata={"description": "a category code, e.g. city.litter"})
    description = fields.String(required=True, validate=validate.Length(min=1, max=5000))
    lon = BlankableFloat(allow_none=True, load_default=None, allow_nan=False)
    lat = BlankableFloat(allow_none=True, load_default=None, allow_nan=False)
    crs = fields.String(
        load_default="wgs84",
        validate=validate.OneOf(["wgs84", "gcj02"]),
        metadata={"description": "coordinate system of lon/lat: wgs84 (GPS) or gcj02 (Chinese map SDKs)"},
    )
    visibility = fields.String(load_default="public", validate=validate.OneOf(["public", "private"]))
    title = fields.String(load_default="", validate=validate.Length(max=200))
    address = fields.String(load_default="", validate=validate.Length(max=300))
    photos = _photos()


class ListArgs(Schema):
    state = fields.String(load_default=None)
    overdue = fields.Boolean(load_default=False, metadata={"description": "only tickets past a running deadline"})
    escalated = fields.Boolean(load_default=False, metadata={"description": "only escalated or supervised tickets"})
    # Capped so that the OFFSET stays within a 64-bit integer on both databases.
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10_000_000))
    page_size = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class PhotoOut(Schema):
    id = fields.Integer()
    content_type = fields.String()
    width = fields.Integer()
    height = fields.Integer()
    display_url = fields.String()
    thumb_url = fields.String()


class EventOut(Schema):
    id = fields.Integer()
    action = fields.String()
    at = fields.DateTime()
    actor = fields.String(allow_none=True)
    actor_role = fields.String()
    from_state = fields.String(allow_none=True)
    to_state = fields.String(allow_none=True)
    round = fields.Integer()
    handling_unit = fields.String(allow_none=True)
    note = fields.String()
    data = fields.Dict()
    photos = fields.List(fields.Nested(PhotoOut))


class BeforeAfterOut(Schema):
    before = fields.List(
        fields.Nested(PhotoOut),
        metadata={"description": "the report's photos, then those the reporter added later (add_info)"},
    )
    after = fields.List(
        fields.Nested(PhotoOut),
        metadata={"description": "the photos of the latest resolve (not of progress steps); empty before it"},
    )
    round = fields.Integer(
        allow_none=True,
        metadata={
            "description": "the round of that resolve, null before the first; lower than the ticket's round "
            "while a round reopened by an unsatisfied rating awaits its resolve"
        },
    )


class ExtensionOut(Schema):
    id = fields.Integer()
    days = fields.Integer(metadata={"description": "working days asked for"})
    state = fields.String(metadata={"description": "pending, approved or refused"})
    reason = fields.String()
    requested_at = fields.DateTime()
    decide_by = fields.DateTime(allow_none=True, metadata={"description": "when it goes up a level unanswered"})
    decider = fields.String(allow_none=True, metadata={"description": "code of the unit whose supervisors decide"})
    escalation_level = fields.Integer()
    decided_at = fields.DateTime(allow_none=True)


class TicketOut(Schema):
    id = fields.Integer()
    number = fields.String()
    state = fields.String()
    category = fields.String()
    title = fields.String()
    description = fields.String()
    address = fields.String()
    lon = fields.Float()
    lat = fields.Float()
    visibility = fields.String()
    handling_unit = fields.Nested(UnitOut)
    assignee = fields.String(allow_none=True)
    co_handlers = fields.List(fields.String())
    round = fields.Integer()
    dispatched_at = fields.DateTime(allow_none=True)
    response_due_at = fields.DateTime(allow_none=True)
    resolution_due_at = fields.DateTime(allow_none=True)
    deadline_fallback = fields.Boolean()
    accepted_at = fields.DateTime(allow_none=True)
    resolved_at = fields.DateTime(allow_none=True)
    closed_at = fields.DateTime(allow_none=True)
    outcome = fields.String(allow_none=True)
    closed_reason = fields.String(allow_none=True)
    escalation_level = fields.Integer()
    supervised = fields.Boolean()
    needs_review = fields.Boolean()
    review_reasons = fields.List(fields.String())
    routing = fields.Dict()
    duplicate_of = fields.String(allow_none=True)
    created_at = fields.DateTime()
    allowed_actions = fields.List(fields.String())
    extensions = fields.List(fields.Nested(ExtensionOut))
    photos = fields.List(fields.Nested(PhotoOut))
    events = fields.List(fields.Nested(EventOut))
    before_after = fields.Nested(BeforeAfterOut)


class TicketPage(Schema):
    items = fields.List(fields.Nested(TicketOut))
    page = fields.Integer()
    page_size = fields.Integer()
    total = fields.Integer()


# ---- action bodies


class NoteIn(Schema):
    note = fields.String(load_default="", validate=validate.Length(max=5000))


class ReasonIn(Schema):
    reason = fields.String(load_default="", validate=validate.Length(max=5000))


class RedispatchIn(NoteIn):
    unit = fields.String(load_default=None, metadata={"description": "unit code; default: the same unit"})


class AssignIn(NoteIn):
    assignee = fields.String(required=True, metadata={"description": "username of a handler of the unit"})


class TransferIn(NoteIn):
    unit = fields.String(required=True)


class CohandleIn(NoteIn):
    units = fields.List(fields.String(), required=True, validate=validate.Length(min=1, max=20))


class ResolveIn(NoteIn):
    outcome = fields.String(required=True, validate=validate.OneOf([o.value for o in Outcome]))


class NoteWithPhotosIn(NoteIn):
    photos = _photos()


class ResolveWithPhotosIn(ResolveIn):
    photos = _photos()


class RateIn(Schema):
    score = fields.String(required=True, validate=validate.OneOf([s.value for s in Score]))
    comment = fields.String(load_default="", validate=validate.Length(max=5000))


class DuplicateIn(NoteIn):
    original = fields.String(required=True, metadata={"description": "number of the original ticket"})


class ExtensionRequestIn(Schema):
    days = fields.Integer(
        required=True,
        validate=validate.Range(min=MIN_DAYS, max=MAX_DAYS),
        metadata={"description": "more working days, counted from the current resolution deadline"},
    )
    reason = fields.String(load_default="", validate=validate.Length(max=5000))


class ExtensionDecisionIn(NoteIn):
    approve = fields.Boolean(required=True, metadata={"description": "true approves; false refuses (note required)"})
