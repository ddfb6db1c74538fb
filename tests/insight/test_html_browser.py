"""The HTML report rendered in headless Chromium: every chart drawn with a real size, no console
error, no request leaving the page; a screenshot is kept in the test's tmp directory."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from gearshift.budgets.forecast import forecast
from gearshift.budgets.model import make_budget
from gearshift.demo.month import fill_month
from gearshift.insight.analysis import analyse
from gearshift.insight.html import Page, daily_by_tier, render
from gearshift.insight.recommend import recommend
from gearshift.insight.truecost import true_cost
from gearshift.ledger import Filters, Ledger

pytestmark = pytest.mark.browser

CHARTS = ("spend-by-tier", "cost-by-agent", "true-cost", "tier-split", "budget-burn", "savings")


def report_page(tmp_path: Path) -> Path:
    """The demo month, with a global monthly budget, as a report page on disk."""
    end = dt.datetime(2026, 3, 20, 18, tzinfo=dt.UTC)
    with Ledger.open(tmp_path / "demo.db") as ledger:
        fill_month(ledger, end=end)
        filters = Filters()
        costs = true_cost(ledger, filters)
        budget = make_budget(
            name="monthly", scope="global", value="", period="month", amount_usd="150"
        )
        page = Page(
            analyse(ledger, filters),
            costs,
            recommend(ledger, filters, report=costs),
            daily_by_tier(ledger, filters, dt.UTC),
            [("monthly", forecast(ledger, budget, now=end, tz=dt.UTC))],
            generated="2026-03-20 18:00 UTC",
        )
    path = tmp_path / "report.html"
    path.write_text(render(page), encoding="utf-8")
    return path


def test_the_report_renders_in_chromium(tmp_path: Path, chromium: Any) -> None:
    page_file = report_page(tmp_path)
    errors: list[str] = []
    requests: list[str] = []
    page = chromium.new_page(viewport={"width": 1400, "height": 900})
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(page_file.as_uri())
    page.wait_for_load_state("load")
    for chart in CHARTS:
        svg = page.locator(f"figure[data-chart='{chart}'] svg")
        assert svg.count() == 1, chart
        box = svg.bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 50, chart
        assert svg.locator("rect, path, polyline").count() > 0, chart
    bar = page.locator("figure[data-chart='cost-by-agent'] rect").first
    bar.hover()
    tip = page.locator("#tip")
    assert tip.is_visible() and "$" in tip.inner_text()
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    assert errors == []
    assert requests == [page_file.as_uri()]
    assert shot.stat().st_size > 10_000
