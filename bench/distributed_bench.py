"""Distributed execution: throughput with 1, 2 and 4 `gearshift worker` processes, dispatch
overhead per job, a shared rate limit held, and the in-process executor beside it.

Run: ``.venv/bin/python bench/distributed_bench.py [--jobs N] [--pg URL]``
(``--pg`` defaults to ``$GEARSHIFT_TEST_POSTGRES_URL``; each phase gets a fresh database
``gs_dist_bench_<random>``, dropped afterwards).

* **throughput**: ``--jobs`` independent jobs (strategy ``single``, pinned to haiku) on the
  ``sim`` provider at real time (``--time-scale 1``: 0.5-5 s per call), run by 1, 2 and 4 worker
  processes of ``--concurrency`` jobs each. Jobs/s is counted from the first job started to the
  last finished (the database's timestamps), so process start-up is left out.
* **in-process**: the same jobs with ``gearshift run --executor local --concurrency`` (workers x
  concurrency of the largest fleet) on a PostgreSQL ledger.
* **dispatch overhead**: the same jobs at ``--time-scale 0`` (instant calls) on one worker: wall
  time per job, the worker's CPU time per job from its first job started to the last finished
  (start-up left out), and the database's: the CPU of the run's PostgreSQL backends (read from
  ``/proc``, the database on this machine) plus its background writers' over the same span.
  ``--compare SRC`` runs it ``--pairs`` times alternately on another source tree (e.g. a
  checkout of main's ``src``) and on this one, and prints the medians side by side.
* **rate limit**: 4 workers sharing ``--rate`` requests/s (bucket of one second), instant calls:
  the busiest one-second window and the mean rate; **rate_redis**: the same with the buckets in
  Redis (``--redis``, default ``redis://127.0.0.1:6379/0``, keys under a prefix of its own).
* **limiter**: the shared limiter's own cost per call in one process, per store: a debit and the
  settlement after the call (one round trip), against the same settlement in three round trips
  (refund input, refund output, correct: as it was before the settlement was one).

``--phases`` picks phases (default: all), e.g. ``--phases rate,rate_redis,limiter``.

Every phase records the machine's load average before it starts: the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
PY = str(ROOT / ".venv" / "bin" / "python")


@contextmanager
def database(admin: str) -> Iterator[str]:
    name = f"gs_dist_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def pipeline(path: Path, jobs: int) -> None:
    lines = ["defaults: {strategy: single, model: haiku, max_tokens: 1024}", "tasks:"]
    lines += [f"  - {{id: j{i}, task: 'Review file {i} of the monorepo'}}" for i in range(jobs)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def gearshift(
    url: str, *args: str, log: Path, env_extra: dict[str, str] | None = None,
    src: str | None = None,
) -> subprocess.Popen[bytes]:  # fmt: skip
    env = {**os.environ, "GEARSHIFT_LEDGER": url, **(env_extra or {})}
    if src is not None:  # run another source tree's code (a checkout of main, to compare)
        env["PYTHONPATH"] = src
    return subprocess.Popen(
        [PY, "-m", "gearshift", *args], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )


def one(url: str, sql: str, *params: Any) -> Any:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql, params).fetchone()  # type: ignore[arg-type]
    return row[0] if row else None


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pg_backends(conn: psycopg.Connection[Any]) -> list[int]:
    """The pids of the connections to ``conn``'s database, ``conn`` itself left out."""
    rows = conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid()"
    ).fetchall()
    return [int(r[0]) for r in rows]


def pg_background() -> list[int]:
    """The server's own processes (WAL writer, checkpointer...): not backends of a database."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            cmd = stat.read_bytes().decode(errors="replace")
        except OSError:
            continue
        if cmd.startswith("postgres: ") and any(
            w in cmd for w in ("checkpointer", "background writer", "walwriter")
        ):
            pids.append(int(stat.parent.name))
    return pids


def xacts(conn: psycopg.Connection[Any]) -> int:
    """Transactions committed or rolled back in ``conn``'s database so far."""
    row = conn.execute(
        "SELECT xact_commit + xact_rollback FROM pg_stat_database "
        "WHERE datname = current_database()"
    ).fetchone()
    return int(row[0]) if row else 0


