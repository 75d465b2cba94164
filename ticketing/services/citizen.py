"""The citizen channel (代表二维码): QR codes, a citizen's report, the deputy's review, the tracking link.

A deputy hands out a QR code that opens ``/c/<code>``: a report form bound to that deputy,
for anyone, without an account. The citizen's report becomes a ticket in `pending_review`
(``tickets.citizen_report``) plus a `CitizenReport` row with what only this channel has:

* the tracking link ``/t/<token>``. The token is HMAC-SHA256(secret key, the form's one-time
  key), 192 bits, so the same form posted twice (a lost answer, a double tap) finds the same
  report and shows the same link again; the database keeps only the token's SHA-256 and the
  form key's SHA-256, so a copy of the database alone opens no link. A link works until
  `expires_at` (``CITIZEN_LINK_DAYS`` after the report).
* the citizen's optional name and phone: only the deputy sees them (`contact`). Nothing
  public (Open311, the cockpit, exports, the tracking page itself) reads this table.
* `may_rate`: whether the deputy lets the citizen rate the handling.

The deputy forwards the report (then it is the deputy's work order, dispatched as if the
deputy had reported it, the citizen credited on the trail) or declines it with a reason
that the citizen reads on the tracking page. When the deputy allows it and the ticket is
resolved, the citizen's rating has exactly the deputy's effect: 满意/基本满意 close the
ticket, 不满意 sends it back for another round (a second 不满意 puts it under district
supervision). Whoever rates a round first, deputy or citizen, rates it.

Functions flush, never commit: the caller commits.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ticketing.errors import Conflict, Forbidden, InvalidInput, NotFound
from ticketing.extensions import db
from ticketing.models import (
    Channel,
    CitizenCode,
    CitizenReport,
    DeliveryState,
    Notification,
    OrgUnit,
    Photo,
    Ticket,
    TicketEvent,
    User,
)
from ticketing.services import access, notify
from ticketing.services import tickets as ticket_service
from ticketing.services.photos import Upload
from ticketing.settings import TicketSettings
from ticketing.storage import PhotoStore
from ticketing.workflow import Action, Outcome, Relation, Role, Score, State

CODE_BYTES = 16  # 128 bits in the QR code's URL
TOKEN_BYTES = 24  # 192 bits in the tracking link
FORM_KEY = re.compile(r"[0-9a-f]{32}")
PHONE = re.compile(r"\+?[0-9][0-9 -]{4,24}")
MAX_NAME = 100
MAX_DESCRIPTION = 5000
MAX_COMMENT = 5000
# The outbox kind of the SMS that carries a tracking link; its body is blanked once delivered.
LINK_SMS = "citizen_link"
LINK_SMS_REDACTED = "（跟踪链接已在发送后删除）"


# ---------------------------------------------------------------------------- QR codes


def live_code(deputy: User, now: datetime) -> CitizenCode:
    """The deputy's live QR code, made on first use. Flushes."""
    _require_deputy(deputy)
    code = _live(deputy)
    if code is not None:
        return code
    try:
        # Two first visits at once: the partial unique index lets one win; the other reads it.
        with db.session.begin_nested():
            code = CitizenCode(deputy_id=deputy.id, code=_new_code(), created_at=now)
            db.session.add(code)
    except IntegrityError:
        code = _live(deputy)
        if code is None:
            raise
    return code


