"""The HTML report: one self-contained page of charts drawn as inline SVG, made here in Python.

No CDN, no chart library, no network: inline CSS, inline SVG and a dozen lines of vanilla JS for
tooltips (the page reads the same without them). Charts, each a ``<figure data-chart=...>``:

* ``spend-by-tier`` -- spend per day, stacked by tier;
* ``cost-by-agent`` -- token spend per agent, coloured by the agent's tier;
* ``true-cost`` -- each agent's true cost split into tokens, double-pay, rework and waiting;
* ``tier-split`` -- a donut of spend by tier;
* ``budget-burn`` -- cumulative spend against a budget with the forecast and its 90% band
  (omitted, with a note, when no budget is set);
* ``savings`` -- a waterfall from the monthly true cost through each recommendation's saving.

Amounts shown are exact nano-dollars formatted once; floats only place pixels.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import TYPE_CHECKING, Protocol

from gearshift.catalog import Tier
from gearshift.fmt import usd_nanos
from gearshift.insight.expected import nanos, pct_text

if TYPE_CHECKING:
    from gearshift.insight.analysis import CostAnalysis
    from gearshift.insight.recommend import Recommendation
    from gearshift.insight.truecost import TrueCostReport
    from gearshift.ledger.queries import Filters
    from gearshift.ledger.store import Ledger

__all__ = ["ForecastLike", "Page", "daily_by_tier", "render"]

TIER_COLORS = {"haiku": "#2a9d8f", "sonnet": "#3d6fb6", "opus": "#8e5ea2"}
PART_COLORS = {
    "tokens": "#3d6fb6",
    "double-pay": "#e9a23b",
    "rework": "#d1495b",
    "waiting": "#8d99ae",
}
_W = 720
_WIDE = 1200


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


@dataclass(slots=True)
class Page:
    """Everything the page shows."""

    analysis: CostAnalysis
    report: TrueCostReport
    recommendations: list[Recommendation]
    daily: list[tuple[str, dict[str, int]]]
    forecasts: list[tuple[str, ForecastLike]] = field(default_factory=list)
    title: str = "gearshift cost report"
    generated: str = ""


def daily_by_tier(
    ledger: Ledger, filters: Filters, tz: dt.tzinfo
) -> list[tuple[str, dict[str, int]]]:
    """Spend per local day and tier (nano-dollars), every day of the range present."""
    from gearshift.ledger.queries import spend

    days: dict[str, dict[str, int]] = {}
    for tier in Tier.ordered():
        for row in spend(ledger, "day", replace(filters, tier=tier.value), tz).rows:
            days.setdefault(row.key, {})[tier.value] = row.cost_nanos
    if not days:
        return []
    first, last = dt.date.fromisoformat(min(days)), dt.date.fromisoformat(max(days))
    span = (last - first).days + 1
    keys = [(first + dt.timedelta(days=i)).isoformat() for i in range(span)]
    return [(k, days.get(k, {})) for k in keys]


def render(page: Page) -> str:
    """The whole page as one HTML string."""
    a, r = page.analysis, page.report
    saving = sum(x.monthly_saving_nanos or 0 for x in page.recommendations)
    kpis = [
        ("spend", usd_nanos(a.total_cost_nanos), f"{a.total_executions:,} executions"),
        ("true cost", usd_nanos(nanos(r.total)), "tokens + rework + waiting"),
        ("true cost / month", usd_nanos(nanos(r.monthly(r.total))), "30-day month"),
        ("recommended savings", f"{usd_nanos(saving)}/mo", f"{len(page.recommendations)} items"),
    ]
    charts = [
        ("spend-by-tier", "Spend over time by tier", spend_by_tier_svg(page.daily)),
        ("cost-by-agent", "Cost by agent", cost_by_agent_svg(a)),
        ("true-cost", "True cost by agent (over the window)", true_cost_svg(r)),
        ("tier-split", "Tier split of spend", tier_split_svg(a.tier_cost)),
    ]
    for name, fc in page.forecasts:
        charts.append(("budget-burn", f"Budget burn: {name}", budget_burn_svg(fc)))
    charts.append(("savings", "Savings waterfall (monthly true cost)", savings_svg(r, page)))
    body = [
        f"<header><h1>{_e(page.title)}</h1><p>{_e(a.period_text())}"
        f"{' · generated ' + _e(page.generated) if page.generated else ''}</p>"
        f"<div class='kpis'>{''.join(_kpi(*k) for k in kpis)}</div></header><main>",
    ]
    for key, title, svg in charts:
        body.append(f"<figure class='card' data-chart='{key}'><figcaption>{_e(title)}</figcaption>")
        body.append(f"{svg}</figure>")
    if not page.forecasts:
        body.append(
            "<p class='note card' data-note='budget-burn'>No budget is set, so there is no "
            "budget burn chart: <code>gearshift budget set --monthly 500</code> adds one.</p>"
        )
    body.append(_flags_html(r))
    body.append(_recommendations_html(page.recommendations))
    body.append(_true_cost_table(r))
    body.append("</main><div id='tip' class='tip' hidden></div>")
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{_e(page.title)}</title><style>{_CSS}</style></head><body>"
        + "".join(body)
        + f"<script>{_JS}</script></body></html>\n"
    )


# -- charts -------------------------------------------------------------------------------------


def spend_by_tier_svg(days: Sequence[tuple[str, Mapping[str, int]]]) -> str:
    if not days:
        return _empty("no spend in this period")
    h, left, bottom, top = 260, 64, 36, 24
    totals = [sum(v.values()) for _, v in days]
    axis = _Axis(max(totals), h - bottom, top)
    slot = (_W - left - 10) / len(days)
    parts = [_legend(list(TIER_COLORS.items()), left), axis.grid(left, _W - 10)]
    step = max(1, math.ceil(len(days) / 10))
    for i, (day, by_tier) in enumerate(days):
        x, y = left + i * slot + slot * 0.1, float(h - bottom)
        for tier, color in TIER_COLORS.items():
            amount = by_tier.get(tier, 0)
            if amount:
                height = axis.length(amount)
                y -= height
                tip = f"{day} {tier}: {usd_nanos(amount)}"
                parts.append(_rect(x, y, slot * 0.8, height, color, tip))
        if i % step == 0:
            parts.append(_text(x + slot * 0.4, h - bottom + 16, day[5:], "middle"))
    return _svg(h, "Spend per day, stacked by tier", parts)


def cost_by_agent_svg(analysis: CostAnalysis) -> str:
    agents = analysis.agents
    if not agents:
        return _empty("no agents")
    row, left, right = 28, 170, 90
    h = row * len(agents) + 16
    most = max(a.cost_nanos for a in agents) or 1
    parts = []
    for i, a in enumerate(agents):
        y = 8 + i * row
        width = (_W - left - right) * a.cost_nanos / most
        tip = f"{a.agent} ({a.tier}): {usd_nanos(a.cost_nanos)}, {a.executions:,} runs"
        parts.append(_text(left - 8, y + 17, a.agent, "end"))
        parts.append(_rect(left, y + 3, max(width, 1), row - 8, TIER_COLORS[a.tier], tip))
        parts.append(_text(left + width + 6, y + 17, usd_nanos(a.cost_nanos), "start"))
    return _svg(h, "Token spend per agent", parts)


def true_cost_svg(report: TrueCostReport) -> str:
    if not report.agents:
        return _empty("no agents")
    row, left, right = 28, 170, 90
    h = row * len(report.agents) + 40
    most = max(a.total for a in report.agents) or Fraction(1)
    parts = [_legend(list(PART_COLORS.items()), left)]
    for i, a in enumerate(report.agents):
        y = 32 + i * row
        pieces = {
            "tokens": Fraction(sum(x.token_nanos for x in a.rows), 10**9),
            "double-pay": Fraction(sum(x.double_pay_nanos for x in a.rows), 10**9),
            "rework": sum((x.rework for x in a.rows), Fraction(0)),
            "waiting": sum((x.waiting for x in a.rows), Fraction(0)),
        }
        x = float(left)
        parts.append(_text(left - 8, y + 17, a.agent, "end"))
        for part, amount in pieces.items():
            width = float((_W - left - right) * amount / most)
            if width > 0:
                tip = f"{a.agent} {part}: {usd_nanos(nanos(amount))}"
                parts.append(_rect(x, y + 3, width, row - 8, PART_COLORS[part], tip))
                x += width
        parts.append(_text(x + 6, y + 17, usd_nanos(nanos(a.total)), "start"))
    return _svg(h, "True cost per agent by part", parts)


def tier_split_svg(tier_cost: Mapping[str, int]) -> str:
    total = sum(tier_cost.values())
    if not total:
        return _empty("no spend")
    h, cx, cy, r_out, r_in = 240, 130, 120, 100, 60
    parts, angle = [], -math.pi / 2
    for i, (tier, color) in enumerate(TIER_COLORS.items()):
        amount = tier_cost.get(tier, 0)
        label = f"{tier}: {usd_nanos(amount)} ({pct_text(amount, total)})"
        parts.append(_text(280, 70 + i * 28, label, "start"))
        parts.append(_rect(260, 58 + i * 28, 14, 14, color, label))
        if not amount:
            continue
        sweep = 2 * math.pi * amount / total
        parts.append(_arc(cx, cy, r_out, r_in, angle, angle + sweep, color, label))
        angle += sweep
    parts.append(_text(cx, cy + 5, usd_nanos(total), "middle", "total"))
    return _svg(h, "Share of spend by tier", parts)


def budget_burn_svg(fc: ForecastLike) -> str:
    points, w = _burn_points(fc), _WIDE
    if not points:
        return _empty("no days in this budget period", w)
    amount = getattr(fc, "amount_nanos", None)
    h, left, bottom, top = 260, 64, 36, 24
    peak = max([fc.high_nanos, fc.projected_nanos, fc.spent_nanos, amount or 0])
    axis = _Axis(peak, h - bottom, top)
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
            f"fill='#3d6fb6' fill-opacity='0.18' data-tip='{_e(tip)}'/>"
        )
    if expected:
        tip = f"forecast: {usd_nanos(fc.projected_nanos)}"
        parts.append(_polyline(expected, "#3d6fb6", tip, dashed=True))
    if actual:
        parts.append(_polyline(actual, "#1d3557", f"spent: {usd_nanos(fc.spent_nanos)}"))
    if amount:
        y = axis.y(amount)
        parts.append(
            f"<line x1='{left}' x2='{w - 10}' y1='{y:.1f}' y2='{y:.1f}' stroke='#d1495b' "
            f"stroke-dasharray='6 4' data-tip='budget {_e(usd_nanos(amount))}'/>"
        )
        parts.append(_text(left + 6, y + 14, f"budget {usd_nanos(amount)}", "start"))
    step = max(1, math.ceil(len(points) / 10))
    for i, p in enumerate(points):
        if i % step == 0:
            parts.append(_text(left + i * slot, h - bottom + 16, p[0].isoformat()[5:], "middle"))
    parts.append(_text(left, 14, fc.verdict, "start", "verdict"))
    legend = [("spent", "#1d3557"), ("forecast", "#3d6fb6"), ("90% band", "#c5d4ea")]
    parts.append(_legend([*legend, ("budget", "#d1495b")], w - 380))
    return _svg(h, "Budget burn with forecast", parts, w)


def savings_svg(report: TrueCostReport, page: Page) -> str:
    steps = [r for r in page.recommendations if r.monthly_saving_nanos]
    start, w = nanos(report.monthly(report.total)), _WIDE
    if not steps:
        return _empty("no recommendation with a saving", w)
    h, left, bottom, top = 300, 64, 44, 20
    axis = _Axis(start, h - bottom, top)
    slot = (w - left - 10) / (len(steps) + 2)
    parts = [axis.grid(left, w - 10)]
    level = start
    bars: list[tuple[str, str, int, int, str, str]] = [("now", "", 0, start, "#1d3557", "")]
    for rec in steps:
        saving = min(rec.monthly_saving_nanos or 0, level)
        style = "" if rec.enough_evidence else "unproven"
        bars.append((rec.kind, rec.agent or "", level - saving, level, "#2a9d8f", style))
        level -= saving
    bars.append(("after", "", 0, level, "#1d3557", ""))
    for i, (kind, agent, low, high, color, style) in enumerate(bars):
        x = left + i * slot + slot * 0.15
        y, height = axis.y(high), max(axis.length(high - low), 1.0)
        amount = usd_nanos(high - low, places=0)
        value = amount if kind in ("now", "after") else f"-{amount}"
        tip = f"{kind} {agent}: {value}/month" + (" (not enough evidence yet)" if style else "")
        parts.append(_rect(x, y, slot * 0.7, height, color, tip.replace("  ", " "), style))
        cx = x + slot * 0.35
        parts.append(_text(cx, y - 5, value, "middle", "value"))
        parts.append(_text(cx, h - bottom + 15, kind, "middle"))
        parts.append(_text(cx, h - bottom + 29, _short(agent, slot), "middle", "muted-small"))
    return _svg(h, "Monthly true cost, less each recommendation's saving", parts, w)


def _short(label: str, room: float) -> str:
    """``label`` cut to what fits in ``room`` pixels at the chart's small font."""
    fits = max(4, int(room / 6))
    return label if len(label) <= fits else label[: fits - 1] + "…"


