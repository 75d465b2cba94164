"""A report's figures as a self-contained HTML page and as a PDF.

`html` fills the Jinja template ``templates/report.html`` from the dict that
`ticketing.reports.data.build` made: the charts are drawn here (SVG, `charts`) and every
image, chart or photo, is embedded as a ``data:`` URI, so the page needs nothing else and
can be served under a Content-Security-Policy that allows no fetch at all. `pdf` lays the
same page out with WeasyPrint; its URL fetcher accepts ``data:`` URIs only, so a report
never reaches the network or the file system.

The report is a formal Chinese document (公文), so its text is Chinese, not translated.
"""

from __future__ import annotations

import base64
import functools
import io
import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape
from PIL import Image

from ticketing.reports import charts

log = logging.getLogger(__name__)

# Photos are shown about 7.5 cm wide: 720 px is sharp on paper and keeps the files small.
PHOTO_EDGE = 720
# The CSS font stack: the CJK font `charts` uses first (Debian's fonts-wqy-zenhei), then common ones.
FONT_STACK = '"WenQuanYi Zen Hei", "Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", sans-serif'

PhotoLoader = Callable[[int], bytes | None]


@functools.cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("ticketing.reports", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["rate"] = rate_text
    env.filters["percent"] = percent_text
    env.filters["hours"] = hours_text
    return env


def rate_text(figure: dict[str, Any] | None) -> str:
    """A rate with its parts: ``92.3% (120/130)``; ``—（0/0）`` when nothing was measured."""
    if not figure:
        return "—"
    value, num, den = figure.get("value"), figure.get("numerator", 0), figure.get("denominator", 0)
    if value is None:
        return f"—（{num}/{den}）"
    return f"{value * 100:.1f}% ({num}/{den})"


def percent_text(figure: dict[str, Any] | None) -> str:
    """A rate's value alone: ``92.3%``, or ``—``."""
    if not figure or figure.get("value") is None:
        return "—"
    return f"{figure['value'] * 100:.1f}%"


def hours_text(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _formatters(tz: ZoneInfo) -> dict[str, Callable[[str | None], str]]:
    """`when`: an ISO instant as local ``2026-03-02 09:00``; `day`: an ISO date or instant as ``2026年3月2日``;
    `iso_day`: the same as ``2026-03-02``."""

    def when(iso: str | None) -> str:
        return datetime.fromisoformat(iso).astimezone(tz).strftime("%Y-%m-%d %H:%M") if iso else "—"

    def day(iso: str | None) -> str:
        if not iso:
            return "—"
        moment: date | datetime = datetime.fromisoformat(iso)
        if len(iso) > 10:
            moment = moment.astimezone(tz)  # type: ignore[union-attr]
        return f"{moment.year}年{moment.month}月{moment.day}日"

    def iso_day(iso: str | None) -> str:
        if not iso:
            return "—"
        return (datetime.fromisoformat(iso).astimezone(tz).date() if len(iso) > 10 else date.fromisoformat(iso)).isoformat()

    return {"when": when, "day": day, "iso_day": iso_day}


def _svg_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def _photo_uri(data: bytes | None) -> str | None:
    """A JPEG data URI of the photo, at most PHOTO_EDGE pixels on its long side; None if unreadable."""
    if not data:
        return None
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.thumbnail((PHOTO_EDGE, PHOTO_EDGE))
            out = io.BytesIO()
            img.convert("RGB").save(out, format="JPEG", quality=82, optimize=True)
    except Exception:  # a damaged object in the store: leave the photo out rather than fail the report
        log.warning("report photo could not be read", exc_info=True)
        return None
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def chart_svgs(data: dict[str, Any]) -> dict[str, str]:
    """The report's charts as SVG text: volume by category, trend, status donut, on-time ranking."""
    volume = data["volume"]
    by_category = volume["by_category"]
    trend = volume["trend"]
    parts = data["status"]["parts"]
    closed = next((p["count"] for p in parts if p["key"] == "closed"), 0)
    total = sum(p["count"] for p in parts)
    rows = data["ranking"]["rows"]
    return {
        "categories": charts.bar_chart(
            [c["name"] for c in by_category], [c["count"] for c in by_category], title="受理量按领域（件）",
            width_cm=16, height_cm=4.8,
        ),
        "trend": charts.line_chart(
            [b["label"] for b in trend],
            {"受理": [b["received"] for b in trend], "办结": [b["resolved"] for b in trend]},
            title="受理与办结趋势（件）",
            width_cm=16, height_cm=4.8,
        ),
        "status": charts.donut_chart(
            [p["label"] for p in parts], [p["count"] for p in parts], title="办理状态（件）",
            centre=f"办结\n{closed / total * 100:.1f}%" if total else "", width_cm=8.5, height_cm=5.2,
        ),
        "ranking": charts.bar_chart(
            [r["name"] for r in rows],
            [None if r["on_time_rate"]["value"] is None else r["on_time_rate"]["value"] * 100 for r in rows],
            value_labels=[percent_text(r["on_time_rate"]) for r in rows],
            horizontal=True,
            highlight=[i for i, r in enumerate(rows) if r["self"]],
            x_max=100,
            title="按期办结率（%）",
            width_cm=8.5,
            height_cm=1.4 + 0.6 * len(rows),
        ),
    }


def html(data: dict[str, Any], photo: PhotoLoader, *, version: int, generated_at: datetime) -> str:
    """The report as one self-contained HTML document.

    `photo` returns the bytes of a photo's display copy by photo id (None if it is gone);
    the caller reads them from the photo store.
    """
    tz = ZoneInfo(data.get("timezone", "Asia/Shanghai"))
    photos = {}
    for case in data["good_cases"]:
        for key in ("before_photo", "after_photo"):
            photos[case[key]] = _photo_uri(photo(case[key]))
    template = _environment().get_template("report.html")
    return template.render(
        d=data,
        charts={name: _svg_uri(svg) for name, svg in chart_svgs(data).items()},
        photos=photos,
        version=version,
        generated_at=generated_at.isoformat(),
        last_day=(date.fromisoformat(data["to"]) - timedelta(days=1)).isoformat(),
        font_stack=FONT_STACK,
        **_formatters(tz),
    )


def pdf(html_text: str) -> bytes:
    """The HTML laid out as an A4 PDF by WeasyPrint, fetching nothing but ``data:`` URIs."""
    from PIL import ImageFile
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    # Importing WeasyPrint turns Pillow's LOAD_TRUNCATED_IMAGES on for the whole process; photo
    # intake must keep refusing truncated uploads (services.photos checks it too).
    ImageFile.LOAD_TRUNCATED_IMAGES = False

    fetcher = URLFetcher(allowed_protocols=("data",))
    return HTML(string=html_text, url_fetcher=fetcher).write_pdf()  # type: ignore[no-any-return]
