"""The intake pipeline on real files made by the tests: types from content, limits, EXIF, clean copies."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import datetime, timezone

import pytest
from PIL import Image, ImageFile

from geo.crs import wgs84_to_gcj02
from tests import photo_files as pf
from tests.conftest import TIANSHUI
from ticketing.errors import PayloadTooLarge, PhotoRejected
from ticketing.services.photos import PhotoLimits, Upload, check_request, dhash, hamming, process, sniff

LIMITS = PhotoLimits(max_bytes=15 * 1024 * 1024, max_pixels=50_000_000, per_request=9)


def refused(data: bytes, name: str = "photo.jpg", limits: PhotoLimits = LIMITS) -> PhotoRejected | PayloadTooLarge:
    with pytest.raises((PhotoRejected, PayloadTooLarge)) as caught:
        process(Upload(name, data), limits)
    return caught.value  # type: ignore[return-value]


def assert_clean_jpeg(data: bytes) -> Image.Image:
    """A served copy: a JPEG carrying no EXIF, ICC profile, XMP or comment."""
    img = Image.open(io.BytesIO(data))
    assert img.format == "JPEG"
    assert len(img.getexif()) == 0
    assert not {"exif", "icc_profile", "xmp", "comment"} & set(img.info), img.info.keys()
    assert b"Exif\x00\x00" not in data and b"SecretCamera" not in data and b"Apple" not in data
    return img


# ---------------------------------------------------------------------------- accepted files


def test_phone_jpeg_gives_gps_time_and_orientation_and_clean_copies():
    data = pf.phone_jpeg(1, size=(480, 360), lon=TIANSHUI[0], lat=TIANSHUI[1],
                         taken="2026:03:02 10:30:00", offset="+08:00", orientation=6)
    p = process(Upload("IMG_0001.JPG", data), LIMITS)
    assert p.content_type == "image/jpeg" and p.kind == "image"
    exif = p.meta["exif"]
    assert exif["lon"] == pytest.approx(TIANSHUI[0], abs=1e-6)
    assert exif["lat"] == pytest.approx(TIANSHUI[1], abs=1e-6)
    assert exif["datum"] is None  # not written: WGS-84 assumed
    assert exif["taken_at"] == "2026-03-02T02:30:00+00:00" and exif["taken_at_tz_assumed"] is False
    assert p.meta["orientation"] == 6
    # Orientation 6 (turn 90° clockwise to view): the 480×360 sensor image is served upright, 360×480.
    assert (p.width, p.height) == (360, 480)
    assert assert_clean_jpeg(p.display).size == (360, 480)
    assert max(assert_clean_jpeg(p.thumb).size) == 320
    assert p.original == data  # the original is kept as uploaded, metadata and all


def test_orientation_turns_the_pixels_not_just_the_frame():
    img = Image.new("RGB", (80, 40), (255, 255, 255))
    img.paste((255, 0, 0), (0, 0, 40, 40))  # left half red
    p = process(Upload("o.jpg", pf.to_jpeg(img, exif_block=pf.exif(orientation=6))), LIMITS)
    upright = Image.open(io.BytesIO(p.display)).convert("RGB")
    assert upright.size == (40, 80)
    # Turned clockwise, the red left half ends up on top.
    r, g, b = upright.getpixel((20, 10))
    assert r > 200 and g < 60 and b < 60
    r, g, b = upright.getpixel((20, 70))
    assert r > 200 and g > 200 and b > 200


def test_gps_south_and_west_references_make_the_position_negative():
    data = pf.phone_jpeg(2, lon=-151.2093, lat=-33.8688)
    exif = process(Upload("sydney-ish.jpg", data), LIMITS).meta["exif"]
    assert exif["lat"] == pytest.approx(-33.8688, abs=1e-6)
    assert exif["lon"] == pytest.approx(-151.2093, abs=1e-6)


def test_gps_without_its_reference_is_not_used():
    img = pf.scene(3)
    e = Image.Exif()
    e.get_ifd(pf.GPS_IFD).update({pf.GPS_LAT: pf.dms(30.2), pf.GPS_LON: pf.dms(120.1)})
    exif = process(Upload("x.jpg", pf.to_jpeg(img, exif_block=e.tobytes())), LIMITS).meta["exif"]
    assert exif["lat"] is None and exif["lon"] is None
    assert exif["gps_raw"]["lat"] == pytest.approx(30.2, abs=1e-6)


def test_gps_in_gcj02_is_converted_to_wgs84():
    glon, glat = wgs84_to_gcj02(*TIANSHUI)
    exif = process(Upload("x.jpg", pf.phone_jpeg(4, lon=glon, lat=glat, datum="GCJ-02")), LIMITS).meta["exif"]
    assert exif["datum"] == "GCJ-02"
    assert exif["lon"] == pytest.approx(TIANSHUI[0], abs=1e-5)
    assert exif["lat"] == pytest.approx(TIANSHUI[1], abs=1e-5)
    assert "converted" in exif["note"]


def test_gps_in_an_unknown_datum_is_kept_but_not_used():
    exif = process(Upload("x.jpg", pf.phone_jpeg(4, lon=139.7, lat=35.7, datum="TOKYO")), LIMITS).meta["exif"]
    assert exif["datum"] == "TOKYO" and exif["lat"] is None and exif["lon"] is None
    assert exif["gps_raw"]["datum"] == "TOKYO" and "not used" in exif["note"]


def test_wgs84_datum_spelled_out_is_used():
    exif = process(Upload("x.jpg", pf.phone_jpeg(4, lon=120.1, lat=30.2, datum="WGS-84")), LIMITS).meta["exif"]
    assert (exif["lon"], exif["lat"], exif["datum"]) == (pytest.approx(120.1), pytest.approx(30.2), "WGS-84")


def test_capture_time_without_offset_is_read_as_shanghai_time():
    exif = process(Upload("x.jpg", pf.phone_jpeg(5, taken="2026:03:02 09:00:00")), LIMITS).meta["exif"]
    assert exif["taken_at"] == "2026-03-02T01:00:00+00:00" and exif["taken_at_tz_assumed"] is True
    other = process(Upload("x.jpg", pf.phone_jpeg(5, taken="2026:03:02 09:00:00")), LIMITS, local_tz="UTC")
    assert other.meta["exif"]["taken_at"] == "2026-03-02T09:00:00+00:00"


def test_unset_camera_clock_gives_no_capture_time():
    exif = process(Upload("x.jpg", pf.phone_jpeg(5, taken="0000:00:00 00:00:00")), LIMITS).meta["exif"]
    assert exif["taken_at"] is None


def test_photo_without_exif_is_accepted_with_empty_facts():
    p = process(Upload("x.jpg", pf.to_jpeg(pf.scene(6))), LIMITS)
    assert p.meta["exif"] == {"lat": None, "lon": None, "datum": None, "taken_at": None}
    assert p.meta["orientation"] == 1 and p.position is None


def test_iphone_heic_is_read_with_its_exif_and_served_as_clean_jpeg():
    data = pf.iphone_heic(7, lon=TIANSHUI[0], lat=TIANSHUI[1], taken="2026:03:02 11:15:00", offset="+08:00",
                          orientation=6)
    assert data[4:12] == b"ftypheic" and sniff(data) == "HEIF"
    p = process(Upload("IMG_0002.HEIC", data), LIMITS)
    assert p.content_type == "image/heic"
    assert p.position == (pytest.approx(TIANSHUI[0], abs=1e-6), pytest.approx(TIANSHUI[1], abs=1e-6))
    assert p.meta["exif"]["taken_at"] == "2026-03-02T03:15:00+00:00"
    assert p.meta["orientation"] == 6 and (p.width, p.height) == (360, 480)
    assert assert_clean_jpeg(p.display).size == (360, 480)
    assert_clean_jpeg(p.thumb)


def test_png_alpha_is_flattened_onto_white():
    p = process(Upload("cutout.png", pf.png_with_alpha()), LIMITS)
    assert p.content_type == "image/png"
    copy = assert_clean_jpeg(p.display).convert("RGB")
    assert copy.mode == "RGB"
    r, g, b = copy.getpixel((10, 40))  # the transparent half
    assert min(r, g, b) > 240
    r, g, b = copy.getpixel((110, 40))  # the opaque blue half
    assert b > 200 and r < 40 and g < 40


def test_webp_is_accepted():
    p = process(Upload("w.webp", pf.webp()), LIMITS)
    assert p.content_type == "image/webp"
    assert_clean_jpeg(p.display)


def test_the_same_photo_twice_has_the_same_keys_and_a_different_one_does_not():
    data = pf.phone_jpeg(8)
    a, b = process(Upload("a.jpg", data), LIMITS), process(Upload("b.jpg", data), LIMITS)
    assert a.keys == b.keys and a.keys[0].startswith("private/") and a.keys[1].startswith("public/")
    assert process(Upload("c.jpg", pf.phone_jpeg(9)), LIMITS).keys[0] != a.keys[0]
    assert [key for key, _, _ in a.objects] == list(a.keys)


def test_mp4_is_kept_as_is_without_copies():
    data = pf.mp4(4096)
    assert sniff(data) == "MP4"
    p = process(Upload("clip.mp4", data), LIMITS)
    assert (p.kind, p.content_type, p.width, p.height) == ("video", "video/mp4", 0, 0)
    assert p.meta == {"kind": "video"} and p.original == data
    original_key, display_key, thumb_key = p.keys
    assert original_key.startswith("private/") and display_key == thumb_key == ""
    assert p.objects == [(original_key, data, "video/mp4")]


@pytest.mark.parametrize("brand", [b"mp42", b"avc1", b"iso2", b"mp41", b"M4V "])
def test_mp4_brands_are_videos(brand):
    assert sniff(pf.mp4(64, brand=brand)) == "MP4"


def test_video_has_its_own_byte_cap():
    limits = replace(LIMITS, max_bytes=1000, max_video_bytes=10_000)
    assert process(Upload("clip.mp4", pf.mp4(5000)), limits).kind == "video"  # above the photo cap
    err = refused(pf.mp4(20_000), "clip.mp4", limits)
    assert (err.status, err.code, err.details["max_bytes"]) == (413, "video_too_large", 10_000)


# ---------------------------------------------------------------------------- refused files


def test_twenty_thousand_square_image_is_refused_without_decoding(monkeypatch):
    decoded = []
    real_load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(self.size) or real_load(self))
    data = pf.huge_png(20_000)
    assert data[12:24] == b"IHDR" + (20_000).to_bytes(4, "big") * 2  # a real, complete image of that size
    err = refused(data, "big.jpg")
    assert (err.status, err.code) == (413, "photo_too_many_pixels")
    assert decoded == []


def test_image_over_our_pixel_limit_but_under_pillows_is_refused_without_decoding(monkeypatch):
    decoded = []
    real_load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(self.size) or real_load(self))
    err = refused(pf.huge_png(8_000), "big.png")  # 64 Mpx > 50 Mpx (Pillow's own guard starts at 89 Mpx)
    assert (err.status, err.code, err.details["width"], err.details["height"]) == (
        413, "photo_too_many_pixels", 8_000, 8_000)
    assert decoded == []


def test_png_decompression_bomb_is_refused_from_its_header(monkeypatch):
    decoded = []
    real_load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(self.size) or real_load(self))
    bomb = pf.png_bomb()
    assert len(bomb) < 100_000  # 32 MB of IDAT in a few tens of KB, declaring 100,000 × 100,000 pixels
    err = refused(bomb, "bomb.png")
    assert (err.status, err.code) == (413, "photo_too_many_pixels")
    assert decoded == []


def test_zip_bomb_renamed_png_is_not_an_image():
    bomb = pf.zip_bomb()
    assert bomb[:4] == b"PK\x03\x04" and len(bomb) < 200_000
    err = refused(bomb, "holiday.png")
    assert (err.status, err.code, err.details["filename"]) == (422, "photo_unsupported_type", "holiday.png")


def test_truncated_jpeg_is_refused_as_truncated():
    err = refused(pf.truncated_jpeg())
    assert (err.status, err.code, err.details["type"]) == (422, "photo_truncated", "JPEG")


def test_truncated_jpeg_is_refused_even_after_a_report_was_rendered():
    # Importing WeasyPrint flips Pillow's process-wide LOAD_TRUNCATED_IMAGES on.
    from PIL import ImageFile

    import weasyprint  # noqa: F401

    ImageFile.LOAD_TRUNCATED_IMAGES = True
    assert refused(pf.truncated_jpeg()).code == "photo_truncated"


def test_jpeg_cut_inside_its_header_is_truncated_too():
    assert refused(pf.phone_jpeg(1)[:300]).code == "photo_truncated"


def test_truncated_heic_is_refused_as_truncated():
    data = pf.iphone_heic(2)
    assert refused(data[: len(data) // 2], "IMG.HEIC").code == "photo_truncated"


def test_truncated_mp4_is_refused_as_truncated():
    assert refused(pf.mp4(4096, cut=100), "clip.mp4").code == "photo_truncated"


def test_jpeg_with_a_damaged_body_is_corrupt():
    data = bytearray(pf.phone_jpeg(3))
    start = data.index(b"\xff\xda")  # start of scan: everything after it is entropy-coded pixels
    data[start + 2 : start + 14] = b"\x00\x01" + b"\xff" * 10  # a broken scan header; the file still ends right
    err = refused(bytes(data))
    assert (err.status, err.code) == (422, "photo_corrupt")


def test_html_renamed_jpg_is_refused():
    err = refused(pf.html_as_jpg(), "photo.jpg")
    assert (err.status, err.code) == (422, "photo_unsupported_type")


def test_empty_file_is_refused():
    err = refused(b"", "photo.jpg")
    assert (err.status, err.code) == (422, "photo_empty")


def test_gif_and_heic_branded_video_are_not_accepted():
    out = io.BytesIO()
    pf.scene(1).save(out, format="GIF")
    assert refused(out.getvalue(), "a.gif").code == "photo_unsupported_type"
    # QuickTime .mov is not on the list (unless it says it is readable as MP4).
    assert sniff(pf.mp4(64, brand=b"qt  ", compatible=b"qt  ")) is None


def test_heic_brand_is_never_taken_for_a_video():
    assert sniff(pf.mp4(64, brand=b"heic")) == "HEIF"
    assert sniff(pf.mp4(64, brand=b"mif1")) == "HEIF"


def test_oversize_photo_is_refused_before_decoding():
    err = refused(pf.phone_jpeg(1), limits=replace(LIMITS, max_bytes=1000))
    assert (err.status, err.code, err.details["max_bytes"]) == (413, "photo_too_large", 1000)


def test_request_total_bytes_are_capped():
    files = [Upload(f"{i}.jpg", pf.phone_jpeg(i)) for i in range(1, 4)]
    cap = len(files[0].data) + len(files[1].data)
    limits = replace(LIMITS, max_request_bytes=cap)
    with pytest.raises(PayloadTooLarge) as caught:
        check_request(files, limits)
    assert (caught.value.status, caught.value.code, caught.value.details["max_bytes"]) == (413, "upload_too_large", cap)
    check_request(files[:2], limits)  # exactly at the cap
    with pytest.raises(PayloadTooLarge) as caught:
        check_request(files * 4, LIMITS)
    assert caught.value.code == "too_many_photos"


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_malformed_exif_does_not_refuse_the_photo():
    data = pf.to_jpeg(pf.scene(2), exif_block=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\xff\xff\x01")
    p = process(Upload("odd.jpg", data), LIMITS)
    assert p.position is None
    assert_clean_jpeg(p.display)


# ---------------------------------------------------------------------------- perceptual hash


def test_dhash_is_close_for_a_reencoded_copy_and_far_for_another_scene():
    original = pf.phone_jpeg(1)
    same = process(Upload("a.jpg", original), LIMITS).meta["dhash"]
    copy = process(Upload("b.jpg", pf.reencoded(original)), LIMITS).meta["dhash"]
    other = process(Upload("c.jpg", pf.phone_jpeg(2)), LIMITS).meta["dhash"]
    assert len(same) == 16
    assert hamming(same, copy) <= 2
    assert hamming(same, other) > 16


def test_featureless_image_has_no_dhash():
    assert dhash(Image.new("RGB", (64, 48), (200, 40, 40))) is None


def test_taken_at_round_trips_to_an_aware_datetime():
    from ticketing.services.photos import taken_at_of

    p = process(Upload("x.jpg", pf.phone_jpeg(5, taken="2026:03:02 09:00:00", offset="+08:00")), LIMITS)
    assert taken_at_of(p.meta) == datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)
