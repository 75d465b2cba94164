"""Privacy: photo consent, nothing personal in public outputs, no EXIF in anything served, retention.

The world of most tests: deputy 王 reports a public ticket (A) and a private one (B), both closed
满意 with phone photos carrying EXIF GPS, time and camera; deputy 李 reports an open public one
(C). Both deputies have phone numbers. Each test then looks at what the public (the cockpit,
Open311), other roles (exports) and the served images give away, or runs the retention job.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta
from typing import Any

import pytest
from geoalchemy2.shape import to_shape
from PIL import Image
from sqlalchemy import func, select

from tests.conftest import NOW, ROOT, TIANSHUI, jpeg, make_app
from tests.photo_files import GPS_IFD, phone_jpeg
from ticketing.extensions import db
from ticketing.models import AuditEntry, IdempotencyRecord, Ticket, TicketEvent, User
from ticketing.services import privacy
from ticketing.web.cockpit import figures
from ticketing.workflow import Action

# Inside 天水街道, ~200 m from TIANSHUI; digits unlikely to occur anywhere else in a page.
PRIVATE_SPOT = (120.1583417, 30.2689153)
PHONES = {"deputy_wang": "13800138000", "deputy_li": "13900139000"}
NAMES = ("王代表", "李代表", "deputy_wang", "deputy_li")
PRIVATE_DESCRIPTION = "我家楼道里堆满杂物，邻居老张不肯清理"
PRIVATE_ADDRESS = "天水街道某小区3幢2单元501"
LOCAL_MORNING = "2026:03:02 08:30:00"  # EXIF time, before the 09:00 report
LOCAL_NOON = "2026:03:02 12:30:00"  # after the dispatch: a believable fix


@pytest.fixture
def fresh_cockpit(app):
    """The cockpit's figures computed from this test's tickets, not cached from an earlier test's."""
    figures.cache_of(app).clear()
    yield
    figures.cache_of(app).clear()


def _ticket(number: str) -> Ticket:
    db.session.expire_all()
    return db.session.scalar(select(Ticket).where(Ticket.number == number))


def _ok(resp: Any, status: int = 200) -> Any:
    assert resp.status_code == status, resp.json
    return resp.json


def _report(api: Any, who: str, where: tuple[float, float], *, seed: int, **fields: Any) -> str:
    photo = phone_jpeg(seed, lon=where[0], lat=where[1], taken=LOCAL_MORNING, offset="+08:00")
    return _ok(api.report(who, lon=where[0], lat=where[1], photos=[photo], **fields), 201)["number"]


def _close(api: Any, clock: Any, number: str, where: tuple[float, float], *, seed: int) -> None:
    clock.advance(hours=1)
    _ok(api.post(f"/api/v1/tickets/{number}/accept", "handler_tianshui", json={"note": "收到"}))
    clock.advance(hours=3)
    fix = phone_jpeg(seed, lon=where[0], lat=where[1], taken=LOCAL_NOON, offset="+08:00")
    _ok(api.post(f"/api/v1/tickets/{number}/resolve", "handler_tianshui", data={"note": "已清理", "outcome": "solved"},
                 photos=[fix]))
    clock.advance(hours=1)
    _ok(api.post(f"/api/v1/tickets/{number}/rate", "deputy_wang", json={"score": "satisfied"}))
    clock.set(NOW)


@pytest.fixture
def world(api, clock, fresh_cockpit) -> dict[str, str]:
    public = _report(api, "deputy_wang", TIANSHUI, seed=1, description="路边垃圾堆积", title="垃圾")
    private = _report(api, "deputy_wang", PRIVATE_SPOT, seed=3, description=PRIVATE_DESCRIPTION,
                      address=PRIVATE_ADDRESS, visibility="private")
    _close(api, clock, public, TIANSHUI, seed=2)
    _close(api, clock, private, PRIVATE_SPOT, seed=4)
    other = _report(api, "deputy_li", TIANSHUI, seed=5, description="井盖缺失")
    for username, phone in PHONES.items():
        db.session.scalar(select(User).where(User.username == username)).phone = phone
    db.session.flush()
    return {"public": public, "private": private, "other": other}


