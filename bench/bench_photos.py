"""Photo intake: photos per second per core, and peak memory per upload, for a 12-megapixel phone JPEG.

    python -m bench.bench_photos                          # 4000×3000, 7 timed runs (`make bench`)
    python -m bench.bench_photos --size 800x600 --runs 2  # the smoke test's size
    python -m bench.bench_photos --icc                    # the JPEG carries an sRGB ICC profile
    python -m bench.bench_photos --format heic            # an iPhone HEIC of the same picture

The photo is made on the spot with Pillow so that it costs what a phone photo costs: a
photographic-like picture (blurred shapes over gradients, then per-pixel sensor noise)
saved at quality 90 with 4:2:0 chroma subsampling, about 4 MB at 12 MP, carrying the EXIF a
phone writes (make and model, capture time with its offset, GPS position, orientation 6:
a portrait shot stored landscape, so the intake has to rotate the full frame).

What is timed is the whole public intake, `ticketing.services.photos.process(upload,
limits)` with the default limits: sniff, verify, orient, read the metadata, re-encode the
display and thumbnail copies. Storing is left out (it depends on the backend).

Every measurement runs in a fresh child process pinned to one CPU:

* speed: one warm-up, then RUNS rounds that time `process()` and two bare-Pillow baselines
  on the same bytes back to back (decode; decode + resize to the display edge), in an order
  that turns each round, so that a drifting machine slows all three alike. Per core = 1 / median CPU seconds per photo;
  Pillow decodes, resizes and encodes on one thread, so CPU and wall time should agree
  (both are shown: a gap means the VM stole the core).
* memory: after a warm-up on a tiny photo (plugins imported, code paths loaded) and with the
  upload's bytes already in memory (the web edge has read them), the peak RSS of the
  process minus its RSS just before; once after one upload, once after RUNS in a row (what
  a long-lived worker keeps). The peak is VmHWM, reset just before through
  /proc/self/clear_refs: `getrusage`'s ru_maxrss would do elsewhere, but on Linux it
  survives exec, so a child would start with the peak of the parent that made the photo.
  Pillow's pixel buffers are C allocations that tracemalloc does not see, so its peak,
  measured in another child, counts only the Python objects (the encoded copies, buffers).

Markdown goes to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from PIL import ExifTags, Image, ImageChops, ImageDraw, ImageFilter
from PIL import features as pil_features
from PIL.TiffImagePlugin import IFDRational

ROOT = Path(__file__).resolve().parent.parent
SIZE = (4000, 3000)
RUNS = 7
QUALITY = 90
HEIC_QUALITY = 50  # about 2.5 MB at 12 MP, as an iPhone writes
NOISE_SIGMA = 10.0  # per-pixel noise: at 12 MP and quality 90 this gives a 3.5-4 MB file, as phones do
DISPLAY_EDGE = 1600  # the intake's display copy (ticketing.services.photos.DISPLAY_EDGE)
MIB = 1024 * 1024


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------- the photo


def phone_exif(orientation: int = 6) -> Image.Exif:
    """EXIF as a phone writes it: device, capture time, GPS (a street in Hangzhou), orientation."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Xiaomi"
    exif[ExifTags.Base.Model] = "Redmi Note 12"
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.DateTime] = "2026:03:02 09:12:31"
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    sub[ExifTags.Base.DateTimeOriginal] = "2026:03:02 09:12:31"
    sub[ExifTags.Base.OffsetTimeOriginal] = "+08:00"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (IFDRational(30), IFDRational(16), IFDRational(2913, 100))
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (IFDRational(120), IFDRational(9), IFDRational(2529, 100))
    return exif


