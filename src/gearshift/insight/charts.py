"""Charts drawn on the server as inline SVG, for the HTML report and the dashboard.

No chart library, no script needed to draw: every chart is markup made here, whose shapes carry
a ``data-tip`` (the page's few lines of script show it on hover). Every text that reaches the
markup -- agent, model and project names come from transcripts and prompts -- goes through
:func:`esc`. Amounts are exact nano-dollars formatted once; floats only place pixels.
"""

from __future__ import annotations

import datetime as dt
import html
import math
import re
from collections.abc import Mapping, Sequence
from typing import NamedTuple, Protocol

from gearshift.fmt import usd_nanos
from gearshift.insight.expected_cost import pct_text

__all__ = [
    "OTHER_COLOR",
    "PALETTE",
    "PART_COLORS",
    "TIER_COLORS",
    "WIDE",
    "WIDTH",
    "Axis",
    "Bar",
    "ForecastLike",
    "budget_burn_svg",
    "donut_svg",
    "empty",
    "esc",
    "hbars_svg",
    "legend",
    "polyline",
    "rect",
    "series_colors",
    "shorten",
    "spend_by_tier_svg",
    "stacked_bars_svg",
    "svg",
    "text",
    "tier_split_svg",
    "visible",
]

TIER_COLORS = {"haiku": "#2a9d8f", "sonnet": "#3d6fb6", "opus": "#8e5ea2"}
PART_COLORS = {
    "tokens": "#3d6fb6",
    "double-pay": "#e9a23b",
    "rework": "#d1495b",
    "waiting": "#8d99ae",
}
#: Colours for series that are not tiers (agents, models, projects), in order of spend.
PALETTE = ("#3d6fb6", "#2a9d8f", "#e9a23b", "#8e5ea2", "#d1495b", "#5b8e7d", "#b56576", "#6c757d")
OTHER_COLOR = "#c4c9d4"
WIDTH = 720
WIDE = 1200


class ForecastLike(Protocol):
    """What the budget-burn chart reads from :func:`gearshift.budgets.forecast.forecast`."""

    @property
    def spent_nanos(self) -> int: ...
    @property
    def projected_nanos(self) -> int: ...
    @property
    def low_nanos(self) -> int: ...
    @property
    def high_nanos(self) -> int: ...
    @property
    def period_start(self) -> dt.datetime: ...
    @property
    def period_end(self) -> dt.datetime: ...
    @property
    def history(self) -> list[tuple[dt.date, int]]: ...
    @property
    def projection(self) -> list[tuple[dt.date, int]]: ...
    @property
    def verdict(self) -> str: ...


def series_colors(keys: Sequence[str]) -> list[tuple[str, str]]:
    """A colour per series: the tiers' own, else the palette in order (``other`` grey)."""
    out, spare = [], iter(PALETTE)
    for key in keys:
        color = TIER_COLORS.get(key) or (OTHER_COLOR if key == "other" else next(spare, "#999"))
        out.append((key, color))
    return out


# -- charts -------------------------------------------------------------------------------------


def stacked_bars_svg(
    periods: Sequence[tuple[str, Mapping[str, int]]],
    series: Sequence[tuple[str, str]],
    *,
    label: str,
    width: int = WIDTH,
) -> str:
    """A bar per period (``(key, amount per series)``), stacked in ``series`` order."""
    if not periods:
        return empty("no spend in this period", width)
    keys, rows = legend(list(series), 64, width)
    h, left, bottom, top = 260 + 18 * (rows - 1), 64, 36, 24 + 18 * (rows - 1)
    totals = [sum(v.values()) for _, v in periods]
    axis = Axis(max(totals), h - bottom, top)
    slot = (width - left - 10) / len(periods)
    parts = [keys, axis.grid(left, width - 10)]
    step = max(1, math.ceil(len(periods) / 10))
    for i, (period, amounts) in enumerate(periods):
        x, y = left + i * slot + slot * 0.1, float(h - bottom)
        for name, color in series:
            amount = amounts.get(name, 0)
            if amount:
                height = axis.length(amount)
                y -= height
                parts.append(rect(x, y, slot * 0.8, height, color, f"{period} {name}: "
                                  f"{usd_nanos(amount)}"))  # fmt: skip
        if i % step == 0:
            tick = period[5:] if len(period) == 10 else period  # a day: MM-DD
            parts.append(text(x + slot * 0.4, h - bottom + 16, tick, "middle"))
    return svg(h, label, parts, width)


