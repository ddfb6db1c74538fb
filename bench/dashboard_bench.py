"""Dashboard speed on a big ledger: each page and endpoint over 1,000,000 executions.

    .venv/bin/python bench/dashboard_bench.py [--rows 1000000] [--runs 7] [--postgres URL]
    .venv/bin/python bench/dashboard_bench.py --writes     # what the rollups cost a bulk write

The ledger: ``--rows`` executions over the 90 days up to today, forty agents with a skewed
share of the work (each from one place -- Claude Code, its own service, the proxy -- in one or
two projects, on its home tier), 8% failures escalated a tier up in chains, blocked proxy
requests, and a global monthly budget. Written once per day through the ledger's bulk path and
kept in ``bench/.cache`` (SQLite) or a schema of its own (PostgreSQL, ``--postgres`` or
``GEARSHIFT_TEST_POSTGRES_URL``); making it takes minutes.

Each endpoint is called in-process through the ASGI app (no network), once to warm up, then
``--runs`` times; the table shows the median in milliseconds. Goal: the overview page (last 30
days, by day stacked by tier, tier split, top drivers, spend by model, the summary, the budget
forecast) under 300 ms. The last row is the same daily spend summed from the table itself, as
``spend`` and the dashboard did before the rollups.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from gearshift.budgets.model import make_budget, save_budget
from gearshift.catalog import Usage, load_catalog
from gearshift.config import Config
from gearshift.ledger import Filters, Ledger, spend
from gearshift.ledger.ids import new_id
from gearshift.server.dashboard import create_app

CACHE = Path(__file__).resolve().parent / ".cache"
MODELS = {"haiku": "claude-haiku-4-5", "sonnet": "claude-sonnet-4-5", "opus": "claude-opus-4-1"}
PROJECTS = ("acme-api", "acme-web", "billing", "search", "mobile", "infra")
SOURCES = ("claude-code", "api", "proxy", "sim")
HOME_TIERS = ("haiku", "haiku", "sonnet", "sonnet", "sonnet", "opus")
DAYS = 90


# -- the ledger ---------------------------------------------------------------------------------


def fill(ledger: Ledger, n: int, end: dt.datetime, *, seed: int = 1) -> int:
    """Write ``n`` executions over the ``DAYS`` days before ``end``; returns how many."""
    written, batch = 0, []
    for row in _rows(ledger, n, end, seed):
        batch.append(row)
        if len(batch) >= 50_000:
            written += ledger.write_rows(batch)
            batch = []
            print(f"  {written:,} rows", file=sys.stderr, end="\r")
    written += ledger.write_rows(batch)
    save_budget(
        ledger,
        make_budget(name="team-monthly", scope="global", value="", period="month",
                    amount_usd="250000"),
        Config(),
    )  # fmt: skip
    return written


def _rows(ledger: Ledger, n: int, end: dt.datetime, seed: int) -> Iterator[Any]:
    rng = random.Random(seed)
    agents = [f"agent-{i:02d}" for i in range(40)]
    weights = [1 / (i + 1) for i in range(len(agents))]
    homes = {a: HOME_TIERS[i % len(HOME_TIERS)] for i, a in enumerate(agents)}
    # a team's agent runs from one place (Claude Code, its own service, the proxy) in one or
    # two projects
    sources = {a: SOURCES[0] if i % 3 else SOURCES[1 + i // 3 % 3] for i, a in enumerate(agents)}
    projects = {a: PROJECTS[i % 6 : i % 6 + 1 + i % 2] for i, a in enumerate(agents)}
    start_us = int((end - dt.timedelta(days=DAYS)).timestamp() * 1_000_000)
    span_us = int((end.timestamp() * 1_000_000) - start_us)
    models = {tier: ledger.catalog.resolve(model) for tier, model in MODELS.items()}
    up = {"haiku": "sonnet", "sonnet": "opus"}
    made = 0
    while made < n:
        agent = rng.choices(agents, weights)[0]
        tier = homes[agent]
        ts_us = start_us + rng.randrange(span_us - 2000)
        project, source = rng.choice(projects[agent]), sources[agent]
        roll = rng.random()
        status = "success"
        if roll < 0.01 and source == "proxy":
            status = "blocked"
        elif roll < 0.08:
            status = "failure"
        elif roll < 0.09:
            status = "error"
        attempts = [(tier, status, None)]
        if status == "failure" and tier in up and made + 1 < n:
            attempts.append((up[tier], "success", f"validation failed on {tier}: tests failed"))
        chain = new_id(ts_us // 1000)
        for number, (t, st, reason) in enumerate(attempts, start=1):
            usage = Usage(rng.randint(200, 6000), rng.randint(100, 4000),
                          rng.randint(0, 2000), 0, rng.randint(0, 30000))  # fmt: skip
            if st == "blocked":
                usage = Usage()
            yield ledger.to_row_fields(
                id=new_id(ts_us // 1000 + number),
                ts_us=ts_us + number * 1000,
                project=project,
                session=f"s-{ts_us // 3_600_000_000}-{agent}",
                agent=agent,
                task=f"Task {made} for {agent} in {project}",
                task_hash=f"{made % 50_000:016x}",
                task_type=("linting", "test-writing", "code-review", "architecture")[
                    HOME_TIERS.index(tier) % 4
                ],
                model=models[t].id,
                tier=t,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cache_write_5m_tokens=usage.cache_write_5m_tokens,
                cache_read_tokens=usage.cache_read_tokens,
                cost_nanos=ledger.catalog.cost(models[t], usage).nanos,
                price_version=ledger.catalog.price_version,
                latency_ms=rng.randint(500, 60_000),
                status=st,
                attempt=number,
                chain_id=chain,
                strategy="tiered",
                source=source,
                escalation_reason=reason,
                tags={"team": ("core", "growth", "platform")[made % 3]},
            )
            made += 1


def sqlite_ledger(n: int) -> str:
    """Today's cached SQLite ledger of ``n`` executions, made if missing."""
    today = dt.date.today()
    path = CACHE / f"dashboard-{n}-{today:%Y%m%d}.db"
    if not path.exists():
        CACHE.mkdir(exist_ok=True)
        for old in CACHE.glob(f"dashboard-{n}-*.db*"):
            old.unlink()
        print(f"making {path.name} ({n:,} executions)...", file=sys.stderr)
        partial = path.with_suffix(".partial")
        with Ledger.open(partial) as ledger:
            fill(ledger, n, _end(today))
        partial.rename(path)
    return str(path)