def _consent(api: Any, who: str, number: str, consent: bool, **body: Any) -> Any:
    return api.post(f"/api/v1/tickets/{number}/photo-consent", who, json={"consent": consent, **body})


# ---------------------------------------------------------------------------- photo consent


def test_the_reporters_consent_publishes_the_photos_in_the_cockpit_and_open311(api, client, world):
    number = world["public"]
    photos = [p.id for p in _ticket(number).photos]
    state = _ok(api.get(f"/api/v1/tickets/{number}/photo-consent", "deputy_wang"))
    assert state == {"number": number, "visibility": "public", "consent": False, "photos": photos, "public": [],
                     "may_decide": True}
    assert client.get(f"/cockpit/photos/{photos[0]}/thumb").status_code == 404
    assert _open311(client, number)["media_url"] == ""

    body = _ok(_consent(api, "deputy_wang", number, True))
    assert body["consent"] is True and body["public"] == photos and body["changed"] is True
    event = db.session.get(TicketEvent, body["event_id"])
    assert event.action == Action.COMMENT and event.actor.username == "deputy_wang"
    assert event.data == {"photo_consent": True, "photos": photos} and "公开" in event.note
    for photo_id in photos:
        for variant in ("display", "thumb"):
            assert client.get(f"/cockpit/photos/{photo_id}/{variant}").status_code == 200
    media = _open311(client, number)["media_url"]
    assert media.endswith(f"/open311/v2/media/{photos[0]}.jpg")
    assert client.get(f"/open311/v2/media/{photos[0]}.jpg").status_code == 200


def test_withdrawing_unpublishes_at_once(api, client, world):
    number = world["public"]
    _ok(_consent(api, "deputy_wang", number, True))
    body = _ok(_consent(api, "deputy_wang", number, False, note="不想公开了"))
    assert body["consent"] is False and body["public"] == [] and body["changed"] is True
    event = db.session.get(TicketEvent, body["event_id"])
    assert event.data["photo_consent"] is False and event.note.endswith("不想公开了")
    photo_id = _ticket(number).photos[0].id
    assert client.get(f"/cockpit/photos/{photo_id}/display").status_code == 404
    assert client.get(f"/open311/v2/media/{photo_id}.jpg").status_code == 404
    assert _open311(client, number)["media_url"] == ""


def test_asking_twice_changes_nothing_and_writes_one_step(api, world):
    number = world["public"]
    _ok(_consent(api, "deputy_wang", number, True))
    again = _ok(_consent(api, "supervisor_district", number, True))
    assert again["changed"] is False and again["event_id"] is None and again["consent"] is True
    steps = [e for e in _ticket(number).events if e.data.get("photo_consent") is not None]
    assert len(steps) == 1


@pytest.mark.parametrize("who", ["supervisor_tianshui", "supervisor_district", "supervisor_city"])
def test_supervisors_over_the_unit_decide_too(api, world, who):
    number = world["public"]
    body = _ok(_consent(api, who, number, True))
    assert body["consent"] is True and body["may_decide"] is True
    assert _ok(_consent(api, who, number, False))["consent"] is False


def test_handlers_may_not_and_strangers_do_not_even_see_it(api, world):
    number = world["public"]
    refused = api.post(f"/api/v1/tickets/{number}/photo-consent", "handler_tianshui", json={"consent": True})
    assert refused.status_code == 403 and refused.json["error"]["code"] == "action_forbidden"
    assert _ok(api.get(f"/api/v1/tickets/{number}/photo-consent", "handler_tianshui"))["may_decide"] is False
    for stranger in ("deputy_li", "handler_wulin"):
        resp = _consent(api, stranger, number, True)
        assert resp.status_code == 404 and resp.json["error"]["code"] == "ticket_not_found"
    assert _consent(api, "deputy_wang", "2026-999999", True).status_code == 404
    assert api.post(f"/api/v1/tickets/{number}/photo-consent", None, json={"consent": True}).status_code == 401
    assert not any(p.public_ok for p in _ticket(number).photos)


