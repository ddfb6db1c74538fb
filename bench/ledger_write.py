"""Ledger write throughput: batched rows/s into SQLite and PostgreSQL, side by side.

    .venv/bin/python bench/ledger_write.py [--rows 200000] [--postgres URL]

Goals: >= 100,000 rows/s into SQLite and >= 50,000 rows/s into PostgreSQL on the
2-core reference machine. Rows are realistic executions (priced, tagged, with task text); the
time covers building rows from Execution objects and the writes, batched 20,000 per transaction.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import tempfile
import time
import uuid
from pathlib import Path

from gearshift.catalog import Usage
from gearshift.ledger import Execution, Ledger


def make_executions(ledger: Ledger, n: int) -> list[Execution]:
    rng = random.Random(1)
    agents = ["test-engineer", "style-enforcer", "code-reviewer", "architect", "bug-analyzer"]
    models = ["haiku", "sonnet", "opus", "claude-sonnet-4-5", "claude-haiku-4-5"]
    return [
        ledger.price(
            agent=rng.choice(agents),
            model=rng.choice(models),
            usage=Usage(
                rng.randint(1, 5000),
                rng.randint(1, 4000),
                rng.randint(0, 20000),
                0,
                rng.randint(0, 100000),
            ),
            task=f"task {i} for module {i % 97}",
            project="bench",
            session=f"s{i % 500}",
            latency_ms=rng.randint(500, 60000),
            tags={"team": "bench"},
            source="api",
        )
        for i in range(n)
    ]


def bench(url: str, n: int) -> tuple[float, float]:
    with Ledger.open(url) as ledger:
        executions = make_executions(ledger, n)
        t0 = time.perf_counter()
        inserted = ledger.add_many(executions)
        elapsed = time.perf_counter() - t0
        assert inserted == n, (inserted, n)
    return elapsed, n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--postgres", default=os.environ.get("GEARSHIFT_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        elapsed, rate = bench(str(Path(tmp) / "bench.db"), args.rows)
        results.append(("SQLite (WAL, file)", elapsed, rate, 100_000))
    if args.postgres:
        import psycopg

        schema = f"gs_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(args.postgres, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        try:
            sep = "&" if "?" in args.postgres else "?"
            url = f"{args.postgres}{sep}options=-csearch_path%3D{schema}"
            elapsed, rate = bench(url, args.rows)
            results.append(("PostgreSQL (COPY + ON CONFLICT)", elapsed, rate, 50_000))
        finally:
            with psycopg.connect(args.postgres, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")
    print(f"ledger write benchmark: {args.rows:,} rows, batches of 20,000")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"{'store':34} {'seconds':>8} {'rows/s':>10} {'goal':>10}  verdict")
    for name, elapsed, rate, goal in results:
        verdict = "ok" if rate >= goal else "BELOW GOAL"
        print(f"{name:34} {elapsed:8.2f} {rate:10,.0f} {goal:10,}  {verdict}")


if __name__ == "__main__":
    main()
