"""Photo intake: sniff and verify the upload, read its EXIF, make clean copies.

`process` takes one upload through these steps, each refusing with its own code:

1. The type comes from the content, never from the file name or the client's MIME type:
   JPEG, PNG, WebP and HEIC by their signatures, each then opened by Pillow's decoder for
   that format only (HEIC through pillow-heif); an MP4 video by its ``ftyp`` box.
2. Byte caps: PHOTO_MAX_BYTES per image, VIDEO_MAX_BYTES per video, and (`check_request`)
   UPLOAD_MAX_BYTES_PER_REQUEST for all files of one request together.
3. The pixel count is read from the header and refused above PHOTO_MAX_PIXELS before a
   single pixel is decoded, so a decompression bomb costs a few bytes of parsing.
4. EXIF is read before anything is stripped: the GPS position with its N/S/E/W references
   and map datum, the capture time, the orientation.
5. The image is turned upright, transparency is flattened onto white, colours are
   converted to sRGB, and the display and thumbnail copies are written as fresh JPEGs that
   carry no metadata at all (no EXIF, ICC, XMP or comment). The original is kept as
   uploaded under a private key.
6. A 64-bit difference hash of the display copy goes into ``meta`` for the evidence check.

What ``meta`` holds (and so ``Photo.meta``)::

    {"kind": "image",
     "exif": {"lat": 30.26, "lon": 120.15,  # WGS-84, or null when there is no usable position
              "datum": null,                # GPSMapDatum as written; null = not given (WGS-84 assumed)
              "taken_at": "2026-03-02T01:00:00+00:00",  # UTC, or null
              "taken_at_tz_assumed": true,  # no OffsetTimeOriginal: local time read as Asia/Shanghai
              "note": "..."},               # only when a position was converted or set aside
     "orientation": 6,                      # the EXIF orientation the copies were turned by
     "dhash": "f0e4c2d8a1b3c5e7"}           # null for featureless images (nothing to compare)

A GPS position in GCJ-02 (some Chinese camera apps say so in GPSMapDatum) is converted to
WGS-84; a position in any other named datum is kept in ``exif.gps_raw`` but not used.

Videos are stored as they are: ``meta`` is ``{"kind": "video"}``, width and height are 0,
and there are no copies, so ``display_key`` and ``thumb_key`` are empty strings
(`ProcessedPhoto.objects` lists only the original).
"""

from __future__ import annotations

import functools
import hashlib
import io
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from PIL import ExifTags, Image, ImageCms, ImageFile, ImageOps

from ticketing.errors import PayloadTooLarge, PhotoRejected
from ticketing.models import Photo
from ticketing.storage import PhotoStore

# Image formats accepted, as Pillow names them, with the MIME type kept for the original.
ACCEPTED = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "HEIF": "image/heic"}
VIDEO_TYPE = "video/mp4"
DISPLAY_EDGE = 1600
THUMB_EDGE = 320
# Local time of EXIF capture times that carry no UTC offset (older phones, most cameras).
DEFAULT_EXIF_TIMEZONE = "Asia/Shanghai"

# ISO base media file brands (the ``ftyp`` box): HEIF still images, and MP4 video.
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"})
_MP4_BRANDS = frozenset({b"isom", b"iso2", b"mp41", b"mp42", b"avc1", b"M4V "})
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Upload:
    """One uploaded file as the edge received it."""

    filename: str
    data: bytes


@dataclass(frozen=True)
class PhotoLimits:
    max_bytes: int
    max_pixels: int
    per_request: int
    max_video_bytes: int = 30 * 1024 * 1024
    max_request_bytes: int = 48 * 1024 * 1024


