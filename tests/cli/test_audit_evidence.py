"""`audit` and `report` give one piece of advice: the audit decides with the ledger's outcome
evidence where it has enough (saying so), with the rubric elsewhere, `--apply` applies exactly
the moves `report` recommends for the agents it can edit, and the window is stated and set by
`--since`."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gearshift.catalog import Usage, load_catalog
from gearshift.ledger import Ledger

EXAMPLES = Path(__file__).parents[2] / "examples" / "agents" / "claude-code"
GS = [sys.executable, "-m", "gearshift.cli.main"]


def gs(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([*GS, *args], capture_output=True, text=True, env=env, timeout=120)


def fill(db: Path, *, days_ago: int = 3) -> None:
    """The architect runs on Opus; design work succeeds on Sonnet (the designer's record)."""
    now = dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago)
    with Ledger.open(db, catalog=load_catalog()) as ledger:
        rows = []
        for agent, model, n in (("architect", "opus", 60), ("designer", "sonnet", 120)):
            for i in range(n):
                rows.append(ledger.price(agent=agent, model=model, usage=Usage(3000, 1500),
                                         task_type="design", latency_ms=20_000,
                                         ts=now - dt.timedelta(hours=i)))  # fmt: skip
        # Claude Code's built-in Explore ran on Opus too: nobody edits its definition
        for i in range(60):
            rows.append(ledger.price(agent="Explore", model="opus", usage=Usage(3000, 1500),
                                     task_type="design", source="claude-code",
                                     ts=now - dt.timedelta(hours=i)))  # fmt: skip
        ledger.add_many(rows)


@pytest.fixture
def agents(tmp_path: Path) -> Path:
    target = tmp_path / "agents"
    shutil.copytree(EXAMPLES, target)
    return target


def test_audit_and_report_agree_and_apply_makes_the_reports_moves(
    tmp_path: Path, agents: Path
) -> None:
    db = tmp_path / "l.db"
    fill(db)
    report = json.loads(gs("--ledger", str(db), "report", "--since", "30d", "--json").stdout)
    moves = {r["agent"]: r for r in report["recommendations"] if r["kind"] == "move-down"}
    assert moves["architect"]["to_tier"] == "sonnet" and moves["architect"]["enough_evidence"]
    assert "Explore" not in moves  # a built-in: nothing to edit

    audit = gs("--ledger", str(db), "audit", str(agents), "--json")
    assert audit.returncode == 0, audit.stderr
    data = json.loads(audit.stdout)
    rows = {r["agent"]: r for r in data["agents"]}
    architect = rows["architect"]
    assert architect["recommended_tier"] == "sonnet" and architect["change"]
    assert architect["decided_by"] == "ledger"
    assert architect["monthly_saving_usd"] == moves["architect"]["monthly_saving_usd"]
    assert all(r["decided_by"] in ("ledger", "rubric") for r in rows.values())
    # what the audit changes, among the agents the ledger has seen, is what the report moves
    seen = {a for a in rows if rows[a]["decided_by"] == "ledger"}
    changed = {a: rows[a]["recommended_tier"] for a in seen if rows[a]["change"]}
    assert changed == {
        a: m["to_tier"] for a, m in moves.items() if a in rows and m["enough_evidence"]
    }

    table = gs("--ledger", str(db), "audit", str(agents))
    assert "decided by" in table.stdout and "ledger" in table.stdout
    applied = gs("--ledger", str(db), "audit", str(agents), "--apply")
    assert applied.returncode == 0, applied.stderr
    assert "model: sonnet" in (agents / "architect.md").read_text()


def test_audit_states_its_window_and_takes_since(tmp_path: Path, agents: Path) -> None:
    db = tmp_path / "l.db"
    fill(db, days_ago=10)
    default = gs("--ledger", str(db), "audit", str(agents))
    assert default.returncode == 0, default.stderr
    assert "ledger window: the last 30 days" in default.stdout
    recent = gs("--ledger", str(db), "audit", str(agents), "--since", "7d", "--json")
    assert recent.returncode == 0, recent.stderr
    data = json.loads(recent.stdout)
    assert data["window"]["since"] is not None and data["window"]["days"] in (7, 8)
    rows = {r["agent"]: r for r in data["agents"]}
    assert rows["architect"]["executions"] is None  # nothing in the last 7 days
    assert rows["architect"]["decided_by"] == "rubric"
    text = gs("--ledger", str(db), "audit", str(agents), "--since", "7d")
    assert "ledger window: since " in text.stdout
