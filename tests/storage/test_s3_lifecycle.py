"""With PHOTO_STORAGE=s3 the whole loop runs with its photos in a bucket (moto's server, over HTTP)."""

from __future__ import annotations

import io
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError

from tests.conftest import jpeg, s3_bucket
from ticketing.extensions import db
from ticketing.models import Photo, Ticket, TicketEvent
from ticketing.storage import make_store
from ticketing.storage.s3 import S3Store

WULIN = (120.153961, 30.267608)  # inside 武林街道 (330105013)
PREFIX = "city/"
S3_KEYS = ("PHOTO_STORAGE", "S3_BUCKET", "S3_PREFIX", "S3_ENDPOINT_URL", "S3_REGION", "S3_ADDRESSING_STYLE")


class Bucket:
    """The test's bucket as an outsider sees it: the keys really stored there."""

    def __init__(self, client: Any, name: str):
        self.client, self.name = client, name

    def keys(self) -> set[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name)
        return {o["Key"] for page in pages for o in page.get("Contents", [])}


@pytest.fixture
def bucket(ctx, s3_endpoint) -> Iterator[Bucket]:
    """The test's app switched to PHOTO_STORAGE=s3 on a fresh bucket, through `make_store` as `create_app` does."""
    client, name = s3_bucket(s3_endpoint)
    saved = {k: ctx.config.get(k) for k in S3_KEYS}, ctx.extensions["photo_store"]
    ctx.config.update(PHOTO_STORAGE="s3", S3_BUCKET=name, S3_PREFIX=PREFIX, S3_ENDPOINT_URL=s3_endpoint,
                      S3_REGION="us-east-1", S3_ADDRESSING_STYLE="path")
    ctx.extensions["photo_store"] = make_store(ctx.config)
    try:
        yield Bucket(client, name)
    finally:
        ctx.config.update(saved[0])
        ctx.extensions["photo_store"] = saved[1]


def camera_jpeg(color: tuple[int, int, int]) -> bytes:
    """A JPEG as a phone writes it: camera make and GPS position in its EXIF."""
    exif = Image.Exif()
    exif[0x010F] = "SuishoupaiTestCam"
    exif[0x8825] = {1: "N", 2: (30.0, 16.0, 3.4), 3: "E", 4: (120.0, 9.0, 14.3)}
    return jpeg(color, size=(320, 240), exif=exif.tobytes())


def counts() -> tuple[int, int, int]:
    return tuple(db.session.scalar(select(func.count()).select_from(m)) for m in (Ticket, TicketEvent, Photo))  # type: ignore[return-value]


def ok(resp: Any, status: int = 200) -> Any:
    assert resp.status_code == status, resp.json
    return resp.json


def test_the_whole_loop_keeps_its_photos_in_the_bucket(api, bucket, ctx):
    assert isinstance(ctx.extensions["photo_store"], S3Store)
    reported = camera_jpeg((200, 30, 30))
    t = ok(api.report("deputy_wang", photos=[reported], lon=WULIN[0], lat=WULIN[1]), 201)
    n = t["number"]
    assert t["handling_unit"]["code"] == "330105013"
    ok(api.post(f"/api/v1/tickets/{n}/accept", "handler_wulin", json={"note": "收到"}))
    ok(api.post(f"/api/v1/tickets/{n}/cohandle", "handler_wulin", json={"units": ["330105012"]}))
    ok(api.post(f"/api/v1/tickets/{n}/progress", "handler_tianshui", data={"note": "配合清理"},
                photos=[camera_jpeg((30, 200, 30))]))
    ok(api.post(f"/api/v1/tickets/{n}/resolve", "handler_wulin", data={"note": "已清理", "outcome": "solved"},
                photos=[camera_jpeg((30, 30, 200))]))
    assert ok(api.post(f"/api/v1/tickets/{n}/rate", "deputy_wang", json={"score": "satisfied"}))["state"] == "closed"

    rows = db.session.scalars(select(Photo).join(Ticket).where(Ticket.number == n)).all()
    assert len(rows) == 3
    expected = {PREFIX + k for p in rows for k in (p.original_key, p.display_key, p.thumb_key)}
    assert bucket.keys() == expected
    assert all(p.original_key.startswith("private/") and p.display_key.startswith("public/") for p in rows)

    first = ok(api.get(f"/api/v1/tickets/{n}", "deputy_wang"))["photos"][0]
    for url in (first["display_url"], first["thumb_url"]):
        resp = api.get(url, "handler_tianshui")
        assert resp.status_code == 200 and resp.mimetype == "image/jpeg"
        assert b"SuishoupaiTestCam" not in resp.data and b"Exif\x00\x00" not in resp.data
        with Image.open(io.BytesIO(resp.data)) as served:
            assert not served.getexif()
    # The original keeps what the phone wrote; the reporter gets it from the bucket by presigned URL.
    resp = api.get(f"/api/v1/photos/{first['id']}/original", "deputy_wang")
    assert resp.status_code == 302
    assert resp.headers["Cache-Control"] == "private, no-store"
    location = resp.headers["Location"]
    assert f"/{bucket.name}/{PREFIX}private/" in location and "X-Amz-Expires=300" in location
    with urllib.request.urlopen(location, timeout=10) as fetched:
        assert fetched.read() == reported
    with Image.open(io.BytesIO(reported)) as orig:
        assert orig.getexif().get_ifd(0x8825)


