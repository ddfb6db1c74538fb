"""Killing `gearshift run` (kill -9, or Ctrl-C) and re-running its run id finishes the rest
without paying again for what finished."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

from gearshift.catalog import load_catalog
from gearshift.ledger import Ledger
from gearshift.ledger.record import Execution

CAT = load_catalog()
JOBS = 24
RUN_ID = "01KILLTESTRUN000000000000A"


def pipeline(tmp_path: Path) -> Path:
    """Independent, simple jobs: most pass on haiku, a few escalate (tiered on sim)."""
    lines = ["defaults: {strategy: tiered, complexity: low}", "tasks:"]
    lines += [f"  - {{id: job-{i:02d}, task: 'Rename variable v{i} in module m{i}'}}" for i in
              range(JOBS)]  # fmt: skip
    path = tmp_path / "many.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


#: ``python -m gearshift.cli.main`` with Ctrl-C as at a terminal: a suite started in the
#: background by a non-interactive shell (``make test &``) inherits SIGINT ignored, and Python
#: then installs no KeyboardInterrupt handler, so the interrupt test would see the run finish.
_MAIN = (
    "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "runpy.run_module('gearshift.cli.main', run_name='__main__', alter_sys=True)"
)


def start(db: Path, path: Path, *extra: str) -> subprocess.Popen[str]:
    args = [sys.executable, "-c", _MAIN, "--ledger", str(db), "run", str(path),
            "--provider", "sim", "--run-id", RUN_ID, "--json", *extra]  # fmt: skip
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ))  # fmt: skip


def finished(db: Path) -> set[str]:
    """Jobs saved as succeeded under the run id (read straight from SQLite, as a bystander)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            rows = conn.execute(
                "SELECT job_id FROM run_jobs WHERE run_id = ? AND status = 'succeeded'", (RUN_ID,)
            ).fetchall()
    except sqlite3.OperationalError:  # not created yet
        return set()
    return {r[0] for r in rows}


def wait_for_some(db: Path, proc: subprocess.Popen[str], at_least: int) -> None:
    """Until ``at_least`` jobs are saved as finished, or the process has ended."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if len(finished(db)) >= at_least or proc.poll() is not None:
            return
        time.sleep(0.01)
    raise AssertionError("the run made no progress")


def running(db: Path, path: Path, at_least: int) -> subprocess.Popen[str]:
    """A run part-way through: ``at_least`` jobs finished, the process still going. On a
    machine so busy that this test only looked again after the run had finished, it starts over
    with a slower run (the ledger removed first)."""
    for scale in ("0.1", "0.4", "1.5"):
        proc = start(db, path, "--time-scale", scale, "--concurrency", "2")
        wait_for_some(db, proc, at_least)
        if proc.poll() is None:
            return proc
        _, err = proc.communicate()
        assert proc.returncode == 0, err
        for leftover in db.parent.glob(db.name + "*"):
            leftover.unlink()
    raise AssertionError("every run finished before it could be stopped part-way")


def executions(db: Path) -> list[Execution]:
    with Ledger.open(db, catalog=CAT) as ledger:
        return list(ledger.executions(where="run_id = :r", params={"r": RUN_ID}))


def resume(db: Path, path: Path) -> dict[str, object]:
    proc = start(db, path, "--time-scale", "0")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    report: dict[str, object] = json.loads(out)
    return report


def check_resumed_run(db: Path, report: dict[str, object], before: set[str]) -> None:
    jobs = report["jobs"]
    assert isinstance(jobs, list) and len(jobs) == JOBS
    assert all(j["status"] == "succeeded" for j in jobs)
    assert {j["job"] for j in jobs if j["resumed"]} == before
    rows = executions(db)
    # nothing paid twice: every job has exactly one successful generation in the ledger
    wins = Counter(r.task_key for r in rows if r.status == "success")
    assert wins == Counter({f"job-{i:02d}": 1 for i in range(JOBS)})
    # the report's cost is the ledger's for the run id: every attempt of every session, those
    # of chains a kill interrupted included (a resumed chain continues: no chain is cut short)
    totals = report["totals"]
    assert isinstance(totals, dict)
    whole, _, frac = str(totals["cost_usd"]).partition(".")
    assert int(whole) * 10**9 + int((frac + "0" * 9)[:9]) == sum(r.cost_nanos for r in rows)
    chains: dict[str, set[str | None]] = defaultdict(set)
    for r in rows:
        chains[str(r.task_key)].add(r.chain_id)
    assert all(len(ids) == 1 for ids in chains.values())


def test_kill_9_and_rerun_completes_without_paying_twice(tmp_path: Path) -> None:
    db, path = tmp_path / "ledger.db", pipeline(tmp_path)
    proc = running(db, path, at_least=3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    before = finished(db)
    assert 3 <= len(before) < JOBS, "kill the run while it is part-way through"
    paid_before: dict[str, list[str]] = defaultdict(list)
    for row in executions(db):
        if row.task_key in before:
            paid_before[str(row.task_key)].append(row.id)
    report = resume(db, path)
    check_resumed_run(db, report, before)
    paid_after: dict[str, list[str]] = defaultdict(list)
    for row in executions(db):
        if row.task_key in before:
            paid_after[str(row.task_key)].append(row.id)
    assert paid_after == paid_before, "a job finished before the kill was run again"


def test_ctrl_c_stops_cleanly_and_says_how_to_resume(tmp_path: Path) -> None:
    db, path = tmp_path / "ledger.db", pipeline(tmp_path)
    proc = running(db, path, at_least=2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and out == ""
    assert "interrupted: " in err and f"--run-id {RUN_ID}" in err
    before = finished(db)
    assert 2 <= len(before) < JOBS
    check_resumed_run(db, resume(db, path), before)
