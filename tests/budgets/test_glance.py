"""The tightest budget at a glance: which budget it is, and the file that keeps it between status
lines (fresh for a minute, a computation started once, a new period drops the old figures)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from gearshift.budgets.glance import (
    FRESH_SECONDS,
    PENDING_SECONDS,
    BudgetGlance,
    GlanceFile,
    default_path,
)
from gearshift.budgets.model import load_budgets, make_budget, save_budget
from gearshift.budgets.tightest import tightest_budget
from gearshift.config import Config
from gearshift.ledger import Execution, Ledger
from gearshift.ledger.record import us_from_ts

USD = 10**9
S = 1_000_000  # a second in microseconds
NOW = dt.datetime(2026, 3, 18, 6, tzinfo=dt.UTC)  # a Wednesday
GLANCE = BudgetGlance("team", 62, 91, "ok", 1_000 * S)


def test_kept_for_a_minute_then_due(tmp_path: Path) -> None:
    kept = GlanceFile("/l.db", str(tmp_path / "g.json"))
    first = kept.read(100 * S)
    assert (first.glance, first.error, first.due) == (None, None, True)
    kept.write(GLANCE, 100 * S)
    fresh = kept.read(100 * S + FRESH_SECONDS * S - 1)
    assert (fresh.glance, fresh.due) == (GLANCE, False)
    stale = kept.read(100 * S + FRESH_SECONDS * S)
    assert (stale.glance, stale.due) == (GLANCE, True)  # shown until the new one is made


def test_a_computation_under_way_is_not_started_again(tmp_path: Path) -> None:
    kept = GlanceFile("/l.db", str(tmp_path / "g.json"))
    kept.write(GLANCE, 0)
    kept.mark_pending(200 * S)
    waiting = kept.read(200 * S + PENDING_SECONDS * S - 1)
    assert (waiting.glance, waiting.due) == (GLANCE, False)
    assert kept.read(200 * S + PENDING_SECONDS * S).due  # it must have failed: start another


def test_a_new_period_drops_the_old_figures(tmp_path: Path) -> None:
    kept = GlanceFile("/l.db", str(tmp_path / "g.json"))
    kept.write(GLANCE, 999 * S)
    after = kept.read(1_000 * S)
    assert (after.glance, after.due) == (None, True)


def test_each_ledger_has_its_own_glance_and_errors_are_kept(tmp_path: Path) -> None:
    path = str(tmp_path / "g.json")
    GlanceFile("/a.db", path).write(GLANCE, 0)
    other = GlanceFile("/b.db", path).read(1)
    assert (other.glance, other.due) == (None, True)
    GlanceFile("/b.db", path).write(None, 0, error="config.toml: budgets.x.amount_usd ...")
    kept = GlanceFile("/b.db", path).read(1)
    assert (kept.glance, kept.error, kept.due) == (
        None,
        "config.toml: budgets.x.amount_usd ...",
        False,
    )


@pytest.mark.parametrize(
    "content",
    [b"", b"{", b"[]", b'{"ledger": "/l.db", "made_us": "1", "budget": {"name": 5}}', b"\xff"],
)
def test_a_damaged_file_keeps_nothing(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "g.json"
    path.write_bytes(content)
    kept = GlanceFile("/l.db", str(path)).read(10 * S)
    assert (kept.glance, kept.due) == (None, True)
    GlanceFile("/l.db", str(path)).write(GLANCE, 10 * S)  # and it is replaced whole
    assert json.loads(path.read_text())["budget"]["name"] == "team"


def test_the_default_place_is_the_cache_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", "/c")
    assert default_path() == "/c/gearshift/statusline.json"


# -- which budget ---------------------------------------------------------------------------


def _budget(name: str, **kw: Any) -> Any:
    fields: dict[str, Any] = {"scope": "global", "value": "", "period": "month"}
    return make_budget(name=name, **{**fields, **kw})


@pytest.fixture
def ledger(tmp_path: Path) -> Any:
    with Ledger.open(tmp_path / "l.db") as led:
        # $10 a day on every day of March up to the 17th, project acme; $30 on the 17th for web
        led.add_many(
            Execution(model="claude-sonnet-4-5", tier="sonnet", project="acme",
                      cost_nanos=10 * USD, ts=dt.datetime(2026, 3, d, 12, tzinfo=dt.UTC))
            for d in range(1, 18)
        )  # fmt: skip
        led.add(
            Execution(model="claude-sonnet-4-5", tier="sonnet", project="web",
                      cost_nanos=30 * USD, ts=dt.datetime(2026, 3, 17, 12, tzinfo=dt.UTC))
        )  # fmt: skip
        yield led


def test_the_tightest_budget_is_the_one_forecast_furthest_over(ledger: Ledger) -> None:
    budgets = (
        _budget("roomy", amount_usd="10000", tz="UTC"),
        _budget("acme", scope="project", value="acme", amount_usd="400", tz="UTC"),
        _budget("web", scope="project", value="web", amount_usd="2000", tz="UTC"),
    )
    glance = tightest_budget(ledger, Config(), NOW, budgets=budgets)
    # acme: $170 spent by the 18th; $10 a day to come on 13.75 days -> $307.50 of $400
    assert glance == BudgetGlance(
        "acme", 42, 77, "ok", us_from_ts(dt.datetime(2026, 4, 1, tzinfo=dt.UTC))
    )


def test_budgets_in_the_ledger_count_and_ended_ones_do_not(ledger: Ledger) -> None:
    save_budget(ledger, _budget("shared", amount_usd="100", period="week", tz="UTC"), Config())
    ended = _budget("march", period="custom", start="2026-03-01", end="2026-03-10",
                    amount_usd="1")  # fmt: skip
    glance = tightest_budget(
        ledger, Config(), NOW, budgets=[ended, *load_budgets(ledger, Config())]
    )
    assert glance is not None and glance.name == "shared"
    assert glance.status == "forecast-breach" and glance.used_percent == 50  # Mon $10, Tue $40


def test_no_budget_no_glance(ledger: Ledger) -> None:
    assert tightest_budget(ledger, Config(), NOW) is None


def test_ties_go_to_the_first_name(ledger: Ledger) -> None:
    twins = (_budget("b", amount_usd="500", tz="UTC"), _budget("a", amount_usd="500", tz="UTC"))
    glance = tightest_budget(ledger, Config(), NOW, budgets=twins)
    assert glance is not None and glance.name == "a"