def postgres_ledger(base: str, n: int) -> str:
    """Today's PostgreSQL ledger of ``n`` executions in a schema of its own, made if missing."""
    import psycopg

    schema = f"gs_bench_dashboard_{n}_{dt.date.today():%Y%m%d}"
    sep = "&" if "?" in base else "?"
    url = f"{base}{sep}options=-csearch_path%3D{schema}"
    with psycopg.connect(base, autocommit=True) as conn:
        found = [r[0] for r in conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (f"gs_bench_dashboard_{n}_%",)
        )]  # fmt: skip
        complete = schema in found and conn.execute(
            f"SELECT to_regclass('\"{schema}\".gearshift_bench_done')"
        ).fetchone() != (None,)
        for name in found:
            if name != schema or not complete:
                conn.execute(f'DROP SCHEMA "{name}" CASCADE')
        if complete:
            return url
        conn.execute(f'CREATE SCHEMA "{schema}"')
    print(f"making PostgreSQL schema {schema} ({n:,} executions)...", file=sys.stderr)
    with Ledger.open(url) as ledger:
        fill(ledger, n, _end(dt.date.today()))
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE TABLE "{schema}".gearshift_bench_done (done int)')
        for table in ("executions", "spend_rollup_day", "spend_rollup_quarter"):
            conn.execute(f'ANALYZE "{schema}".{table}')
    return url


def _end(today: dt.date) -> dt.datetime:
    return dt.datetime.combine(today, dt.time(), tzinfo=dt.UTC) - dt.timedelta(minutes=1)


# -- timing -------------------------------------------------------------------------------------


def cases(first_id: str, since: str) -> list[tuple[str, str]]:
    month = f"since={since}"
    return [
        ("overview page, last 30 days (UTC)", f"/?{month}&tz=UTC"),
        ("overview page, last 30 days (America/Los_Angeles)", f"/?{month}&tz=America/Los_Angeles"),
        ("overview page, last 30 days (Asia/Kolkata)", f"/?{month}&tz=Asia/Kolkata"),
        ("overview page, all 90 days (UTC)", "/?since=2000-01-01&tz=UTC"),
        ("overview page, 30 days stacked by agent (UTC)", f"/?{month}&stack=agent&tz=UTC"),
        ("overview page, 30 days, one project (UTC)", f"/?{month}&project=billing&tz=UTC"),
        ("/api/spend?by=day&stack=tier, 30 days", f"/api/spend?by=day&stack=tier&{month}&tz=UTC"),
        ("/api/spend?by=agent, 30 days", f"/api/spend?by=agent&{month}"),
        ("/api/spend?by=week, all (Europe/Paris)", "/api/spend?by=week&tz=Europe/Paris"),
        ("/api/summary, 30 days", f"/api/summary?{month}"),
        ("/api/budgets", "/api/budgets?tz=UTC"),
        ("/api/executions (newest 50)", "/api/executions"),
        ("/api/executions?q=agent-07", "/api/executions?q=agent-07"),
        ("/api/executions/{id} (a chain)", f"/api/executions/{first_id}"),
        ("/api/live?once=1", "/api/live?once=1"),
        ("/metrics (no cache)", "/metrics"),
        ("/agents page, 30 days, advice known", f"/agents?{month}"),
    ]


