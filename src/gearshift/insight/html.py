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
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import TYPE_CHECKING

from gearshift._files import read_package_file
from gearshift.catalog import Tier
from gearshift.fmt import usd_nanos
from gearshift.insight.charts import (
    PART_COLORS,
    TIER_COLORS,
    WIDE,
    WIDTH,
    Axis,
    Bar,
    ForecastLike,
    budget_burn_svg,
    empty,
    hbars_svg,
    legend,
    rect,
    shorten,
    spend_by_tier_svg,
    svg,
    text,
    tier_split_svg,
)
from gearshift.insight.charts import esc as _e
from gearshift.insight.expected_cost import nanos

if TYPE_CHECKING:
    from gearshift.insight.analysis import CostAnalysis
    from gearshift.insight.recommend import Recommendation
    from gearshift.insight.truecost import TrueCostReport
    from gearshift.ledger.queries import Filters
    from gearshift.ledger.store import Ledger

__all__ = ["ForecastLike", "Page", "daily_by_tier", "render"]


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
    for key, title, drawing in charts:
        body.append(f"<figure class='card' data-chart='{key}'><figcaption>{_e(title)}</figcaption>")
        body.append(f"{drawing}</figure>")
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
        f"<title>{_e(page.title)}</title><style>{_asset('report.css')}</style></head><body>"
        + "".join(body)
        + f"<script>{_asset('report.js')}</script></body></html>\n"
    )


# -- charts -------------------------------------------------------------------------------------


def cost_by_agent_svg(analysis: CostAnalysis) -> str:
    if not analysis.agents:
        return empty("no agents")
    bars = [
        Bar(
            a.agent,
            a.cost_nanos,
            TIER_COLORS.get(a.tier, "#999"),
            f"{a.agent} ({a.tier}): {usd_nanos(a.cost_nanos)}, {a.executions:,} runs",
        )
        for a in analysis.agents
    ]
    return hbars_svg(bars, label="Token spend per agent")


def true_cost_svg(report: TrueCostReport) -> str:
    if not report.agents:
        return empty("no agents")
    row, left, right = 28, 170, 90
    h = row * len(report.agents) + 40
    most = max(a.total for a in report.agents) or Fraction(1)
    parts = [legend(list(PART_COLORS.items()), left)[0]]
    for i, a in enumerate(report.agents):
        y = 32 + i * row
        pieces = {
            "tokens": Fraction(sum(x.token_nanos for x in a.rows), 10**9),
            "double-pay": Fraction(sum(x.double_pay_nanos for x in a.rows), 10**9),
            "rework": sum((x.rework for x in a.rows), Fraction(0)),
            "waiting": sum((x.waiting for x in a.rows), Fraction(0)),
        }
        x = float(left)
        parts.append(text(left - 8, y + 17, a.agent, "end"))
        for part, amount in pieces.items():
            width = float((WIDTH - left - right) * amount / most)
            if width > 0:
                tip = f"{a.agent} {part}: {usd_nanos(nanos(amount))}"
                parts.append(rect(x, y + 3, width, row - 8, PART_COLORS[part], tip))
                x += width
        parts.append(text(x + 6, y + 17, usd_nanos(nanos(a.total)), "start"))
    return svg(h, "True cost per agent by part", parts)


def savings_svg(report: TrueCostReport, page: Page) -> str:
    steps = [r for r in page.recommendations if r.monthly_saving_nanos]
    start, w = nanos(report.monthly(report.total)), WIDE
    if not steps:
        return empty("no recommendation with a saving", w)
    h, left, bottom, top = 300, 64, 44, 20
    axis = Axis(start, h - bottom, top)
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
        parts.append(rect(x, y, slot * 0.7, height, color, tip.replace("  ", " "), style))
        cx = x + slot * 0.35
        parts.append(text(cx, y - 5, value, "middle", "value"))
        parts.append(text(cx, h - bottom + 15, kind, "middle"))
        parts.append(text(cx, h - bottom + 29, shorten(agent, slot), "middle", "muted-small"))
    return svg(h, "Monthly true cost, less each recommendation's saving", parts, w)


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


def _asset(name: str) -> str:
    """The report's style sheet or script (package data beside this module, inlined so the
    report is one file that opens offline)."""
    return read_package_file("gearshift.insight", __file__, "assets", name)