def cpu_of(pids: list[int]) -> dict[int, float]:
    seen = {}
    for pid in pids:
        try:
            seen[pid] = cpu_seconds(pid)
        except (OSError, IndexError):
            continue
    return seen


def run_fleet(
    admin: str, tmp: Path, jobs: int, workers: int, concurrency: int, scale: str,
    extra: tuple[str, ...] = (), env: dict[str, str] | None = None, src: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Submit ``jobs`` and run them on ``workers`` processes; timings from the database."""
    path = tmp / "bench.yaml"
    pipeline(path, jobs)
    with database(admin) as url:
        submit = gearshift(url, "run", str(path), "--provider", "sim", "--time-scale", scale,
                           "--executor", "postgres", "--run-id", "bench", "--detach",
                           log=tmp / "submit.log", src=src)  # fmt: skip
        if submit.wait(300) != 0:
            raise SystemExit((tmp / "submit.log").read_text())
        load = os.getloadavg()[0]
        argv = ("worker", "--concurrency", str(concurrency), *extra)
        procs = [
            gearshift(url, *argv, log=tmp / f"worker{i}.log", env_extra=env, src=src)
            for i in range(workers)
        ]
        # the workers' CPU once started (imports, connecting) is left out; the database's CPU
        # is its backends' for this database (the monitor's own left out) and its writers'
        cpu, idle_cpu = 0.0, None
        db_before: dict[int, float] = {}
        db_cpu, db_shared, db_lost, db_xacts, xacts_before = 0.0, 0.0, 0, 0, 0
        background: list[int] = []
        monitor = psycopg.connect(url, autocommit=True)
        try:
            while True:
                left, started = monitor.execute(
                    "SELECT count(*) FILTER (WHERE state IN ('waiting', 'queued', 'running')),"
                    " count(*) FILTER (WHERE starts > 0) FROM gs_dist_nodes"
                ).fetchone() or (1, 0)
                if idle_cpu is None and int(started):
                    idle_cpu = sum(cpu_seconds(p.pid) for p in procs)
                    background = pg_background()
                    db_before = cpu_of(pg_backends(monitor) + background)
                    xacts_before = xacts(monitor)
                if int(left) == 0:
                    break
                time.sleep(0.2)
            cpu = sum(cpu_seconds(p.pid) for p in procs) - (idle_cpu or 0.0)
            db_after = cpu_of(pg_backends(monitor) + pg_background())
            db_cpu = sum(t - db_before.get(pid, 0.0) for pid, t in db_after.items())
            # the server's writers serve every database on it (other sessions' too)
            db_shared = sum(t - db_before.get(pid, 0.0) for pid, t in db_after.items()
                            if pid in background)  # fmt: skip
            db_lost = len(set(db_before) - set(db_after))  # ended meanwhile: not counted
            time.sleep(1.5)  # backends report their transaction counts at most once a second
            db_xacts = xacts(monitor) - xacts_before
        finally:
            monitor.close()
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p in procs:
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
        span = float(one(url, "SELECT EXTRACT(EPOCH FROM max(finished_at) - min(started_at)) "
                              "FROM gs_dist_nodes"))  # fmt: skip
        ok = one(url, "SELECT count(*) FROM gs_dist_nodes WHERE state = 'succeeded'")
        call_s = float(one(url, "SELECT coalesce(avg(latency_ms), 0) / 1000 FROM executions"))
        with psycopg.connect(url) as conn:
            times = [r[0] / 1e6 for r in conn.execute("SELECT ts_us FROM executions ORDER BY 1")]
    busiest = max(
        (sum(1 for t in times[i:] if t < start + 1.0) for i, start in enumerate(times)), default=0
    )
    return {
        "jobs": jobs, "workers": workers, "concurrency": concurrency, "succeeded": ok,
        "seconds": round(span, 2), "jobs_per_s": round(jobs / span, 1),
        "mean_call_s": round(call_s, 2), "worker_cpu_s": round(cpu, 2),
        "db_cpu_s": round(db_cpu, 2), "db_writers_cpu_s": round(db_shared, 2),
        "db_backends_ended": db_lost, "db_xacts": db_xacts,
        "busiest_1s_window": busiest, "load_before": round(load, 2),
    }  # fmt: skip


def run_local(
    admin: str, tmp: Path, jobs: int, concurrency: int, scale: str = "1"
) -> dict[str, Any]:
    path = tmp / "local.yaml"
    pipeline(path, jobs)
    with database(admin) as url:
        load = os.getloadavg()[0]
        started = time.perf_counter()
        proc = gearshift(
            url, "run", str(path), "--provider", "sim", "--time-scale", scale,
            "--concurrency", str(concurrency), "--json", log=tmp / "local.log",
        )  # fmt: skip
        _, _, usage = os.wait4(proc.pid, 0)
        proc.returncode = 0
        wall = time.perf_counter() - started
        span = float(one(url, "SELECT (max(ts_us) - min(ts_us)) / 1e6 FROM executions"))
        ok = one(url, "SELECT count(*) FROM run_jobs WHERE status = 'succeeded'")
    return {"jobs": jobs, "concurrency": concurrency, "succeeded": ok,
            "seconds": round(wall, 2), "jobs_per_s": round(jobs / wall, 1),
            "first_to_last_call_s": round(span, 2), "load_before": round(load, 2),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 2)}  # fmt: skip


def dispatch(admin: str, tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One worker, instant calls: per job, wall time, worker CPU and database CPU; with
    ``--compare``, alternately on that tree and this one, medians side by side."""
    trees: dict[str, str | None] = {"dispatch": None}
    if args.compare:
        trees = {"dispatch_compare": str(Path(args.compare).resolve()), "dispatch": None}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
    for _ in range(args.pairs if args.compare else 1):
        for name, src in trees.items():
            r = run_fleet(admin, tmp, args.jobs, 1, args.concurrency, "0", src=src)
            r["wall_ms_per_job"] = round(r["seconds"] * 1000 / args.jobs, 2)
            r["worker_cpu_ms_per_job"] = round(r["worker_cpu_s"] * 1000 / args.jobs, 2)
            r["db_cpu_ms_per_job"] = round(r["db_cpu_s"] * 1000 / args.jobs, 2)
            r["db_xacts_per_job"] = round(r["db_xacts"] / args.jobs, 2)
            r["db_writers_cpu_ms_per_job"] = round(r["db_writers_cpu_s"] * 1000 / args.jobs, 2)
            r["dispatch_ms_per_job"] = round(r["worker_cpu_ms_per_job"] + r["db_cpu_ms_per_job"], 2)
            runs[name].append(r)
            print(json.dumps({name: r}), flush=True)
    out: dict[str, Any] = {}
    keys = ("jobs_per_s", "wall_ms_per_job", "worker_cpu_ms_per_job", "db_cpu_ms_per_job",
            "dispatch_ms_per_job", "db_xacts_per_job", "db_writers_cpu_ms_per_job",
            "load_before")  # fmt: skip
    for name, rs in runs.items():
        out[name] = {k: statistics.median(r[k] for r in rs) for k in keys}
        out[name]["runs"] = len(rs)
        out[name]["src"] = trees[name] or "this tree"
        print(json.dumps({f"{name}_median": out[name]}), flush=True)
    return out


def run_limiter(admin: str, redis_url: str, calls: int) -> dict[str, Any]:
    """Per store: ms per call of a debit + one settlement, and of a debit + three settlements."""
    import asyncio

    from gearshift.distributed.ratelimit import RateLimits, SharedRateLimiter
    from gearshift.distributed.ratelimit_pg import PgBucketStore
    from gearshift.distributed.ratelimit_redis import RedisBucketStore
    from gearshift.distributed.ratelimit_store import BucketStore
    from gearshift.ledger import Ledger
    from gearshift.providers.pacing import Bucket, RateLimitSnapshot

    snapshot = RateLimitSnapshot(
        requests=Bucket(limit=10**9, remaining=10**9),
        input_tokens=Bucket(limit=10**12, remaining=10**12),
        output_tokens=Bucket(limit=10**12, remaining=10**12),
    )
    costs = {"requests": 1.0, "input_tokens": 4000.0, "output_tokens": 1024.0}
    refunds = {"input_tokens": 3000.0, "output_tokens": 900.0}

    async def measure(store: BucketStore) -> dict[str, float]:
        limiter = SharedRateLimiter(store, "bench", RateLimits(6e9, 6e12, 6e12))
        await limiter.acquire("haiku", costs)  # buckets created, scripts loaded
        out = {}
        for name in ("one_round_trip", "three_round_trips"):
            started = time.perf_counter()
            for _ in range(calls):
                await limiter.acquire("haiku", costs)
                if name == "one_round_trip":
                    await limiter.settle("haiku", refunds, snapshot)
                else:
                    await limiter.settle("haiku", {"input_tokens": refunds["input_tokens"]})
                    await limiter.settle("haiku", {"output_tokens": refunds["output_tokens"]})
                    await limiter.settle("haiku", {}, snapshot)
            out[f"{name}_ms_per_call"] = round((time.perf_counter() - started) * 1000 / calls, 3)
        await store.close()
        return out

    result: dict[str, Any] = {"calls": calls, "load_before": round(os.getloadavg()[0], 2)}
    with database(admin) as url:
        ledger = Ledger.open(url)
        try:
            result["postgres"] = asyncio.run(measure(PgBucketStore(ledger)))
        finally:
            ledger.close()
    prefix = f"gearshift:bench:{uuid.uuid4().hex[:8]}:"
    result["redis"] = asyncio.run(measure(RedisBucketStore(redis_url, prefix=prefix)))
    import redis

    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"{prefix}*"):
        client.delete(key)
    client.close()
    return result