def timed(call: Callable[[], object], runs: int) -> float:
    call()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def measure(url: str, runs: int) -> dict[str, float]:
    out: dict[str, float] = {}
    with Ledger.open_read_only(url) as ledger:
        app = create_app(ledger, Config(), load_catalog(), metrics_ttl=0)
        (chain,) = ledger.query(
            "SELECT id FROM executions WHERE attempt = 2 ORDER BY ts_us DESC LIMIT 1"
        )[0]
        last = ledger.query("SELECT MAX(ts_us) FROM executions")[0][0]
        since = (dt.datetime.fromtimestamp(last / 1e6, dt.UTC) - dt.timedelta(days=29)).date()
        with TestClient(app, base_url="http://127.0.0.1") as client:
            for name, path in cases(str(chain), since.isoformat()):  # in this order
                if path.startswith("/agents"):  # its true cost and advice worked out first
                    started = time.perf_counter()
                    while "Working out" in client.get(path).text:
                        time.sleep(1)
                    out["/agents: working out true cost and advice, 30 days"] = (
                        time.perf_counter() - started
                    ) * 1000

                def call(path: str = path) -> None:
                    response = client.get(path)
                    assert response.status_code == 200, (path, response.text[:300])

                out[name] = timed(call, runs)
                print(f"  {name}: {out[name]:.0f} ms", file=sys.stderr)
        raw = timed(lambda: spend(ledger, "day", Filters()), 1)
        out["spend --by day, all, summed from the table (before)"] = raw
    return out


# -- writes -------------------------------------------------------------------------------------


def write_cost(rows: int, rounds: int) -> list[tuple[str, float, float]]:
    """Bulk write rows/s with and without the rollups' fold (SQLite), paired runs."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import ledger_write

    from gearshift.ledger import sqlite3_ledger as lite
    from gearshift.ledger import store

    fold = store.sqlite_fold
    results: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(rounds):
        for on in (False, True):
            store.sqlite_fold = fold if on else (lambda _last: [])  # type: ignore[assignment]
            lite.sqlite_fold = store.sqlite_fold  # type: ignore[attr-defined]
            with tempfile.TemporaryDirectory() as tmp:
                _, rate = ledger_write.bench(str(Path(tmp) / "w.db"), rows)
            results[on].append(rate)
    store.sqlite_fold = fold
    return [
        ("SQLite, rollups folded on write", statistics.median(results[True]), 0.0),
        ("SQLite, without the rollups", statistics.median(results[False]), 0.0),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--postgres", default=os.environ.get("GEARSHIFT_TEST_POSTGRES_URL"))
    parser.add_argument("--writes", action="store_true", help="measure the write cost instead")
    args = parser.parse_args()
    machine = (
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f}"
    )
    if args.writes:
        rows = write_cost(200_000, 3)
        print("bulk write, 200,000 rows in batches of 20,000 (median of 3 paired runs)")
        print(machine)
        for name, rate, _ in rows:
            print(f"{name:36} {rate:10,.0f} rows/s")
        return
    columns = {"SQLite": measure(sqlite_ledger(args.rows), args.runs)}
    if args.postgres:
        columns["PostgreSQL"] = measure(postgres_ledger(args.postgres, args.rows), args.runs)
    print(f"dashboard benchmark: {args.rows:,} executions over {DAYS} days; median of "
          f"{args.runs} runs, ms")  # fmt: skip
    print(machine)
    names = list(next(iter(columns.values())))
    print(f"{'endpoint':58}" + "".join(f"{k:>12}" for k in columns))
    for name in names:
        print(f"{name:58}" + "".join(f"{columns[k][name]:12,.0f}" for k in columns))
    overview = columns["SQLite"]["overview page, last 30 days (UTC)"]
    print(f"goal: overview page under 300 ms -- {'met' if overview < 300 else 'NOT MET'}")


if __name__ == "__main__":
    main()
