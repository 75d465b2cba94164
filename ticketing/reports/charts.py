"""Charts drawn on the server as SVG text (matplotlib, no pyplot, no GUI backend).

The PDF renderer runs no JavaScript, so the report's charts are drawn here; the web
dashboards embed the same SVG. Each function takes plain labels and numbers and returns a
standalone SVG document (``<?xml ...?><svg ...>``): put it in an ``<img>`` as a data URI,
or strip the XML prologue to inline it. Text is drawn as glyph outlines, so the chart looks
the same wherever it is shown, whether or not the viewer has a Chinese font.

Chinese needs a CJK font: the first file of `FONT_FILES` that exists (Debian's
fonts-wqy-zenhei by default, which ``make`` installs) is registered with matplotlib by its
path on the first chart drawn. Without one the charts still render, with empty boxes for
Chinese characters, and a warning is logged once.
"""

from __future__ import annotations

import io
import logging
import math
import os
import threading
from collections.abc import Mapping, Sequence

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

log = logging.getLogger(__name__)

# Looked for in this order; SUISHOUPAI_CJK_FONT names another file.
FONT_FILES = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
)
# A formal palette: the report's red for the unit itself, a dark blue and greys for the rest.
RED = "#b5121b"
BLUE = "#1f4e79"
GREY = "#8c8c8c"
LIGHT = "#d9d9d9"
SERIES = (BLUE, RED, "#548235", "#bf9000", GREY)
DONUT = (BLUE, "#5b9bd5", RED, "#bf9000", GREY, "#548235", LIGHT)
CM = 1 / 2.54

_setup_lock = threading.Lock()
_font_name: str | None = None
_ready = False


def cjk_font_file() -> str | None:
    """The CJK font file charts use: $SUISHOUPAI_CJK_FONT if it exists, else the first of FONT_FILES found."""
    chosen = os.environ.get("SUISHOUPAI_CJK_FONT")
    for path in (chosen, *FONT_FILES):
        if path and os.path.isfile(path):
            return path
    return None


def _setup() -> None:
    """Register the CJK font and the SVG settings once per process (rcParams are global)."""
    global _ready, _font_name
    if _ready:
        return
    with _setup_lock:
        if _ready:
            return
        from matplotlib import font_manager

        path = cjk_font_file()
        families = ["DejaVu Sans"]
        if path:
            font_manager.fontManager.addfont(path)
            _font_name = font_manager.FontProperties(fname=path).get_name()
            families.insert(0, _font_name)
        else:
            log.warning("no CJK font found (looked for %s): Chinese text in charts will not show",
                        ", ".join(FONT_FILES))
        matplotlib.rcParams.update(
            {
                "font.family": "sans-serif",
                "font.sans-serif": families,
                "font.size": 9,
                # WenQuanYi Zen Hei comes in one weight, "medium": asking for it avoids a warning per text.
                "font.weight": "medium",
                "axes.titleweight": "medium",
                "axes.labelweight": "medium",
                "axes.unicode_minus": False,  # the CJK font has no U+2212
                "svg.fonttype": "path",
                "svg.hashsalt": "suishoupai",  # stable element ids: the same figures give the same SVG
                "axes.spines.top": False,
                "axes.spines.right": False,
            }
        )
        _ready = True


def _figure(width_cm: float, height_cm: float) -> Figure:
    _setup()
    return Figure(figsize=(width_cm * CM, height_cm * CM), dpi=100)


def _svg(fig: Figure) -> str:
    out = io.StringIO()
    fig.savefig(out, format="svg", bbox_inches="tight", pad_inches=0.06, metadata={"Date": None})
    return out.getvalue()