PHASES = ("fleets", "local", "dispatch", "local_instant", "rate", "rate_redis", "limiter")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--rate", type=int, default=20, help="requests/s for the rate phase")
    parser.add_argument("--rate-jobs", type=int, default=400)
    parser.add_argument("--pg", default=os.environ.get("GEARSHIFT_TEST_POSTGRES_URL"))
    parser.add_argument("--fleets", default="1,2,4")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--limiter-calls", type=int, default=500)
    parser.add_argument("--phases", default=",".join(PHASES), help="comma-separated")
    parser.add_argument("--compare", help="another src tree: dispatch run on it and on this one")
    parser.add_argument("--pairs", type=int, default=3, help="dispatch runs per tree")
    args = parser.parse_args()
    phases = set(args.phases.split(","))
    if phases - set(PHASES):
        raise SystemExit(f"--phases: unknown {sorted(phases - set(PHASES))}; known: {PHASES}")
    if not args.pg:
        raise SystemExit("pass --pg postgresql://... or set GEARSHIFT_TEST_POSTGRES_URL")
    admin = args.pg.replace("postgresql+psycopg://", "postgresql://")
    results: dict[str, Any] = {"cores": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        fleets = [int(n) for n in args.fleets.split(",")]
        for n in fleets if "fleets" in phases else ():
            results[f"fleet_{n}"] = r = run_fleet(admin, tmp, args.jobs, n, args.concurrency, "1")
            print(json.dumps({f"fleet_{n}": r}), flush=True)
        if "local" in phases:
            results["local"] = r = run_local(admin, tmp, args.jobs, max(fleets) * args.concurrency)
            print(json.dumps({"local": r}), flush=True)
        if "dispatch" in phases:
            results.update(dispatch(admin, tmp, args))
        if "local_instant" in phases:
            # the same engine work in one process, instant calls: CPU per job without dispatch
            results["local_instant"] = r = run_local(admin, tmp, args.jobs, args.concurrency, "0")
            r["cpu_ms_per_job"] = round(r["cpu_s"] * 1000 / args.jobs, 2)
            print(json.dumps({"local_instant": r}), flush=True)
        extra = ("--rpm", str(args.rate * 60), "--rate-burst", "1")
        for phase in ("rate", "rate_redis"):
            if phase not in phases:
                continue
            env = None
            if phase == "rate_redis":
                prefix = f"gearshift:bench:{uuid.uuid4().hex[:8]}:"
                env = {"GEARSHIFT_RATE_LIMIT_STORE": args.redis,
                       "GEARSHIFT_RATE_LIMIT_PREFIX": prefix}  # fmt: skip
            results[phase] = r = run_fleet(admin, tmp, args.rate_jobs, 4, 50, "0", extra, env)
            r["limit_per_s"] = args.rate
            print(json.dumps({phase: r}), flush=True)
        if "limiter" in phases:
            results["limiter"] = r = run_limiter(admin, args.redis, args.limiter_calls)
            print(json.dumps({"limiter": r}), flush=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
