"""Claude Code ingest: gearshift vs ccusage 20.0.24 (native) and 18.0.11 (TypeScript), side by side.

    .venv/bin/python bench/ingest_vs_ccusage.py [--size 1GB] [--seed 42] [--runs 3] [--skip-ts]

It installs both ccusage versions with npm into bench/.cache, generates a synthetic corpus with
`gearshift.samples.claude_logs` (cached by size and seed), copies it to a work folder, and runs
each command as a separate process, in *pairs*: a gearshift command and the ccusage command it
is compared with run one right after the other (in alternating order), so both see the same
machine; a ratio is taken within each pair and the table quotes the median of the pairs.

  1. first ingest: gearshift `ingest claude-code` into a fresh SQLite ledger then `spend --by day
     --json`, paired with ccusage 20 `claude daily --offline --json` (HOME isolated, TZ=UTC,
     CLAUDE_CONFIG_DIR = the corpus);
  2. gearshift re-run with nothing new (an absolute floor: no pair);
  3. after appending 1% new lines: gearshift's incremental re-run (each from a copy of the
     ledger as it was before the append), paired with ccusage 20's full re-read;
  4. peak memory (summed PSS of the whole process tree, sampled every 10 ms) of one more first
     ingest of each: sampling reads the process's memory map, which slows a run, so timed runs
     are not sampled;
  5. ccusage 18 once, for reference (unless --skip-ts).

Parity: per-day token totals from ccusage 20 and gearshift must be identical and per-day costs
must agree to the cent. The default corpus leaves out what ccusage 20.0.24 is known to miscount
(lines with "<key>":null, duplicated lines without a requestId; see docs/benchmarks.md), and both
are also checked against the generator's manifest.

Floors: first ingest within 2x of ccusage 20's time; a re-run with nothing new under 0.15 s; a
re-run after 1% appended lines at least 10x faster than ccusage 20's full re-read; peak memory
below ccusage 20's; per-day parity.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "bench" / ".cache"
_SCRIPT = Path(sys.executable).with_name("gearshift")
# The `gearshift` command as installed (what a user or a Claude Code hook runs).
GEARSHIFT = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "gearshift"]
VERSIONS = {"20": "20.0.24", "18": "18.0.11"}


def parse_size(text: str) -> int:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMG]?B?)", text.strip().upper())
    if not m:
        raise SystemExit(f"bad --size {text!r}")
    unit = {
        "": 1,
        "B": 1,
        "K": 10**3,
        "KB": 10**3,
        "M": 10**6,
        "MB": 10**6,
        "G": 10**9,
        "GB": 10**9,
    }
    return int(float(m.group(1)) * unit[m.group(2)])


def install_ccusage(version: str) -> Path:
    prefix = CACHE / f"ccusage-{version}"
    binary = prefix / "node_modules" / ".bin" / "ccusage"
    if not binary.exists():
        print(f"installing ccusage@{version} with npm ...", flush=True)
        subprocess.run(
            [
                "npm",
                "install",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(prefix),
                f"ccusage@{version}",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return binary


def compile_gearshift() -> None:
    """Byte-compile the gearshift package, as ``pip install`` of a wheel does. An editable
    install from source leaves that to the first import, which cannot write the cache when
    ``PYTHONDONTWRITEBYTECODE`` is set (it is on some machines): every run would then compile
    every module again, in every process, which no installed copy does."""
    import compileall

    import gearshift

    compileall.compile_dir(Path(gearshift.__file__).parent, quiet=1)


def corpus(size: int, seed: int) -> Path:
    out = CACHE / f"corpus-{size}-{seed}"
    if not (out / "manifest.json").exists():
        from gearshift.samples.claude_logs import generate_corpus

        shutil.rmtree(out, ignore_errors=True)
        t0 = time.perf_counter()
        print(f"generating a {size / 1e9:.2f} GB corpus (seed {seed}) ...", flush=True)
        generate_corpus(out, size_bytes=size, seed=seed)
        print(f"  generated in {time.perf_counter() - t0:.1f}s", flush=True)
    return out


# -- measuring ------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                out += [int(x) for x in fh.read().split()]
    except OSError:
        pass
    return out


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_measured(
    cmd: list[str], env: dict[str, str], timeout: float = 900, *, sample: bool = True
) -> dict[str, Any]:
    """Run ``cmd``; wall seconds, peak summed PSS (MB) of its process tree (with ``sample``),
    exit code, stdout.

    The wall time ends when the process exits (a waiting thread notes it), not at the next
    memory sample. Sampling reads the process's memory map every 10 ms, which slows a short
    run measurably: timed runs are not sampled."""
    if not sample:
        t0 = time.perf_counter()
        done = subprocess.run(cmd, env=env, capture_output=True, timeout=timeout)
        return {
            "seconds": time.perf_counter() - t0,
            "peak_mb": 0.0,
            "rc": done.returncode,
            "stdout": done.stdout.decode(errors="replace"),
            "stderr": done.stderr.decode(errors="replace")[-2000:],
        }
    peak = 0
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    done = threading.Event()
    exited = threading.Event()
    ended: list[float] = []
    chunks: list[bytes] = []

    def read() -> None:
        assert proc.stdout is not None
        chunks.append(proc.stdout.read())
        done.set()

    def wait() -> None:
        proc.wait()
        ended.append(time.perf_counter())
        exited.set()

    threading.Thread(target=read, daemon=True).start()
    threading.Thread(target=wait, daemon=True).start()
    while not exited.is_set():
        pids, stack = [], [proc.pid]
        while stack:
            pid = stack.pop()
            pids.append(pid)
            stack += _children(pid)
        peak = max(peak, sum(_pss_kb(p) for p in pids))
        if time.perf_counter() - t0 > timeout:
            proc.kill()
            break
        exited.wait(0.01)
    exited.wait(10)
    wall = (ended[0] if ended else time.perf_counter()) - t0
    done.wait(10)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    return {
        "seconds": wall,
        "peak_mb": peak / 1024,
        "rc": proc.returncode,
        "stdout": b"".join(chunks).decode(errors="replace"),
        "stderr": err[-2000:],
    }


def timed(cmd: list[str], env: dict[str, str], timeout: float = 900) -> dict[str, Any]:
    """One unsampled run of ``cmd`` that must succeed."""
    r = run_measured(cmd, env, timeout, sample=False)
    if r["rc"] != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({r['rc']}): {r['stderr']}")
    return r


def median(values: list[float]) -> float:
    return statistics.median(values)


# -- the corpus grows by 1% -----------------------------------------------------------------


_TIMESTAMP = re.compile(rb'"timestamp":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z"')


_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _random_id(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(_BASE62) for _ in range(n))


def append_one_percent(work: Path, seed: int) -> int:
    """Append ~1% new usage lines to a tenth of the transcripts, as a live session would:
    copies of existing assistant lines with fresh message and request ids, timestamped a few
    seconds apart after the file's last line."""
    rng = random.Random(seed)
    files = sorted(work.rglob("*.jsonl"))
    appended = 0
    for path in rng.sample(files, max(1, len(files) // 10)):
        data = path.read_bytes()
        if not data.endswith(b"\n"):
            continue  # a torn tail: leave the file as the writer would
        lines = [ln for ln in data.split(b"\n") if b'"type":"assistant"' in ln and b'"usage"' in ln]
        if not lines:
            continue
        stamps = [m.group(1).decode() for m in _TIMESTAMP.finditer(data)]
        last = max(dt.datetime.fromisoformat(s) for s in stamps) if stamps else None
        new = []
        for k, original in enumerate(rng.sample(lines, max(1, len(lines) // 10)), 1):
            # Random ids like the API's: new records land all over the dedup-key index.
            new_id = f'"id":"msg_01{_random_id(rng, 22)}"'.encode()
            new_req = f'"requestId":"req_011C{_random_id(rng, 20)}"'.encode()
            ln = re.sub(rb'"id":"msg_[A-Za-z0-9]+"', new_id, original, count=1)
            ln = re.sub(rb'"requestId":"req_[A-Za-z0-9]+"', new_req, ln)
            if last is not None:
                when = (last + dt.timedelta(seconds=7 * k)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
                ln = _TIMESTAMP.sub(f'"timestamp":"{when}"'.encode(), ln)
            new.append(ln)
            appended += 1
        with path.open("ab") as fh:
            fh.write(b"\n".join(new) + b"\n")
    os.sync()
    return appended


# -- parity ---------------------------------------------------------------------------------


def parity(ccusage_json: str, gearshift_json: str, manifest: dict[str, Any]) -> list[str]:
    cc = {d["date"]: d for d in json.loads(ccusage_json)["daily"]}
    gs = {r["key"]: r for r in json.loads(gearshift_json)["rows"]}
    problems = []
    for day in sorted(set(cc) | set(gs)):
        c, g = cc.get(day), gs.get(day)
        if c is None or g is None:
            if (c and c["totalTokens"]) or (g and int(g["cost_usd"].replace(".", "")) > 0):
                problems.append(f"{day}: only in {'ccusage' if c else 'gearshift'}")
            continue
        pairs = [
            ("inputTokens", "input_tokens"),
            ("outputTokens", "output_tokens"),
            ("cacheCreationTokens", "cache_creation_tokens"),
            ("cacheReadTokens", "cache_read_tokens"),
        ]
        for cname, gname in pairs:
            if c[cname] != g[gname]:
                problems.append(f"{day}: {cname} ccusage {c[cname]} vs gearshift {g[gname]}")
        diff = abs(Decimal(str(c["totalCost"])) - Decimal(g["cost_usd"]))
        if diff >= Decimal("0.01"):
            problems.append(f"{day}: cost ccusage {c['totalCost']} vs gearshift {g['cost_usd']}")
        m = manifest["by_day"].get(day)
        if m and (m["input"], m["output"], m["cache_5m"] + m["cache_1h"], m["cache_read"]) != (
            g["input_tokens"],
            g["output_tokens"],
            g["cache_creation_tokens"],
            g["cache_read_tokens"],
        ):
            problems.append(f"{day}: gearshift differs from the manifest")
    return problems


FIRST_FLOOR = 2.0  # first ingest + spend, times ccusage 20's time
NOOP_FLOOR = 0.15  # seconds
INCREMENTAL_FLOOR = 10.0  # speed-up over ccusage 20's full re-read
MEMORY_FLOOR = 1.0  # peak memory, times ccusage 20's


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1GB")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--runs", type=int, default=3, help="pairs of runs per comparison")
    parser.add_argument("--skip-ts", action="store_true", help="skip ccusage 18 (slow)")
    args = parser.parse_args()
    size = parse_size(args.size)
    cc20 = install_ccusage(VERSIONS["20"])
    cc18 = None if args.skip_ts else install_ccusage(VERSIONS["18"])
    source = corpus(size, args.seed)
    compile_gearshift()
    manifest = json.loads((source / "manifest.json").read_text())
    load_before = os.getloadavg()[0]  # other work on the machine slows every command
    with tempfile.TemporaryDirectory(prefix="gs-bench-") as tmp_name:
        tmp = Path(tmp_name)
        work = tmp / "claude"
        shutil.copytree(source, work)
        os.sync()  # the copy's writeback must not compete with the first measurement
        (tmp / "home").mkdir()
        env = {
            **os.environ,
            "HOME": str(tmp / "home"),
            "TZ": "UTC",
            "LOG_LEVEL": "0",
            "CLAUDE_CONFIG_DIR": str(work),
            "XDG_DATA_HOME": str(tmp / "xdg"),
            "XDG_CACHE_HOME": str(tmp / "cache"),
        }
        cc_cmd = [str(cc20), "claude", "daily", "--offline", "--json"]
        ledgers = iter(range(10**6))

        def gearshift_first(sample: bool = False) -> tuple[dict[str, Any], dict[str, Any], str]:
            ledger = str(tmp / f"bench{next(ledgers)}.db")
            gs = [*GEARSHIFT, "--ledger", ledger]
            ingest = run_measured(
                [*gs, "ingest", "claude-code", str(work), "--json"], env, sample=sample
            )
            spend = run_measured(
                [*gs, "spend", "--by", "day", "--tz", "UTC", "--json"], env, sample=sample
            )
            for r in (ingest, spend):
                if r["rc"] != 0:
                    raise SystemExit(f"gearshift failed ({r['rc']}): {r['stderr']}")
            return ingest, spend, ledger

        print(f"first ingest, {args.runs} pairs ...", flush=True)
        first_pairs = []
        for i in range(args.runs):
            if i % 2:
                ingest, spend, ledger = gearshift_first()
                cc = timed(cc_cmd, env)
            else:
                cc = timed(cc_cmd, env)
                ingest, spend, ledger = gearshift_first()
            first_pairs.append((cc, ingest, spend))
        print("peak memory ...", flush=True)
        cc_memory = run_measured(cc_cmd, env, sample=True)
        memory_ingest, memory_spend, _ = gearshift_first(sample=True)
        gs_peak = max(memory_ingest["peak_mb"], memory_spend["peak_mb"])
        summary = json.loads(first_pairs[0][1]["stdout"])

        print(f"re-run with nothing new, {args.runs} runs ...", flush=True)
        rerun = [*GEARSHIFT, "--ledger", ledger, "ingest", "claude-code", str(work), "--json"]
        noop = [timed(rerun, env)["seconds"] for _ in range(args.runs)]

        added = append_one_percent(work, args.seed)
        print(f"appended {added:,} lines; {args.runs} pairs of re-runs ...", flush=True)
        # Each incremental run starts from a copy of the ledger as it was before the lines were
        # appended (its file states say which bytes are new).
        snapshot = tmp / "before-append.db"
        if Path(ledger + "-wal").exists():  # every run closed it, so there should be none
            raise SystemExit(f"{ledger} has a write-ahead log left: cannot copy it whole")
        shutil.copyfile(ledger, snapshot)
        inc_ledger = str(tmp / "incremental.db")
        inc_cmd = [*GEARSHIFT, "--ledger", inc_ledger, "ingest", "claude-code", str(work), "--json"]

        def incremental() -> dict[str, Any]:
            for leftover in (inc_ledger, inc_ledger + "-wal", inc_ledger + "-shm"):
                if os.path.exists(leftover):
                    os.remove(leftover)
            shutil.copyfile(snapshot, inc_ledger)
            os.sync()
            return timed(inc_cmd, env)

        inc_pairs = []
        for i in range(args.runs):
            if i % 2:
                inc = incremental()
                cc = timed(cc_cmd, env)
            else:
                cc = timed(cc_cmd, env)
                inc = incremental()
            inc_pairs.append((cc, inc))
        inc_summary = json.loads(inc_pairs[0][1]["stdout"])

        r18 = None
        if cc18 is not None:
            print("ccusage 18, once ...", flush=True)
            r18 = timed([str(cc18), "daily", "--offline", "--json"], env, timeout=1800)

        problems = parity(first_pairs[0][0]["stdout"], first_pairs[0][2]["stdout"], manifest)

    first_s = [ingest["seconds"] + spend["seconds"] for _, ingest, spend in first_pairs]
    ratios = {
        "first": [f / cc["seconds"] for f, (cc, _, _) in zip(first_s, first_pairs, strict=True)],
        "inc": [cc["seconds"] / inc["seconds"] for cc, inc in inc_pairs],
    }
    table = [
        ("ccusage 20.0.24 claude daily (native)", [cc["seconds"] for cc, _, _ in first_pairs],
         cc_memory["peak_mb"]),
        ("gearshift ingest (first) + spend --by day", first_s, gs_peak),
        ("  of which ingest", [i["seconds"] for _, i, _ in first_pairs], memory_ingest["peak_mb"]),
        ("gearshift re-run, nothing new", noop, None),
        (f"gearshift re-run, +{added:,} lines (~1%)", [i["seconds"] for _, i in inc_pairs], None),
        ("ccusage 20 full re-read after +1%", [cc["seconds"] for cc, _ in inc_pairs], None),
    ]  # fmt: skip
    if r18 is not None:
        table.append(("ccusage 18.0.11 daily (TypeScript, one run)", [r18["seconds"]], None))
    print()
    print(
        f"Claude Code ingest benchmark, {manifest['bytes'] / 1e9:.2f} GB corpus, "
        f"{manifest['files']['transcripts']:,} transcripts, seed {args.seed}, "
        f"{args.runs} paired runs"
    )
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        f", load average {load_before:.1f} before the runs, {os.getloadavg()[0]:.1f} after"
    )
    print(f"{'command':46} {'median s':>9}  {'runs (s)':24} {'peak MB':>8}")
    for name, seconds, peak in table:
        runs = " ".join(f"{s:.3f}" for s in seconds)
        shown = f"{peak:8.0f}" if peak is not None else f"{'-':>8}"
        print(f"{name:46} {median(seconds):9.3f}  {runs:24} {shown}")
    print()
    memory = gs_peak / cc_memory["peak_mb"]
    floors = [
        ("first ingest+spend / ccusage 20 (median of pairs)", median(ratios["first"]),
         ratios["first"], f"<= {FIRST_FLOOR}x", median(ratios["first"]) <= FIRST_FLOOR),
        ("re-run with nothing new, seconds (median)", median(noop), noop,
         f"< {NOOP_FLOOR} s", median(noop) < NOOP_FLOOR),
        ("ccusage 20 re-read / incremental re-run (median of pairs)", median(ratios["inc"]),
         ratios["inc"], f">= {INCREMENTAL_FLOOR}x", median(ratios["inc"]) >= INCREMENTAL_FLOOR),
        ("peak memory / ccusage 20's", memory, [memory], f"< {MEMORY_FLOOR}x",
         memory < MEMORY_FLOOR),
    ]  # fmt: skip
    print(f"{'floor':58} {'median':>7}  {'pairs':20} {'floor':>8}  verdict")
    for name, value, each, floor, met in floors:
        pairs = " ".join(f"{v:.2f}" for v in each)
        print(f"{name:58} {value:7.2f}  {pairs:20} {floor:>8}  {'met' if met else 'MISSED'}")
    if r18 is not None:
        print(f"ccusage 18 / gearshift first ingest+spend: {r18['seconds'] / median(first_s):.1f}x")
    print()
    print(
        f"gearshift first ingest: {summary['new_records']:,} records, "
        f"{summary['duplicates_removed']:,} duplicates removed, {summary['api_errors']} API errors "
        f"+ {summary['malformed_lines']} malformed; incremental: {inc_summary['new_records']:,} "
        f"new records from {inc_summary['bytes_parsed']:,} bytes"
    )
    if problems:
        print(f"PARITY FAILED ({len(problems)} problems):")
        for p in problems[:20]:
            print("  " + p)
        raise SystemExit(1)
    print(
        f"parity: per-day tokens identical and costs within $0.01 on all "
        f"{len(manifest['by_day'])} days (ccusage 20 vs gearshift vs the generator's manifest)"
    )


if __name__ == "__main__":
    main()
