"""The dashboard in headless Chromium: every page at desktop and phone width, a filter, an
escalation chain opened, a live counter moving while a simulated run writes to the ledger, and
an agent whose name is an attack shown as text -- no dialog, no request leaving the machine, no
console error. Screenshots of every page go to the test's tmp directory (and, with
``GEARSHIFT_DOCS_SCREENSHOT=1``, the overview to docs/dashboard.png for the README)."""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from gearshift.catalog import load_catalog
from gearshift.config import Config
from gearshift.fmt import usd_nanos
from gearshift.ledger import Ledger

pytestmark = pytest.mark.browser

PAGES = {"overview": "/", "agents": "/agents", "executions": "/executions", "live": "/live"}
DOCS = Path(__file__).resolve().parents[3] / "docs"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path, demo: Any) -> Iterator[tuple[str, Path]]:
    """A demo ledger served by uvicorn on loopback, as ``gearshift serve`` serves it."""
    import uvicorn

    from gearshift.server.dashboard import create_app

    path = tmp_path / "demo.db"
    with Ledger.open(path) as ledger:
        demo.fill(ledger, dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10))
    reader = Ledger.open_read_only(path)
    app = create_app(reader, Config(), load_catalog(), tz="UTC", live_interval=0.5)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           timeout_graceful_shutdown=2))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", path
    finally:
        app.end_streams()
        server.should_exit = True
        thread.join(timeout=15)
        reader.close()


def simulated_run(path: Path) -> None:
    """A day of the demo's agent work on the offline simulator, written to the ledger as
    ``gearshift run --provider sim`` writes it."""
    from gearshift.engine.context import RunContext
    from gearshift.engine.pipeline import load_pipeline
    from gearshift.engine.runner import run_jobs
    from gearshift.providers import RetryingProvider, get_provider

    catalog = load_catalog()
    pipeline = load_pipeline(
        Path(str(resources.files("gearshift.demo").joinpath("pipeline.yaml"))),
        catalog=catalog,
        sim=True,
    )
    with Ledger.open(path) as ledger:
        provider = get_provider("sim", seed=3, time_scale=0, catalog=catalog)
        ctx = RunContext(provider=RetryingProvider(provider), catalog=catalog,
                         router=pipeline.router(catalog), ledger=ledger, source="sim")  # fmt: skip
        run_jobs(ctx, pipeline.jobs)


class Watch:
    """What a page did that it must not: console errors, dialogs, requests elsewhere."""

    def __init__(self, page: Any, base: str) -> None:
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.foreign: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        page.on("request", lambda r: None if r.url.startswith(base) else self.foreign.append(r.url))


def test_the_dashboard_in_chromium(
    chromium: Any, served: tuple[str, Path], tmp_path: Path, demo: Any
) -> None:
    base, path = served
    shots = tmp_path / "screenshots"
    shots.mkdir()
    for width in (1280, 390):
        page = chromium.new_page(viewport={"width": width, "height": 900})
        watch = Watch(page, base)
        for name, route in PAGES.items():
            response = page.goto(base + route)
            assert response is not None and response.status == 200, name
            page.wait_for_load_state("load")
            overflow = page.evaluate("document.documentElement.scrollWidth")
            assert overflow <= width, (name, width, overflow)  # tables scroll, not pages
            page.screenshot(path=str(shots / f"{name}-{width}.png"), full_page=True)
        assert watch.errors == [] and watch.dialogs == [] and watch.foreign == []
        page.close()
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    watch = Watch(page, base)
    check_overview_and_filter(page, base)
    if os.environ.get("GEARSHIFT_DOCS_SCREENSHOT"):
        page.goto(base + "/")
        page.screenshot(path=str(DOCS / "dashboard.png"), full_page=True)
    check_chain(page, base)
    check_hostile_name(page, base, demo.hostile)
    check_live_counter(page, base, path)
    assert watch.errors == [] and watch.dialogs == [] and watch.foreign == []
    assert len(list(shots.iterdir())) == 8
    assert all(shot.stat().st_size > 10_000 for shot in shots.iterdir())


def check_overview_and_filter(page: Any, base: str) -> None:
    page.goto(base + "/")
    bars = page.locator("figure[data-chart='spend'] svg rect[data-tip]")
    assert bars.count() > 30  # days x tiers
    assert page.locator("figure[data-chart='budget-burn'] svg polyline").count() >= 1
    page.fill("input[name=agent]", "test-engineer")
    page.select_option("select[name=stack]", "tier")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**agent=test-engineer**")
    api = page.request.get(base + "/api/spend?agent=test-engineer&by=day&since=30d&tz=UTC")
    cost = Decimal(api.json()["total"]["cost_usd"])
    shown = page.locator(".kpi b").first.inner_text()
    assert shown == usd_nanos(int(cost.scaleb(9)))
    tips = page.locator("figure[data-chart='spend'] rect[data-tip]").evaluate_all(
        "els => els.map(e => e.getAttribute('data-tip'))"
    )
    assert tips and all(" haiku: " in t or " sonnet: " in t for t in tips)  # its tiers only


def check_chain(page: Any, base: str) -> None:
    page.goto(base + "/executions?agent=test-engineer&tier=sonnet")
    page.locator("table.executions a.open").first.click()
    page.wait_for_selector("#chain")
    rows = page.locator("#chain tbody tr")
    assert rows.count() == 2
    assert "haiku" in rows.nth(0).inner_text() and "failure" in rows.nth(0).inner_text()
    assert "validation failed on haiku" in rows.nth(1).inner_text()


def check_hostile_name(page: Any, base: str, hostile: str) -> None:
    shown = hostile.replace("\u202e", "[U+202E]")
    for route in ("/", "/agents", "/executions?q=evil"):
        page.goto(base + route)
        assert page.get_by_text(shown, exact=False).count() >= 1, route
        assert page.locator("img").count() == 0, route
        assert "\u202e" not in page.locator("main").inner_text(), route


def wait_until(page: Any, predicate: str, arg: Any = None, seconds: float = 10) -> None:
    """Poll ``predicate`` in the page from here: Playwright's ``wait_for_function`` evaluates
    its string with ``eval`` inside the page, which the dashboard's Content-Security-Policy
    (``script-src 'self'``) rightly refuses; ``evaluate`` runs outside the page's policy."""
    deadline = time.monotonic() + seconds
    while not page.evaluate(predicate, arg):
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {seconds} s: {predicate}")
        time.sleep(0.05)


def check_live_counter(page: Any, base: str, path: Path) -> None:
    page.goto(base + "/live")
    wait_until(page, "() => document.getElementById('live-state').textContent.includes(':')")
    before = page.locator("#live-minute").inner_text()
    page.evaluate("window.stillHere = true")  # gone if the page were reloaded
    writer = threading.Thread(target=simulated_run, args=(path,))
    writer.start()
    try:
        wait_until(
            page,
            "before => document.getElementById('live-minute').textContent !== before",
            before,
            seconds=30,
        )
    finally:
        writer.join(timeout=60)
    assert int(page.locator("#live-minute").inner_text().replace(",", "")) > int(before)
    assert page.evaluate("window.stillHere") is True
    assert page.locator("#live-recent tbody tr").count() == 10
