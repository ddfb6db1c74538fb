"""The HTML report's structure, without a browser: every chart present and well-formed SVG,
nothing fetched from anywhere, text escaped; and `report --html/--json/--format yaml`."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from gearshift.budgets.forecast import forecast
from gearshift.budgets.model import make_budget
from gearshift.demo.month import fill_month
from gearshift.insight.analysis import analyse
from gearshift.insight.html import Page, daily_by_tier, render
from gearshift.insight.recommend import recommend
from gearshift.insight.truecost import true_cost
from gearshift.ledger import Filters, Ledger

END = dt.datetime(2026, 3, 27, 18, tzinfo=dt.UTC)
CHARTS = {"spend-by-tier", "cost-by-agent", "true-cost", "tier-split", "savings"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    path = tmp_path_factory.mktemp("html") / "demo.db"
    with Ledger.open(path) as ledger:
        fill_month(ledger, end=END)
        yield ledger


def page_of(ledger: Ledger, forecasts: list[tuple[str, object]] | None = None) -> Page:
    filters = Filters()
    report = true_cost(ledger, filters)
    return Page(
        analyse(ledger, filters),
        report,
        recommend(ledger, filters, report=report),
        daily_by_tier(ledger, filters, dt.UTC),
        list(forecasts or []),  # type: ignore[arg-type]
    )


class Outline(HTMLParser):
    """The charts, scripts, external references and text of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.charts: list[str] = []
        self.external: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "figure" and values.get("data-chart"):
            self.charts.append(str(values["data-chart"]))
        if tag in ("link", "img", "iframe") or (tag == "script" and "src" in values):
            self.external.append(tag)
        self.scripts += tag == "script"


def outline(text: str) -> Outline:
    parser = Outline()
    parser.feed(text)
    return parser


def svgs(text: str) -> list[ET.Element]:
    return [ET.fromstring(s) for s in re.findall(r"<svg.*?</svg>", text, re.S)]


def test_every_chart_is_inline_well_formed_svg(demo: Ledger) -> None:
    budget = make_budget(name="monthly", scope="global", value="", period="month", amount_usd="150")
    page = page_of(demo, [("monthly", forecast(demo, budget, now=END, tz=dt.UTC))])
    text = render(page)
    parts = outline(text)
    assert set(parts.charts) == CHARTS | {"budget-burn"}
    assert parts.external == [] and parts.scripts == 1
    assert not re.search(r"https?://|@import|url\(", text)
    drawn = svgs(text)
    assert len(drawn) == len(parts.charts)
    for svg in drawn:
        assert svg.get("viewBox") and svg.get("role") == "img"
        assert len(svg) > 3
    burn = drawn[parts.charts.index("budget-burn")]
    assert len(burn.findall("polyline")) == 2  # spent, forecast
    assert "on track for" in text and "Haiku false economy" in text
    assert "Opus overkill tax" in text and "release-summarizer" in text


def test_without_a_budget_the_burn_chart_is_replaced_by_a_note(demo: Ledger) -> None:
    text = render(page_of(demo))
    assert set(outline(text).charts) == CHARTS
    assert "No budget is set" in text


@dataclasses.dataclass
class DailyForecast:
    """A forecast given only per day, without a ``burn()`` series."""

    spent_nanos: int = 30 * 10**9
    projected_nanos: int = 90 * 10**9
    low_nanos: int = 70 * 10**9
    high_nanos: int = 120 * 10**9
    amount_nanos: int = 100 * 10**9
    period_start: dt.datetime = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    period_end: dt.datetime = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
    verdict: str = "on track for $90 of $100 (90%)"
    history: list[tuple[dt.date, int]] = dataclasses.field(
        default_factory=lambda: [(dt.date(2026, 3, d), 3 * 10**9) for d in range(1, 11)]
    )
    projection: list[tuple[dt.date, int]] = dataclasses.field(
        default_factory=lambda: [(dt.date(2026, 3, d), 3 * 10**9) for d in range(11, 31)]
    )


def test_a_daily_forecast_draws_a_widening_band(demo: Ledger) -> None:
    text = render(page_of(demo, [("fake", DailyForecast())]))
    burn = svgs(text)[outline(text).charts.index("budget-burn")]
    band = burn.find("polygon")
    assert band is not None and len(str(band.get("points")).split()) == 40
    assert "budget $100.00" in text


def test_text_is_escaped(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "x.db") as ledger:
        ledger.record(agent="<script>alert(1)</script>", model="opus", input_tokens=5)
        text = render(page_of(ledger))
    assert "<script>alert" not in text and "&lt;script&gt;alert(1)" in text
    for svg in svgs(text):
        assert svg.tag.endswith("svg")


def test_an_empty_ledger_still_renders() -> None:
    with Ledger.open("sqlite://") as ledger:
        text = render(page_of(ledger))
    assert "no spend in this period" in text and "no recommendation with a saving" in text


# -- the report command --------------------------------------------------------------------------


def gearshift(*argv: str) -> int:
    """Run the CLI in-process (as `gearshift ...`); returns the exit code."""
    from gearshift.cli import main
    from gearshift.cli.common import state

    state._catalog = None
    try:
        main.main(list(argv))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.fixture
def demo_path(tmp_path: Path) -> str:
    path = tmp_path / "demo.db"
    with Ledger.open(path) as ledger:
        fill_month(ledger, end=END)
    return str(path)


def test_report_writes_html_and_adds_true_cost_to_every_format(
    demo_path: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.html"
    assert gearshift("--ledger", demo_path, "report", "--json", "--html", str(out)) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert {"agents", "summary", "optimization_opportunities"} <= set(data)
    assert {f["label"] for f in data["true_cost"]["flags"]} >= {
        "Haiku false economy",
        "Opus overkill tax",
    }
    first = data["recommendations"][0]
    assert (first["kind"], first["agent"]) == ("tiered", "release-summarizer")
    assert f"wrote {out}" in captured.err
    assert set(outline(out.read_text("utf-8")).charts) >= CHARTS

    assert gearshift("--ledger", demo_path, "report", "--format", "yaml") == 0
    text = capsys.readouterr().out
    assert text.startswith("cost-analysis:") and "true_cost:" in text
    assert "recommendations:" in text
    assert gearshift("--ledger", demo_path, "report") == 0
    table = capsys.readouterr().out
    assert "true cost" in table and "! Haiku false economy" in table
    assert "[tiered] put release-summarizer on tiered execution" in table


def test_report_html_to_an_unwritable_path_is_one_clear_line(
    demo_path: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = gearshift("--ledger", demo_path, "report", "--html", str(tmp_path / "no" / "r.html"))
    err = capsys.readouterr().err
    assert code == 2 and "--html: cannot write" in err and "Traceback" not in err