# -- drawing helpers ----------------------------------------------------------------------------


class _Axis:
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
            out.append(_text(x0 - 6, y + 4, usd_nanos(value, places=places), "end"))
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


def _svg(height: int, label: str, parts: list[str], width: int = _W) -> str:
    return (
        f"<svg viewBox='0 0 {width} {height}' width='100%' role='img' "
        f"aria-label='{_e(label)}' preserveAspectRatio='xMinYMin meet'>" + "".join(parts) + "</svg>"
    )


def _empty(message: str, width: int = _W) -> str:
    return _svg(60, message, [_text(width / 2, 34, message, "middle", "muted")], width)


def _rect(x: float, y: float, w: float, h: float, fill: str, tip: str, cls: str = "") -> str:
    klass = f" class='{cls}'" if cls else ""
    return (
        f"<rect{klass} x='{x:.1f}' y='{y:.1f}' width='{w:.1f}' height='{h:.1f}' fill='{fill}' "
        f"data-tip='{_e(tip)}'/>"
    )


def _text(x: float, y: float, content: str, anchor: str, cls: str = "") -> str:
    klass = f" class='{cls}'" if cls else ""
    return f"<text{klass} x='{x:.1f}' y='{y:.1f}' text-anchor='{anchor}'>{_e(content)}</text>"