def test_a_private_tickets_photos_are_never_published(api, client, world):
    number = world["private"]
    resp = _consent(api, "deputy_wang", number, True)
    assert resp.status_code == 409 and resp.json["error"]["code"] == "ticket_private"
    assert _consent(api, "supervisor_district", number, True).status_code == 409
    assert not any(p.public_ok for p in _ticket(number).photos)
    # Withdrawing is always possible (nothing to withdraw here).
    assert _ok(_consent(api, "deputy_wang", number, False))["changed"] is False


def test_consent_covers_the_photos_that_were_there(api, clock, world):
    number = _report(api, "deputy_wang", TIANSHUI, seed=7)
    _ok(_consent(api, "deputy_wang", number, True))
    _close(api, clock, number, TIANSHUI, seed=8)
    state = _ok(api.get(f"/api/v1/tickets/{number}/photo-consent", "deputy_wang"))
    assert len(state["photos"]) == 2 and len(state["public"]) == 1 and state["consent"] is False
    body = _ok(_consent(api, "deputy_wang", number, True))
    assert body["consent"] is True and len(_ticket(number).events[-1].data["photos"]) == 1


def test_a_ticket_without_photos_has_nothing_to_publish(api, world):
    number = _ok(api.report("deputy_wang", photos=[]), 201)["number"]
    resp = _consent(api, "deputy_wang", number, True)
    assert resp.status_code == 409 and resp.json["error"]["code"] == "no_photos"


@pytest.mark.parametrize("body", [{}, {"consent": "perhaps"}, {"consent": True, "note": "x" * 2001},
                                  {"consent": None}])
def test_bad_consent_requests_are_422_and_change_nothing(api, world, body):
    number = world["public"]
    events = len(_ticket(number).events)
    resp = api.post(f"/api/v1/tickets/{number}/photo-consent", "deputy_wang", json=body)
    assert resp.status_code == 422 and resp.json["error"]["code"]
    ticket = _ticket(number)
    assert len(ticket.events) == events and not any(p.public_ok for p in ticket.photos)


def _sign_in(client: Any, username: str) -> None:
    from ticketing.demo import DEMO_PASSWORD

    client.post("/logout")
    assert client.post("/login", data={"username": username, "password": DEMO_PASSWORD}).status_code == 302


def test_the_deputys_trail_page_has_the_consent_control(client, world):
    number = world["public"]
    _sign_in(client, "deputy_wang")
    page = client.get(f"/deputy/tickets/{number}").get_data(as_text=True)
    assert 'id="photo-consent"' in page and "同意公开照片" in page and "撤回公开同意" not in page
    resp = client.post(f"/deputy/tickets/{number}/photo-consent", data={"consent": "1"}, follow_redirects=True)
    body = resp.get_data(as_text=True)
    assert "照片现在可以在数字驾驶舱公开展示" in body and "撤回公开同意" in body
    assert all(p.public_ok for p in _ticket(number).photos)
    client.post(f"/deputy/tickets/{number}/photo-consent", data={"consent": "0"})
    assert not any(p.public_ok for p in _ticket(number).photos)
    # A private ticket offers no "agree" button; another deputy gets a 404.
    assert "同意公开照片" not in client.get(f"/deputy/tickets/{world['private']}").get_data(as_text=True)
    _sign_in(client, "deputy_li")
    assert client.post(f"/deputy/tickets/{number}/photo-consent", data={"consent": "1"}).status_code == 404
    assert not any(p.public_ok for p in _ticket(number).photos)