def phone_picture(width: int, height: int, *, seed: int = 12) -> Image.Image:
    """A photographic-like RGB picture of width × height: smooth areas, edges and sensor noise."""
    size = (width, height)
    # Gradients give the smooth areas (sky, walls), blurred shapes the edges, noise the sensor grain
    # that makes a real photo expensive to code: without it a synthetic JPEG is several times smaller.
    g = Image.linear_gradient("L").resize(size)
    across = g.transpose(Image.Transpose.ROTATE_90).resize(size)
    img = Image.merge("RGB", (g, Image.radial_gradient("L").resize(size), across))
    draw = ImageDraw.Draw(img)
    rnd = random.Random(seed)
    scale = width / 4000
    for _ in range(60):
        x, y = rnd.randrange(width), rnd.randrange(height)
        w, h = int(rnd.randrange(50, 900) * scale) + 1, int(rnd.randrange(50, 700) * scale) + 1
        draw.rectangle((x, y, x + w, y + h), fill=tuple(rnd.randrange(256) for _ in range(3)))
        draw.ellipse((x - h, y - w, x, y), fill=tuple(rnd.randrange(256) for _ in range(3)))
    img = img.filter(ImageFilter.GaussianBlur(3 * scale))
    noise = Image.effect_noise(size, NOISE_SIGMA)
    grain = Image.merge(
        "RGB",
        (noise, noise.transpose(Image.Transpose.FLIP_LEFT_RIGHT), noise.transpose(Image.Transpose.FLIP_TOP_BOTTOM)),
    )
    return ImageChops.add(img, grain, scale=1.0, offset=-128)


def phone_jpeg(width: int, height: int, *, quality: int = QUALITY, icc: bool = False) -> bytes:
    """A phone JPEG: the picture with phone EXIF; with `icc`, an embedded sRGB ICC profile as many phones write."""
    out = io.BytesIO()
    extra = {"icc_profile": _srgb_icc()} if icc else {}
    phone_picture(width, height).save(out, format="JPEG", quality=quality, exif=phone_exif(), **extra)
    return out.getvalue()


def phone_heic(width: int, height: int, *, quality: int = HEIC_QUALITY) -> bytes:
    """An iPhone-like HEIC of the same picture (pillow-heif; encoding 12 MP takes some 15 s)."""
    import pillow_heif

    out = io.BytesIO()
    pillow_heif.from_pillow(phone_picture(width, height)).save(out, quality=quality, exif=phone_exif().tobytes())
    return out.getvalue()


def _srgb_icc() -> bytes:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()  # type: ignore[no-any-return]


def make_photo(fmt: str, width: int, height: int, *, quality: int | None, icc: bool) -> bytes:
    """The test photo in `fmt` ("jpeg" or "heic")."""
    if fmt == "heic":
        return phone_heic(width, height, quality=quality or HEIC_QUALITY)
    return phone_jpeg(width, height, quality=quality or QUALITY, icc=icc)


# ------------------------------------------------------------------- what is measured (in the child)


def _intake() -> Callable[[bytes], Any]:
    """`process(upload, limits)` with the default limits, as the app would call it."""
    import config
    from ticketing.services.photos import Upload, process
    from ticketing.settings import TicketSettings

    defaults = {k: getattr(config.Settings, k) for k in dir(config.Settings) if k.isupper()}
    limits = TicketSettings.from_config(defaults).photo_limits
    return lambda data: process(Upload(filename="IMG_20260302_091231.jpg", data=data), limits)


def _decode(data: bytes) -> Any:
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        return img.size


def _decode_resize(data: bytes) -> Any:
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        img.thumbnail((DISPLAY_EDGE, DISPLAY_EDGE))
        return img.size