def _polyline(points: list[str], color: str, tip: str, *, dashed: bool = False) -> str:
    dash = " stroke-dasharray='5 4'" if dashed else ""
    return (
        f"<polyline points='{' '.join(points)}' fill='none' stroke='{color}' stroke-width='2.5'"
        f"{dash} data-tip='{_e(tip)}'/>"
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
    return f"<path d='{d}' fill='{fill}' data-tip='{_e(tip)}'/>"


def _legend(items: list[tuple[str, str]], x0: float) -> str:
    out, x = [], x0
    for name, color in items:
        out.append(f"<rect x='{x:.0f}' y='4' width='12' height='12' fill='{color}'/>")
        out.append(_text(x + 16, 14, name, "start"))
        x += 28 + 7.5 * len(name)
    return "".join(out)


# -- tables -------------------------------------------------------------------------------------


def _kpi(name: str, value: str, sub: str) -> str:
    return (
        f"<div class='kpi'><span>{_e(name)}</span><b>{_e(value)}</b><small>{_e(sub)}</small></div>"
    )


def _flags_html(report: TrueCostReport) -> str:
    if not report.flags:
        return "<section class='card' id='flags'><h2>Hidden costs</h2><p>None found.</p></section>"
    items = "".join(
        f"<li><b>{_e(f.label)}</b> — {_e(f.message.split(': ', 1)[-1])}</li>" for f in report.flags
    )
    return f"<section class='card' id='flags'><h2>Hidden costs</h2><ul>{items}</ul></section>"


def _recommendations_html(recs: Sequence[Recommendation]) -> str:
    rows = []
    for r in recs:
        saving = usd_nanos(r.monthly_saving_nanos) if r.monthly_saving_nanos is not None else "—"
        doubt = (
            f"<div class='doubt'>not enough evidence: {_e(r.needs or '')}</div>"
            if not r.enough_evidence
            else ""
        )
        evidence = "".join(f"<li>{_e(e)}</li>" for e in r.evidence)
        rows.append(
            f"<tr><td><span class='kind'>{_e(r.kind)}</span></td><td>{_e(r.action)}{doubt}"
            f"<details><summary>evidence</summary><ul>{evidence}</ul></details></td>"
            f"<td class='num'>{_e(saving)}</td></tr>"
        )
    return (
        "<section class='card' id='recommendations'><h2>Recommendations</h2><table>"
        "<thead><tr><th>kind</th><th>what to do</th><th>saving / month</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></section>"
    )


def _true_cost_table(report: TrueCostReport) -> str:
    head = "".join(
        f"<th>{h}</th>"
        for h in ("agent", "tier", "runs", "tokens", "double-pay", "rework", "waiting", "true cost")
    )
    rows = []
    for a in report.agents:
        for x in a.rows:
            cells = [
                usd_nanos(x.token_nanos),
                usd_nanos(x.double_pay_nanos),
                usd_nanos(nanos(x.rework)),
                usd_nanos(nanos(x.waiting)),
                usd_nanos(nanos(x.total)),
            ]
            rows.append(
                f"<tr><td>{_e(a.agent)}</td><td>{x.tier.value}</td><td class='num'>"
                f"{x.executions:,}</td>"
                + "".join(f"<td class='num'>{c}</td>" for c in cells)
                + "</tr>"
            )
    rates = report.rates
    note = (
        f"Rates: ${rates.hourly_rate}/hour, {rates.investigate_minutes} minutes per failure "
        f"investigated, blocking factor {rates.blocking_factor}."
    )
    return (
        "<section class='card' id='true-cost-table'><h2>True cost</h2>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        f"<p class='muted'>{_e(note)}</p></section>"
    )


def _e(value: str) -> str:
    return html.escape(value, quote=True)


_CSS = """
:root{--ink:#1d2433;--muted:#667085;--line:#e4e7ec;--bg:#f6f7f9}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,
sans-serif;color:var(--ink);background:var(--bg)}header{padding:24px 32px 8px}
h1{margin:0 0 4px;font-size:22px}h2{font-size:16px;margin:0 0 12px}header p{margin:0;
color:var(--muted)}main{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));
gap:16px;padding:16px 32px 32px}.card{background:#fff;border:1px solid var(--line);
border-radius:10px;padding:16px;margin:0}figcaption{font-weight:600;margin-bottom:8px}
.kpis{display:flex;gap:12px;flex-wrap:wrap;margin-top:16px}.kpi{background:#fff;
border:1px solid var(--line);border-radius:10px;padding:10px 16px;min-width:170px}
.kpi span,.kpi small{display:block;color:var(--muted);font-size:12px}.kpi b{font-size:20px}
svg text{font-size:11px;fill:var(--ink)}svg .muted{fill:var(--muted);font-size:13px}
svg .total{font-size:16px;font-weight:600}svg .value{font-size:10px;fill:var(--muted)}
svg .muted-small{font-size:10px;fill:var(--muted)}figure[data-chart=savings],
figure[data-chart=budget-burn]{grid-column:1/-1}svg .verdict{font-size:12px;font-weight:600}
svg .grid{stroke:var(--line)}svg .unproven{fill-opacity:.4;stroke:#2a9d8f;
stroke-dasharray:4 3}svg [data-tip]:hover{opacity:.8}#flags,#recommendations,
#true-cost-table{grid-column:1/-1}table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top}
td.num{text-align:right;white-space:nowrap}.kind{font-size:12px;background:#eef2f8;
border-radius:4px;padding:1px 6px}.doubt{color:#b54708;font-size:12px}.muted{color:var(--muted)}
details summary{cursor:pointer;color:var(--muted);font-size:12px}.note{grid-column:1/-1}
.tip{position:absolute;pointer-events:none;background:#1d2433;color:#fff;padding:4px 8px;
border-radius:4px;font-size:12px;white-space:nowrap;z-index:10}
"""

_JS = """
(function () {
  var tip = document.getElementById('tip');
  document.addEventListener('mousemove', function (e) {
    var el = e.target.closest ? e.target.closest('[data-tip]') : null;
    if (!el) { tip.hidden = true; return; }
    tip.textContent = el.getAttribute('data-tip');
    tip.style.left = (e.pageX + 12) + 'px';
    tip.style.top = (e.pageY + 12) + 'px';
    tip.hidden = false;
  });
})();
"""