def test_the_supervisors_ticket_page_has_the_consent_control(client, world):
    number = world["public"]
    _sign_in(client, "supervisor_district")
    page = client.get(f"/supervision/tickets/{number}").get_data(as_text=True)
    assert 'id="photo-consent"' in page and "2 张照片中已有 0 张在数字驾驶舱公开" in page and "公开照片" in page
    client.post(f"/supervision/tickets/{number}/photo-consent", data={"consent": "1"})
    assert all(p.public_ok for p in _ticket(number).photos)
    page = client.get(f"/supervision/tickets/{number}").get_data(as_text=True)
    assert "2 张照片中已有 2 张" in page and "取消公开照片" in page
    client.post(f"/supervision/tickets/{number}/photo-consent", data={"consent": "0"})
    assert not any(p.public_ok for p in _ticket(number).photos)
    private = client.get(f"/supervision/tickets/{world['private']}").get_data(as_text=True)
    assert "不公开的工单，其照片不会公开" in private and 'value="1"' not in private.split('id="photo-consent"')[1]


# ---------------------------------------------------------------------------- nothing personal in public outputs


def _open311(client: Any, number: str) -> dict[str, Any]:
    resp = client.get(f"/open311/v2/requests/{number}.json?extensions=true")
    assert resp.status_code == 200
    return resp.get_json()[0]  # type: ignore[no-any-return]


def _private_secrets(number: str) -> list[str]:
    lon, lat = PRIVATE_SPOT
    return [number, PRIVATE_DESCRIPTION, PRIVATE_ADDRESS, f"{lon:.5f}", f"{lat:.5f}", f"{lon:.4f}", f"{lat:.4f}"]


def _public_outputs(client: Any, numbers: list[str]) -> dict[str, str]:
    window = "start_date=2026-03-01T00:00:00Z&end_date=2026-03-03T00:00:00Z"
    paths = ["/cockpit/", "/cockpit/?period=month", "/cockpit/?lang=en", "/cockpit/heat.json",
             f"/open311/v2/requests.json?extensions=true&{window}", f"/open311/v2/requests.xml?{window}",
             f"/open311/v2/servicerequestupdates.json?{window}", f"/open311/v2/servicerequestupdates.xml?{window}",
             "/open311/v2/services.json", "/open311/v2/discovery.json"]
    paths += [f"/open311/v2/requests/{n}.json?extensions=true" for n in numbers]
    out = {}
    for path in paths:
        resp = client.get(path)
        assert resp.status_code in (200, 404), path
        out[path] = resp.get_data(as_text=True)
    return out


def test_no_reporter_phone_or_private_location_in_the_cockpit_or_open311(api, client, world):
    _ok(_consent(api, "deputy_wang", world["public"], True))
    outputs = _public_outputs(client, [world["public"], world["private"], world["other"]])
    # The public ticket is there (so the search below can fail), the private one nowhere.
    assert world["public"] in outputs["/open311/v2/requests.json?extensions=true&start_date=2026-03-01T00:00:00Z"
                                      "&end_date=2026-03-03T00:00:00Z"]
    for path, text in outputs.items():
        secrets = [*NAMES, *PHONES.values(), *_private_secrets(world["private"])]
        if world["private"] in path:
            # Not found; the error message echoes the number asked for, and nothing else.
            assert '"code": 404' in text
            secrets.remove(world["private"])
        for secret in secrets:
            assert secret not in text, (path, secret)


def test_exports_for_handlers_hold_no_deputy_phone_or_location(api, world):
    query = "unit=330105012&from=2026-03-01&to=2026-03-03"
    rows = _ok(api.get(f"/api/v1/exports/tickets?format=json&{query}", "handler_tianshui"))
    assert {world["public"], world["private"], world["other"]} <= {r["number"] for r in _rows(rows)}
    sheet = api.get(f"/api/v1/exports/tickets?format=csv&{query}", "handler_tianshui")
    assert sheet.status_code == 200
    lon, lat = TIANSHUI
    for text in (json.dumps(rows, ensure_ascii=False), sheet.get_data(as_text=True)):
        for secret in (*NAMES, *PHONES.values(), PRIVATE_DESCRIPTION, PRIVATE_ADDRESS, f"{lon:.4f}", f"{lat:.4f}",
                       *_private_secrets("x")[3:]):
            assert secret not in text, secret
    # Supervisors oversee the deputies' work: their export names the deputy (and still no phone).
    overseen = json.dumps(_ok(api.get(f"/api/v1/exports/tickets?format=json&{query}", "supervisor_district")),
                          ensure_ascii=False)
    assert "王代表" in overseen and PHONES["deputy_wang"] not in overseen


