"""Budget-aware routing: a budget forecast to be exceeded steps low-priority work down a tier."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from gearshift.budgets.model import make_budget, save_budget
from gearshift.budgets.pressure import over_budget_check
from gearshift.catalog import Tier, load_catalog
from gearshift.config import Config
from gearshift.ledger import Ledger
from gearshift.routing.router import Router, default_chain
from gearshift.routing.rubric import Label
from gearshift.routing.task import Priority, Task

NOW = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)


def _ledger(tmp_path: Path, spend_per_day: int) -> Ledger:
    ledger = Ledger.open(tmp_path / "p.db")
    for day in range(1, 20):
        ts = dt.datetime(2026, 11, day, 10, tzinfo=dt.UTC)
        for _ in range(spend_per_day):  # opus, ~$0.03 each
            ledger.record(
                agent="reviewer", model="opus", input_tokens=1000, output_tokens=1000, ts=ts
            )
    return ledger


def test_no_budget_in_trouble_means_no_pressure(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path, 1)
    save_budget(
        ledger,
        make_budget(name="roomy", scope="global", value="", period="month", amount_usd="1000"),
        Config(),
    )
    assert over_budget_check(ledger, config=Config(), now=NOW, tz=dt.UTC) is None


def test_forecast_breach_steps_low_priority_down(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path, 10)  # ~$0.24/day -> ~$7 a month
    save_budget(
        ledger,
        make_budget(name="tight", scope="agent", value="reviewer", period="month", amount_usd="5"),
        Config(),
    )
    save_budget(
        ledger,
        make_budget(
            name="model-only",
            scope="model",
            value="claude-opus-5-5",
            period="month",
            amount_usd="0.01",
        ),
        Config(),
    )
    check = over_budget_check(ledger, config=Config(), now=NOW, tz=dt.UTC)
    assert check is not None
    assert check(Task("x", agent="reviewer")) and not check(Task("x", agent="linter"))
    catalog = load_catalog()
    router = Router(catalog, policies=default_chain(catalog, over_budget=check))
    text = "Review this pull request for correctness and style"
    low = router.route(
        Task(text, agent="reviewer", model=None, priority=Priority.LOW, complexity=Label.MEDIUM)
    )
    high = router.route(
        Task(text, agent="reviewer", priority=Priority.HIGH, complexity=Label.MEDIUM)
    )
    other = router.route(Task(text, agent="linter", priority=Priority.LOW, complexity=Label.MEDIUM))
    assert (low.tier, high.tier, other.tier) == (Tier.HAIKU, Tier.SONNET, Tier.SONNET)
    assert any(s.policy == "budget" and "over budget" in s.reason for s in low.steps)


def test_route_command_is_budget_aware(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    agents = Path(__file__).parents[2] / "examples" / "agents" / "claude-code"
    db = str(tmp_path / "l.db")

    def gs(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "gearshift.cli.main", "--ledger", db, *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60)

    route = [
        "route",
        "Review this pull request for style",
        "--agents-dir",
        str(agents),
        "--agent",
        "code-reviewer",
        "--priority",
        "low",
        "--json",
    ]
    assert json.loads(gs(*route).stdout)["tier"] == "sonnet"  # no ledger yet: none is created
    assert not Path(db).exists()
    gs(
        "record",
        "-a",
        "code-reviewer",
        "-m",
        "opus",
        "--input-tokens",
        "900000",
        "--output-tokens",
        "900000",
    )
    gs("budget", "set", "--agent", "code-reviewer", "--monthly", "1")
    decision = json.loads(gs(*route).stdout)
    assert decision["tier"] == "haiku"
    assert any(s["policy"] == "budget" and s["action"] == "adjust" for s in decision["steps"])
