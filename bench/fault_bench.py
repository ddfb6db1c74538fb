"""Fault injection end to end: every paid HTTP attempt in the ledger, finished jobs paid once,
the report's cost equal to the ledger's -- through ``gearshift run`` killed with SIGKILL again
and again, against the fake Messages API answering 20% of requests with 429, 529 or a response
dropped mid-body.

Run: ``.venv/bin/python bench/fault_bench.py [--tasks 500] [--kills 4] [--concurrency 16]``

Two passes over ``--tasks`` tiered jobs (half pass on haiku, half escalate to sonnet), each
``gearshift run --provider anthropic`` in a subprocess with ``ANTHROPIC_BASE_URL`` pointed at the
fake server (the real SDK, the one retry loop at its default policy):

* *uninterrupted*: one run. Every request the server saw must be a ledger row (matched by the
  request id the server gave it), every message it made and would bill a paid row.
* *killed*: the run is killed with SIGKILL ``--kills`` times, each time once it has recorded
  some attempts, and resumed with ``gearshift run FILE --run-id R`` until it ends. Requests in
  flight at a kill reach the server but never the ledger (the process died before it saw their
  answers); everything else must match as above. Finished jobs are paid once, every escalation
  chain is one chain, and the final report's cost equals the ledger's for the run id.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from gearshift.catalog import load_catalog  # noqa: E402
from gearshift.ledger import Ledger  # noqa: E402
from gearshift.testing.fake_anthropic import FakeAnthropic  # noqa: E402

CATALOG = load_catalog()
RUN_ID = "01FAULTBENCHRUN00000000000"
FAULTS = {"rate_limit": 0.07, "overloaded": 0.07, "drop": 0.06}


def pipeline(path: Path, tasks: int) -> Path:
    """Tiered jobs whose check wants "sonnet" in the answer: the fake echoes the task, so a task
    that says so passes on haiku and the others escalate once."""
    lines = [
        "defaults: {strategy: tiered, model: haiku, ladder_top: sonnet,",
        "           validators: [{type: regex, must_match: sonnet}], options: {top_retries: 0}}",
        "tasks:",
    ]
    for i in range(tasks):
        text = f"Summarise change {i}" + (" for sonnet" if i % 2 else "")
        lines.append(f"  - {{id: job-{i:04d}, task: '{text}'}}")
    path.write_text("\n".join(lines) + "\n")
    return path


def start(db: Path, file: Path, env: dict[str, str], *extra: str) -> subprocess.Popen[str]:
    args = [sys.executable, "-m", "gearshift.cli.main", "--ledger", str(db), "run", str(file),
            "--run-id", RUN_ID, "--json", *extra]  # fmt: skip
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)  # fmt: skip


def recorded(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            query = "SELECT COUNT(*) FROM executions WHERE run_id = ?"
            return int(conn.execute(query, (RUN_ID,)).fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def kill_part_way(proc: subprocess.Popen[str], db: Path, rng: random.Random) -> bool:
    """SIGKILL ``proc`` once it has recorded 20+ more attempts (and a random moment more);
    ``False`` if it ended first."""
    before = recorded(db)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if recorded(db) >= before + 20:
            time.sleep(rng.uniform(0.0, 0.4))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.communicate()
                return True
        time.sleep(0.02)
    proc.communicate()
    return False


def one_pass(tmp: Path, name: str, tasks: int, kills: int, concurrency: int) -> dict[str, Any]:
    db = tmp / f"{name}.db"
    file = pipeline(tmp / f"{name}.yaml", tasks)
    rng = random.Random(7)
    with FakeAnthropic(seed=11) as server:
        server.rate_limit_retry_after = 0
        server.fault_rates = FAULTS
        env = {**os.environ, "ANTHROPIC_API_KEY": "bench", "ANTHROPIC_BASE_URL": server.base_url}
        started = time.perf_counter()
        done = 0
        first = ("--provider", "anthropic", "--concurrency", str(concurrency))
        while done < kills:
            if not kill_part_way(start(db, file, env, *first), db, rng):
                break
            done += 1
            first = ()
        report: dict[str, Any] = {}
        for _ in range(4):  # until every job succeeded (a job the retry loop gave up on resumes)
            proc = start(db, file, env, *first)
            out, err = proc.communicate(timeout=600)
            first = ()
            if proc.returncode not in (0, 1):
                raise SystemExit(f"run failed ({proc.returncode}): {err[-2000:]}")
            report = json.loads(out)
            if proc.returncode == 0:
                break
        seconds = time.perf_counter() - started
        sent = {
            f"req_fake_{i:06d}"
            for i, r in enumerate(server.requests, 1)
            if r.path == "/v1/messages"
        }
        billed = {b.request_id for b in server.billed}
        statuses = Counter(server.statuses)
    with Ledger.open(db, catalog=CATALOG) as ledger:
        rows = list(ledger.executions(where="run_id = :r", params={"r": RUN_ID}))
    ids = {r.tags.get("request_id") for r in rows}
    paid = {r.tags.get("request_id") for r in rows if r.status in ("success", "failure", "dropped")}
    wins: Counter[str] = Counter()
    chains: dict[str, set[str | None]] = defaultdict(set)
    for r in rows:
        chains[str(r.task_key)].add(r.chain_id)
        if r.status == "success" and r.tags.get("role") == "generate":
            wins[str(r.task_key)] += 1
    whole, _, frac = str(report["totals"]["cost_usd"]).partition(".")
    report_nanos = int(whole) * 10**9 + int(frac.ljust(9, "0")[:9])
    return {
        "name": name,
        "kills": done,
        "seconds": seconds,
        "requests": len(sent),
        "statuses": statuses,
        "rows": len(rows),
        "row_statuses": Counter(r.status for r in rows),
        "rows_not_sent": len(ids - sent),
        "in_flight_lost": len(sent - ids),
        "billed": len(billed),
        "paid_rows": len(paid),
        "billed_not_recorded": len(billed - paid),
        "paid_not_billed": len(paid - billed),
        "jobs": len(report["jobs"]),
        "succeeded": sum(1 for j in report["jobs"] if j["status"] == "succeeded"),
        "paid_twice": sum(1 for n in wins.values() if n > 1),
        "split_chains": sum(1 for c in chains.values() if len(c) > 1),
        "report_nanos": report_nanos,
        "ledger_nanos": sum(r.cost_nanos for r in rows),
        "retry_nanos": sum(r.cost_nanos for r in rows if r.status in ("retried", "dropped")),
    }


def usd(nanos: int) -> str:
    return f"${nanos / 1e9:.6f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--kills", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="gearshift-faults-") as tmp:
        passes = [
            one_pass(Path(tmp), "uninterrupted", args.tasks, 0, args.concurrency),
            one_pass(Path(tmp), "killed", args.tasks, args.kills, args.concurrency),
        ]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"# fault injection — {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")
    print(f"Python {platform.python_version()}, nproc {os.cpu_count()}, load average {load}")
    print(f"{args.tasks} tiered tasks, concurrency {args.concurrency}, faults {FAULTS}")
    print()
    print("| | " + " | ".join(p["name"] for p in passes) + " |")
    print("|---|" + "---:|" * len(passes))
    lines = [
        ("kill -9 then resume", "kills"),
        ("seconds", "seconds"),
        ("HTTP requests the server saw", "requests"),
        ("ledger rows (one per HTTP attempt)", "rows"),
        ("rows with no such request", "rows_not_sent"),
        ("requests in flight at a kill (never answered to a live run)", "in_flight_lost"),
        ("messages the server made and would bill", "billed"),
        ("paid rows (success, failure, dropped)", "paid_rows"),
        ("billed, not in the ledger (in flight at a kill)", "billed_not_recorded"),
        ("paid rows the server did not bill", "paid_not_billed"),
        ("jobs succeeded / jobs", None),
        ("finished jobs paid more than once", "paid_twice"),
        ("jobs with more than one chain", "split_chains"),
        ("report cost / ledger cost for the run id", None),
        ("retried + dropped rows: count, cost", None),
    ]
    for label, key in lines:
        if key is not None:
            cells = [f"{p[key]:.1f}" if key == "seconds" else f"{p[key]:,}" for p in passes]
        elif label.startswith("jobs succeeded"):
            cells = [f"{p['succeeded']} / {p['jobs']}" for p in passes]
        elif label.startswith("report cost"):
            cells = [f"{usd(p['report_nanos'])} / {usd(p['ledger_nanos'])}" for p in passes]
        else:
            cells = [
                f"{p['row_statuses']['retried'] + p['row_statuses']['dropped']:,}, "
                f"{usd(p['retry_nanos'])}"
                for p in passes
            ]
        print(f"| {label} | " + " | ".join(cells) + " |")
    print()
    for p in passes:
        ok = (
            p["rows_not_sent"] == 0
            and p["paid_not_billed"] == 0
            and p["paid_twice"] == 0
            and p["split_chains"] == 0
            and p["report_nanos"] == p["ledger_nanos"]
            and (p["kills"] > 0 or (p["in_flight_lost"] == 0 and p["billed_not_recorded"] == 0))
        )
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(p["statuses"].items()))
        print(f"{p['name']}: server statuses {statuses}; ledger rows "
              f"{dict(sorted(p['row_statuses'].items()))}; {'OK' if ok else 'FAILED'}")  # fmt: skip


if __name__ == "__main__":
    main()