def renew_code(deputy: User, now: datetime) -> CitizenCode:
    """Revoke the deputy's live code (printed cards stop working) and issue a new one. Flushes.

    Reports already made through the old code keep working: their tracking links do not
    depend on it.
    """
    _require_deputy(deputy)
    db.session.execute(
        update(CitizenCode)
        .where(CitizenCode.deputy_id == deputy.id, CitizenCode.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    code = CitizenCode(deputy_id=deputy.id, code=_new_code(), created_at=now)
    db.session.add(code)
    db.session.flush()
    return code


def deputy_for_code(code: str) -> CitizenCode:
    """The live code ``code`` of an active deputy; NotFound for anything else (unknown, revoked...)."""
    row = db.session.scalar(select(CitizenCode).where(CitizenCode.code == code[:64])) if code else None
    if row is None or row.revoked_at is not None or not row.deputy.active or row.deputy.role != Role.DEPUTY:
        raise NotFound("this QR code is not in use", code="qr_code_not_found")
    return row


def _live(deputy: User) -> CitizenCode | None:
    return db.session.scalar(
        select(CitizenCode).where(CitizenCode.deputy_id == deputy.id, CitizenCode.revoked_at.is_(None))
    )


def _new_code() -> str:
    return secrets.token_urlsafe(CODE_BYTES)


def _require_deputy(user: User) -> None:
    if user.role != Role.DEPUTY:
        raise Forbidden("only deputies have a QR code", code="action_forbidden", details={"action": "qr_code"})


# ---------------------------------------------------------------------------- the citizen's report


@dataclass(frozen=True)
class Received:
    """A citizen's report as the form's answer needs it.

    `token` is the tracking link's secret, to be shown now (it is stored only hashed); None
    when a replayed form's link cannot be derived again (the secret key changed since).
    """

    ticket: Ticket
    token: str | None
    replayed: bool = False


@dataclass(frozen=True)
class Contact:
    """What the citizen told about themselves (both optional), and whether a link SMS was asked for."""

    name: str = ""
    phone: str = ""
    sms: bool = False


def new_form_key() -> str:
    """A one-time key for a fresh report form (its hidden field)."""
    return secrets.token_hex(16)


def report(
    code: str,
    *,
    form_key: str,
    category_code: str,
    description: str,
    lon: float | None,
    lat: float | None,
    crs: str = "wgs84",
    address: str = "",
    contact: Contact = Contact(),
    uploads: Sequence[Upload] = (),
    now: datetime,
    settings: TicketSettings,
    store: PhotoStore,
    secret: str,
    link_days: int,
    link_for: Callable[[str], str],
) -> Received:
    """Take a citizen's report through the QR code `code`: a ticket pending the deputy's review.

    The same checks as a deputy's report (category, position or a photo's GPS position,
    photos) plus the contact's. `form_key` is the form's hidden one-time key: posted again,
    the first report stands and its link is returned again (`find_replay`; the caller
    calls it first, and again after an IntegrityError of two posts racing). `secret` is the
    app's secret key (tokens are derived from it); `link_for(token)` makes the absolute
    tracking URL for the SMS. With ``contact.sms`` an SMS with the link is queued in the
    outbox. Flushes; nothing is written when anything is refused.
    """
    row = deputy_for_code(code)
    if len(description.strip()) > MAX_DESCRIPTION:
        raise InvalidInput(
            f"a description has at most {MAX_DESCRIPTION} characters", code="description_too_long"
        )
    name, phone = _checked_contact(contact)
    if not FORM_KEY.fullmatch(form_key or ""):
        form_key = new_form_key()  # no usable key: this post cannot be recognised again
    ticket = ticket_service.citizen_report(
        deputy=row.deputy,
        category_code=category_code,
        description=description,
        lon=lon,
        lat=lat,
        crs=crs,
        address=address,
        uploads=uploads,
        now=now,
        settings=settings,
        store=store,
    )
    token = _token(secret, form_key)
    db.session.add(
        CitizenReport(
            ticket_id=ticket.id,
            code_id=row.id,
            token_hash=_hash(token),
            expires_at=now + timedelta(days=link_days),
            form_key_hash=_hash("form:" + form_key),
            name=name,
            phone=phone,
            may_rate=False,
            created_at=now,
        )
    )
    db.session.flush()
    if contact.sms and phone:
        _queue_link_sms(ticket, row.deputy, phone, link_for(token), now)
    return Received(ticket, token)


def find_replay(code: str, form_key: str, secret: str) -> Received | None:
    """The report an earlier post of the same form made, with its link again; None if there is none.

    Conflict if the key was used on another deputy's form (a tampered form).
    """
    if not FORM_KEY.fullmatch(form_key or ""):
        return None
    found = db.session.scalar(select(CitizenReport).where(CitizenReport.form_key_hash == _hash("form:" + form_key)))
    if found is None:
        return None
    if found.code.code != code:
        raise Conflict("this form was already used", code="form_already_used")
    token = _token(secret, form_key)
    ticket = db.session.get(Ticket, found.ticket_id)
    assert ticket is not None
    return Received(ticket, token if hmac.compare_digest(_hash(token), found.token_hash) else None, replayed=True)


def _checked_contact(contact: Contact) -> tuple[str, str]:
    name = " ".join(contact.name.split())
    if len(name) > MAX_NAME:
        raise InvalidInput(f"a name has at most {MAX_NAME} characters", code="name_too_long")
    phone = contact.phone.strip()
    if phone:
        if not PHONE.fullmatch(phone):
            raise InvalidInput("a phone number has 5 to 20 digits", code="invalid_phone")
        phone = ("+" if phone.startswith("+") else "") + re.sub(r"\D", "", phone)
        if not 5 <= len(phone.lstrip("+")) <= 20:
            raise InvalidInput("a phone number has 5 to 20 digits", code="invalid_phone")
    if contact.sms and not phone:
        raise InvalidInput("give a phone number to get the link by SMS", code="phone_required")
    return name, phone


def _token(secret: str, form_key: str) -> str:
    digest = hmac.new(secret.encode(), b"citizen-link:" + form_key.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:TOKEN_BYTES]).decode().rstrip("=")


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _queue_link_sms(ticket: Ticket, deputy: User, phone: str, link: str, now: datetime) -> None:
    """One SMS to the citizen with the link, through the outbox (the worker sends it)."""
    notify.insert_rows([{
        "dedupe_key": f"citizen-link:{ticket.id}",
        "user_id": None,
        "channel": Channel.SMS,
        "address": phone,
        "ticket_id": ticket.id,
        "event_id": None,
        "kind": LINK_SMS,
        "subject": f"随手拍 {ticket.number}",
        "body": f"您反映的问题已收到（编号 {ticket.number}），{_titled(deputy.display_name)}将审核。查看进度：{link}",
        "state": DeliveryState.PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "last_error": "",
        "created_at": now,
        "sent_at": None,
    }])


def _titled(name: str) -> str:
    """王芳 → 王芳代表 (a demo name such as 王代表 already carries the title)."""
    return name if name.endswith("代表") else f"{name}代表"


def forget_sent_links() -> int:
    """Blank the body and number of link SMS the outbox is done with (sent or given up); returns how many.

    The outbox must hold the link until the SMS is out; afterwards the database keeps no copy.
    """
    result = db.session.execute(
        update(Notification)
        .where(
            Notification.kind == LINK_SMS,
            Notification.state.in_([DeliveryState.SENT, DeliveryState.DEAD]),
            Notification.address != "",
        )
        .values(body=LINK_SMS_REDACTED, address="")
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def forget_contacts(ticket_ids: Iterable[int]) -> int:
    """Blank the citizens' names and phones of these tickets (for the retention job); returns rows changed."""
    ids = sorted(set(ticket_ids))
    if not ids:
        return 0
    result = db.session.execute(
        update(CitizenReport)
        .where(CitizenReport.ticket_id.in_(ids), (CitizenReport.name != "") | (CitizenReport.phone != ""))
        .values(name="", phone="")
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------- the deputy's review


def pending(deputy: User) -> list[Ticket]:
    """The citizens' reports waiting for this deputy's review, oldest first."""
    return list(db.session.scalars(
        select(Ticket)
        .join(CitizenReport, CitizenReport.ticket_id == Ticket.id)
        .where(Ticket.deputy_id == deputy.id, Ticket.state == State.PENDING_REVIEW)
        .order_by(Ticket.created_at, Ticket.id)
    ))


def reviewed(deputy: User, limit: int = 20) -> list[Ticket]:
    """This deputy's citizen reports already forwarded or declined, latest change first."""
    return list(db.session.scalars(
        select(Ticket)
        .join(CitizenReport, CitizenReport.ticket_id == Ticket.id)
        .where(Ticket.deputy_id == deputy.id, Ticket.state != State.PENDING_REVIEW)
        .order_by(Ticket.updated_at.desc(), Ticket.id.desc())
        .limit(limit)
    ))


def contact(ticket: Ticket, actor: User) -> CitizenReport | None:
    """The citizen's side of a QR report, for its deputy only (None for anyone else or another ticket)."""
    if ticket.deputy_id is None or ticket.deputy_id != actor.id:
        return None
    return db.session.get(CitizenReport, ticket.id)


def forward(
    ticket: Ticket,
    actor: User,
    now: datetime,
    *,
    note: str = "",
    category_code: str | None = None,
    private: bool = False,
    may_rate: bool = False,
    settings: TicketSettings,
) -> TicketEvent:
    """The deputy forwards the citizen's report into the normal flow (`tickets.forward`) and
    decides at once whether the citizen may rate the result."""
    event = ticket_service.forward(
        ticket, actor, now, note=note, category_code=category_code, private=private, settings=settings
    )
    found = db.session.get(CitizenReport, ticket.id)
    if found is not None:
        found.may_rate = may_rate
        db.session.flush()
    return event


def decline(ticket: Ticket, actor: User, now: datetime, *, reason: str) -> TicketEvent:
    """The deputy declines the citizen's report with a reason the citizen reads (`tickets.decline`)."""
    return ticket_service.decline(ticket, actor, now, reason=reason)


def set_may_rate(ticket: Ticket, actor: User, allow: bool) -> CitizenReport:
    """The deputy lets the citizen rate (or stops them). NotFound unless the actor may see the ticket;
    Forbidden unless it is a QR report to this deputy."""
    rel = access.require_visible(actor, ticket)
    found = db.session.get(CitizenReport, ticket.id)
    if found is None or ticket.deputy_id != actor.id or Relation.REPORTER not in rel:
        raise Forbidden(
            "only the deputy a citizen reported to decides whether the citizen rates",
            code="action_forbidden",
            details={"action": "citizen_rating"},
        )
    found.may_rate = allow
    db.session.flush()
    return found


# ---------------------------------------------------------------------------- the tracking link


def by_token(token: str, now: datetime) -> CitizenReport:
    """The report a tracking link opens; NotFound for an unknown or expired link."""
    found = None
    if token and len(token) <= 64:
        found = db.session.scalar(select(CitizenReport).where(CitizenReport.token_hash == _hash(token)))
    if found is None or found.expires_at <= now:
        raise NotFound("no such tracking link, or it has expired", code="tracking_link_not_found")
    return found


def may_rate_now(found: CitizenReport, ticket: Ticket) -> bool:
    """Whether the citizen may rate now: the deputy allows it and the ticket waits for a rating."""
    return found.may_rate and ticket.state == State.RESOLVED


def rate(
    token: str, *, score: str, comment: str = "", now: datetime, settings: TicketSettings
) -> TicketEvent:
    """The citizen rates through the tracking link, with the deputy's effect (`tickets.rate_as_citizen`).

    NotFound for a bad link; Forbidden when the deputy has not allowed it; TransitionNotAllowed
    when the ticket is not waiting for a rating (e.g. the deputy rated first).
    """
    found = by_token(token, now)
    if not found.may_rate:
        raise Forbidden("your deputy has not asked you to rate this report", code="rating_not_allowed")
    if len(comment) > MAX_COMMENT:
        raise InvalidInput(f"a comment has at most {MAX_COMMENT} characters", code="comment_too_long")
    ticket = db.session.get(Ticket, found.ticket_id)
    assert ticket is not None
    return ticket_service.rate_as_citizen(ticket, now, score=score, comment=comment.strip(), settings=settings)


def photo_for(found: CitizenReport, photo_id: int) -> Photo:
    """A photo the tracking page shows (one of a public step's); NotFound otherwise."""
    photo = db.session.get(Photo, photo_id) if 0 < photo_id <= ticket_service.MAX_ID else None
    if photo is None or photo.ticket_id != found.ticket_id or photo.event is None:
        raise NotFound("no such photo", code="photo_not_found")
    if photo.event.action not in PHOTO_STEPS:
        raise NotFound("no such photo", code="photo_not_found")
    return photo


# What the citizen's trail shows of each step: whether it is shown at all, and its note.
# Notes of internal steps (returns, transfers, comments, assignments) stay inside: they may
# name people or discuss the citizen. Handlers are never named: a staff step shows its unit.
PUBLIC_NOTES = frozenset({Action.FORWARD, Action.DECLINE, Action.ACCEPT, Action.PROGRESS, Action.RESOLVE,
                          Action.INVALID})
PUBLIC_STEPS = PUBLIC_NOTES | frozenset({
    Action.REPORT, Action.RETURN, Action.REDISPATCH, Action.TRANSFER, Action.COHANDLE, Action.RATE,
    Action.CLOSE, Action.AUTO_CLOSE, Action.REOPEN, Action.DUPLICATE, Action.WITHDRAW, Action.SUPERVISE,
    Action.ESCALATE,
})
PHOTO_STEPS = frozenset({Action.REPORT, Action.PROGRESS, Action.RESOLVE})


@dataclass
class PublicStep:
    """One step of the citizen's trail.

    `by` is who took it in public terms: "citizen" (the person holding the link), "deputy"
    (`deputy_name` then), "unit" (`unit` then: the handling unit, never a person) or "system".
    `outcome`, `score` and `to_units` are what the step decided, when it did.
    """

    at: datetime
    action: Action
    by: str
    to_state: State | None
    round: int
    note: str = ""
    unit: OrgUnit | None = None
    deputy_name: str = ""
    outcome: Outcome | None = None
    score: Score | None = None
    to_units: list[OrgUnit] = field(default_factory=list)
    photos: list[Photo] = field(default_factory=list)


def public_trail(ticket: Ticket) -> list[PublicStep]:
    """The ticket's trail in public wording, oldest first: public steps only, notes of public steps
    only, units instead of handlers."""
    codes: set[str] = set()
    for e in ticket.events:
        data = e.data or {}
        if isinstance(data.get("to_unit"), str):
            codes.add(data["to_unit"])
        codes.update(c for c in data.get("units", []) if isinstance(c, str))
    units = {u.code: u for u in db.session.scalars(select(OrgUnit).where(OrgUnit.code.in_(sorted(codes))))} if codes else {}
    steps = []
    for e in ticket.events:
        if e.action not in PUBLIC_STEPS:
            continue
        data = e.data or {}
        step = PublicStep(at=e.at, action=e.action, by=_by(e, ticket), to_state=e.to_state, round=e.round)
        if step.by == "unit":
            step.unit = (e.actor.unit if e.actor is not None and e.actor.unit is not None else e.handling_unit)
        elif step.by == "deputy" and e.actor is not None:
            step.deputy_name = e.actor.display_name
        if e.action in PUBLIC_NOTES:
            step.note = e.note
        if e.action in PHOTO_STEPS:
            step.photos = list(e.photos)
        if data.get("outcome") in {o.value for o in Outcome}:
            step.outcome = Outcome(data["outcome"])
        if data.get("score") in {s.value for s in Score}:
            step.score = Score(data["score"])
        targets = [data["to_unit"]] if isinstance(data.get("to_unit"), str) else list(data.get("units", []))
        if e.action is Action.FORWARD:
            step.to_units = [e.handling_unit] if e.handling_unit is not None else []
        else:
            step.to_units = [units[c] for c in targets if c in units]
        steps.append(step)
    return steps


def _by(e: TicketEvent, ticket: Ticket) -> str:
    if e.actor_role == ticket_service.CITIZEN_ROLE:
        return "citizen"
    if e.actor is None:
        return "system"
    if e.actor.role == Role.DEPUTY:
        return "deputy"
    return "unit"


def before_after(ticket: Ticket) -> tuple[list[Photo], list[Photo]]:
    """The citizen's photos, and those of the latest resolve (the claimed fix)."""
    before = [p for e in ticket.events if e.action is Action.REPORT for p in e.photos]
    resolved = [e for e in ticket.events if e.action is Action.RESOLVE]
    return before, (list(resolved[-1].photos) if resolved else [])


def decline_reason(ticket: Ticket) -> str:
    """The deputy's reason for declining (the last decline step's note), or ""."""
    declines = [e for e in ticket.events if e.action is Action.DECLINE]
    return declines[-1].note if declines else ""
