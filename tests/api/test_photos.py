"""GET /api/v1/photos/<id>/<variant> on the local store: copies to viewers, originals to those who handle the ticket."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.conftest import jpeg

WULIN = (120.153961, 30.267608)  # inside 武林街道


def with_exif() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "SuishoupaiTestCam"
    return jpeg((123, 45, 67), size=(200, 150), exif=exif.tobytes())


@pytest.fixture
def photo_id(api) -> int:
    """A photo of a 武林街道 ticket that 天水街道 was called in to co-handle."""
    resp = api.report("deputy_wang", photos=[with_exif()], lon=WULIN[0], lat=WULIN[1])
    assert resp.status_code == 201, resp.json
    n = resp.json["number"]
    assert api.post(f"/api/v1/tickets/{n}/cohandle", "handler_wulin", json={"units": ["330105012"]}).status_code == 200
    return resp.json["photos"][0]["id"]  # type: ignore[no-any-return]


def test_the_original_is_streamed_as_uploaded_and_never_cached(api, photo_id):
    resp = api.get(f"/api/v1/photos/{photo_id}/original", "deputy_wang")
    assert resp.status_code == 200
    assert resp.data == with_exif()
    assert resp.mimetype == "image/jpeg"
    assert resp.headers["Cache-Control"] == "private, no-store"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


def test_the_copies_carry_no_exif(api, photo_id):
    for variant in ("display", "thumb"):
        resp = api.get(f"/api/v1/photos/{photo_id}/{variant}", "supervisor_tianshui")
        assert resp.status_code == 200
        assert b"SuishoupaiTestCam" not in resp.data
        with Image.open(io.BytesIO(resp.data)) as img:
            assert not img.getexif()


@pytest.mark.parametrize(("user", "status", "code"), [
    ("handler_wulin", 200, None),
    ("handler_tianshui", 200, None),
    ("supervisor_district", 200, None),
    ("admin", 200, None),
    ("supervisor_tianshui", 403, "photo_original_forbidden"),
    ("handler_chaohui", 404, "photo_not_found"),
    ("deputy_li", 404, "photo_not_found"),
])
def test_who_gets_the_original(api, photo_id, user, status, code):
    resp = api.get(f"/api/v1/photos/{photo_id}/original", user)
    assert resp.status_code == status
    if code:
        assert resp.json["error"]["code"] == code


def test_unknown_variants_and_anonymous_callers_learn_nothing(api, photo_id):
    assert api.get(f"/api/v1/photos/{photo_id}/raw", "deputy_wang").status_code == 404
    assert api.get(f"/api/v1/photos/{photo_id}/original", None).status_code == 401