def _empty(ax: Axes, text: str) -> None:
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, ha="center", va="center", color=GREY, fontsize=11, transform=ax.transAxes)


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float | None],
    *,
    title: str = "",
    value_labels: Sequence[str] | None = None,
    horizontal: bool = False,
    highlight: Sequence[int] = (),
    x_max: float | None = None,
    width_cm: float = 16,
    height_cm: float = 6.5,
    empty_text: str = "无数据",
) -> str:
    """A bar per label; None counts as 0. `value_labels` are written at the bar ends (default: the
    numbers), bars at the `highlight` indexes are red, `horizontal` lists the labels top to bottom."""
    fig = _figure(width_cm, height_cm)
    ax = fig.subplots()
    heights = [float(v or 0) for v in values]
    if not labels:
        _empty(ax, empty_text)
        return _svg(fig)
    colours = [RED if i in set(highlight) else BLUE for i in range(len(labels))]
    texts = list(value_labels) if value_labels is not None else [_number(v) for v in values]
    if horizontal:
        positions = list(range(len(labels)))[::-1]
        bars = ax.barh(positions, heights, color=colours, height=0.6)
        ax.set_yticks(positions, list(labels))
        ax.spines["left"].set_visible(False)
        ax.tick_params(axis="y", length=0)
        ax.set_xlim(0, (x_max or max(heights + [1])) * 1.15)
        ax.grid(axis="x", color=LIGHT, linewidth=0.6)
    else:
        bars = ax.bar(range(len(labels)), heights, color=colours, width=0.6)
        ax.set_xticks(range(len(labels)), list(labels))
        ax.set_ylim(0, (x_max or max(heights + [1])) * 1.18)
        ax.grid(axis="y", color=LIGHT, linewidth=0.6)
        if all(float(v).is_integer() for v in heights):
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        if len(labels) > 8:
            ax.tick_params(axis="x", labelrotation=30)
            for tick in ax.get_xticklabels():
                tick.set_horizontalalignment("right")
    ax.set_axisbelow(True)
    ax.bar_label(bars, labels=texts, padding=2, fontsize=8)
    if title:
        ax.set_title(title, fontsize=10, loc="left")
    return _svg(fig)


def line_chart(
    labels: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    title: str = "",
    width_cm: float = 16,
    height_cm: float = 6.5,
    empty_text: str = "无数据",
) -> str:
    """One line per named series over the labels (a trend); None leaves a gap. A legend names the series."""
    fig = _figure(width_cm, height_cm)
    ax = fig.subplots()
    if not labels or not series:
        _empty(ax, empty_text)
        return _svg(fig)
    top = 1.0
    for i, (name, values) in enumerate(series.items()):
        ys = [math.nan if v is None else float(v) for v in values]
        top = max([top, *(y for y in ys if not math.isnan(y))])
        ax.plot(range(len(labels)), ys, marker="o", markersize=4, linewidth=1.6, label=name,
                color=SERIES[i % len(SERIES)])
        for x, y in enumerate(ys):
            if not math.isnan(y):
                ax.annotate(_number(y), (x, y), textcoords="offset points", xytext=(0, 5), ha="center",
                            fontsize=7, color=SERIES[i % len(SERIES)])
    ax.set_xticks(range(len(labels)), list(labels))
    ax.set_ylim(0, top * 1.2)
    ax.grid(axis="y", color=LIGHT, linewidth=0.6)
    ax.set_axisbelow(True)
    if all(float(v).is_integer() for values in series.values() for v in values if v is not None):
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    # Above the plot, at the right: never over the lines.
    ax.legend(frameon=False, fontsize=8, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=len(series),
              borderaxespad=0.2)
    if title:
        ax.set_title(title, fontsize=10, loc="left")
    return _svg(fig)


def donut_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str = "",
    centre: str = "",
    width_cm: float = 8,
    height_cm: float = 6,
    empty_text: str = "无数据",
) -> str:
    """A small ring of the parts of a whole, with the counts in the legend and `centre` written in the hole.

    Zero parts are left out of the ring but kept in the legend.
    """
    fig = _figure(width_cm, height_cm)
    ax = fig.subplots()
    total = sum(values)
    if total <= 0:
        _empty(ax, empty_text)
        return _svg(fig)
    colours = [DONUT[i % len(DONUT)] for i in range(len(values))]
    shown = [(v, c) for v, c in zip(values, colours) if v > 0]
    ax.pie([v for v, _ in shown], colors=[c for _, c in shown], startangle=90, counterclock=False,
                       wedgeprops={"width": 0.38, "edgecolor": "white", "linewidth": 1})
    handles = [Patch(color=c) for c in colours]
    ax.legend(handles, [f"{label} {_number(v)}" for label, v in zip(labels, values)], frameon=False, fontsize=8,
              loc="center left", bbox_to_anchor=(1.0, 0.5))
    if centre:
        ax.text(0, 0, centre, ha="center", va="center", fontsize=11)
    ax.set_aspect("equal")
    if title:
        ax.set_title(title, fontsize=10, loc="left")
    return _svg(fig)


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:g}" if float(value).is_integer() else f"{value:.1f}"