@dataclass
class ProcessedPhoto:
    """A verified upload and its re-encoded copies (none for a video), ready to be stored."""

    sha256: str
    content_type: str
    width: int
    height: int
    original: bytes
    display: bytes
    thumb: bytes
    kind: str = "image"
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def keys(self) -> tuple[str, str, str]:
        """Content-hash keys (original, display, thumbnail): the same file is stored once.

        A video has no copies: its display and thumbnail keys are empty strings.
        """
        h = self.sha256
        original = f"private/{h[:2]}/{h[2:4]}/{h}"
        if self.kind == "video":
            return original, "", ""
        return original, f"public/{h[:2]}/{h[2:4]}/{h}-display.jpg", f"public/{h[:2]}/{h[2:4]}/{h}-thumb.jpg"

    @property
    def objects(self) -> list[tuple[str, bytes, str]]:
        """What to write to the photo store: (key, bytes, content type) for each object that exists."""
        original_key, display_key, thumb_key = self.keys
        found = [(original_key, self.original, self.content_type)]
        if self.kind == "image":
            found += [(display_key, self.display, "image/jpeg"), (thumb_key, self.thumb, "image/jpeg")]
        return found

    @property
    def position(self) -> tuple[float, float] | None:
        """The WGS-84 (lon, lat) the photo's EXIF gives, if any."""
        return position_of(self.meta)


def position_of(meta: dict[str, Any]) -> tuple[float, float] | None:
    """The WGS-84 (lon, lat) recorded in a photo's meta, if any."""
    exif = meta.get("exif") or {}
    if exif.get("lon") is None or exif.get("lat") is None:
        return None
    return float(exif["lon"]), float(exif["lat"])


def taken_at_of(meta: dict[str, Any]) -> datetime | None:
    """The capture time recorded in a photo's meta (timezone-aware), if any."""
    value = (meta.get("exif") or {}).get("taken_at")
    return datetime.fromisoformat(value) if value else None


def check_count(uploads: list[Upload], limits: PhotoLimits) -> None:
    """Refuse a request carrying more photos than allowed."""
    if len(uploads) > limits.per_request:
        raise PayloadTooLarge(
            f"at most {limits.per_request} photos per request",
            code="too_many_photos",
            details={"max": limits.per_request, "got": len(uploads)},
        )


def check_request(uploads: list[Upload], limits: PhotoLimits) -> None:
    """Refuse a request carrying too many files, or more bytes of files than allowed in one request."""
    check_count(uploads, limits)
    total = sum(len(u.data) for u in uploads)
    if total > limits.max_request_bytes:
        raise PayloadTooLarge(
            "the files of this request are larger than allowed together",
            code="upload_too_large",
            details={"max_bytes": limits.max_request_bytes, "got_bytes": total},
        )


def process(upload: Upload, limits: PhotoLimits, *, local_tz: str = DEFAULT_EXIF_TIMEZONE) -> ProcessedPhoto:
    """Verify one upload and make its copies; raises PhotoRejected / PayloadTooLarge.

    `local_tz` is the zone of EXIF capture times written without a UTC offset.
    """
    data = upload.data
    details: dict[str, Any] = {"filename": upload.filename}
    if not data:
        raise PhotoRejected("the uploaded file is empty", code="photo_empty", details=details)
    fmt = sniff(data)
    if fmt is None:
        raise PhotoRejected(
            "the file is not a JPEG, PNG, WebP or HEIC image nor an MP4 video",
            code="photo_unsupported_type",
            details=details,
        )
    if fmt == "MP4":
        return _video(upload, limits)
    if len(data) > limits.max_bytes:
        raise PayloadTooLarge(
            "photo larger than allowed", code="photo_too_large", details={**details, "max_bytes": limits.max_bytes}
        )
    if fmt == "HEIF":
        _register_heif()
    img = _decode(data, fmt, limits, details)
    try:
        exif, orientation = _read_exif(img, local_tz)
        upright = ImageOps.exif_transpose(img) or img
        rgb = _srgb(_flatten(upright), img.info.get("icc_profile"))
    finally:
        img.close()
    display = _resized(rgb, DISPLAY_EDGE)
    return ProcessedPhoto(
        sha256=hashlib.sha256(data).hexdigest(),
        content_type=ACCEPTED[fmt],
        width=rgb.width,
        height=rgb.height,
        original=data,
        display=_jpeg(display),
        thumb=_jpeg(_resized(rgb, THUMB_EDGE)),
        kind="image",
        meta={"kind": "image", "exif": exif, "orientation": orientation, "dhash": dhash(display)},
    )