@pytest.mark.parametrize(
    ("user", "status"),
    [
        ("deputy_wang", 302),  # the reporter
        ("handler_wulin", 302),  # the handling unit
        ("handler_tianshui", 302),  # a co-handling unit
        ("supervisor_district", 302),  # above the handling unit
        ("supervisor_tianshui", 403),  # above a co-handling unit only: sees the ticket, not the original
        ("handler_chaohui", 404),  # another street: does not see the ticket at all
        ("deputy_li", 404),
    ],
)
def test_originals_go_only_to_those_who_answer_for_the_ticket(api, bucket, user, status):
    t = ok(api.report("deputy_wang", photos=[camera_jpeg((90, 90, 10))], lon=WULIN[0], lat=WULIN[1]), 201)
    ok(api.post(f"/api/v1/tickets/{t['number']}/cohandle", "handler_wulin", json={"units": ["330105012"]}))
    photo_id = t["photos"][0]["id"]
    resp = api.get(f"/api/v1/photos/{photo_id}/original", user)
    assert resp.status_code == status, resp.json
    if status == 403:
        assert resp.json["error"]["code"] == "photo_original_forbidden"
        assert api.get(f"/api/v1/photos/{photo_id}/display", user).status_code == 200
    if status == 404:
        assert resp.json["error"]["code"] == "photo_not_found"
    if status == 302:
        with urllib.request.urlopen(resp.headers["Location"], timeout=10) as fetched:
            assert fetched.status == 200


def test_a_refused_report_leaves_no_object_and_no_row(api, bucket):
    ok(api.report("deputy_wang", photos=[jpeg((1, 1, 1))]), 201)
    before_keys, before_rows = bucket.keys(), counts()
    html = b"<!doctype html><html><body><script>alert(1)</script></body></html>"
    resp = api.report("deputy_wang", photos=[jpeg((2, 2, 2)), html])
    assert 400 <= resp.status_code < 500
    assert resp.json["error"]["code"] == "photo_unsupported_type"
    assert bucket.keys() == before_keys
    assert counts() == before_rows


def test_a_failed_commit_takes_back_the_objects_it_stored(api, bucket):
    ok(api.report("deputy_wang", photos=[jpeg((3, 3, 3))]), 201)
    before_keys, before_rows = bucket.keys(), counts()

    def refuse(_session: Any) -> None:
        raise IntegrityError("COMMIT", {}, Exception("forced by the test"))

    session = db.session()
    event.listen(session, "before_commit", refuse)
    try:
        resp = api.report("deputy_wang", photos=[jpeg((3, 3, 3)), jpeg((4, 4, 4))])
    finally:
        event.remove(session, "before_commit", refuse)
    assert resp.status_code == 409, resp.json
    assert bucket.keys() == before_keys  # the new photo's three objects are gone, the shared ones stay
    assert counts() == before_rows
