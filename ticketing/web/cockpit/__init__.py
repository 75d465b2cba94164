"""The public cockpit (数字驾驶舱): the city's figures for anyone, no sign-in, no personal data.

``/cockpit/`` shows counts, the KPI rates (``metrics.compute`` for the city), the category
breakdown, the trend, a heat map and typical solved cases; ``?period=month|quarter|year``
(default: the year so far). ``/cockpit/heat.json`` gives the heat map's cells (see
``figures.heat``: no cell under ``COCKPIT_HEAT_MIN_COUNT`` reports), and
``/cockpit/photos/<id>/<variant>`` the published copies of the cases' photos. Figures, charts
and cells are cached in process for ``COCKPIT_CACHE_SECONDS``.
"""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, current_app, jsonify, render_template, request
from flask_babel import format_date, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ticketing.web.cockpit import figures
from ticketing.web.common import register_nav, request_now

bp = Blueprint(
    "cockpit", __name__, url_prefix="/cockpit", template_folder="templates", static_folder="static",
    static_url_path="/static",
)

register_nav("cockpit.index", _l("Cockpit"), order=80)

PERIOD_LABELS = {"month": _l("This month"), "quarter": _l("This quarter"), "year": _l("This year")}
# Charts are cached by their content (see _charts), so they may live longer than the figures.
CHART_SECONDS = 3600
SCORE_LABELS = {"satisfied": _l("Satisfied"), "basically_satisfied": _l("Basically satisfied")}


def _settings() -> Any:
    return current_app.extensions["ticket_settings"]


def _period() -> figures.Period:
    today = request_now().astimezone(ZoneInfo(_settings().timezone)).date()
    return figures.period_for(request.args.get("period", figures.DEFAULT_PERIOD), today)


def _seconds() -> float:
    return float(current_app.config.get("COCKPIT_CACHE_SECONDS", 60))


def _figures(period: figures.Period) -> figures.Figures:
    def make() -> figures.Figures:
        return figures.compute(
            period,
            request_now(),
            _settings(),
            due_soon_response_hours=float(current_app.config["REMIND_RESPONSE_BEFORE_HOURS"]),
            due_soon_resolution_hours=float(current_app.config["REMIND_RESOLUTION_BEFORE_HOURS"]),
        )

    return figures.cache_of(current_app).get(("figures", period), _seconds(), make)


def _english() -> bool:
    return str(get_locale()) == "en"


def _name(row: dict[str, Any], key: str = "name") -> str:
    return str(row[f"{key}_en"] if _english() else row[key])


def _data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def _bucket_label(period: figures.Period, start: Any) -> str:
    """A trend bucket's axis label: its first day (weeks) or its month, in the page's language."""
    return format_date(start, "M/d" if period.by_week else "LLL")


def _charts(found: figures.Figures) -> dict[str, str]:
    """The page's three charts as SVG data URIs in the page's language (drawn once per cache period)."""
    from ticketing.reports import charts

    def make() -> dict[str, str]:
        empty = _("No data")
        domains = found.domains
        trend = found.trend
        counts = found.counts
        return {
            "domains": _data_uri(charts.bar_chart(
                [_name(d) for d in domains], [d["reported"] for d in domains], horizontal=True,
                width_cm=14, height_cm=max(4.0, 1.0 + 0.8 * len(domains)), empty_text=empty,
            )),
            "trend": _data_uri(charts.line_chart(
                [_bucket_label(found.period, row["start"]) for row in trend],
                {_("Reported"): [row["reported"] for row in trend], _("Resolved"): [row["resolved"] for row in trend]},
                width_cm=16, height_cm=6.5, empty_text=empty,
            )),
            "status": _data_uri(charts.donut_chart(
                [_("In progress"), _("Awaiting rating"), _("Closed"), _("Other")],
                [counts["open"], counts["resolved"], counts["closed"],
                 counts["reported"] - counts["open"] - counts["resolved"] - counts["closed"]],
                centre=str(counts["reported"]), width_cm=9, height_cm=5.5, empty_text=empty,
            )),
        }

    # Keyed by what they draw, not by time: drawing takes longer than the figures (text is drawn as
    # outlines), and the figures of a quiet hour do not change from one minute to the next.
    drawn = (
        found.period.key,
        tuple((d["code"], d["reported"]) for d in found.domains),
        tuple((row["start"], row["reported"], row["resolved"]) for row in found.trend),
        tuple(sorted(found.counts.items())),
    )
    key = ("charts", str(get_locale()), drawn)
    return figures.cache_of(current_app).get(key, CHART_SECONDS if _seconds() > 0 else 0, make)


@bp.get("/")
def index() -> Any:
    """The cockpit page for the chosen period."""
    period = _period()
    found = _figures(period)
    charts = _charts(found) if found.unit is not None else {}
    # No shared caching of the page itself: its header carries the visitor's name and CSRF token.
    return render_template(
        "cockpit/index.html",
        f=found,
        last_day=period.last - timedelta(days=1),
        charts=charts,
        periods=[(key, PERIOD_LABELS[key]) for key in figures.PERIODS],
        score_labels=SCORE_LABELS,
        name=_name,
        bucket_label=lambda start: _bucket_label(period, start),
        cache_seconds=int(_seconds()),
        min_count=int(current_app.config.get("COCKPIT_HEAT_MIN_COUNT", 3)),
        cell_m=int(current_app.config.get("COCKPIT_HEAT_CELL_M", 200)),
    )


@bp.get("/heat.json")
def heat() -> Any:
    """The heat map's cells as GeoJSON polygons with their report counts (small cells withheld)."""
    period = _period()
    cell_m = float(current_app.config.get("COCKPIT_HEAT_CELL_M", 200))
    min_count = int(current_app.config.get("COCKPIT_HEAT_MIN_COUNT", 3))

    def make() -> dict[str, Any]:
        return figures.heat(period, _settings(), cell_m=cell_m, min_count=min_count).geojson()

    data = figures.cache_of(current_app).get(("heat", period, cell_m, min_count), _seconds(), make)
    resp = jsonify(data)
    resp.headers["Cache-Control"] = f"public, max-age={int(_seconds())}"
    return resp


@bp.get("/photos/<int:photo_id>/<variant>")
def photo(photo_id: int, variant: str) -> Any:
    """A published photo's metadata-free copy (display or thumb); 404 for anything not published."""
    if variant not in ("display", "thumb"):
        abort(404)
    row = figures.published_photo(photo_id)
    if row is None:
        abort(404)
    key = row.display_key if variant == "display" else row.thumb_key
    resp = Response(current_app.extensions["photo_store"].get(key), mimetype="image/jpeg")
    # Short: a consent withdrawn (public_ok unset) should not linger in caches for long.
    resp.headers["Cache-Control"] = "public, max-age=300"
    return resp
