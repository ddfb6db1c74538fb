"""`gearshift budget`: set, list, rm, status, check (exit codes and alerts)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gearshift.catalog import load_catalog
from gearshift.cli import common
from gearshift.cli.main import main
from gearshift.ledger import Execution, Ledger

USD = 10**9


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "cli.db")


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "220")
    monkeypatch.setattr(common, "_console", None)
    monkeypatch.setattr(common, "_err", None)


def gs(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the CLI in-process; (exit code, stdout, stderr)."""
    capsys.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def spend(db: str, usd: int, ago: dt.timedelta, project: str = "acme") -> None:
    with Ledger.open(db) as ledger:
        ledger.add(
            Execution(
                model="claude-sonnet-4-5",
                tier="sonnet",
                project=project,
                cost_nanos=usd * USD,
                ts=dt.datetime.now(dt.UTC) - ago,
            )
        )


def day(offset: int) -> str:
    return (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=offset)).isoformat()


def test_set_list_rm(capsys: pytest.CaptureFixture[str], db: str) -> None:
    code, out, _ = gs(
        capsys,
        "--ledger",
        db,
        "budget",
        "set",
        "--project",
        "acme",
        "--monthly",
        "500",
        "--action",
        "block",
    )
    assert code == 0
    assert out.strip().startswith("budget project-acme-monthly: project acme, $500.00 monthly")
    assert gs(capsys, "--ledger", db, "budget", "set", "--model", "opus", "--daily", "20")[0] == 0
    assert (
        gs(
            capsys,
            "--ledger",
            db,
            "budget",
            "set",
            "--name",
            "sprint",
            "--tag",
            "sprint=42",
            "--amount",
            "300",
            "--from",
            "2026-03-01",
            "--to",
            "2026-03-14",
            "--levels",
            "90,50",
            "--tz",
            "Europe/Paris",
        )[0]
        == 0
    )
    code, out, _ = gs(capsys, "--ledger", db, "budget", "list", "--json")
    budgets = {b["name"]: b for b in json.loads(out)}
    opus_id = load_catalog().resolve("opus").id
    assert set(budgets) == {"project-acme-monthly", f"model-{opus_id}-daily", "sprint"}
    assert budgets["project-acme-monthly"]["amount_usd"] == "500.000000000"
    opus = budgets[f"model-{opus_id}-daily"]
    assert (opus["scope"], opus["value"], opus["period"]) == ("model", opus_id, "day")
    sprint = budgets["sprint"]
    assert (sprint["start"], sprint["end"], sprint["alert_levels"], sprint["tz"]) == (
        "2026-03-01",
        "2026-03-14",
        [50, 90],
        "Europe/Paris",
    )
    code, out, _ = gs(capsys, "--ledger", db, "budget", "list")
    assert "project-acme-monthly" in out and "block" in out and "$300.00" in out
    assert gs(capsys, "--ledger", db, "budget", "rm", "sprint")[0] == 0
    code, _, err = gs(capsys, "--ledger", db, "budget", "rm", "sprint")
    assert code == 2 and "no budget named 'sprint'" in err and "Traceback" not in err
    code, out, _ = gs(capsys, "--ledger", db, "budget", "list", "--json")
    assert "sprint" not in {b["name"] for b in json.loads(out)}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--monthly", "5"], "exactly one scope"),
        (["--project", "a", "--agent", "b", "--monthly", "5"], "exactly one scope"),
        (["--global", "--monthly", "5", "--daily", "1"], "exactly one amount"),
        (["--global"], "exactly one amount"),
        (["--global", "--monthly", "5", "--from", "2026-03-01"], "--from and --to go with"),
        (["--global", "--amount", "5", "--from", "2026-03-01"], "--from and --to go with"),
        (["--global", "--monthly", "five"], "not a number"),
        (["--global", "--monthly", "5", "--levels", "50,x"], "--levels has 'x'"),
        (["--global", "--monthly", "5", "--action", "shout"], "unknown action"),
        (["--model", "gpt-9", "--monthly", "5"], "unknown model"),
    ],
)
def test_set_refuses_bad_options(
    capsys: pytest.CaptureFixture[str], db: str, args: list[str], message: str
) -> None:
    code, _, err = gs(capsys, "--ledger", db, "budget", "set", *args)
    assert code == 2 and message in err and "Traceback" not in err