def sniff(data: bytes) -> str | None:
    """The type of a file from its first bytes: JPEG, PNG, WEBP, HEIF, MP4, or None."""
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:8] == _PNG_SIGNATURE:
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[4:8] == b"ftyp" and len(data) >= 16:
        size = int.from_bytes(data[:4], "big")
        major = data[8:12]
        compatible = {data[i : i + 4] for i in range(16, min(size, len(data), 64) - 3, 4)}
        if major in _HEIF_BRANDS:
            return "HEIF"
        if major in _MP4_BRANDS:
            return "MP4"
        # An unfamiliar major brand: the compatible brands say what a reader may treat it as.
        if compatible & {b"heic", b"heix", b"mif1"}:
            return "HEIF"
        if compatible & _MP4_BRANDS:
            return "MP4"
    return None


def dhash(img: Image.Image) -> str | None:
    """A 64-bit difference hash (hex): each bit says whether a pixel of a 9×8 grey version
    is brighter than its right neighbour. None when the image is too flat to say anything,
    since every featureless image would share the same hash."""
    small = img.convert("L").resize((9, 8), Image.Resampling.LANCZOS)
    px = small.tobytes()
    if max(px) - min(px) < 8:
        return None
    bits = 0
    for row in range(8):
        for col in range(8):
            bits = (bits << 1) | (px[row * 9 + col] > px[row * 9 + col + 1])
    return f"{bits:016x}"