def spend_by_tier_svg(days: Sequence[tuple[str, Mapping[str, int]]]) -> str:
    return stacked_bars_svg(days, list(TIER_COLORS.items()), label="Spend per day, stacked by tier")


class Bar(NamedTuple):
    """One bar of :func:`hbars_svg`."""

    label: str
    amount: int
    color: str
    tip: str


def hbars_svg(bars: Sequence[Bar], *, label: str, width: int = WIDTH) -> str:
    """Horizontal bars, one per row, with the amount at the end."""
    if not bars:
        return empty("nothing to show", width)
    row, left, right = 28, 170, 90
    h = row * len(bars) + 16
    most = max(b.amount for b in bars) or 1
    parts = []
    for i, b in enumerate(bars):
        y = 8 + i * row
        size = (width - left - right) * b.amount / most
        parts.append(text(left - 8, y + 17, shorten(b.label, left - 12), "end"))
        parts.append(rect(left, y + 3, max(size, 1), row - 8, b.color, b.tip))
        parts.append(text(left + size + 6, y + 17, usd_nanos(b.amount), "start"))
    return svg(h, label, parts, width)


def donut_svg(parts_in: Sequence[tuple[str, int, str]], *, label: str) -> str:
    """Shares of a whole, ``(name, amount, colour)`` each, with a legend."""
    total = sum(amount for _, amount, _ in parts_in)
    if not total:
        return empty("no spend")
    h, cx, cy, r_out, r_in = max(240, 70 + 28 * len(parts_in)), 130, 120, 100, 60
    parts, angle = [], -math.pi / 2
    for i, (name, amount, color) in enumerate(parts_in):
        tip = f"{name}: {usd_nanos(amount)} ({pct_text(amount, total)})"
        parts.append(text(280, 70 + i * 28, tip, "start"))
        parts.append(rect(260, 58 + i * 28, 14, 14, color, tip))
        if not amount:
            continue
        sweep = 2 * math.pi * amount / total
        parts.append(_arc(cx, cy, r_out, r_in, angle, angle + sweep, color, tip))
        angle += sweep
    parts.append(text(cx, cy + 5, usd_nanos(total), "middle", "total"))
    return svg(h, label, parts)


def tier_split_svg(tier_cost: Mapping[str, int]) -> str:
    parts = [(tier, tier_cost.get(tier, 0), color) for tier, color in TIER_COLORS.items()]
    return donut_svg(parts, label="Share of spend by tier")


