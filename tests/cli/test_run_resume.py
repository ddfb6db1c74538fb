"""`gearshift run --run-id R` resumes a run with the options it was started with, and the final
table says what its times and its budget refusals were."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from gearshift.catalog import load_catalog
from gearshift.ledger import Ledger

CAT = load_catalog()
RUN_ID = "01RESUMEOPTIONSRUN00000000"
AGENT = """\
---
name: scribe
description: Writes short release notes
model: haiku
---
You write release notes.
"""


def gearshift(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    from gearshift.cli.main import main

    with pytest.raises(SystemExit) as exit_:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    agents = tmp_path / "agents"
    agents.mkdir()
    (agents / "scribe.md").write_text(AGENT)
    pipeline = tmp_path / "notes.yaml"
    pipeline.write_text(
        "defaults: {agent: scribe, strategy: single, validators: []}\n"
        "tasks:\n"
        "  - {id: one, task: Notes for 1.0}\n"
        "  - {id: two, task: Notes for 1.1}\n"
        "  - {id: three, task: Notes for 1.2}\n"
    )
    return tmp_path / "ledger.db", pipeline, agents


def test_resume_reuses_the_runs_options(
    setup: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    db, pipeline, agents = setup
    code, out, err = gearshift(
        capsys, "--ledger", str(db), "run", str(pipeline), "--provider", "sim", "--seed", "3",
        "--time-scale", "0", "--project", "acme", "--agents-dir", str(agents),
        "--enforce-budgets", "--run-id", RUN_ID, "--json",
    )  # fmt: skip
    assert code == 0, err
    first = json.loads(out)
    assert first["resume"] == f"gearshift --ledger {db} run {pipeline} --run-id {RUN_ID}"
    # the run stopped before job "three" finished (as after a kill -9)
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM run_jobs WHERE run_id = ? AND job_id = 'three'", (RUN_ID,))
    # no --provider (the default is anthropic, which needs a key), no --agents-dir (scribe is
    # only defined there), no --project: all come from the run
    code, out, err = gearshift(
        capsys, "--ledger", str(db), "run", str(pipeline), "--run-id", RUN_ID, "--json"
    )
    assert code == 0, err
    again = json.loads(out)
    assert again["provider"] == "sim"
    assert {j["job"]: j["resumed"] for j in again["jobs"]} == {
        "one": True, "two": True, "three": False,
    }  # fmt: skip
    with Ledger.open(db, catalog=CAT) as ledger:
        rows = list(ledger.executions(where="run_id = :r", params={"r": RUN_ID}))
    assert {r.project for r in rows} == {"acme"}
    assert {r.source for r in rows} == {"sim"}
    three = [r for r in rows if r.task_key == "three"]
    assert len(three) == 2 and three[0].cost_nanos == three[1].cost_nanos  # the same seed
    # the resumed report still adds up to the ledger's rows for the run
    whole, _, frac = again["totals"]["cost_usd"].partition(".")
    assert int(whole) * 10**9 + int(frac.ljust(9, "0")) == sum(r.cost_nanos for r in rows)


def test_an_explicit_option_overrides_the_stored_one(
    setup: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    db, pipeline, agents = setup
    code, _, err = gearshift(
        capsys, "--ledger", str(db), "run", str(pipeline), "--provider", "sim", "--time-scale",
        "0", "--project", "acme", "--agents-dir", str(agents), "--run-id", RUN_ID, "--json",
    )  # fmt: skip
    assert code == 0, err
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM run_jobs WHERE run_id = ? AND job_id = 'one'", (RUN_ID,))
    code, _, err = gearshift(
        capsys, "--ledger", str(db), "run", str(pipeline), "--run-id", RUN_ID, "--project",
        "other",
    )  # fmt: skip
    assert code == 0, err
    assert "--project other (the run was started with 'acme')" in err


def test_the_table_shows_wall_time_and_summed_call_time(
    setup: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    db, pipeline, agents = setup
    code, out, err = gearshift(
        capsys, "--ledger", str(db), "run", str(pipeline), "--provider", "sim", "--time-scale",
        "0", "--agents-dir", str(agents),
    )  # fmt: skip
    assert code == 0, err
    assert "call time" in out
    footer = next(line for line in out.splitlines() if line.strip().startswith("total"))
    assert "0.0s" not in footer  # the calls' summed time, not the (instant) wall time
    assert "wall time " in out and "summed call time " in out
