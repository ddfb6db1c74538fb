"""The Claude Code status line: `gearshift statusline` beside `ccusage statusline` (20.0.24).

    .venv/bin/python bench/statusline_bench.py [--size 1GB] [--seed 42] [--runs 31]
        [--ccusage-runs 7] [--skip-ccusage]

Setup (not timed): the synthetic corpus of bench/ingest_vs_ccusage.py (cached in bench/.cache, the
same one), ingested into a fresh SQLite ledger -- about 100k records at 1 GB, in sessions with
subagents -- whose timestamps are then moved so that its last day is today (the corpus is dated
in the past; the line sums today's spend); a config file with two budgets, and the budget figure
worked out once, as the status line's background refresh does. gearshift is byte-compiled, as an
installed wheel is. The payload is Claude Code 2.1.x's JSON for the session whose subagents
spent the most.

Measured: wall time of one status line from process start to exit (spawn, stdin written, exit
waited for), warm (runs of each first), in rounds -- the interpreter, gearshift, then ccusage --
so that the machine's load falls on all alike; median, 90th percentile and best of --runs rounds
(ccusage, which takes seconds a line on this corpus, in the first --ccusage-runs of them):

  python -c pass                      the interpreter alone: the floor of any Python command
  gearshift statusline                the default line
  gearshift statusline --format ...   a template with every field
  ccusage statusline                  its default (offline prices, its output cache on)
  ccusage statusline --no-cache       what it does when its cache does not answer

Then, apart: a gearshift line whose budget figure is due (it starts the refresh in the
background and answers), and the refresh itself (`statusline --refresh-budget`), which runs at
most once a minute while Claude Code is busy.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from ingest_vs_ccusage import (
    GEARSHIFT,
    compile_gearshift,
    corpus,
    install_ccusage,
    parse_size,
)

FORMAT = "{model} {session_cost} {top_agent} {today} {budget} {tier} {context} {cc_cost}"
CONFIG = """[budgets.team]
scope = "global"
period = "month"
amount_usd = "20000"

