"""Photo intake: sniff and verify with Pillow, re-encode copies without metadata, store.

The full pipeline (EXIF GPS and time, HEIC, video, evidence checks) comes with the
photo issue; this module is where it grows.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import datetime

from PIL import Image, ImageOps, UnidentifiedImageError

from ticketing.errors import PayloadTooLarge, PhotoRejected
from ticketing.models import Photo
from ticketing.storage import PhotoStore

# Formats accepted, as Pillow names them, with the MIME type kept for the original.
ACCEPTED = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
DISPLAY_EDGE = 1600
THUMB_EDGE = 320


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


@dataclass
class ProcessedPhoto:
    """A verified photo and its re-encoded copies, ready to be stored."""

    sha256: str
    content_type: str
    width: int
    height: int
    original: bytes
    display: bytes
    thumb: bytes

    @property
    def keys(self) -> tuple[str, str, str]:
        """Content-hash keys (original, display, thumbnail): the same photo is stored once."""
        h = self.sha256
        return (
            f"private/{h[:2]}/{h[2:4]}/{h}",
            f"public/{h[:2]}/{h[2:4]}/{h}-display.jpg",
            f"public/{h[:2]}/{h[2:4]}/{h}-thumb.jpg",
        )


def check_count(uploads: list[Upload], limits: PhotoLimits) -> None:
    """Refuse a request carrying more photos than allowed."""
    if len(uploads) > limits.per_request:
        raise PayloadTooLarge(
            f"at most {limits.per_request} photos per request",
            code="too_many_photos",
            details={"max": limits.per_request, "got": len(uploads)},
        )


def process(upload: Upload, limits: PhotoLimits) -> ProcessedPhoto:
    """Verify one upload and make its copies; raises PhotoRejected / PayloadTooLarge."""
    details = {"filename": upload.filename}
    if not upload.data:
        raise PhotoRejected("the uploaded file is empty", code="photo_empty", details=details)
    if len(upload.data) > limits.max_bytes:
        raise PayloadTooLarge(
            "photo larger than allowed", code="photo_too_large", details={**details, "max_bytes": limits.max_bytes}
        )
    try:
        # The type comes from the content, never from the file name or the client's MIME type.
        with Image.open(io.BytesIO(upload.data)) as probe:
            fmt = probe.format
            if probe.width * probe.height > limits.max_pixels:
                raise PayloadTooLarge(
                    "photo has too many pixels", code="photo_too_many_pixels", details=details
                )
            probe.verify()
        with Image.open(io.BytesIO(upload.data)) as img:
            img.load()
            img = ImageOps.exif_transpose(img)
            rgb = img.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise PhotoRejected(
            "the file is not a readable JPEG, PNG or WebP image", code="photo_unsupported_type", details=details
        ) from None
    if fmt not in ACCEPTED:
        raise PhotoRejected(
            f"unsupported image type {fmt}", code="photo_unsupported_type", details={**details, "type": fmt}
        )
    return ProcessedPhoto(
        sha256=hashlib.sha256(upload.data).hexdigest(),
        content_type=ACCEPTED[fmt],
        width=rgb.width,
        height=rgb.height,
        original=upload.data,
        display=_encode(rgb, DISPLAY_EDGE),
        thumb=_encode(rgb, THUMB_EDGE),
    )


def _encode(img: Image.Image, edge: int) -> bytes:
    copy = img.copy()
    copy.thumbnail((edge, edge))
    out = io.BytesIO()
    # A fresh JPEG written without exif= carries no metadata from the original.
    copy.save(out, format="JPEG", quality=85, optimize=True)
    return out.getvalue()


def store(processed: ProcessedPhoto, photo_store: PhotoStore) -> None:
    """Write the original and the copies unless they are already stored."""
    original_key, display_key, thumb_key = processed.keys
    for key, data, ctype in (
        (original_key, processed.original, processed.content_type),
        (display_key, processed.display, "image/jpeg"),
        (thumb_key, processed.thumb, "image/jpeg"),
    ):
        if not photo_store.exists(key):
            photo_store.put(key, data, ctype)


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
        meta={},
    )