def test_config_budgets_are_listed_and_protected(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[budgets.team]\nscope = "global"\nperiod = "week"\namount_usd = "900"\n')
    monkeypatch.setenv("GEARSHIFT_CONFIG", str(cfg))
    code, out, _ = gs(capsys, "--ledger", db, "budget", "list", "--json")
    assert [(b["name"], b["source"]) for b in json.loads(out)] == [("team", "config")]
    code, _, err = gs(capsys, "--ledger", db, "budget", "rm", "team")
    assert code == 2 and str(cfg) in err
    code, _, err = gs(
        capsys, "--ledger", db, "budget", "set", "--name", "team", "--global", "--daily", "1"
    )
    assert code == 2 and "edit it there" in err
    cfg.write_text("[budgets.team]\namount_usd = 9.5\n")
    code, _, err = gs(capsys, "--ledger", db, "budget", "list")
    assert code == 2 and f"{cfg}: budgets.team.amount_usd must be a quoted decimal" in err


def test_status_shows_spend_forecast_band_and_verdict(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    for k in range(1, 15):
        spend(db, 10, dt.timedelta(days=k))
    gs(
        capsys,
        "--ledger",
        db,
        "budget",
        "set",
        "--name",
        "next",
        "--project",
        "acme",
        "--amount",
        "5",
        "--from",
        day(2),
        "--to",
        day(3),
    )
    code, out, _ = gs(capsys, "--ledger", db, "budget", "status", "--json", "--tz", "UTC")
    (status,) = json.loads(out)
    assert code == 0 and status["status"] == "forecast-breach"
    assert status["spent_usd"] == "0.000000000"
    assert status["projected_usd"] == "20.000000000"
    assert status["verdict"] == "on track for $20.00 of $5.00 — over by 300%"
    assert len(status["projection"]) == 2
    code, out, _ = gs(capsys, "--ledger", db, "budget", "status", "--tz", "UTC")
    assert "budget status" in out and "over by 300%" in out and "$20.00" in out


def test_status_without_budgets(capsys: pytest.CaptureFixture[str], db: str) -> None:
    code, out, _ = gs(capsys, "--ledger", db, "budget", "status")
    assert code == 0 and "no budgets" in out
    assert gs(capsys, "--ledger", db, "budget", "check")[0] == 0


def test_check_exit_codes_and_alerts_sent_once(capsys: pytest.CaptureFixture[str], db: str) -> None:
    log = Path(os.environ["XDG_DATA_HOME"]) / "gearshift" / "alerts.log"
    gs(capsys, "--ledger", db, "budget", "set", "--global", "--monthly", "1000000")
    code, out, _ = gs(capsys, "--ledger", db, "budget", "check", "--tz", "UTC")
    assert code == 0 and "OK  global-monthly" in out and not log.exists()

    for k in range(1, 15):  # $10 a day: tomorrow and the day after will cost $20
        spend(db, 10, dt.timedelta(days=k), project="web")
    gs(
        capsys,
        "--ledger",
        db,
        "budget",
        "set",
        "--name",
        "next",
        "--project",
        "web",
        "--amount",
        "5",
        "--from",
        day(2),
        "--to",
        day(3),
    )
    code, out, err = gs(capsys, "--ledger", db, "budget", "check", "--tz", "UTC")
    assert code == 4 and "FORECAST-BREACH  next: on track for $20.00 of $5.00" in out
    assert "forecast breach" in err  # the console alert, on stderr

    spend(db, 3, dt.timedelta(seconds=1), project="acme")
    gs(
        capsys,
        "--ledger",
        db,
        "budget",
        "set",
        "--name",
        "now",
        "--project",
        "acme",
        "--amount",
        "2",
        "--from",
        day(-1),
        "--to",
        day(1),
        "--action",
        "block",
    )
    code, out, _ = gs(capsys, "--ledger", db, "budget", "check", "--json", "--tz", "UTC")
    report = json.loads(out)
    assert code == 3 and report["exit_code"] == 3
    assert {b["budget"]: b["status"] for b in report["budgets"]}["now"] == "breached"
    assert [(a["budget"], a["level"]) for a in report["alerts_sent"]] == [("now", "100")]
    assert report["alerts_sent"][0]["deliveries"] == ["console", "log"]

    code, out, _ = gs(capsys, "--ledger", db, "budget", "check", "--json", "--tz", "UTC")
    assert code == 3 and json.loads(out)["alerts_sent"] == []  # once per level and period
    logged = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(a["budget"], a["level"]) for a in logged] == [("next", "forecast"), ("now", "100")]


def test_check_without_alerts_sends_nothing(capsys: pytest.CaptureFixture[str], db: str) -> None:
    spend(db, 3, dt.timedelta(seconds=1))
    gs(
        capsys,
        "--ledger",
        db,
        "budget",
        "set",
        "--global",
        "--amount",
        "1",
        "--from",
        day(-1),
        "--to",
        day(1),
    )
    code, out, _ = gs(capsys, "--ledger", db, "budget", "check", "--no-alerts", "--json")
    assert code == 3 and json.loads(out)["alerts_sent"] == []
    assert not (Path(os.environ["XDG_DATA_HOME"]) / "gearshift" / "alerts.log").exists()


def test_check_exit_code_through_the_real_entry_point(db: str) -> None:
    spend(db, 3, dt.timedelta(seconds=1))
    cmd = [sys.executable, "-m", "gearshift.cli.main", "--ledger", db, "budget"]
    setup = subprocess.run(
        [*cmd, "set", "--global", "--amount", "1", "--from", day(-1), "--to", day(1)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert setup.returncode == 0, setup.stderr
    check = subprocess.run([*cmd, "check"], capture_output=True, text=True, timeout=60)
    assert check.returncode == 3, check.stderr
    assert "BREACHED  global-" in check.stdout and "100% reached" in check.stderr
