"""`gearshift audit`, dry run and --apply, on real Claude Code agent files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from gearshift.cli.main import app

EXAMPLES = Path(__file__).parents[2] / "examples" / "agents"
OVERSPEC = """\
---
name: formatter
description: Formats Python files with black and sorts imports with isort
tools: Read, Edit, Bash
model: opus
color: blue
---
You format code. Do not change behaviour.
"""


def setup(tmp_path: Path) -> Path:
    agents = tmp_path / ".claude" / "agents"
    shutil.copytree(EXAMPLES / "claude-code", agents)
    (agents / "formatter.md").write_text(OVERSPEC)
    return agents


def test_audit_dry_run_shows_the_diff_and_changes_nothing(tmp_path: Path) -> None:
    agents = setup(tmp_path)
    before = {p: p.read_bytes() for p in agents.iterdir()}
    result = CliRunner().invoke(app, ["audit", str(agents)])
    assert result.exit_code == 0, result.output
    assert "-model: opus\n+model: haiku\n" in result.stdout
    assert "dry run: 1 agent(s) in 1 file; run with --apply to write" in result.stdout
    assert {p: p.read_bytes() for p in agents.iterdir()} == before


def test_audit_apply_round_trip(tmp_path: Path) -> None:
    agents = setup(tmp_path)
    before = {p: p.read_bytes() for p in agents.iterdir()}
    result = CliRunner().invoke(app, ["audit", str(agents), "--apply"])
    assert result.exit_code == 0, result.output
    assert "updated 1 agent(s) in 1 file" in result.stdout
    after = {p: p.read_bytes() for p in agents.iterdir()}
    formatter = agents / "formatter.md"
    assert after.pop(formatter) == before.pop(formatter).replace(b"model: opus", b"model: haiku")
    assert after == before
    again = CliRunner().invoke(app, ["audit", str(agents), "--json"])
    assert json.loads(again.stdout)["changes"] == 0


def test_audit_json_defaults_and_errors(tmp_path: Path, monkeypatch: object) -> None:
    agents = setup(tmp_path)
    data = json.loads(CliRunner().invoke(app, ["audit", str(agents), "--json"]).stdout)
    assert data["changes"] == 1 and data["applied"] is False
    row = next(r for r in data["agents"] if r["agent"] == "formatter")
    assert row["current_model"] == "opus" and row["recommended_tier"] == "haiku"
    assert row["scores"]["total"] == 3 and row["evidence"]["multi_step"]
    assert data["diff"].startswith(f"--- {agents / 'formatter.md'}")
    (tmp_path / "none").mkdir()
    empty = subprocess.run(
        [sys.executable, "-m", "gearshift.cli.main", "audit", str(tmp_path / "none")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert empty.returncode == 0 and "no agent definitions found" in empty.stdout
    missing = subprocess.run(
        [sys.executable, "-m", "gearshift.cli.main", "audit", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    both = subprocess.run(
        [sys.executable, "-m", "gearshift.cli.main", "audit", "--apply", "--dry-run"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert both.returncode == 2 and "exclude each other" in both.stderr
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.md").write_text("---\nname: x\nmodel: gpt-9\n---\n")
    broken = subprocess.run(
        [sys.executable, "-m", "gearshift.cli.main", "audit", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert broken.returncode == 2
    assert f"{bad / 'x.md'}:3: agent 'x': unknown model 'gpt-9'" in broken.stderr


BROKEN = "---\nname: broken\ndescription: [unclosed\nmodel: opus\n---\nbody\n"


def test_a_broken_file_is_reported_and_the_rest_audited(tmp_path: Path) -> None:
    agents = setup(tmp_path)
    (agents / "aaa-broken.md").write_text(BROKEN)
    result = CliRunner().invoke(app, ["audit", str(agents)])
    assert result.exit_code == 2, result.output
    assert f"{agents / 'aaa-broken.md'}:4: invalid YAML" in result.stderr
    assert "formatter" in result.stdout  # the others were audited
    as_json = CliRunner().invoke(app, ["audit", str(agents), "--json"])
    assert as_json.exit_code == 2
    data = json.loads(as_json.stdout)
    assert len(data["errors"]) == 1 and "aaa-broken.md:4" in data["errors"][0]
    assert any(row["agent"] == "formatter" for row in data["agents"])