def budget_burn_svg(fc: ForecastLike, width: int = WIDE) -> str:
    """Cumulative spend against a budget, the forecast and its 90% band."""
    points, w = _burn_points(fc), width
    if not points:
        return empty("no days in this budget period", w)
    amount = getattr(fc, "amount_nanos", None)
    h, left, bottom, top = 260, 64, 36, 24
    peak = max([fc.high_nanos, fc.projected_nanos, fc.spent_nanos, amount or 0])
    axis = Axis(peak, h - bottom, top)
    slot = (w - left - 10) / max(1, len(points) - 1)

    def xy(i: int, value: int) -> str:
        return f"{left + i * slot:.1f},{axis.y(value):.1f}"

    actual = [xy(i, p[1]) for i, p in enumerate(points) if p[1] is not None]
    expected = [xy(i, p[2]) for i, p in enumerate(points) if p[2] is not None]
    band_hi = [xy(i, p[4]) for i, p in enumerate(points) if p[4] is not None]
    band_lo = [xy(i, p[3]) for i, p in enumerate(points) if p[3] is not None]
    parts = [axis.grid(left, w - 10)]
    if band_hi:
        tip = f"90% band at period end: {usd_nanos(fc.low_nanos)} to {usd_nanos(fc.high_nanos)}"
        parts.append(
            f"<polygon class='band' points='{' '.join(band_hi + band_lo[::-1])}' "
            f"fill='#3d6fb6' fill-opacity='0.18' data-tip='{esc(tip)}'/>"
        )
    if expected:
        tip = f"forecast: {usd_nanos(fc.projected_nanos)}"
        parts.append(polyline(expected, "#3d6fb6", tip, dashed=True))
    if actual:
        parts.append(polyline(actual, "#1d3557", f"spent: {usd_nanos(fc.spent_nanos)}"))
    if amount:
        y = axis.y(amount)
        parts.append(
            f"<line x1='{left}' x2='{w - 10}' y1='{y:.1f}' y2='{y:.1f}' stroke='#d1495b' "
            f"stroke-dasharray='6 4' data-tip='budget {esc(usd_nanos(amount))}'/>"
        )
        parts.append(text(left + 6, y + 14, f"budget {usd_nanos(amount)}", "start"))
    step = max(1, math.ceil(len(points) / 10))
    for i, p in enumerate(points):
        if i % step == 0:
            parts.append(text(left + i * slot, h - bottom + 16, p[0].isoformat()[5:], "middle"))
    parts.append(text(left, 14, fc.verdict, "start", "verdict"))
    keys = [("spent", "#1d3557"), ("forecast", "#3d6fb6"), ("90% band", "#c5d4ea")]
    parts.append(legend([*keys, ("budget", "#d1495b")], w - 380, w)[0])
    return svg(h, "Budget burn with forecast", parts, w)


# -- drawing ------------------------------------------------------------------------------------


class Axis:
    """A money axis from 0 to a round number above ``peak`` (nano-dollars)."""

    def __init__(self, peak: int, base: float, top: float) -> None:
        self.step = _nice_step(max(peak, 1) / 4)
        self.top_value = self.step * max(1, math.ceil(max(peak, 1) / self.step))
        self.base, self.top = base, top

    def length(self, value: int) -> float:
        return (self.base - self.top) * value / self.top_value

    def y(self, value: int) -> float:
        return self.base - self.length(value)

    def grid(self, x0: float, x1: float) -> str:
        out = []
        for k in range(round(self.top_value / self.step) + 1):
            value = round(k * self.step)
            y = self.y(value)
            out.append(f"<line class='grid' x1='{x0}' x2='{x1}' y1='{y:.1f}' y2='{y:.1f}'/>")
            places = 0 if self.step >= 10**9 else None
            out.append(text(x0 - 6, y + 4, usd_nanos(value, places=places), "end"))
        return "".join(out)


def _nice_step(raw: float) -> float:
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * power >= raw)


def _burn_points(
    fc: ForecastLike,
) -> list[tuple[dt.date, int | None, int | None, int | None, int | None]]:
    """Cumulative (day, actual, expected, low, high): the forecast's own ``burn()`` when it has
    one, else built from the per-day history and projection with a band widening linearly."""
    burn = getattr(fc, "burn", None)
    if callable(burn):
        return [
            (p.day, p.actual_nanos, p.expected_nanos, p.low_nanos, p.high_nanos) for p in burn()
        ]
    out: list[tuple[dt.date, int | None, int | None, int | None, int | None]] = []
    total = 0
    for day, amount in fc.history:
        total += amount
        out.append((day, total, None, None, None))
    expected, n = fc.spent_nanos, len(fc.projection)
    for i, (day, amount) in enumerate(fc.projection, start=1):
        expected += amount
        low = fc.spent_nanos + (fc.low_nanos - fc.spent_nanos) * i // n
        high = fc.spent_nanos + (fc.high_nanos - fc.spent_nanos) * i // n
        out.append((day, None, expected, low, high))
    return out