[budgets.explore]
scope = "agent"
value = "Explore"
period = "week"
amount_usd = "800"
"""


def timed(cmd: list[str], data: bytes, env: dict[str, str]) -> tuple[float, bytes, float]:
    """Seconds from spawn to exit, the output, and the CPU seconds the process used (user and
    system: what the machine's other work does not change)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    assert proc.stdin and proc.stdout and proc.stderr
    proc.stdin.write(data)
    proc.stdin.close()
    out, err = proc.stdout.read(), proc.stderr.read()  # a line, and a message at most
    _, status, usage = os.wait4(proc.pid, 0)  # reaped here, with what it used
    took = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stdout.close()
    proc.stderr.close()
    if status != 0:
        raise SystemExit(f"{cmd[-1]} failed: {err.decode(errors='replace')}")
    return took, out, usage.ru_utime + usage.ru_stime


def prepare_ledger(tree: Path, ledger: Path, env: dict[str, str]) -> None:
    print("ingesting the corpus into a fresh ledger ...", flush=True)
    started = time.perf_counter()
    subprocess.run(
        [*GEARSHIFT, "--ledger", str(ledger), "ingest", "claude-code", str(tree)],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    print(f"  {time.perf_counter() - started:.1f} s", flush=True)
    with sqlite3.connect(ledger) as conn:
        (last,) = conn.execute("SELECT MAX(ts_us) FROM executions").fetchone()
        shift = int(time.time() * 1_000_000) - 60_000_000 - int(last)
        conn.execute("UPDATE executions SET ts_us = ts_us + ?", (shift,))


def payload_for(tree: Path, ledger: Path) -> tuple[bytes, str]:
    with sqlite3.connect(ledger) as conn:
        session, rows, sessions, total = conn.execute(
            "SELECT session, (SELECT COUNT(*) FROM executions e WHERE e.session = x.session),"
            " (SELECT COUNT(DISTINCT session) FROM executions), (SELECT COUNT(*) FROM executions)"
            " FROM (SELECT session, SUM(cost_nanos) AS c FROM executions WHERE agent <> 'main'"
            " GROUP BY session ORDER BY c DESC LIMIT 1) x"
        ).fetchone()
    transcript = next(tree.rglob(f"{session}.jsonl"))
    doc = {
        "hook_event_name": "Status",
        "session_id": session,
        "transcript_path": str(transcript),
        "cwd": "/home/dev/acme-api",
        "model": {"id": "claude-opus-4-6", "display_name": "Opus 4.6"},
        "workspace": {"current_dir": "/home/dev/acme-api", "project_dir": "/home/dev/acme-api"},
        "version": "2.1.251",
        "output_style": {"name": "default"},
        "cost": {"total_cost_usd": 4.2071, "total_duration_ms": 3911000,
                 "total_api_duration_ms": 1205000, "total_lines_added": 1022,
                 "total_lines_removed": 310},
        "exceeds_200k_tokens": False,
        "context_window": {"total_input_tokens": 261000, "total_output_tokens": 18000,
                           "context_window_size": 1000000, "used_percentage": 26,
                           "remaining_percentage": 74},
        "rate_limits": {"five_hour": {"used_percentage": 23.5, "resets_at": 1796700000},
                        "seven_day": {"used_percentage": 41.2, "resets_at": 1797100000}},
    }  # fmt: skip
    shape = f"{total:,} records, {sessions} sessions; this one {rows:,} records"
    return json.dumps(doc).encode(), shape


def stats(xs: list[float]) -> tuple[float, float, float]:
    xs = sorted(xs)
    p90 = xs[min(len(xs) - 1, round(0.9 * (len(xs) - 1)))]
    return statistics.median(xs) * 1000, p90 * 1000, xs[0] * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size", default="1GB")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--runs", type=int, default=31)
    ap.add_argument("--ccusage-runs", type=int, default=7)
    ap.add_argument("--skip-ccusage", action="store_true")
    args = ap.parse_args()

    tree = corpus(parse_size(args.size), args.seed)
    compile_gearshift()
    ccusage = None if args.skip_ccusage else install_ccusage("20.0.24")
    work = Path(tempfile.mkdtemp(prefix="gs-statusline-"))
    try:
        home = work / "home"
        (home / ".config" / "gearshift").mkdir(parents=True)
        (home / ".config" / "gearshift" / "config.toml").write_text(CONFIG)
        ledger = work / "ledger.db"
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "GEARSHIFT_LEDGER": str(ledger),
            "CLAUDE_CONFIG_DIR": str(tree),
            "TZ": "UTC",
            "LOG_LEVEL": "0",
        }
        prepare_ledger(tree, ledger, env)
        data, shape = payload_for(tree, ledger)
        refresh = [*GEARSHIFT, "statusline", "--refresh-budget"]
        refresh_runs = [timed(refresh, b"", env) for _ in range(3)]
        refreshed = time.monotonic()

        commands: dict[str, list[str]] = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "gearshift statusline": [*GEARSHIFT, "statusline"],
            "gearshift statusline --format": [*GEARSHIFT, "statusline", "--format", FORMAT],
        }
        if ccusage is not None:
            commands["ccusage statusline"] = [str(ccusage), "statusline", "--offline"]
            commands["ccusage statusline --no-cache"] = [
                str(ccusage), "statusline", "--offline", "--no-cache",
            ]  # fmt: skip
        lines = {}
        for name, cmd in commands.items():  # warm every cache: the OS's, ccusage's
            for _ in range(1 if name.startswith("ccusage") else 3):
                lines[name] = timed(cmd, data, env)[1]
        times: dict[str, list[tuple[float, bytes, float]]] = {name: [] for name in commands}
        print(f"timing {args.runs} rounds ...", flush=True)
        for round_ in range(args.runs):
            for name, cmd in commands.items():
                if name.startswith("ccusage") and round_ >= args.ccusage_runs:
                    continue
                if time.monotonic() - refreshed > 40:  # keep the budget figure fresh (untimed)
                    timed(refresh, b"", env)
                    refreshed = time.monotonic()
                times[name].append(timed(cmd, data, env))

        # A line whose budget figure is due: it starts the refresh, then answers.
        due = []
        glance = home / ".cache" / "gearshift" / "statusline.json"
        for _ in range(5):
            glance.unlink()
            due.append(timed(commands["gearshift statusline"], data, env))
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and '"made_us"' not in glance.read_text():
                time.sleep(0.05)

        print()
        print(f"# status line, {dt.date.today()} -- {platform.machine()}, {os.cpu_count()} cores, "
              f"Python {platform.python_version()}, load {os.getloadavg()[0]:.2f}")  # fmt: skip
        print(f"ledger: {shape}; corpus {args.size} seed {args.seed}")
        print()
        print("| command | runs | wall median ms | wall p90 ms | wall best ms | CPU median ms |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        rows = [
            *times.items(),
            ("gearshift statusline, budget due (starts the refresh)", due),
            ("gearshift statusline --refresh-budget (background, <= 1/min)", refresh_runs),
        ]
        for name, runs in rows:
            med, p90, best = stats([r[0] for r in runs])
            cpu = statistics.median(r[2] for r in runs) * 1000
            print(f"| {name} | {len(runs)} | {med:.1f} | {p90:.1f} | {best:.1f} | {cpu:.1f} |")

        def median(name: str, at: int) -> float:
            return statistics.median(r[at] for r in times[name])

        gs, floor = median("gearshift statusline", 0), median("python -c pass", 0)
        print()
        print(f"gearshift above the bare interpreter: {(gs - floor) * 1000:.1f} ms wall, "
              f"{(median('gearshift statusline', 2) - median('python -c pass', 2)) * 1000:.1f} ms "
              "CPU")  # fmt: skip
        if ccusage is not None:
            for name in ("ccusage statusline", "ccusage statusline --no-cache"):
                print(f"{name} / gearshift: {median(name, 0) / gs:.1f}x")
        print()
        for name, out in lines.items():
            if name != "python -c pass":
                print(f"{name}: {out.decode(errors='replace').strip()}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