def _rows(body: Any) -> list[dict[str, Any]]:
    return body["rows"] if isinstance(body, dict) and "rows" in body else body  # type: ignore[no-any-return]


def test_nearby_offers_show_others_public_tickets_without_their_reporter(api, world):
    lon, lat = PRIVATE_SPOT
    found = _ok(api.get(f"/api/v1/tickets/nearby?category=city.litter&lon={lon}&lat={lat}", "deputy_li"))
    text = json.dumps(found, ensure_ascii=False)
    assert world["private"] not in text and PRIVATE_DESCRIPTION not in text
    for secret in (*NAMES, *PHONES.values()):
        assert secret not in text


# ---------------------------------------------------------------------------- no EXIF in anything served


def _no_metadata(data: bytes, where: str) -> None:
    img = Image.open(io.BytesIO(data))
    exif = img.getexif()
    assert len(exif) == 0 and not exif.get_ifd(GPS_IFD), where
    assert b"Exif\x00\x00" not in data and b"iPhone" not in data and b"SecretCameraComment" not in data, where
    assert "icc_profile" not in img.info and "exif" not in img.info, where


def test_every_served_image_is_free_of_exif(api, client, world):
    number = world["public"]
    _ok(_consent(api, "deputy_wang", number, True))
    ticket = _ticket(number)
    photos = [p.id for p in ticket.photos]
    assert len(photos) == 2
    # The test can fail: the original (for those who handle the ticket) still has its EXIF and GPS.
    original = api.get(f"/api/v1/photos/{photos[0]}/original", "deputy_wang")
    assert original.status_code == 200 and Image.open(io.BytesIO(original.data)).getexif().get_ifd(GPS_IFD)
    served = []
    for photo_id in photos:
        for variant in ("display", "thumb"):
            served.append(api.get(f"/api/v1/photos/{photo_id}/{variant}", "deputy_wang"))
            served.append(client.get(f"/cockpit/photos/{photo_id}/{variant}"))
        served.append(client.get(f"/open311/v2/media/{photo_id}.jpg"))
    for private_photo in _ticket(world["private"]).photos:
        served.append(api.get(f"/api/v1/photos/{private_photo.id}/display", "supervisor_district"))
    for resp in served:
        assert resp.status_code == 200, resp.request.path
        _no_metadata(resp.data, resp.request.path)


def test_assessment_reports_embed_clean_photos_and_no_phone(api, clock, world):
    resp = api.post("/api/v1/reports", "supervisor_district",
                    json={"unit": "330103", "kind": "monthly", "period": "2026-03"})
    body = _ok(resp, 201)
    html = api.get(body["html_url"], "supervisor_district").get_data(as_text=True)
    images = re.findall(r"data:image/jpeg;base64,([A-Za-z0-9+/=]+)", html)
    assert images, "the good case's before and after photos"
    for encoded in images:
        _no_metadata(base64.b64decode(encoded), "report html")
    pdf = api.get(body["pdf_url"], "supervisor_district").data
    assert pdf.startswith(b"%PDF-") and b"Exif\x00\x00" not in pdf and b"iPhone" not in pdf
    for phone in PHONES.values():
        assert phone not in html
    assert PRIVATE_DESCRIPTION not in html


# ---------------------------------------------------------------------------- retention


def _run_retention(app: Any, at: datetime, **config: Any) -> dict[str, Any]:
    from workers import jobs

    saved = {k: app.config.get(k) for k in config}
    app.config.update(config)
    try:
        return jobs.retention(app, at)
    finally:
        app.config.update(saved)


def _originals(number: str) -> list[str]:
    return [p.original_key for p in _ticket(number).photos]


