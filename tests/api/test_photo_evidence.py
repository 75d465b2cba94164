"""Photos through /api/v1: location from EXIF, bad files refused without a trace, doubtful evidence flagged.

The request clock is frozen at NOW (Monday 2 March 2026, 09:00 in Shanghai), so a report is
dispatched at NOW and a capture time can be placed before or after it.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import func, select

from tests import photo_files as pf
from tests.conftest import NOW, TIANSHUI, jpeg

SHANGHAI_OFFSET = "+08:00"
# About 2.2 km north of the ticket: far beyond the mismatch (200 m) and evidence (300 m) distances.
ELSEWHERE = (TIANSHUI[0], TIANSHUI[1] + 0.02)
# About 50 m away: the same place for both checks.
NEARBY = (TIANSHUI[0] + 0.0005, TIANSHUI[1])


def local_stamp(moment: datetime) -> str:
    """`moment` as EXIF DateTimeOriginal in Shanghai time (used with offset +08:00)."""
    return moment.astimezone(timezone(timedelta(hours=8))).strftime("%Y:%m:%d %H:%M:%S")


def stored_files(ctx: Any) -> set[str]:
    root = ctx.config["PHOTO_DIR"]
    return {os.path.relpath(os.path.join(d, f), root) for d, _, files in os.walk(root) for f in files}


def counts() -> dict[str, int]:
    from ticketing.extensions import db
    from ticketing.models import Photo, Ticket, TicketEvent

    return {m.__name__: db.session.scalar(select(func.count()).select_from(m)) for m in (Ticket, TicketEvent, Photo)}


def post(api: Any, path: str, user: str, data: dict[str, Any], files: list[tuple[bytes, str]]) -> Any:
    """A multipart POST whose photo file names the test chooses."""
    form = dict(data)
    form["photos"] = [(io.BytesIO(content), name) for content, name in files]
    return api.client.post(path, data=form, headers=api.headers(user), content_type="multipart/form-data")


def report(api: Any, files: list[tuple[bytes, str]], **fields: Any) -> Any:
    data = {"category": "city.litter", "description": "垃圾堆积", "lon": TIANSHUI[0], "lat": TIANSHUI[1], **fields}
    data = {k: v for k, v in data.items() if v is not None}
    return post(api, "/api/v1/tickets", "deputy_wang", data, files)


def ticket_row(number: str) -> Any:
    from ticketing.extensions import db
    from ticketing.models import Ticket

    return db.session.scalar(select(Ticket).where(Ticket.number == number))


def last_event(number: str) -> Any:
    from ticketing.extensions import db
    from ticketing.models import TicketEvent

    t = ticket_row(number)
    return db.session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id == t.id).order_by(TicketEvent.id.desc())
    ).first()


REPORT_PHOTO = pf.phone_jpeg(11, lon=TIANSHUI[0], lat=TIANSHUI[1], taken="2026:03:01 16:00:00", offset=SHANGHAI_OFFSET)


@pytest.fixture
def accepted(api: Any, clock: None) -> str:
    """A ticket reported with a GPS-tagged phone photo at 天水街道 and accepted by its handler."""
    resp = report(api, [(REPORT_PHOTO, "IMG_0100.JPG")])
    assert resp.status_code == 201, resp.json
    number = resp.json["number"]
    resp = api.post(f"/api/v1/tickets/{number}/accept", "handler_tianshui", json={"note": "收到"})
    assert resp.status_code == 200, resp.json
    return number  # type: ignore[no-any-return]


def resolve(api: Any, number: str, files: list[tuple[bytes, str]]) -> Any:
    return post(api, f"/api/v1/tickets/{number}/resolve", "handler_tianshui",
                {"note": "已清理", "outcome": "solved"}, files)


def flags_of(resp: Any, supervisor_view: dict[str, Any]) -> list[dict[str, Any]]:
    """The evidence flags of the last event, as a supervisor sees them in the trail."""
    return supervisor_view["events"][-1]["data"].get("evidence_flags", [])  # type: ignore[no-any-return]


def trail(api: Any, number: str) -> dict[str, Any]:
    resp = api.get(f"/api/v1/tickets/{number}", "supervisor_district")
    assert resp.status_code == 200, resp.json
    return resp.json  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------- location from the photo


def test_report_without_coordinates_is_located_by_its_photos_gps(api, ctx, clock):
    plain = jpeg()  # no EXIF: the first photo with a position counts
    resp = report(api, [(plain, "a.jpg"), (REPORT_PHOTO, "IMG_0100.JPG")], lon=None, lat=None)
    assert resp.status_code == 201, resp.json
    t = ticket_row(resp.json["number"])
    from geoalchemy2.shape import to_shape

    point = to_shape(t.location)
    assert (point.x, point.y) == (pytest.approx(TIANSHUI[0], abs=1e-6), pytest.approx(TIANSHUI[1], abs=1e-6))
    assert t.handling_unit.code == "330105012"  # routed to 天水街道 like a report with coordinates
    assert t.input_crs == "wgs84"
    first = trail(api, t.number)["events"][0]
    assert first["action"] == "report"
    assert first["data"]["location_source"] == "photo_exif" and first["data"]["location_photo"] == 1
    assert not t.needs_review


def test_report_without_coordinates_from_an_iphone_heic(api, ctx, clock):
    heic = pf.iphone_heic(12, lon=TIANSHUI[0], lat=TIANSHUI[1], orientation=6)
    resp = report(api, [(heic, "IMG_0101.HEIC")], lon=None, lat=None)
    assert resp.status_code == 201, resp.json
    assert resp.json["photos"][0]["content_type"] == "image/heic"
    assert ticket_row(resp.json["number"]).handling_unit.code == "330105012"


def test_report_without_coordinates_or_gps_is_refused(api, ctx, clock):
    before, files = counts(), stored_files(ctx)
    for photos in ([], [(jpeg(), "a.jpg")], [(pf.phone_jpeg(3, taken="2026:03:01 16:00:00"), "b.jpg")]):
        resp = report(api, photos, lon=None, lat=None)
        assert resp.status_code == 422, resp.json
        assert resp.json["error"]["code"] == "location_required"
    assert counts() == before and stored_files(ctx) == files


def test_photo_far_from_the_given_position_flags_the_ticket_for_review(api, ctx, clock):
    far = pf.phone_jpeg(13, lon=ELSEWHERE[0], lat=ELSEWHERE[1])
    resp = report(api, [(far, "IMG_0102.JPG")])
    assert resp.status_code == 201, resp.json
    assert resp.json["needs_review"] is True and "photo_location_mismatch" in resp.json["review_reasons"]
    data = trail(api, resp.json["number"])["events"][0]["data"]
    assert data["photo_location_mismatch"]["distance_m"] == pytest.approx(2224, abs=10)
    assert "location_source" not in data  # the reporter's coordinates were used
    point_of_ticket = ticket_row(resp.json["number"])
    assert point_of_ticket.handling_unit.code == "330105012"


def test_photo_near_the_given_position_does_not_flag(api, ctx, clock):
    near = pf.phone_jpeg(14, lon=NEARBY[0], lat=NEARBY[1])
    resp = report(api, [(near, "IMG_0103.JPG")])
    assert resp.status_code == 201, resp.json
    assert "photo_location_mismatch" not in resp.json["review_reasons"]


def test_mismatch_distance_is_configurable(api, ctx, clock, monkeypatch):
    settings = ctx.extensions["ticket_settings"]
    monkeypatch.setitem(ctx.extensions, "ticket_settings", replace(settings, photo_location_mismatch_m=10))
    resp = report(api, [(pf.phone_jpeg(14, lon=NEARBY[0], lat=NEARBY[1]), "IMG_0103.JPG")])
    assert resp.status_code == 201 and "photo_location_mismatch" in resp.json["review_reasons"]


# ---------------------------------------------------------------------------- bad files leave nothing behind


BAD_FILES = [
    ("empty", lambda: b"", "photo.jpg", 422, "photo_empty"),
    ("html renamed .jpg", pf.html_as_jpg, "photo.jpg", 422, "photo_unsupported_type"),
    ("zip bomb renamed .png", pf.zip_bomb, "photo.png", 422, "photo_unsupported_type"),
    ("png decompression bomb", pf.png_bomb, "photo.png", 413, "photo_too_many_pixels"),
    ("20000 x 20000", pf.huge_png, "big.jpg", 413, "photo_too_many_pixels"),
    ("truncated jpeg", pf.truncated_jpeg, "IMG_0104.JPG", 422, "photo_truncated"),
    ("truncated mp4", lambda: pf.mp4(4096, cut=100), "clip.mp4", 422, "photo_truncated"),
]


@pytest.mark.parametrize(("label", "make", "name", "status", "code"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_file_in_a_report_is_refused_and_leaves_nothing(api, ctx, clock, label, make, name, status, code):
    api.token("deputy_wang")
    before, files = counts(), stored_files(ctx)
    # A good photo first: the bad one must take it down with it.
    resp = report(api, [(pf.phone_jpeg(15), "good.jpg"), (make(), name)])
    assert resp.status_code == status, resp.json
    assert resp.json["error"]["code"] == code
    assert resp.json["error"]["details"]["filename"] == name
    assert counts() == before
    assert stored_files(ctx) == files


@pytest.mark.parametrize(("label", "make", "name", "status", "code"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_file_in_a_resolve_is_refused_and_leaves_nothing(api, ctx, accepted, label, make, name, status, code):
    before, files = counts(), stored_files(ctx)
    resp = resolve(api, accepted, [(pf.phone_jpeg(16), "good.jpg"), (make(), name)])
    assert resp.status_code == status, resp.json
    assert resp.json["error"]["code"] == code
    assert counts() == before and stored_files(ctx) == files
    assert ticket_row(accepted).state.value == "accepted"


def test_request_over_the_total_byte_cap_is_refused(api, ctx, clock, monkeypatch):
    settings = ctx.extensions["ticket_settings"]
    photos = [(pf.phone_jpeg(i), f"{i}.jpg") for i in (1, 2, 3)]
    cap = len(photos[0][0]) + len(photos[1][0])
    small = replace(settings, photo_limits=replace(settings.photo_limits, max_request_bytes=cap))
    monkeypatch.setitem(ctx.extensions, "ticket_settings", small)
    api.token("deputy_wang")
    before, files = counts(), stored_files(ctx)
    resp = report(api, photos)
    assert resp.status_code == 413 and resp.json["error"]["code"] == "upload_too_large"
    assert counts() == before and stored_files(ctx) == files
    assert report(api, photos[:2]).status_code == 201


def test_short_video_is_attached_as_is(api, ctx, clock):
    clip = pf.mp4(8192)
    resp = report(api, [(REPORT_PHOTO, "IMG_0100.JPG"), (clip, "clip.mp4")])
    assert resp.status_code == 201, resp.json
    video = resp.json["photos"][1]
    assert video["content_type"] == "video/mp4"
    from ticketing.extensions import db
    from ticketing.models import Photo

    row = db.session.get(Photo, video["id"])
    assert row.meta == {"kind": "video"} and row.display_key == row.thumb_key == ""
    assert row.original_key in stored_files(ctx)


def test_served_copies_carry_no_exif(api, ctx, clock):
    heic = pf.iphone_heic(17, lon=TIANSHUI[0], lat=TIANSHUI[1], taken="2026:03:02 08:00:00", offset=SHANGHAI_OFFSET)
    resp = report(api, [(REPORT_PHOTO, "IMG_0100.JPG"), (heic, "IMG_0105.HEIC"), (pf.png_with_alpha(), "a.png")])
    assert resp.status_code == 201, resp.json
    for photo in resp.json["photos"]:
        for url in (photo["display_url"], photo["thumb_url"]):
            served = api.get(url, "deputy_wang")
            assert served.status_code == 200
            body = served.get_data()
            img = Image.open(io.BytesIO(body))
            assert img.format == "JPEG" and len(img.getexif()) == 0
            assert not {"exif", "icc_profile", "xmp", "comment"} & set(img.info)
            assert b"Exif\x00\x00" not in body and b"SecretCamera" not in body and b"iPhone" not in body


# ---------------------------------------------------------------------------- evidence check


def test_clean_resolve_photo_has_no_flags(api, ctx, accepted):
    clean = pf.phone_jpeg(21, lon=NEARBY[0], lat=NEARBY[1], taken=local_stamp(NOW + timedelta(minutes=5)),
                          offset=SHANGHAI_OFFSET)
    resp = resolve(api, accepted, [(clean, "IMG_0200.JPG"), (jpeg((1, 2, 3)), "no-exif.jpg")])
    assert resp.status_code == 200, resp.json
    assert "evidence_flags" not in trail(api, accepted)["events"][-1]["data"]
    assert "evidence_flags" not in last_event(accepted).data


def test_resolve_photo_far_from_the_ticket_is_flagged_but_accepted(api, ctx, accepted):
    far = pf.phone_jpeg(22, lon=ELSEWHERE[0], lat=ELSEWHERE[1], taken=local_stamp(NOW + timedelta(minutes=5)),
                        offset=SHANGHAI_OFFSET)
    resp = resolve(api, accepted, [(far, "IMG_0201.JPG")])
    assert resp.status_code == 200 and resp.json["state"] == "resolved"
    view = trail(api, accepted)
    flags = flags_of(resp, view)
    photo_id = view["events"][-1]["photos"][0]["id"]
    assert [(f["photo_id"], f["flag"]) for f in flags] == [(photo_id, "far_from_ticket")]
    assert flags[0]["details"]["distance_m"] == pytest.approx(2224, abs=10)


def test_resolve_photo_taken_before_dispatch_is_flagged(api, ctx, accepted):
    old = pf.phone_jpeg(23, lon=NEARBY[0], lat=NEARBY[1], taken=local_stamp(NOW - timedelta(days=3)),
                        offset=SHANGHAI_OFFSET)
    resp = resolve(api, accepted, [(old, "IMG_0202.JPG")])
    assert resp.status_code == 200
    flags = flags_of(resp, trail(api, accepted))
    assert [f["flag"] for f in flags] == ["taken_before_dispatch"]
    assert datetime.fromisoformat(flags[0]["details"]["dispatched_at"]) == NOW


def test_resolve_with_the_report_photo_itself_is_flagged(api, ctx, accepted):
    resp = resolve(api, accepted, [(REPORT_PHOTO, "IMG_0100.JPG")])
    assert resp.status_code == 200
    view = trail(api, accepted)
    flags = flags_of(resp, view)
    # The report photo was also taken the day before dispatch: both facts are told.
    assert {f["flag"] for f in flags} == {"same_as_report_photo", "taken_before_dispatch"}
    same = next(f for f in flags if f["flag"] == "same_as_report_photo")
    assert same["details"]["report_photo_id"] == view["events"][0]["photos"][0]["id"]


def test_resolve_with_a_reencoded_copy_of_the_report_photo_is_flagged(api, ctx, accepted):
    copy = pf.reencoded(REPORT_PHOTO)  # EXIF gone, other bytes, same picture
    resp = resolve(api, accepted, [(copy, "IMG_0203.JPG")])
    assert resp.status_code == 200
    flags = flags_of(resp, trail(api, accepted))
    assert [f["flag"] for f in flags] == ["looks_like_report_photo"]
    assert flags[0]["details"]["dhash_distance"] <= 6


def test_progress_photos_are_checked_too_and_flags_reach_the_photo(api, ctx, accepted):
    from ticketing.extensions import db
    from ticketing.models import Photo

    far = pf.phone_jpeg(24, lon=ELSEWHERE[0], lat=ELSEWHERE[1])
    resp = post(api, f"/api/v1/tickets/{accepted}/progress", "handler_tianshui", {"note": "到场"},
                [(far, "IMG_0204.JPG"), (pf.phone_jpeg(25), "IMG_0205.JPG")])
    assert resp.status_code == 200, resp.json
    event = last_event(accepted)
    assert [f["flag"] for f in event.data["evidence_flags"]] == ["far_from_ticket"]
    flagged, clean = (db.session.get(Photo, p.id) for p in event.photos)
    assert flagged.id == event.data["evidence_flags"][0]["photo_id"]
    assert [f["flag"] for f in flagged.meta["evidence_flags"]] == ["far_from_ticket"]
    assert "evidence_flags" not in clean.meta


def test_doubtful_evidence_is_counted_per_unit(api, ctx, accepted):
    from ticketing.extensions import db
    from ticketing.models import OrgUnit
    from ticketing.services.evidence import doubtful_evidence_counts

    unit_ids = list(db.session.scalars(select(OrgUnit.id).where(OrgUnit.code.in_(("330105012", "330105016")))))
    tianshui = db.session.scalar(select(OrgUnit.id).where(OrgUnit.code == "330105012"))
    window = (NOW - timedelta(hours=1), NOW + timedelta(hours=1))
    assert doubtful_evidence_counts(unit_ids, *window) == dict.fromkeys(unit_ids, 0)
    far = pf.phone_jpeg(26, lon=ELSEWHERE[0], lat=ELSEWHERE[1])
    progress = post(api, f"/api/v1/tickets/{accepted}/progress", "handler_tianshui", {"note": "到场"},
                    [(far, "a.jpg"), (REPORT_PHOTO, "b.jpg")])  # two doubtful photos: one step
    assert progress.status_code == 200
    assert resolve(api, accepted, [(REPORT_PHOTO, "c.jpg")]).status_code == 200
    counted = doubtful_evidence_counts(unit_ids, *window)
    assert counted[tianshui] == 2 and sum(counted.values()) == 2
    assert doubtful_evidence_counts(unit_ids, NOW + timedelta(hours=1), NOW + timedelta(hours=2))[tianshui] == 0
    assert doubtful_evidence_counts([], *window) == {}


def test_evidence_flags_are_shown_to_supervisors_not_to_the_reporter(api):
    from tests.conftest import jpeg

    photo = jpeg((10, 120, 30), size=(96, 72))
    number = api.report(photos=[photo]).json["number"]
    api.post(f"/api/v1/tickets/{number}/accept", "handler_tianshui", json={"note": "收到"})
    r = api.post(f"/api/v1/tickets/{number}/resolve", "handler_tianshui",
                 data={"note": "已清理", "outcome": "solved"}, photos=[photo])
    assert r.status_code == 200, r.json
    seen = api.get(f"/api/v1/tickets/{number}", "supervisor_district").json["events"][-1]["data"]
    assert [f["flag"] for f in seen["evidence_flags"]] == ["same_as_report_photo"]
    hidden = api.get(f"/api/v1/tickets/{number}", "deputy_wang").json["events"][-1]["data"]
    assert "evidence_flags" not in hidden and hidden["outcome"] == "solved"