def hamming(a: str, b: str) -> int:
    """How many of the 64 bits of two difference hashes differ."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


@functools.cache
def _register_heif() -> None:
    # Done once, on the first HEIC upload: nothing is registered at import time.
    from pillow_heif import register_heif_opener

    register_heif_opener()


def _decode(data: bytes, fmt: str, limits: PhotoLimits, details: dict[str, Any]) -> Image.Image:
    """Open with the decoder of the sniffed format only, check the pixel count, then decode."""
    try:
        img = Image.open(io.BytesIO(data), formats=[fmt])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Pillow's own guard, from the header too, for sizes far beyond ours.
        raise _too_many_pixels(details, limits) from None
    except Exception as error:  # the decoders raise many kinds of errors on hostile input
        raise _unreadable(fmt, data, error, details) from None
    # The header's size, before any pixel is decoded.
    if img.width * img.height > limits.max_pixels:
        img.close()
        raise _too_many_pixels({**details, "width": img.width, "height": img.height}, limits)
    # A truncated upload must fail here. WeasyPrint (the report renderer) switches Pillow's
    # process-wide LOAD_TRUNCATED_IMAGES on when imported, so insist on it being off.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        img.load()
    except Exception as error:
        img.close()
        raise _unreadable(fmt, data, error, details) from None
    return img


def _too_many_pixels(details: dict[str, Any], limits: PhotoLimits) -> PayloadTooLarge:
    return PayloadTooLarge(
        "photo has too many pixels", code="photo_too_many_pixels", details={**details, "max_pixels": limits.max_pixels}
    )


def _unreadable(fmt: str, data: bytes, error: Exception, details: dict[str, Any]) -> PhotoRejected:
    """Truncated when the file ends before its structure does; damaged otherwise."""
    if "truncated" in str(error).lower() or _ends_early(fmt, data):
        return PhotoRejected(
            f"the {fmt} file ends before the image does (an interrupted upload?)",
            code="photo_truncated",
            details={**details, "type": fmt},
        )
    return PhotoRejected(
        f"the file starts like a {fmt} image but cannot be decoded",
        code="photo_corrupt",
        details={**details, "type": fmt},
    )


def _ends_early(fmt: str, data: bytes) -> bool:
    if fmt == "JPEG":
        return b"\xff\xd9" not in data[-64:]
    if fmt == "PNG":
        return b"IEND" not in data[-16:]
    if fmt == "WEBP":
        return int.from_bytes(data[4:8], "little") + 8 > len(data)
    try:
        _boxes(data)
    except _BoxError as error:
        return error.truncated
    return False


class _BoxError(ValueError):
    def __init__(self, message: str, *, truncated: bool):
        super().__init__(message)
        self.truncated = truncated


def _boxes(data: bytes) -> list[bytes]:
    """The names of the top-level ISO BMFF boxes; _BoxError when the sizes do not add up."""
    names, pos, end = [], 0, len(data)
    while pos < end:
        if end - pos < 8:
            raise _BoxError("a box header is cut off", truncated=True)
        size, name, header = int.from_bytes(data[pos : pos + 4], "big"), data[pos + 4 : pos + 8], 8
        if size == 1:  # a 64-bit size follows the name
            if end - pos < 16:
                raise _BoxError("a box header is cut off", truncated=True)
            size, header = int.from_bytes(data[pos + 8 : pos + 16], "big"), 16
        elif size == 0:  # the box runs to the end of the file
            size = end - pos
        if size < header or not all(32 <= c < 127 or c == 0xA9 for c in name):
            raise _BoxError(f"malformed box at byte {pos}", truncated=False)
        if pos + size > end:
            raise _BoxError(f"box {name!r} runs past the end of the file", truncated=True)
        names.append(name)
        pos += size
    return names


def _video(upload: Upload, limits: PhotoLimits) -> ProcessedPhoto:
    """A short MP4 kept as uploaded, once its box structure holds together."""
    data = upload.data
    details: dict[str, Any] = {"filename": upload.filename, "type": "MP4"}
    if len(data) > limits.max_video_bytes:
        raise PayloadTooLarge(
            "video larger than allowed",
            code="video_too_large",
            details={**details, "max_bytes": limits.max_video_bytes},
        )
    try:
        names = _boxes(data)
    except _BoxError as error:
        code = "photo_truncated" if error.truncated else "photo_corrupt"
        raise PhotoRejected(f"the MP4 file is not well formed: {error}", code=code, details=details) from None
    if b"mdat" not in names and b"moov" not in names:
        raise PhotoRejected("the MP4 file holds no media", code="photo_corrupt", details=details)
    return ProcessedPhoto(
        sha256=hashlib.sha256(data).hexdigest(),
        content_type=VIDEO_TYPE,
        width=0,
        height=0,
        original=data,
        display=b"",
        thumb=b"",
        kind="video",
        meta={"kind": "video"},
    )


# ---------------------------------------------------------------------------- EXIF


def _read_exif(img: Image.Image, local_tz: str) -> tuple[dict[str, Any], int]:
    """What EXIF says about where and when, and the orientation; never raises on bad EXIF."""
    out: dict[str, Any] = {"lat": None, "lon": None, "datum": None, "taken_at": None}
    try:
        exif = img.getexif()
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
        sub = exif.get_ifd(ExifTags.IFD.Exif)
    except Exception:  # malformed EXIF is no reason to refuse a photo: there is simply none
        return out, 1
    # pillow-heif turns HEIC images upright itself and keeps the tag it applied here.
    orientation = img.info.get("original_orientation") or exif.get(ExifTags.Base.Orientation) or 1
    _read_position(gps, out)
    _read_time(sub.get(ExifTags.Base.DateTimeOriginal), sub.get(ExifTags.Base.OffsetTimeOriginal), local_tz, out)
    return out, int(orientation) if isinstance(orientation, int) else 1


def _read_position(gps: dict[int, Any], out: dict[str, Any]) -> None:
    lat = _degrees(gps.get(ExifTags.GPS.GPSLatitude))
    lon = _degrees(gps.get(ExifTags.GPS.GPSLongitude))
    datum = _text(gps.get(ExifTags.GPS.GPSMapDatum))
    out["datum"] = datum or None
    if lat is None or lon is None:
        return
    lat_ref = _text(gps.get(ExifTags.GPS.GPSLatitudeRef)).upper()[:1]
    lon_ref = _text(gps.get(ExifTags.GPS.GPSLongitudeRef)).upper()[:1]
    raw = {"lat": lat, "lon": lon, "lat_ref": lat_ref, "lon_ref": lon_ref, "datum": datum}
    if lat_ref not in ("N", "S") or lon_ref not in ("E", "W"):
        out.update(gps_raw=raw, note="GPS position without its N/S or E/W reference: not used")
        return
    lat = -lat if lat_ref == "S" else lat
    lon = -lon if lon_ref == "W" else lon
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0) or (lat == 0.0 and lon == 0.0):
        # (0, 0) is what some phones write when they had no fix.
        out.update(gps_raw=raw, note="GPS position out of range or without a fix: not used")
        return
    system = "".join(c for c in datum.upper() if c.isalnum())
    if system in ("", "WGS84", "WGS1984"):
        out.update(lat=lat, lon=lon)
    elif system in ("GCJ02", "GCJ"):
        from geo.crs import to_wgs84

        out["lon"], out["lat"] = to_wgs84(lon, lat, "gcj02")
        out.update(gps_raw=raw, note="GPS position in GCJ-02, converted to WGS-84")
    else:
        out.update(gps_raw=raw, note=f"GPS position in datum {datum!r}, not WGS-84: not used")


def _degrees(value: Any) -> float | None:
    """Degrees from EXIF's (degrees, minutes, seconds) rationals; None if absent or unreadable."""
    if value is None:
        return None
    try:
        parts = [float(v) for v in (value if isinstance(value, tuple | list) else (value,))]
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if not 1 <= len(parts) <= 3 or not all(math.isfinite(p) and p >= 0 for p in parts):
        return None
    return sum(p / 60**i for i, p in enumerate(parts))


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return str(value).strip("\x00 ") if value is not None else ""