def test_retention_removes_originals_and_blurs_private_places_after_the_period(app, api, world):
    store = app.extensions["photo_store"]
    public, private, other = world["public"], world["private"], world["other"]
    keys = {n: _originals(n) for n in (public, private, other)}
    trail = {n: [(e.id, e.action, e.note, e.data) for e in _ticket(n).events] for n in (public, private)}
    first_entry = db.session.scalar(select(func.max(AuditEntry.id)))

    # A day before the period ends nothing happens.
    assert _run_retention(app, NOW + timedelta(days=729))["anonymised"] == 0
    assert all(store.exists(k) for k in keys[public] + keys[private])

    later = NOW + timedelta(days=731)
    counts = _run_retention(app, later)
    assert (counts["anonymised"], counts["originals_deleted"], counts["locations_blurred"]) == (2, 4, 1)
    for number in (public, private):
        ticket = _ticket(number)
        assert ticket.anonymised_at == later
        assert _originals(number) == ["", ""]
        assert not any(store.exists(k) for k in keys[number])
        for photo in ticket.photos:
            assert store.exists(photo.display_key) and store.exists(photo.thumb_key)
            assert {"lat", "lon"}.isdisjoint(photo.meta["exif"]) and photo.meta["exif"]["taken_at"]
        # The trail is evidence: untouched, notes and all.
        assert [(e.id, e.action, e.note, e.data) for e in ticket.events] == trail[number]
    pub = _ticket(public)
    assert to_shape(pub.location).coords[0] == pytest.approx(TIANSHUI)
    priv = _ticket(private)
    point = to_shape(priv.location)
    assert (point.x, point.y) == privacy.blur(*PRIVATE_SPOT, 200)
    assert (point.x, point.y) != pytest.approx(PRIVATE_SPOT, abs=1e-6)
    assert abs(point.x - PRIVATE_SPOT[0]) < 0.0015 and abs(point.y - PRIVATE_SPOT[1]) < 0.0015
    assert priv.address == "" and priv.description == PRIVATE_DESCRIPTION
    # The open ticket keeps everything.
    assert _originals(other) == keys[other] and all(store.exists(k) for k in keys[other])
    assert _ticket(other).anonymised_at is None

    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.id > first_entry)
                                 .order_by(AuditEntry.id)).all()
    assert [(e.action, e.target_id, e.via, e.actor_id) for e in entries] == [
        ("ticket.anonymise", public, "worker", None), ("ticket.anonymise", private, "worker", None)]
    assert entries[1].after["cleared"] == ["address"] and entries[1].after["location_blurred_m"] == 200
    logged = json.dumps([e.after for e in entries], ensure_ascii=False)
    for secret in (PRIVATE_ADDRESS, f"{PRIVATE_SPOT[0]:.4f}", *[k for ks in keys.values() for k in ks]):
        assert secret not in logged

    # Idempotent: a second run finds nothing to do.
    assert _run_retention(app, later + timedelta(hours=1))["anonymised"] == 0
    assert db.session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.id > first_entry)) == 2


def test_after_retention_the_original_is_gone_but_the_copies_are_served(app, api, client, world):
    _ok(_consent(api, "deputy_wang", world["public"], True))
    _run_retention(app, NOW + timedelta(days=731))
    photo_id = _ticket(world["public"]).photos[0].id
    gone = api.get(f"/api/v1/photos/{photo_id}/original", "deputy_wang")
    assert gone.status_code == 404 and gone.json["error"]["code"] == "photo_original_removed"
    assert api.get(f"/api/v1/photos/{photo_id}/display", "deputy_wang").status_code == 200
    assert client.get(f"/cockpit/photos/{photo_id}/display").status_code == 200


def test_a_shared_original_stays_while_a_younger_ticket_uses_it(app, api, clock, world):
    store = app.extensions["photo_store"]
    same = phone_jpeg(11, lon=TIANSHUI[0], lat=TIANSHUI[1], taken=LOCAL_MORNING, offset="+08:00")
    old = _ok(api.report("deputy_wang", photos=[same]), 201)["number"]
    _close(api, clock, old, TIANSHUI, seed=12)
    young = _ok(api.report("deputy_li", photos=[same]), 201)["number"]
    shared = _originals(young)[0]
    assert shared == _originals(old)[0]
    _run_retention(app, NOW + timedelta(days=731))
    assert _originals(old)[0] == "" and _originals(young)[0] == shared and store.exists(shared)