def svg(height: int, label: str, parts: list[str], width: int = WIDTH) -> str:
    return (
        f"<svg viewBox='0 0 {width} {height}' width='100%' role='img' "
        f"aria-label='{esc(label)}' preserveAspectRatio='xMinYMin meet'>"
        + "".join(parts)
        + "</svg>"
    )


def empty(message: str, width: int = WIDTH) -> str:
    return svg(60, message, [text(width / 2, 34, message, "middle", "muted")], width)


def rect(x: float, y: float, w: float, h: float, fill: str, tip: str, cls: str = "") -> str:
    klass = f" class='{cls}'" if cls else ""
    return (
        f"<rect{klass} x='{x:.1f}' y='{y:.1f}' width='{w:.1f}' height='{h:.1f}' fill='{fill}' "
        f"data-tip='{esc(tip)}'/>"
    )


def text(x: float, y: float, content: str, anchor: str, cls: str = "") -> str:
    klass = f" class='{cls}'" if cls else ""
    return f"<text{klass} x='{x:.1f}' y='{y:.1f}' text-anchor='{anchor}'>{esc(content)}</text>"


def polyline(points: list[str], color: str, tip: str, *, dashed: bool = False) -> str:
    dash = " stroke-dasharray='5 4'" if dashed else ""
    return (
        f"<polyline points='{' '.join(points)}' fill='none' stroke='{color}' stroke-width='2.5'"
        f"{dash} data-tip='{esc(tip)}'/>"
    )


def _arc(
    cx: float, cy: float, r1: float, r0: float, a0: float, a1: float, fill: str, tip: str
) -> str:
    if a1 - a0 >= 2 * math.pi - 1e-9:
        a1 = a0 + 2 * math.pi - 1e-4
    large = 1 if a1 - a0 > math.pi else 0

    def at(r: float, a: float) -> str:
        return f"{cx + r * math.cos(a):.2f} {cy + r * math.sin(a):.2f}"

    d = (
        f"M {at(r1, a0)} A {r1} {r1} 0 {large} 1 {at(r1, a1)} "
        f"L {at(r0, a1)} A {r0} {r0} 0 {large} 0 {at(r0, a0)} Z"
    )
    return f"<path d='{d}' fill='{fill}' data-tip='{esc(tip)}'/>"


def legend(items: list[tuple[str, str]], x0: float, width: int = WIDTH) -> tuple[str, int]:
    """Colour keys from ``x0``, wrapped onto more rows when they do not fit: the markup and
    the number of rows. Long names are cut (the bars' tips carry them whole)."""
    out, x, row = [], x0, 0
    for name, color in items:
        shown = shorten(name, 200)
        room = 28 + 7.5 * len(shown)
        if x > x0 and x + room > width - 10:
            x, row = x0, row + 1
        y = 4 + 18 * row
        out.append(f"<rect x='{x:.0f}' y='{y}' width='12' height='12' fill='{color}'/>")
        out.append(text(x + 16, y + 10, shown, "start"))
        x += room
    return "".join(out), row + 1


def shorten(label: str, room: float) -> str:
    """``label`` cut to what fits in ``room`` pixels at the chart's small font."""
    fits = max(4, int(room / 6))
    return label if len(label) <= fits else label[: fits - 1] + "…"


def esc(value: str) -> str:
    """``value`` safe in HTML text and in a quoted attribute, its invisible characters shown
    (:func:`visible`)."""
    return html.escape(visible(value), quote=True)


#: Characters that change how text around them reads without being seen: bidirectional
#: overrides and isolates (U+202E shows ``exe.txt`` for ``txt.exe``), zero-width ones, and
#: control characters.
_HIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def visible(value: str) -> str:
    """``value`` with each invisible character (see ``_HIDDEN``) written as ``[U+XXXX]``:
    a name from a transcript cannot reorder or hide the text shown around it."""
    return _HIDDEN.sub(lambda m: f"[U+{ord(m.group()):04X}]", value)
