"""`gearshift route`, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from gearshift.cli.main import app

EXAMPLES = Path(__file__).parents[2] / "examples"
AGENTS = str(EXAMPLES / "agents" / "claude-code")


def invoke(*args: str, stdin: str | None = None) -> str:
    result = CliRunner().invoke(app, list(args), input=stdin)
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gearshift.cli.main", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
    )


def test_route_text_prints_tier_model_scores_and_reasons() -> None:
    out = invoke(
        "route",
        "Write unit tests for auth module",
        "--agent",
        "test-engineer",
        "--agents-dir",
        AGENTS,
    )
    assert out.splitlines()[0].startswith("haiku")
    assert "multi-step 1 · judgment 1 · stakes 2 = 4 (learned-estimator)" in out
    assert "because  agent: agent test-engineer declares model haiku" in out


def test_route_explain_shows_evidence_and_every_step() -> None:
    out = invoke(
        "route",
        "Review security architecture",
        "--priority",
        "high",
        "--queue-depth",
        "150",
        "--explain",
    )
    assert "learned: P(haiku/sonnet/opus)" in out and "like: '" in out
    for policy in ("override", "sticky", "agent", "complexity", "objective", "load", "escalation"):
        assert policy in out
    assert "high priority" in out and "keeps" in out


def test_route_json_with_rules_and_override() -> None:
    data = json.loads(
        invoke(
            "route", "Summarize the notes", "--rules", str(EXAMPLES / "task-router.yaml"), "--json"
        )
    )
    assert data["tier"] == "haiku" and data["decided_by"] == "rules"
    assert data["scores"]["total"] == 3 and data["text"] == "Summarize the notes"
    assert [s["policy"] for s in data["steps"]][3] == "rules"
    forced = json.loads(invoke("route", "Summarize the notes", "--model", "opus", "--json"))
    assert forced["tier"] == "opus" and forced["reasons"] == ["override: the task asks for opus"]


def test_route_batch_json_one_decision_per_line(tmp_path: Path) -> None:
    batch = tmp_path / "tasks.jsonl"
    lines = [
        {"id": "a", "text": "Lint the repo with ruff", "priority": "low"},
        {"id": "b", "text": "Design the plugin architecture and evaluate trade-offs"},
        {"id": "c", "text": "Review PR #12", "agent": "code-reviewer"},
        {"id": "d", "text": "Anything", "scores": {"multi_step": 2, "judgment": 2, "stakes": 1}},
    ]
    batch.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    out = invoke("route", "--batch", str(batch), "--json", "--agents-dir", AGENTS)
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["id"], r["tier"]) for r in rows] == [
        ("a", "haiku"),
        ("b", "opus"),
        ("c", "sonnet"),
        ("d", "sonnet"),
    ]
    for row in rows:
        assert {"tier", "model", "scores", "reasons"} <= set(row)
        assert set(row["scores"]) == {"multi_step", "judgment", "stakes", "total"}
        assert row["reasons"]
    assert rows[2]["decided_by"] == "agent"
    explained = invoke("route", "--batch", "-", "--json", "--explain", stdin=batch.read_text())
    assert all("steps" in json.loads(line) for line in explained.splitlines())


def test_route_batch_table_and_dispatch_yaml() -> None:
    out = invoke("route", "--batch", str(EXAMPLES / "dispatch.yaml"), "--agents-dir", AGENTS)
    assert "2 tasks routed" in out and "override" in out


def test_route_errors_are_one_line_with_a_hint(tmp_path: Path) -> None:
    cases = [
        (["route"], "give either a task text or --batch FILE"),
        (["route", "x", "--agent", "nobody", "--agents-dir", AGENTS], "unknown agent 'nobody'"),
        (["route", "x", "--priority", "asap"], "unknown priority 'asap'"),
        (["route", "x", "--model", "gpt-4o"], "unknown model 'gpt-4o'"),
    ]
    bad_rules = tmp_path / "r.yaml"
    bad_rules.write_text("logic:\n  - if: task.colour == 'red'\n    then: {model: haiku}\n")
    cases.append(
        (["route", "x", "--rules", str(bad_rules)], f"{bad_rules}:2: column 1: unknown field")
    )
    for args, words in cases:
        result = run(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert words in result.stderr and "Traceback" not in result.stderr
        assert "hint:" in result.stderr or args[-1] == "asap"