def test_retention_works_in_batches(app, world):
    counts = _run_retention(app, NOW + timedelta(days=731), RETENTION_BATCH=1)
    assert counts["anonymised"] == 2 and counts["examined"] == 2


def test_retention_off_keeps_everything(app, world):
    assert _run_retention(app, NOW + timedelta(days=3000), RETENTION_DAYS=0) == {"anonymised": 0}
    assert _ticket(world["public"]).anonymised_at is None


def test_a_reopened_ticket_finished_again_is_anonymised_again(app, api, clock, world):
    number = world["public"]
    first = NOW + timedelta(days=731)
    _run_retention(app, first)
    clock.set(first)
    api.tokens.clear()  # two years on, the sign-in tokens have expired
    _ok(api.post(f"/api/v1/tickets/{number}/reopen", "supervisor_district", json={"reason": "回头看发现反弹"}))
    _ok(api.post(f"/api/v1/tickets/{number}/accept", "handler_tianshui", json={"note": "收到"}))
    _ok(api.post(f"/api/v1/tickets/{number}/resolve", "handler_tianshui", data={"note": "再次清理", "outcome": "solved"},
                 photos=[jpeg((10, 200, 30))]))
    _ok(api.post(f"/api/v1/tickets/{number}/rate", "deputy_wang", json={"score": "satisfied"}))
    assert _originals(number).count("") == 2 and len(_originals(number)) == 3
    assert _run_retention(app, first + timedelta(days=10))["anonymised"] == 0
    assert _run_retention(app, first + timedelta(days=732))["anonymised"] == 1
    assert _originals(number) == ["", "", ""]


def test_a_citizens_name_and_phone_go_after_the_period_and_their_photos_are_clean(app, client, clock):
    from ticketing.models import CitizenReport
    from ticketing.services import citizen
    from ticketing.services.photos import Upload

    deputy = db.session.scalar(select(User).where(User.username == "deputy_wang"))
    shot = phone_jpeg(31, lon=TIANSHUI[0], lat=TIANSHUI[1], taken=LOCAL_MORNING, offset="+08:00")
    received = citizen.report(
        citizen.live_code(deputy, NOW).code, form_key=citizen.new_form_key(), category_code="facilities.lights",
        description="路灯不亮", lon=TIANSHUI[0], lat=TIANSHUI[1], uploads=[Upload("a.jpg", shot)],
        contact=citizen.Contact(name="张三", phone="13700137000"), now=NOW,
        settings=app.extensions["ticket_settings"], store=app.extensions["photo_store"], secret="testing",
        link_days=30, link_for=lambda token: f"http://localhost/t/{token}",
    )
    ticket = received.ticket
    # The tracking link serves the citizen's own photo as a clean copy too.
    for variant in ("display", "thumb"):
        resp = client.get(f"/t/{received.token}/photos/{ticket.photos[0].id}/{variant}")
        assert resp.status_code == 200
        _no_metadata(resp.data, resp.request.path)
    citizen.decline(ticket, deputy, NOW + timedelta(hours=1), reason="已有同类工单")
    db.session.flush()
    first_entry = db.session.scalar(select(func.max(AuditEntry.id)))
    counts = _run_retention(app, NOW + timedelta(days=731))
    assert counts["anonymised"] == 1 and counts["citizen_contacts_cleared"] == 1
    db.session.expire_all()
    row = db.session.get(CitizenReport, ticket.id)
    assert (row.name, row.phone) == ("", "")
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.id > first_entry))
    assert entry.target_id == ticket.number and entry.after["cleared"] == ["citizen_contact"]
    assert "张三" not in json.dumps(entry.after, ensure_ascii=False) and "13700137000" not in json.dumps(entry.after)


