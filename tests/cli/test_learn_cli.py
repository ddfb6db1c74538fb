"""`gearshift learn import|fit|status|eval` and `route --json` with p_success, end to end."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gearshift.cli.common import state
from gearshift.cli.main import app
from gearshift.errors import GearshiftError

pytest.importorskip("sklearn")

from tests.learn.conftest import synthetic


def run(*args: str) -> Any:
    """Run a command as ``main`` would, closing the global state (the guard's job) after."""
    try:
        return CliRunner().invoke(app, list(args))
    finally:
        state.close()


def invoke(*args: str) -> str:
    """Standard output of a successful command."""
    result = run(*args)
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def error(*args: str) -> GearshiftError:
    """The error a command stops with (the CLI's guard prints its message and hint)."""
    result = run(*args)
    assert isinstance(result.exception, GearshiftError), (result.output, result.exception)
    return result.exception


def write_long(path: Path, n: int, seed: int) -> Path:
    table = synthetic(n, seed)
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["task", "tier", "success", "cost_usd", "agent"])
        for i, text in enumerate(table.texts):
            for rank, tier in enumerate(("haiku", "sonnet", "opus")):
                cost = table.cost_nanos[i][rank] / 1e9
                out.writerow([text, tier, int(table.score[i][rank]), f"{cost:.3f}", "builder"])
    return path


def test_learn_end_to_end(tmp_path: Path) -> None:
    ledger = ["--ledger", str(tmp_path / "l.db")]
    train = write_long(tmp_path / "train.csv", 120, seed=1)
    held = write_long(tmp_path / "held.csv", 80, seed=2)

    out = json.loads(invoke(*ledger, "learn", "import", str(train), "--json"))
    assert out["imported"] == 360 and out["per_tier"] == {"haiku": 120, "sonnet": 120, "opus": 120}
    assert "nothing added" in invoke(*ledger, "learn", "import", str(train))

    status = json.loads(invoke(*ledger, "learn", "status", "--json"))
    assert status["trained"] is False and status["outcomes_available"]["import"] == 360

    fitted = json.loads(invoke(*ledger, "learn", "fit", "--json"))
    assert fitted["summary"]["outcomes"] == 360

    status = json.loads(invoke(*ledger, "learn", "status", "--json"))
    assert status["trained"] and status["summary"]["agents"]["builder"]["haiku"] == 120
    assert status["metrics"]["overall"]["ece"] is not None and status["age_days"] >= 0
    text = invoke(*ledger, "learn", "status")
    assert "reliability" in text and "builder" in text

    plot = tmp_path / "curves.svg"
    report = json.loads(
        invoke(
            *ledger, "learn", "eval", str(held), "--bootstrap", "50", "--plot", str(plot), "--json"
        )
    )
    names = [r["router"] for r in report["routers"]]
    assert names == ["learned", "random", "length", "rubric", "oracle"]
    learned = report["routers"][0]
    assert learned["apgr"] > report["routers"][1]["apgr"]
    assert plot.read_text().startswith("<svg") and "learned APGR" in plot.read_text()
    assert "CPT(50%)" in invoke(*ledger, "learn", "eval", str(held), "--bootstrap", "20")

    one = json.loads(invoke(*ledger, "route", "design the failover of the billing queue", "--json"))
    assert set(one["p_success"]) == {"haiku", "sonnet", "opus"}
    assert one["p_success"]["haiku"] < one["p_success"]["opus"]
    batch = tmp_path / "tasks.jsonl"
    batch.write_text('{"text": "lint the api module"}\n{"text": "plan the migration of search"}\n')
    lines = invoke(*ledger, "route", "--batch", str(batch), "--json").splitlines()
    assert all(json.loads(line)["p_success"]["opus"] is not None for line in lines)
    assert "P(pass)  haiku" in invoke(*ledger, "route", "lint the api module", "--explain")
    explained = json.loads(invoke(*ledger, "route", "lint the api module", "--explain", "--json"))
    learned_step = next(s for s in explained["steps"] if s["policy"] == "learned")
    assert "evidence is thin: 0 known outcomes for agent=default" in learned_step["reason"]
    assert explained["evidence"][0] == "tasks of agent default: none known"
    assert explained["evidence"][1].startswith("like 12 known tasks worded most like it")


def test_route_without_a_model_has_no_p_success(tmp_path: Path) -> None:
    out = json.loads(invoke("--ledger", str(tmp_path / "none.db"), "route", "lint it", "--json"))
    assert out["p_success"] is None
    assert not (tmp_path / "none.db").exists()  # routing creates no ledger


def test_a_bad_import_names_the_line_and_imports_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("task,tier,success\nok,haiku,1\nbad,gpt,1\n", encoding="utf-8")
    exc = error("--ledger", str(tmp_path / "l.db"), "learn", "import", str(bad))
    assert "bad.csv:3:" in exc.message and "nothing imported" in exc.message
    status = json.loads(invoke("--ledger", str(tmp_path / "l.db"), "learn", "status", "--json"))
    assert status["outcomes_available"]["import"] == 0


def test_fit_with_too_little_data_is_an_error(tmp_path: Path) -> None:
    exc = error("--ledger", str(tmp_path / "l.db"), "learn", "fit")
    assert "too few" in exc.message and exc.hint is not None