def _pin_one_cpu() -> int | None:
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def _proc_status(field: str) -> int | None:
    """A memory figure of this process from /proc (Linux), in bytes."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _reset_peak_rss() -> int:
    """Start a fresh peak-RSS count at the current RSS, and return that RSS (bytes).

    Linux keeps ru_maxrss across exec, so a child started by a parent that made a 12 MP photo
    would begin with the parent's peak; the per-process high-water mark (VmHWM) can instead
    be reset through /proc/self/clear_refs. Elsewhere, the peak so far is the baseline.
    """
    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return _peak_rss()
    return _proc_status("VmRSS") or _peak_rss()


def _peak_rss() -> int:
    """The peak RSS of this process (bytes): VmHWM on Linux, else ru_maxrss."""
    hwm = _proc_status("VmHWM")
    if hwm is not None:
        return hwm
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # kilobytes on Linux


def child(task: dict[str, Any]) -> dict[str, Any]:
    """Run one measurement (in a fresh process) and return its figures."""
    cpu = _pin_one_cpu()
    if task["format"] == "heic":  # for the bare-Pillow baselines; the intake registers it on its own
        from pillow_heif import register_heif_opener

        register_heif_opener()
    data = Path(task["photo"]).read_bytes()
    warm = Path(task["warmup"]).read_bytes()
    fns = {"process": _intake(), "decode": _decode, "decode_resize": _decode_resize}
    for fn in fns.values():
        fn(warm)
    if task["kind"] == "speed":
        for fn in fns.values():  # a first full-size pass warms caches and the allocator
            fn(data)
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in fns}
        names = list(fns)
        for i in range(task["runs"]):
            # The order turns each round: what runs just after the intake finds the caches cold.
            for name in names[i % 3 :] + names[: i % 3]:
                fn = fns[name]
                w0, c0 = time.perf_counter(), time.process_time()
                fn(data)
                times[name].append((time.perf_counter() - w0, time.process_time() - c0))
        return {"cpu": cpu, "times": times}
    fn = fns[task["what"]]
    if task["kind"] == "rss":
        before = _reset_peak_rss()
        fn(data)
        first = _peak_rss()
        for _ in range(task["runs"] - 1):
            fn(data)
        return {"cpu": cpu, "before": before, "first": first, "all": _peak_rss()}
    if task["kind"] == "tracemalloc":
        tracemalloc.start()
        fn(data)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return {"cpu": cpu, "peak": peak}
    raise ValueError(task["kind"])


def _spawn(task: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_photos", "--child", json.dumps(task)],
        cwd=ROOT, check=True, capture_output=True, text=True,
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


# ------------------------------------------------------------------- the run (in the parent)


@dataclass
class Timing:
    wall: list[float]
    cpu: list[float]

    @property
    def median_cpu(self) -> float:
        return statistics.median(self.cpu)

    @property
    def median_wall(self) -> float:
        return statistics.median(self.wall)


@dataclass
class Result:
    width: int
    height: int
    file_bytes: int
    fmt: str
    quality: int | None
    icc: bool
    runs: int
    timings: dict[str, Timing]
    ratios: list[float]  # process / decode + resize, per round
    rss: dict[str, dict[str, int]]  # what -> before / first / all (bytes)
    traced: dict[str, int]  # what -> tracemalloc peak (bytes)

    @property
    def photos_per_second_per_core(self) -> float:
        return 1 / self.timings["process"].median_cpu

    @property
    def frame_bytes(self) -> int:
        """One decoded frame in memory: Pillow keeps RGB as four bytes per pixel."""
        return self.width * self.height * 4

    def rss_delta(self, what: str, after: str = "first") -> int:
        return self.rss[what][after] - self.rss[what]["before"]


def run(
    size: tuple[int, int] = SIZE, *, runs: int = RUNS, fmt: str = "jpeg", quality: int | None = None, icc: bool = False
) -> Result:
    """Make the photo, then measure speed and memory in fresh child processes."""
    width, height = size
    with tempfile.TemporaryDirectory(prefix="suishoupai-bench-photos-") as tmp:
        photo, warmup = Path(tmp) / f"photo.{fmt}", Path(tmp) / f"warmup.{fmt}"
        say(f"making a {width}×{height} phone {fmt.upper()} ...")
        photo.write_bytes(make_photo(fmt, width, height, quality=quality, icc=icc))
        warmup.write_bytes(make_photo(fmt, 64, 48, quality=quality, icc=icc))
        base = {"photo": str(photo), "warmup": str(warmup), "runs": runs, "format": fmt}
        say(f"timing process() and the baselines, {runs} rounds ...")
        speed = _spawn({**base, "kind": "speed"})
        timings = {
            name: Timing([w for w, _ in pairs], [c for _, c in pairs]) for name, pairs in speed["times"].items()
        }
        ratios = [p / b for p, b in zip(timings["process"].wall, timings["decode_resize"].wall, strict=True)]
        rss, traced = {}, {}
        for what in ("process", "decode_resize"):
            say(f"memory of {what} ...")
            rss[what] = {k: v for k, v in _spawn({**base, "kind": "rss", "what": what}).items() if k != "cpu"}
            traced[what] = _spawn({**base, "kind": "tracemalloc", "what": what})["peak"]
        return Result(width, height, photo.stat().st_size, fmt, quality, icc, runs, timings, ratios, rss, traced)


def _s(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds >= 0.1 else f"{seconds * 1000:.1f} ms"


def _mib(n: int) -> str:
    return f"{n / MIB:.1f} MiB"


def markdown(r: Result) -> str:
    """The figures as a markdown block for docs/benchmarks.md."""
    names = {
        "process": "`process(upload, limits)`: the whole intake",
        "decode_resize": f"baseline: Pillow decode + resize to {DISPLAY_EDGE} px",
        "decode": "baseline: Pillow decode alone",
    }
    if r.fmt == "heic":
        import pillow_heif

        kind = f"HEIC (pillow-heif {pillow_heif.__version__}, libheif {pillow_heif.libheif_version()})"
        quality = r.quality or HEIC_QUALITY
    else:
        kind = f"JPEG (libjpeg-turbo {pil_features.version('libjpeg_turbo')})"
        quality = r.quality or QUALITY
    lines = [
        f"{r.width}×{r.height} ({r.width * r.height / 1e6:.1f} MP) {kind} of {r.file_bytes / 1e6:.2f} MB, "
        f"quality {quality}, EXIF orientation 6 + GPS{', sRGB ICC profile' if r.icc else ''}; "
        f"Python {platform.python_version()}, Pillow {Image.__version__}; one pinned CPU; "
        f"median of {r.runs} runs [min-max].",
        "",
        "| per photo | wall | CPU | photos/s per core |",
        "|---|---|---:|---:|",
    ]
    for key, label in names.items():
        t = r.timings[key]
        bold = "**" if key == "process" else ""
        lines.append(
            f"| {label} | {bold}{_s(t.median_wall)}{bold} [{_s(min(t.wall))}-{_s(max(t.wall))}] "
            f"| {_s(t.median_cpu)} | {bold}{1 / t.median_cpu:.2f}{bold} |"
        )
    lo, mid, hi = min(r.ratios), statistics.median(r.ratios), max(r.ratios)
    lines += [
        "",
        f"`process()` / (decode + resize), per round: **{mid:.2f}×** [{lo:.2f}-{hi:.2f}].",
        "",
        f"| memory per upload (one decoded frame = {_mib(r.frame_bytes)}) | peak RSS − RSS before "
        f"| after {r.runs} in a row | tracemalloc peak (Python objects only) |",
        "|---|---:|---:|---:|",
    ]
    for key in ("process", "decode_resize"):
        delta = r.rss_delta(key)
        lines.append(
            f"| {names[key]} | **{_mib(delta)}** ({delta / r.frame_bytes:.1f} frames) "
            f"| {_mib(r.rss_delta(key, 'all'))} | {_mib(r.traced[key])} |"
        )
    return "\n".join(lines) + "\n"


def _size(text: str) -> tuple[int, int]:
    w, _, h = text.lower().partition("x")
    return int(w), int(h)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_photos", description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=_size, default=SIZE, help="WIDTHxHEIGHT of the photo (default 4000x3000)")
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--format", choices=("jpeg", "heic"), default="jpeg", help="the photo's format")
    parser.add_argument("--quality", type=int, help=f"encoder quality (default {QUALITY}; HEIC {HEIC_QUALITY})")
    parser.add_argument("--icc", action="store_true", help="embed an sRGB ICC profile in the JPEG, as many phones do")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return 0
    result = run(args.size, runs=args.runs, fmt=args.format, quality=args.quality, icc=args.icc)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"Photo intake, {stamp}.\n")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