def test_old_idempotency_replies_are_dropped(app, api, world):
    _ok(api.post("/api/v1/tickets", "deputy_li", data={"category": "city.litter", "description": "x",
                                                      "lon": TIANSHUI[0], "lat": TIANSHUI[1]},
                 headers={"Idempotency-Key": "k-1"}), 201)
    assert db.session.scalar(select(func.count()).select_from(IdempotencyRecord)) >= 1
    _run_retention(app, NOW + timedelta(days=731))
    assert db.session.scalar(select(func.count()).select_from(IdempotencyRecord)) == 0


def test_the_worker_command_runs_retention_as_of_a_time(tmp_path):
    """`python -m workers --once --at` in its own process, on a SQLite file of its own."""
    import flask_migrate

    from ticketing.demo import build_hangzhou
    from ticketing.services import tickets
    from ticketing.services.photos import Upload
    from ticketing.services.tickets import Evidence

    url, photos = f"sqlite:///{tmp_path / 'retention.db'}", tmp_path / "photos"
    app = make_app(url, photos)
    with app.app_context():
        flask_migrate.upgrade()
        build_hangzhou(NOW)
        user = lambda name: db.session.scalar(select(User).where(User.username == name))  # noqa: E731
        settings, store = app.extensions["ticket_settings"], app.extensions["photo_store"]
        shot = phone_jpeg(21, lon=TIANSHUI[0], lat=TIANSHUI[1], taken=LOCAL_MORNING, offset="+08:00")
        t = tickets.report(actor=user("deputy_wang"), category_code="city.litter", description="垃圾", lon=TIANSHUI[0],
                           lat=TIANSHUI[1], uploads=[Upload("a.jpg", shot)], now=NOW, settings=settings, store=store)
        tickets.accept(t, user("handler_tianshui"), NOW + timedelta(hours=1), note="收到")
        fix = phone_jpeg(22, lon=TIANSHUI[0], lat=TIANSHUI[1], taken=LOCAL_NOON, offset="+08:00")
        tickets.resolve(t, user("handler_tianshui"), NOW + timedelta(hours=4), outcome="solved",
                        evidence=Evidence("已清理", [Upload("b.jpg", fix)]), settings=settings, store=store)
        tickets.rate(t, user("deputy_wang"), NOW + timedelta(hours=5), score="satisfied", settings=settings)
        db.session.commit()
        number, keys = t.number, [p.original_key for p in t.photos]
        db.session.remove()
        db.engine.dispose()
    assert all((photos / k).exists() for k in keys)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUISHOUPAI_") and k != "DATABASE_URL"}
    env.update({"DATABASE_URL": url, "SUISHOUPAI_ENV": "testing", "SUISHOUPAI_PHOTO_DIR": str(photos)})
    at = (NOW + timedelta(days=731)).isoformat()
    out = subprocess.run([sys.executable, "-m", "workers", "--once", "--at", at], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "retention" in out.stderr and "'anonymised': 1" in out.stderr
    assert not any((photos / k).exists() for k in keys)
    with app.app_context():
        ticket = db.session.scalar(select(Ticket).where(Ticket.number == number))
        assert ticket.anonymised_at == NOW + timedelta(days=731)
        assert [p.original_key for p in ticket.photos] == ["", ""]
        db.session.remove()
        db.engine.dispose()


def test_blur_is_stable():
    once = privacy.blur(*PRIVATE_SPOT, 200)
    assert privacy.blur(*once, 200) == once
    assert privacy.blur(*PRIVATE_SPOT, 300) != once


def test_the_policy_comes_from_the_settings():
    assert privacy.RetentionPolicy.from_config({"RETENTION_DAYS": 30, "RETENTION_BATCH": 5}) == \
        privacy.RetentionPolicy(30, 5, 200.0)
    assert privacy.RetentionPolicy.from_config({"RETENTION_DAYS": None}) is None
    with pytest.raises(ValueError):
        privacy.RetentionPolicy.from_config({"RETENTION_DAYS": -1})