def _read_time(stamp: Any, offset: Any, local_tz: str, out: dict[str, Any]) -> None:
    text = _text(stamp)
    try:
        naive = datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return  # absent, or the "0000:00:00 00:00:00" of a camera whose clock was never set
    zone = _offset(_text(offset))
    out["taken_at_tz_assumed"] = zone is None
    aware = naive.replace(tzinfo=zone or ZoneInfo(local_tz))
    out["taken_at"] = aware.astimezone(timezone.utc).isoformat()


def _offset(text: str) -> timezone | None:
    """A timezone from EXIF's "+08:00"; None when absent or malformed."""
    if len(text) != 6 or text[0] not in "+-" or text[3] != ":":
        return None
    try:
        hours, minutes = int(text[1:3]), int(text[4:6])
    except ValueError:
        return None
    if hours > 14 or minutes > 59:
        return None
    sign = -1 if text[0] == "-" else 1
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


# ---------------------------------------------------------------------------- copies


def _flatten(img: Image.Image) -> Image.Image:
    """RGB with any transparency laid onto white (JPEG copies have no alpha channel)."""
    if img.has_transparency_data:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        white.alpha_composite(rgba)
        return white.convert("RGB")
    return img.convert("RGB")


@functools.cache
def _srgb_profile() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _srgb(rgb: Image.Image, icc: bytes | None) -> Image.Image:
    """Colours converted to sRGB, so that the copies look right without carrying a profile."""
    if not icc:
        return rgb
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if source.profile.xcolor_space.strip() != "RGB":
            return rgb
        return ImageCms.profileToProfile(rgb, source, _srgb_profile(), outputMode="RGB") or rgb
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return rgb  # an unreadable profile: keep the pixels as they are


def _resized(img: Image.Image, edge: int) -> Image.Image:
    copy = img.copy()
    copy.thumbnail((edge, edge))
    return copy


def _jpeg(img: Image.Image) -> bytes:
    """A fresh JPEG with no metadata: Pillow would carry an ICC profile or comment over from `info`."""
    img.info = {}
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=85, optimize=True)
    return out.getvalue()


def store(processed: ProcessedPhoto, photo_store: PhotoStore) -> None:
    """Write the original and the copies unless they are already stored.

    Each object written here is tracked in the session's transaction and deleted again
    if that transaction does not commit (`ticketing.storage.cleanup`); objects that were
    already there may belong to committed photos and are left alone.
    """
    from ticketing.extensions import db
    from ticketing.storage import cleanup

    for key, data, ctype in processed.objects:
        if not photo_store.exists(key):
            photo_store.put(key, data, ctype)
            cleanup.track(db.session, photo_store, key, processed.sha256)


def make_photo(processed: ProcessedPhoto, *, ticket_id: int, uploader_id: int | None, now: datetime) -> Photo:
    """A Photo row for a processed upload; the caller attaches it to an event and adds it."""
    original_key, display_key, thumb_key = processed.keys
    return Photo(
        ticket_id=ticket_id,
        sha256=processed.sha256,
        content_type=processed.content_type,
        width=processed.width,
        height=processed.height,
        size_bytes=len(processed.original),
        original_key=original_key,
        display_key=display_key,
        thumb_key=thumb_key,
        uploaded_by_id=uploader_id,
        created_at=now,
        meta=dict(processed.meta),
    )
