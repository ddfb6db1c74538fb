"""The first commands, run as a user would: through the real entry point, in a subprocess."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

GS = [sys.executable, "-m", "gearshift.cli.main"]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GS, *args], capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=120
    )


@pytest.fixture
def ledger(tmp_path: Path) -> str:
    return str(tmp_path / "cli.db")


def test_record_json_and_spend(ledger: str) -> None:
    out = run(
        "--ledger",
        ledger,
        "record",
        "--agent",
        "test-engineer",
        "--model",
        "haiku",
        "--input-tokens",
        "1250",
        "--output-tokens",
        "3400",
        "--task",
        "tests",
        "--json",
        env={"GEARSHIFT_PRICES": "article"},
    )
    assert out.returncode == 0, out.stderr
    rec = json.loads(out.stdout)
    assert rec["cost_usd"] == "0.014600000" and rec["tier"] == "haiku"
    for args in (
        ["--model", "opus", "--input-tokens", "100", "--output-tokens", "50"],
        [
            "--model",
            "claude-sonnet-4-5",
            "--input-tokens",
            "10",
            "--output-tokens",
            "5",
            "--cache-read",
            "1000",
            "--cache-write-1h",
            "200",
        ],
    ):
        assert run("--ledger", ledger, "record", "--agent", "architect", *args).returncode == 0
    spend = json.loads(run("--ledger", ledger, "spend", "--by", "agent", "--json").stdout)
    assert [r["key"] for r in spend["rows"]] == ["test-engineer", "architect"]  # by cost
    assert spend["total"]["executions"] == 3
    assert spend["total"]["cache_read_tokens"] == 1000
    assert spend["total"]["cache_creation_tokens"] == 200
    assert set(spend["rows"][0]) == {
        "key",
        "executions",
        "input_tokens",
        "output_tokens",
        "cache_creation_tokens",
        "cache_read_tokens",
        "cost_usd",
    }
    by_day = json.loads(
        run("--ledger", ledger, "spend", "--by", "day", "--tz", "UTC", "--json").stdout
    )
    assert by_day["total"] == spend["total"]


def test_report_formats(ledger: str) -> None:
    for i in range(3):
        run(
            "--ledger",
            ledger,
            "record",
            "-a",
            "doc-writer",
            "-m",
            "opus",
            "--input-tokens",
            "500",
            "--output-tokens",
            str(100 + i),
        )
    run(
        "--ledger",
        ledger,
        "record",
        "-a",
        "linter",
        "-m",
        "haiku",
        "--input-tokens",
        "5",
        "--output-tokens",
        "5",
        "--status",
        "failure",
    )
    data = json.loads(run("--ledger", ledger, "report", "--json").stdout)
    assert data["summary"]["total_executions"] == 4
    assert data["summary"]["biggest_cost_driver"]["agent"] == "doc-writer"
    kinds = {o["kind"] for o in data["optimization_opportunities"]}
    assert kinds == {"biggest-driver", "opus-short-output"}
    assert data["summary"]["success_rate"] == "0.7500"
    yaml_out = run("--ledger", ledger, "report", "--format", "yaml").stdout
    assert yaml_out.startswith("cost-analysis:") and "biggest_cost_driver" in yaml_out
    table = run("--ledger", ledger, "report").stdout
    assert "doc-writer" in table


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["spend", "--bogus"], "No such option"),
        (
            ["record", "-a", "x", "-m", "gpt-4", "--input-tokens", "1", "--output-tokens", "1"],
            "unknown model 'gpt-4'",
        ),
        (["--ledger", "/nonexistent/dir/l.db", "spend"], "does not exist"),
        (
            ["--ledger", "postgresql://nobody@127.0.0.1:1/x", "spend"],
            "cannot connect to PostgreSQL",
        ),
        (["spend", "--since", "March"], "--since"),
        (["spend", "--by", "colour"], "cannot group by"),
        (["--prices", "nope.toml", "prices"], "does not exist"),
        (["spend", "--tz", "Mars/Olympus"], "unknown time zone"),
    ],
)
def test_bad_input_gets_one_clear_line(args: list[str], needle: str) -> None:
    out = run(*args)
    assert out.returncode != 0
    assert needle in out.stderr
    assert "Traceback" not in out.stderr


def test_ledger_path_stats_export_import(ledger: str, tmp_path: Path) -> None:
    assert run("--ledger", ledger, "ledger", "path").stdout.strip() == ledger
    run(
        "--ledger",
        ledger,
        "record",
        "-a",
        "x",
        "-m",
        "sonnet",
        "--input-tokens",
        "1",
        "--output-tokens",
        "2",
    )
    stats = json.loads(run("--ledger", ledger, "ledger", "stats", "--json").stdout)
    assert stats["executions"] == 1 and stats["sources"] == {"manual": 1}
    dump = tmp_path / "dump.jsonl"
    assert run("--ledger", ledger, "ledger", "export", "-o", str(dump)).returncode == 0
    other = str(tmp_path / "other.db")
    res = json.loads(run("--ledger", other, "ledger", "import", str(dump), "--json").stdout)
    assert res == {"read": 1, "inserted": 1, "skipped": 0}
    res = json.loads(run("--ledger", other, "ledger", "import", str(dump), "--json").stdout)
    assert res["skipped"] == 1
    csv_out = run("--ledger", ledger, "ledger", "export", "--format", "csv").stdout
    assert csv_out.splitlines()[0].startswith("id,ts,project")


def test_default_ledger_lives_under_xdg_data_home(tmp_path: Path) -> None:
    env = {"XDG_DATA_HOME": str(tmp_path / "xdg")}
    assert run("ledger", "path", env=env).stdout.strip() == str(
        tmp_path / "xdg/gearshift/ledger.db"
    )


def test_demo_reports_real_numbers(tmp_path: Path) -> None:
    out = run("demo", "--out", str(tmp_path / "demo"), "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["recorded"] > 3000
    agents = data["report"]["agents"]
    assert {"test-engineer", "code-reviewer", "architect", "style-enforcer"} <= set(agents)
    total = sum(int(r["executions"]) for r in data["spend_by_tier"]["rows"])
    ingested = data["claude_code"]["ingest"]["new_records"]
    assert ingested > 100
    ran = data["run"]["totals"]
    assert ran["succeeded"] == ran["jobs"] and ran["calls"] >= ran["jobs"]
    assert total > data["recorded"] + ingested  # plus every attempt of the simulated run
    by_agent = {r["key"] for r in data["claude_code"]["spend_by_agent"]["rows"]}
    assert {"main", "Explore", "Plan"} <= by_agent
    (budget,) = data["budgets"]  # the demo's own budget, read from the demo's ledger
    assert budget["budget"] == "team-monthly" and budget["spent_usd"] != "0"


def test_demo_ends_with_commands_that_can_be_pasted(tmp_path: Path) -> None:
    folder = tmp_path / "a demo folder"  # a space: the path must come out quoted
    out = run("demo", "--out", str(folder), env={"COLUMNS": "60"})
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    commands = lines[lines.index("explore it yourself:") + 1 :]
    assert len(commands) == 2 and all(c.startswith("  gearshift --ledger ") for c in commands)
    for command in commands:  # not wrapped at 60 columns, no pipe: each runs as it is
        program, *args = shlex.split(command)
        assert program == "gearshift" and "|" not in args
        done = run(*args)
        assert done.returncode == 0, (command, done.stderr)
        assert done.stdout.strip()


def test_demo_never_overwrites_what_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "ledger.db").write_text("precious")
    (tmp_path / "file.db").write_text("precious")
    for target, needle in (
        (tmp_path / "mine", "did not make"),
        (tmp_path / "file.db", "is a file"),
        (tmp_path / "no" / "such", "does not exist"),
    ):
        out = run("demo", "--out", str(target))
        assert out.returncode == 2 and needle in out.stderr
    assert run("demo", "--out", "postgresql://x@h/db").returncode == 2
    assert (tmp_path / "mine" / "ledger.db").read_text() == "precious"
    assert (tmp_path / "file.db").read_text() == "precious"


def test_help_everywhere() -> None:
    for args in ([], ["spend"], ["record"], ["report"], ["ledger"], ["ledger", "export"], ["demo"]):
        out = run(*args, "--help")
        assert out.returncode == 0 and "Usage" in out.stdout


def test_record_fast_needs_a_model_with_fast_mode(tmp_path: Path) -> None:
    ledger = str(tmp_path / "l.db")
    base = ["--ledger", ledger, "record", "-a", "x", "--input-tokens", "10", "--output-tokens", "5"]
    refused = run(*base, "-m", "haiku", "--fast")
    assert refused.returncode == 2
    assert "has no fast mode" in refused.stderr and "claude-opus-4-6" in refused.stderr
    assert not Path(ledger).exists()  # refused before anything was opened or recorded
    normal = json.loads(run(*base, "-m", "claude-opus-4-6", "--json").stdout)
    fast = json.loads(run(*base, "-m", "claude-opus-4-6", "--fast", "--json").stdout)
    assert Decimal(fast["cost_usd"]) == 6 * Decimal(normal["cost_usd"])
