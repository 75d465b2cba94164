"""The citizen channel's rules (ticketing.services.citizen and the citizen steps of services.tickets):
QR codes, a citizen's report pending its deputy, forward and decline, who may rate, the secret
tracking link, and the citizen's contact that nothing public ever shows."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from tests.conftest import NOW, TIANSHUI, jpeg
from ticketing.errors import (
    Conflict,
    DomainError,
    EvidenceRequired,
    Forbidden,
    InvalidInput,
    NotFound,
    TransitionNotAllowed,
)
from ticketing.workflow import Action, State

SECRET = "testing"
PHONE = "13800138000"
NAME = "张三丰"
LINK_BASE = "https://ssp.example/t/"


def _user(username: str) -> Any:
    from ticketing.extensions import db
    from ticketing.models import User

    return db.session.scalar(select(User).where(User.username == username))


def _settings(app: Flask) -> Any:
    return app.extensions["ticket_settings"]


def _code(deputy: str = "deputy_wang") -> str:
    from ticketing.services import citizen

    return citizen.live_code(_user(deputy), NOW).code


def _report(app: Flask, code: str | None = None, **kw: Any) -> Any:
    """A citizen's report through deputy_wang's code (or `code`), at NOW in 天水街道."""
    from ticketing.services import citizen
    from ticketing.services.photos import Upload

    args: dict[str, Any] = {
        "form_key": citizen.new_form_key(),
        "category_code": "city.litter",
        "description": "楼下垃圾堆了一周",
        "lon": TIANSHUI[0],
        "lat": TIANSHUI[1],
        "uploads": [Upload("c.jpg", jpeg((30, 120, 30)))],
        "now": NOW,
        "settings": _settings(app),
        "store": app.extensions["photo_store"],
        "secret": SECRET,
        "link_days": 365,
        "link_for": lambda token: LINK_BASE + token,
    }
    contact = kw.pop("contact", None) or citizen.Contact(
        name=kw.pop("name", ""), phone=kw.pop("phone", ""), sms=kw.pop("sms", False)
    )
    args.update(kw)
    return citizen.report(code or _code(), contact=contact, **args)


def _counts() -> tuple[int, int, int]:
    from ticketing.extensions import db
    from ticketing.models import CitizenReport, Photo, Ticket

    return tuple(db.session.scalar(select(func.count()).select_from(m)) or 0 for m in (Ticket, CitizenReport, Photo))


def _resolve(app: Flask, ticket: Any, at: Any) -> None:
    from ticketing.services import tickets
    from ticketing.services.photos import Upload

    handler = _user("handler_tianshui")
    tickets.accept(ticket, handler, at, note="收到，马上处理")
    tickets.resolve(ticket, handler, at + timedelta(hours=1), outcome="solved",
                    evidence=tickets.Evidence("已清运", [Upload("after.jpg", jpeg((200, 200, 200)))]),
                    settings=_settings(app), store=app.extensions["photo_store"])


def _forwarded(app: Flask, *, may_rate: bool = True, **kw: Any) -> tuple[Any, str]:
    from ticketing.services import citizen

    got = _report(app, **kw)
    citizen.forward(got.ticket, _user("deputy_wang"), NOW + timedelta(minutes=30), may_rate=may_rate,
                    settings=_settings(app))
    return got.ticket, got.token


# ---------------------------------------------------------------------------- QR codes


def test_a_deputy_has_one_live_random_code_and_a_new_one_revokes_the_old(ctx):
    from ticketing.services import citizen

    wang = _user("deputy_wang")
    first = citizen.live_code(wang, NOW)
    assert citizen.live_code(wang, NOW).id == first.id  # the same card every visit
    assert len(first.code) >= 22 and str(wang.id) != first.code  # 128 random bits, not the user id
    assert citizen.deputy_for_code(first.code).deputy_id == wang.id

    renewed = citizen.renew_code(wang, NOW + timedelta(days=1))
    assert renewed.code != first.code and first.revoked_at is not None
    with pytest.raises(NotFound):
        citizen.deputy_for_code(first.code)
    assert citizen.deputy_for_code(renewed.code).id == renewed.id
    assert citizen.live_code(wang, NOW).id == renewed.id


def test_only_deputies_have_codes_and_an_inactive_deputys_code_opens_nothing(ctx):
    from ticketing.extensions import db
    from ticketing.services import citizen

    with pytest.raises(Forbidden):
        citizen.live_code(_user("handler_tianshui"), NOW)
    code = _code("deputy_li")
    _user("deputy_li").active = False
    db.session.flush()
    with pytest.raises(NotFound):
        citizen.deputy_for_code(code)
    for bad in ("", "nope", code + "x", "x" * 500):
        with pytest.raises(NotFound):
            citizen.deputy_for_code(bad)


# ---------------------------------------------------------------------------- intake


def test_a_citizens_report_waits_for_its_deputy_and_is_no_work_order_yet(ctx):
    from ticketing.extensions import db
    from ticketing.models import CitizenReport, Notification
    from ticketing.models.tickets import ReporterKind

    got = _report(ctx, name=f"  {NAME} ", phone="138-0013-8000")
    t = got.ticket
    assert t.state == State.PENDING_REVIEW and t.reporter_kind == ReporterKind.CITIZEN
    assert t.reporter_id is None and t.deputy_id == _user("deputy_wang").id
    assert t.handling_unit.code == "330105012"  # where it would go, shown to the deputy
    assert t.dispatched_at is None and t.response_due_at is None and t.resolution_due_at is None
    (event,) = t.events
    assert (event.action, event.actor_id, event.actor_role, event.to_state) == (
        Action.REPORT, None, "citizen", State.PENDING_REVIEW)
    assert len(t.photos) == 1 and t.photos[0].uploaded_by_id is None
    found = db.session.get(CitizenReport, t.id)
    assert (found.name, found.phone, found.may_rate) == (NAME, PHONE, False)

    kinds = {(n.user_id, n.kind) for n in db.session.scalars(select(Notification).where(Notification.ticket_id == t.id))}
    assert kinds == {(_user("deputy_wang").id, "citizen_report")}  # the deputy only; no handler yet


def test_the_tracking_token_is_random_and_only_its_hash_is_stored(ctx):
    from ticketing.extensions import db
    from ticketing.models import CitizenReport
    from ticketing.services import citizen

    a, b = _report(ctx), _report(ctx)
    assert a.token != b.token and len(a.token) >= 22  # at least 128 bits of base64
    row = db.session.get(CitizenReport, a.ticket.id)
    assert row.token_hash == hashlib.sha256(a.token.encode()).hexdigest()
    stored = " ".join(str(getattr(row, c.key)) for c in CitizenReport.__table__.columns)
    assert a.token not in stored
    assert citizen.by_token(a.token, NOW).ticket_id == a.ticket.id
    assert row.expires_at == NOW + timedelta(days=365)


def test_a_wrong_or_expired_token_finds_nothing(ctx):
    from ticketing.services import citizen

    got = _report(ctx)
    wrong = got.token[:-1] + ("A" if got.token[-1] != "A" else "B")
    for token in (wrong, "", got.token[:10], got.token + "x", "x" * 1000):
        with pytest.raises(NotFound):
            citizen.by_token(token, NOW)
    assert citizen.by_token(got.token, NOW + timedelta(days=364))
    with pytest.raises(NotFound):
        citizen.by_token(got.token, NOW + timedelta(days=365))


def test_the_same_form_posted_again_finds_the_first_report_and_its_link(ctx):
    from ticketing.services import citizen

    key = citizen.new_form_key()
    code = _code()
    got = _report(ctx, code, form_key=key)
    again = citizen.find_replay(code, key, SECRET)
    assert again is not None and again.replayed
    assert again.ticket.id == got.ticket.id and again.token == got.token
    assert citizen.find_replay(code, citizen.new_form_key(), SECRET) is None
    assert citizen.find_replay(code, "not-a-key", SECRET) is None
    # The app's secret key changed since: the same report, but its link cannot be derived again.
    assert citizen.find_replay(code, key, "another secret").token is None
    with pytest.raises(Conflict):
        citizen.find_replay(_code("deputy_li"), key, SECRET)  # the key of deputy_wang's form


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"phone": "call me"}, InvalidInput),
        ({"phone": "123"}, InvalidInput),
        ({"sms": True}, InvalidInput),  # an SMS needs a number
        ({"name": "名" * 101}, InvalidInput),
        ({"description": "长" * 5001}, InvalidInput),
        ({"description": "  "}, InvalidInput),
        ({"category_code": "nope"}, InvalidInput),
        ({"lon": None, "lat": None}, InvalidInput),  # no position, and the photo has none
        ({"lon": 500.0}, InvalidInput),
        ({"uploads": "bad photo"}, DomainError),
        ({"code": "unknown"}, NotFound),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(ctx, change, error):
    from ticketing.services import citizen
    from ticketing.services.photos import Upload

    code = _code()
    before = _counts()
    kw = dict(change)
    contact = citizen.Contact(name=kw.pop("name", ""), phone=kw.pop("phone", ""), sms=kw.pop("sms", False))
    if kw.get("uploads") == "bad photo":
        kw["uploads"] = [Upload("c.jpg", b"not a photo at all")]
    with pytest.raises(error):
        _report(ctx, kw.pop("code", code), contact=contact, **kw)
    assert _counts() == before


# ---------------------------------------------------------------------------- the deputy's review


def test_forwarding_makes_it_the_deputys_work_order_with_deadlines(ctx):
    from ticketing.extensions import db
    from ticketing.models import CitizenReport, Notification
    from ticketing.services import citizen, points

    got = _report(ctx)
    wang = _user("deputy_wang")
    at = NOW + timedelta(hours=2)
    start, end = NOW - timedelta(days=1), NOW + timedelta(days=1)

    def valid() -> int:
        return points.counts(start, end).get(wang.id, (0, 0))[0]

    assert valid() == 0  # waiting for review: not (yet) a valid issue
    event = citizen.forward(got.ticket, wang, at, note="请尽快处理", may_rate=True, settings=_settings(ctx))
    t = got.ticket
    assert (event.action, event.actor_id, event.from_state, event.to_state) == (
        Action.FORWARD, wang.id, State.PENDING_REVIEW, State.DISPATCHED)
    assert t.state == State.DISPATCHED and t.dispatched_at == at
    assert t.response_due_at > at and t.resolution_due_at > t.response_due_at
    assert t.handling_unit.code == "330105012" and t.reporter_id is None and t.deputy_id == wang.id
    assert db.session.get(CitizenReport, t.id).may_rate is True
    assert valid() == 1  # credited to the deputy whose code the citizen scanned
    handlers = {n.user_id for n in db.session.scalars(
        select(Notification).where(Notification.event_id == event.id))}
    assert _user("handler_tianshui").id in handlers


def test_forwarding_with_another_category_routes_it_again_and_may_make_it_private(ctx):
    from ticketing.models.tickets import Visibility
    from ticketing.services import citizen

    got = _report(ctx)
    event = citizen.forward(got.ticket, _user("deputy_wang"), NOW, category_code="environment", private=True,
                            settings=_settings(ctx))
    assert got.ticket.category.code == "environment" and got.ticket.visibility == Visibility.PRIVATE
    assert got.ticket.handling_unit.code == "330103-ZF"  # the district's law-enforcement bureau
    assert event.data["category"] == {"from": "city.litter", "to": "environment"}
    with pytest.raises(InvalidInput):
        other = _report(ctx)
        citizen.forward(other.ticket, _user("deputy_wang"), NOW, category_code="nope", settings=_settings(ctx))
    assert other.ticket.state == State.PENDING_REVIEW


def test_only_the_deputy_whose_code_was_scanned_reviews_the_report(ctx):
    from ticketing.services import citizen

    t = _report(ctx).ticket
    with pytest.raises(NotFound):  # another deputy does not even see it
        citizen.forward(t, _user("deputy_li"), NOW, settings=_settings(ctx))
    with pytest.raises(Forbidden):  # the unit it would go to sees it, but may not decide
        citizen.forward(t, _user("handler_tianshui"), NOW, settings=_settings(ctx))
    with pytest.raises(Forbidden):
        citizen.decline(t, _user("supervisor_tianshui"), NOW, reason="no")
    assert citizen.contact(t, _user("deputy_li")) is None and citizen.contact(t, _user("handler_tianshui")) is None
    assert citizen.contact(t, _user("deputy_wang")).ticket_id == t.id
    assert t.state == State.PENDING_REVIEW


def test_declining_needs_a_reason_which_the_citizen_reads(ctx):
    from ticketing.services import citizen

    got = _report(ctx)
    wang = _user("deputy_wang")
    with pytest.raises(EvidenceRequired):
        citizen.decline(got.ticket, wang, NOW, reason="  ")
    citizen.decline(got.ticket, wang, NOW + timedelta(hours=1), reason="这是私人纠纷，请拨打12345")
    assert got.ticket.state == State.DECLINED and got.ticket.closed_at == NOW + timedelta(hours=1)
    assert citizen.decline_reason(got.ticket) == "这是私人纠纷，请拨打12345"
    step = citizen.public_trail(got.ticket)[-1]
    assert (step.action, step.by, step.note) == (Action.DECLINE, "deputy", "这是私人纠纷，请拨打12345")
    with pytest.raises(TransitionNotAllowed):
        citizen.forward(got.ticket, wang, NOW, settings=_settings(ctx))


# ---------------------------------------------------------------------------- rating


def test_the_citizen_rates_only_when_the_deputy_allows_it_and_it_is_resolved(ctx):
    from ticketing.extensions import db
    from ticketing.models import Rating
    from ticketing.services import citizen

    t, token = _forwarded(ctx, may_rate=False)
    later = NOW + timedelta(hours=3)
    _resolve(ctx, t, NOW + timedelta(hours=1))
    found = citizen.by_token(token, later)
    assert not citizen.may_rate_now(found, t)
    with pytest.raises(Forbidden):
        citizen.rate(token, score="satisfied", now=later, settings=_settings(ctx))
    with pytest.raises(NotFound):  # only the deputy decides: another does not even see it
        citizen.set_may_rate(t, _user("deputy_li"), True)
    with pytest.raises(Forbidden):  # and the unit handling it may not either
        citizen.set_may_rate(t, _user("handler_tianshui"), True)
    with pytest.raises(NotFound):  # a wrong link
        citizen.rate(token + "x", score="satisfied", now=later, settings=_settings(ctx))

    citizen.set_may_rate(t, _user("deputy_wang"), True)
    assert citizen.may_rate_now(found, t)
    with pytest.raises(InvalidInput):
        citizen.rate(token, score="great", now=later, settings=_settings(ctx))
    event = citizen.rate(token, score="satisfied", comment="很快，谢谢", now=later, settings=_settings(ctx))
    assert t.state == State.CLOSED and t.closed_reason.value == "rated"
    assert (event.action, event.actor_id, event.actor_role) == (Action.RATE, None, "citizen")
    rating = db.session.get(Rating, t.final_rating_id)
    assert (rating.score.value, rating.rater_id, rating.comment) == ("satisfied", None, "很快，谢谢")
    with pytest.raises(TransitionNotAllowed):
        citizen.rate(token, score="satisfied", now=later, settings=_settings(ctx))


def test_a_citizens_rating_before_the_resolve_is_refused(ctx):
    from ticketing.services import citizen

    t, token = _forwarded(ctx)
    with pytest.raises(TransitionNotAllowed):
        citizen.rate(token, score="satisfied", now=NOW + timedelta(hours=1), settings=_settings(ctx))
    assert t.state == State.DISPATCHED


def test_an_unsatisfied_citizen_sends_it_back_for_a_second_round_as_the_deputy_would(ctx):
    from ticketing.services import citizen

    t, token = _forwarded(ctx)
    _resolve(ctx, t, NOW + timedelta(hours=1))
    first_due = t.resolution_due_at
    later = NOW + timedelta(days=1)
    citizen.rate(token, score="unsatisfied", comment="垃圾又堆起来了", now=later, settings=_settings(ctx))
    assert t.state == State.DISPATCHED and t.round == 2 and t.dispatched_at == later
    assert t.resolution_due_at > first_due and t.outcome is None
    # Round 2 resolved, unsatisfied again: district supervision, exactly as after the deputy's second 不满意.
    _resolve(ctx, t, later + timedelta(hours=1))
    citizen.rate(token, score="unsatisfied", now=later + timedelta(hours=3), settings=_settings(ctx))
    assert t.round == 3 and t.supervised
    assert [e.action for e in t.events][-1] == Action.SUPERVISE


def test_the_deputy_may_still_rate_and_whoever_rates_first_rates_the_round(ctx):
    from ticketing.services import citizen, tickets

    t, token = _forwarded(ctx)
    _resolve(ctx, t, NOW + timedelta(hours=1))
    tickets.rate(t, _user("deputy_wang"), NOW + timedelta(hours=2), score="basically_satisfied",
                 settings=_settings(ctx))
    with pytest.raises(TransitionNotAllowed):
        citizen.rate(token, score="unsatisfied", now=NOW + timedelta(hours=3), settings=_settings(ctx))
    assert t.state == State.CLOSED


# ---------------------------------------------------------------------------- what the citizen sees


def test_the_public_trail_names_units_never_handlers_and_keeps_internal_notes_inside(ctx):
    from ticketing.services import citizen, tickets

    t, _token = _forwarded(ctx)
    handler = _user("handler_tianshui")
    tickets.assign(t, handler, NOW + timedelta(hours=1), assignee_username="handler_tianshui2",
                   note="交给小李，他住附近")
    tickets.comment(t, handler, NOW + timedelta(hours=1), note="内部：此人多次反映")
    _resolve(ctx, t, NOW + timedelta(hours=2))
    steps = citizen.public_trail(t)
    assert [s.action for s in steps] == [Action.REPORT, Action.FORWARD, Action.ACCEPT, Action.RESOLVE]
    assert [s.by for s in steps] == ["citizen", "deputy", "unit", "unit"]
    assert steps[1].deputy_name == _user("deputy_wang").display_name
    assert steps[1].to_units[0].code == "330105012"
    assert all(s.unit.code == "330105012" for s in steps[2:])
    assert steps[2].note == "收到，马上处理" and steps[3].outcome.value == "solved"
    text = repr(steps)
    for secret in ("交给小李", "内部", handler.display_name, _user("handler_tianshui2").display_name,
                   handler.username):
        assert secret not in text
    before, after = citizen.before_after(t)
    assert len(before) == 1 and len(after) == 1
    assert citizen.photo_for(citizen.by_token(_token, NOW), after[0].id).id == after[0].id


def test_a_photo_of_another_ticket_is_not_found_through_a_link(ctx):
    from ticketing.services import citizen

    a, b = _report(ctx), _report(ctx)
    with pytest.raises(NotFound):
        citizen.photo_for(citizen.by_token(a.token, NOW), b.ticket.photos[0].id)
    for photo_id in (0, -1, 2**40):
        with pytest.raises(NotFound):
            citizen.photo_for(citizen.by_token(a.token, NOW), photo_id)


def test_the_citizens_contact_never_appears_in_open311_the_cockpit_or_exports(ctx, api, clock):
    clock.set(NOW + timedelta(hours=1))
    t, _token = _forwarded(ctx, name=NAME, phone=PHONE, description="路灯不亮 citizen-contact-check")
    from ticketing.extensions import db

    db.session.commit()
    client = api.client
    outputs = {
        "open311 json": client.get("/open311/v2/requests.json"),
        "open311 xml": client.get("/open311/v2/requests.xml"),
        "open311 one": client.get(f"/open311/v2/requests/{t.number}.json"),
        "cockpit": client.get("/cockpit/"),
        "heat": client.get("/cockpit/heat.json"),
        "export csv": api.get("/api/v1/exports/tickets?format=csv&from=2026-03-01&to=2026-04-01", "supervisor_city"),
        "export json": api.get("/api/v1/exports/tickets?format=json&from=2026-03-01&to=2026-04-01",
                               "supervisor_city"),
        "api ticket": api.get(f"/api/v1/tickets/{t.number}", "deputy_wang"),
        "api as handler": api.get(f"/api/v1/tickets/{t.number}", "handler_tianshui"),
    }
    for name, resp in outputs.items():
        assert resp.status_code == 200, (name, resp.status_code)
        body = resp.get_data(as_text=True)
        assert PHONE not in body and NAME not in body, name
    # The ticket itself is out there (so the check above looked at it).
    assert "citizen-contact-check" in outputs["open311 json"].get_data(as_text=True)
    assert t.number in outputs["export csv"].get_data(as_text=True)


# ---------------------------------------------------------------------------- the link by SMS


def test_the_link_goes_by_sms_through_the_outbox_and_is_forgotten_once_sent(ctx):
    from ticketing.extensions import db
    from ticketing.models import Channel, DeliveryState, Notification
    from ticketing.services import citizen, outbox

    got = _report(ctx, contact=citizen.Contact(phone=PHONE, sms=True))
    (row,) = db.session.scalars(select(Notification).where(Notification.kind == citizen.LINK_SMS,
                                                           Notification.ticket_id == got.ticket.id))
    assert (row.channel, row.address, row.user_id) == (Channel.SMS, PHONE, None)
    assert LINK_BASE + got.token in row.body and got.ticket.number in row.body

    sent: list[tuple[str, str]] = []

    class FakeSms:  # the gateway at the edge
        def send(self, message: Any) -> None:
            sent.append((message.address, message.body))

    assert citizen.forget_sent_links() == 0  # not sent yet: the outbox still needs it
    outbox.deliver_due(NOW, {Channel.SMS: FakeSms()}, batch=100, max_attempts=3, backoff_seconds=30)
    assert (PHONE, row.body) in sent and row.state == DeliveryState.SENT
    assert citizen.forget_sent_links() >= 1
    db.session.refresh(row)
    assert got.token not in row.body and row.address == ""
    assert citizen.by_token(got.token, NOW).ticket_id == got.ticket.id  # the link itself still works


def test_no_sms_is_queued_unless_asked_for(ctx):
    from ticketing.extensions import db
    from ticketing.models import Notification
    from ticketing.services import citizen

    got = _report(ctx, contact=citizen.Contact(phone=PHONE))
    assert not db.session.scalars(select(Notification).where(Notification.ticket_id == got.ticket.id,
                                                             Notification.kind == citizen.LINK_SMS)).all()


def test_the_retention_job_can_forget_a_citizens_contact(ctx):
    from ticketing.extensions import db
    from ticketing.models import CitizenReport
    from ticketing.services import citizen

    got = _report(ctx, contact=citizen.Contact(name=NAME, phone=PHONE))
    assert citizen.forget_contacts([got.ticket.id]) == 1
    row = db.session.get(CitizenReport, got.ticket.id)
    db.session.refresh(row)
    assert (row.name, row.phone) == ("", "")
    assert citizen.forget_contacts([got.ticket.id]) == 0


def test_the_deputy_hears_of_the_handling_of_a_forwarded_citizen_report(ctx):
    from ticketing.extensions import db
    from ticketing.models import Notification

    t, _token = _forwarded(ctx)
    _resolve(ctx, t, NOW + timedelta(hours=1))
    kinds = set(db.session.scalars(select(Notification.kind).where(
        Notification.ticket_id == t.id, Notification.user_id == _user("deputy_wang").id)))
    assert {"accept", "resolve"} <= kinds


# ---------------------------------------------------------------------------- the deputy's API


def test_the_deputy_gets_and_renews_the_qr_code_through_the_api(ctx, api):
    first = api.get("/api/v1/citizen/qr", "deputy_wang")
    assert first.status_code == 200, first.json
    assert first.json["url"].endswith(f"/c/{first.json['code']}")
    assert api.get("/api/v1/citizen/qr", "deputy_wang").json["code"] == first.json["code"]
    renewed = api.post("/api/v1/citizen/qr/renew", "deputy_wang")
    assert renewed.status_code == 200 and renewed.json["code"] != first.json["code"]
    assert api.client.get(f"/c/{first.json['code']}").status_code == 404
    assert api.get("/api/v1/citizen/qr", "handler_tianshui").status_code == 403
    assert api.get("/api/v1/citizen/qr", None).status_code == 401


def test_the_deputy_reviews_through_the_api_and_nobody_else_reads_the_contact(ctx, api, clock):
    from ticketing.extensions import db

    clock.set(NOW + timedelta(hours=1))
    a = _report(ctx, name=NAME, phone=PHONE).ticket
    b = _report(ctx).ticket
    db.session.commit()
    got = api.get(f"/api/v1/tickets/{a.number}/citizen", "deputy_wang")
    assert got.status_code == 200 and (got.json["name"], got.json["phone"]) == (NAME, PHONE)
    for user, status in (("deputy_li", 404), ("handler_tianshui", 404), ("supervisor_city", 404), (None, 401)):
        assert api.get(f"/api/v1/tickets/{a.number}/citizen", user).status_code == status, user

    assert api.post(f"/api/v1/tickets/{a.number}/forward", "deputy_li", json={}).status_code == 404
    assert api.post(f"/api/v1/tickets/{a.number}/forward", "handler_tianshui", json={}).status_code == 403
    done = api.post(f"/api/v1/tickets/{a.number}/forward", "deputy_wang",
                    json={"note": "请处理", "may_rate": True})
    assert done.status_code == 200, done.json
    assert done.json["state"] == "dispatched" and done.json["handling_unit"]["code"] == "330105012"
    assert PHONE not in done.get_data(as_text=True)
    assert api.get(f"/api/v1/tickets/{a.number}/citizen", "deputy_wang").json["may_rate"] is True
    off = api.post(f"/api/v1/tickets/{a.number}/citizen-rating", "deputy_wang", json={"allow": False})
    assert off.status_code == 200 and off.json["may_rate"] is False

    empty = api.post(f"/api/v1/tickets/{b.number}/decline", "deputy_wang", json={"reason": ""})
    assert empty.status_code == 422 and empty.json["error"]["code"] == "note_required"
    declined = api.post(f"/api/v1/tickets/{b.number}/decline", "deputy_wang", json={"reason": "不属于公共事务"})
    assert declined.status_code == 200 and declined.json["state"] == "declined"
    again = api.post(f"/api/v1/tickets/{b.number}/forward", "deputy_wang", json={})
    assert again.status_code == 409


def test_the_workers_job_forgets_the_links_of_sent_sms(ctx):
    from ticketing.extensions import db
    from ticketing.models import DeliveryState, Notification
    from ticketing.services import citizen
    from workers import jobs

    got = _report(ctx, contact=citizen.Contact(phone=PHONE, sms=True))
    row = db.session.scalar(select(Notification).where(Notification.ticket_id == got.ticket.id,
                                                       Notification.kind == citizen.LINK_SMS))
    assert jobs.citizen_links(ctx, NOW)["forgotten"] == 0
    row.state = DeliveryState.DEAD  # given up: the link must not stay either
    db.session.flush()
    assert jobs.citizen_links(ctx, NOW)["forgotten"] == 1
    db.session.refresh(row)
    assert got.token not in row.body
    assert "citizen_links" in {job.name for job in jobs.JOBS}
