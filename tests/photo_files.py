"""Real files for the photo tests, made on the spot: phone JPEGs with EXIF, an iPhone-style
HEIC, PNGs, bombs, broken files and a hand-built MP4."""

from __future__ import annotations

import functools
import io
import random
import struct
import zipfile
import zlib
from datetime import datetime

from PIL import Image, ImageCms, ImageDraw

# EXIF tag numbers (the EXIF 2.32 specification).
ORIENTATION, MAKE, MODEL = 0x0112, 0x010F, 0x0110
EXIF_IFD, GPS_IFD = 0x8769, 0x8825
DATETIME_ORIGINAL, OFFSET_TIME_ORIGINAL = 0x9003, 0x9011
GPS_LAT_REF, GPS_LAT, GPS_LON_REF, GPS_LON, GPS_DATUM = 1, 2, 3, 4, 18


def dms(value: float) -> tuple[float, float, float]:
    """Degrees as EXIF writes them: whole degrees, whole minutes, seconds."""
    value = abs(value)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = round((value - degrees - minutes / 60) * 3600, 4)
    return float(degrees), float(minutes), seconds


def exif(
    *,
    lon: float | None = None,
    lat: float | None = None,
    lon_ref: str | None = None,
    lat_ref: str | None = None,
    datum: str | None = None,
    taken: datetime | str | None = None,
    offset: str | None = None,
    orientation: int | None = None,
    make: str = "Apple",
    model: str = "iPhone 15 Pro",
) -> bytes:
    """An EXIF block as a phone writes it. Signed lon/lat set the N/S/E/W references unless given."""
    e = Image.Exif()
    e[MAKE], e[MODEL] = make, model
    if orientation is not None:
        e[ORIENTATION] = orientation
    if lon is not None and lat is not None:
        gps = e.get_ifd(GPS_IFD)
        gps[GPS_LAT_REF] = lat_ref or ("N" if lat >= 0 else "S")
        gps[GPS_LAT] = dms(lat)
        gps[GPS_LON_REF] = lon_ref or ("E" if lon >= 0 else "W")
        gps[GPS_LON] = dms(lon)
        if datum is not None:
            gps[GPS_DATUM] = datum
    if taken is not None:
        sub = e.get_ifd(EXIF_IFD)
        sub[DATETIME_ORIGINAL] = taken if isinstance(taken, str) else taken.strftime("%Y:%m:%d %H:%M:%S")
        if offset is not None:
            sub[OFFSET_TIME_ORIGINAL] = offset
    return e.tobytes()


def scene(seed: int, size: tuple[int, int] = (480, 360)) -> Image.Image:
    """A street-like picture with enough structure for a perceptual hash: sky, blocks, ground."""
    rnd = random.Random(seed)
    img = Image.new("RGB", size, (rnd.randrange(256), rnd.randrange(256), rnd.randrange(256)))
    draw = ImageDraw.Draw(img)
    w, h = size
    for _ in range(14):
        x, y = rnd.randrange(w), rnd.randrange(h)
        dx, dy = rnd.randrange(w // 8, w // 2), rnd.randrange(h // 8, h // 2)
        draw.rectangle([x, y, x + dx, y + dy], fill=(rnd.randrange(256), rnd.randrange(256), rnd.randrange(256)))
    return img


def icc_srgb() -> bytes:
    """An ICC profile to embed, as phones do (theirs is usually Display P3)."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()  # type: ignore[no-any-return]


def to_jpeg(img: Image.Image, *, exif_block: bytes | None = None, quality: int = 90, icc: bytes | None = None,
            comment: bytes | None = None) -> bytes:
    out = io.BytesIO()
    kw: dict[str, object] = {"quality": quality}
    if exif_block is not None:
        kw["exif"] = exif_block
    if icc is not None:
        kw["icc_profile"] = icc
    if comment is not None:
        kw["comment"] = comment
    img.save(out, format="JPEG", **kw)
    return out.getvalue()


def phone_jpeg(seed: int = 1, *, size: tuple[int, int] = (480, 360), **exif_fields: object) -> bytes:
    """A JPEG as a phone camera writes it: EXIF (with GPS, time, orientation if asked), ICC, a comment."""
    return to_jpeg(scene(seed, size), exif_block=exif(**exif_fields), icc=icc_srgb(),  # type: ignore[arg-type]
                   comment=b"SecretCameraComment")


def reencoded(data: bytes, *, quality: int = 70, scale: float = 0.9) -> bytes:
    """The same picture saved again smaller and at another quality: other bytes, same look."""
    with Image.open(io.BytesIO(data)) as img:
        smaller = img.resize((int(img.width * scale), int(img.height * scale)))
    return to_jpeg(smaller, quality=quality)


def iphone_heic(seed: int = 1, **exif_fields: object) -> bytes:
    """A HEIC as an iPhone writes it: HEVC-coded, brand heic/mif1, EXIF with GPS and time, an ICC profile."""
    import pillow_heif

    img = scene(seed)
    img.info["icc_profile"] = icc_srgb()
    heif = pillow_heif.from_pillow(img)
    out = io.BytesIO()
    heif.save(out, quality=80, exif=exif(**exif_fields))  # type: ignore[arg-type]
    return out.getvalue()


def png_with_alpha(size: tuple[int, int] = (120, 80)) -> bytes:
    """An RGBA PNG: left half fully transparent, right half opaque blue."""
    img = Image.new("RGBA", size, (0, 0, 0, 0))
    ImageDraw.Draw(img).rectangle([size[0] // 2, 0, size[0], size[1]], fill=(0, 0, 255, 255))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def webp(seed: int = 3) -> bytes:
    out = io.BytesIO()
    scene(seed).save(out, format="WEBP", quality=80)
    return out.getvalue()


@functools.cache
def huge_png(side: int = 20_000) -> bytes:
    """A real, complete, decodable side × side image (1-bit PNG: 50 MB of pixels, ~50 KB of file)."""
    out = io.BytesIO()
    Image.new("1", (side, side)).save(out, format="PNG")
    return out.getvalue()


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


@functools.cache
def png_bomb(side: int = 100_000, inflated: int = 32 * 1024 * 1024) -> bytes:
    """A decompression bomb: a PNG declaring side × side grey pixels whose IDAT inflates
    `inflated` bytes (and would want 10 GB for the full image) from a few tens of KB."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    idat = zlib.compress(bytes(inflated), 9)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


@functools.cache
def zip_bomb(inflated: int = 64 * 1024 * 1024) -> bytes:
    """A zip archive whose one entry inflates to `inflated` bytes of zeros (to be renamed .png)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("photo.png", bytes(inflated))
    return out.getvalue()


def truncated_jpeg() -> bytes:
    """A phone JPEG cut off half way, as an interrupted upload leaves it."""
    data = phone_jpeg(5)
    return data[: len(data) // 2]


def html_as_jpg() -> bytes:
    return b"<!DOCTYPE html>\n<html><head><title>x</title></head><body><img src=x onerror=alert(1)></body></html>\n"


def _box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", 8 + len(body)) + kind + body


def mp4(payload: int = 4096, *, brand: bytes = b"isom", compatible: bytes = b"isomiso2avc1mp41", cut: int = 0) -> bytes:
    """A minimal MP4 by hand: an ``ftyp`` box and an ``mdat`` box of `payload` bytes (less `cut` at the end)."""
    ftyp = _box(b"ftyp", brand + struct.pack(">I", 512) + compatible)
    mdat = _box(b"mdat", bytes(random.Random(payload).randrange(256) for _ in range(payload)))
    data = ftyp + mdat
    return data[: len(data) - cut] if cut else data
