"""Engine speed and robustness: overhead per task on ``sim``; no attempt lost under 429/529.

Run: ``.venv/bin/python bench/engine_bench.py [--tasks N] [--fake-tasks M] [--repeat R]``

Part (a) runs ``--tasks`` (10,000) tasks through the whole engine -- routing, the ``tiered``
strategy, a regex validator, the ledger -- on the ``sim`` provider at ``time_scale=0`` (no
simulated latency), side by side:

* *ledger*: a SQLite ledger file (WAL) plus the run store (resume records), as ``gearshift run``
  does; every attempt is durable before ``ctx.call`` returns (group commit);
* *no ledger*: the same with ``ledger=None``, to show the ledger's share;
* *bare provider*: the same number of ``sim`` calls in a plain loop -- the floor.

Engine overhead per task = (wall time of the run - time spent inside ``provider.complete``) /
tasks, where the provider time is measured around every call by a thin timing wrapper; the
same with process CPU time shows how much of the wall time was other processes' (the machine
is shared). Each row is the best of ``--repeat`` runs, the least disturbed by other work.

Part (b) runs ``--fake-tasks`` (1,000) tasks through the real ``anthropic`` SDK against the fake
Anthropic server on 127.0.0.1 (``ANTHROPIC_BASE_URL`` pointed at it, a dummy key), with 20% of
``/v1/messages`` answers replaced by 429 (10%) or 529 (10%), and a retry policy shortened to
milliseconds. It then checks the ledger: every task has exactly one row per attempt number
(besides a ``retried`` row per HTTP attempt the retry loop tried again), ending ``success`` or
``error`` with its reason recorded; none lost, none recorded twice.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from gearshift.catalog import load_catalog  # noqa: E402
from gearshift.engine.context import RunContext  # noqa: E402
from gearshift.engine.job import Job  # noqa: E402
from gearshift.engine.run_state import RunStore  # noqa: E402
from gearshift.engine.runner import RunReport, run_jobs  # noqa: E402
from gearshift.engine.validators import RegexValidator  # noqa: E402
from gearshift.ledger import Ledger  # noqa: E402
from gearshift.providers import RetryingProvider, RetryPolicy, get_provider  # noqa: E402
from gearshift.providers.base import ModelRequest, ModelResult, Provider  # noqa: E402
from gearshift.providers.sim import PASS_PATTERN  # noqa: E402
from gearshift.routing import Router, Task, load_labelled  # noqa: E402
from gearshift.testing.fake_anthropic import FakeAnthropic  # noqa: E402

LABELLED = ROOT / "tests" / "data" / "labelled_tasks.jsonl"
CATALOG = load_catalog()


class Timed:
    """A provider wrapper that adds up the time spent inside ``complete``."""

    def __init__(self, inner: Provider) -> None:
        self.inner, self.name = inner, inner.name
        self.seconds, self.calls = 0.0, 0

    async def complete(self, request: ModelRequest) -> ModelResult:
        started = time.perf_counter()
        try:
            return await self.inner.complete(request)
        finally:
            self.seconds += time.perf_counter() - started
            self.calls += 1

    async def count_tokens(self, request: ModelRequest) -> int:
        return await self.inner.count_tokens(request)

    async def close(self) -> None:
        await self.inner.close()


@dataclass
class Row:
    name: str
    tasks: int
    calls: int
    wall: float
    cpu: float
    provider: float

    @property
    def overhead_us(self) -> float:
        return (self.wall - self.provider) / self.tasks * 1e6

    @property
    def cpu_overhead_us(self) -> float:
        return (self.cpu - self.provider) / self.tasks * 1e6


def texts(n: int) -> list[str]:
    """``n`` distinct task texts: the 207 hand-labelled tasks (all tiers), numbered."""
    base = [row.text for row in load_labelled(LABELLED)]
    return [f"{base[i % len(base)]} (#{i})" for i in range(n)]


def jobs_for(task_texts: list[str], validators: tuple[Any, ...]) -> list[Job]:
    return [
        Job(f"t{i:05d}", Task(text), strategy="tiered", validators=validators)
        for i, text in enumerate(task_texts)
    ]


def engine_run(task_texts: list[str], ledger_path: Path | None, concurrency: int) -> Row:
    provider = Timed(get_provider("sim", seed=7, time_scale=0))
    ledger = Ledger.open(ledger_path) if ledger_path is not None else None
    ctx = RunContext(
        provider=provider,
        catalog=CATALOG,
        router=Router(CATALOG),
        ledger=ledger,
        store=RunStore(ledger) if ledger is not None else None,
        source="sim",
        concurrency=concurrency,
    )
    jobs = jobs_for(task_texts, (RegexValidator([PASS_PATTERN]),))
    cpu, wall = time.process_time(), time.perf_counter()
    report = run_jobs(ctx, jobs)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert report.count("succeeded") + report.count("failed") == len(jobs)
    if ledger is not None:
        assert ledger.count() == provider.calls, "every attempt is in the ledger"
        ledger.close()
    name = "engine, SQLite ledger + run store" if ledger is not None else "engine, no ledger"
    return Row(name, len(jobs), provider.calls, wall, cpu, provider.seconds)


def bare_run(task_texts: list[str]) -> Row:
    sim = get_provider("sim", seed=7, time_scale=0)
    model = CATALOG.default_for(CATALOG.resolve("haiku").tier).id
    requests = [
        ModelRequest.user(text, model=model, metadata={"attempt": 1, "complexity": 5})
        for text in task_texts
    ]

    async def loop() -> None:
        for request in requests:
            await sim.complete(request)

    cpu, wall = time.process_time(), time.perf_counter()
    asyncio.run(loop())
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return Row("bare sim calls (floor)", len(requests), len(requests), wall, cpu, wall)


def best(rows: list[Row]) -> Row:
    return min(rows, key=lambda r: r.wall)


def part_a(n: int, repeat: int, concurrency: int, workdir: Path) -> list[Row]:
    task_texts = texts(n)
    engine_run(task_texts[:500], None, concurrency)  # warm imports and caches
    with_ledger, without, bare = [], [], []
    for i in range(repeat):
        with_ledger.append(engine_run(task_texts, workdir / f"ledger-{i}.db", concurrency))
        without.append(engine_run(task_texts, None, concurrency))
        bare.append(bare_run(task_texts))
    return [best(with_ledger), best(without), best(bare)]


def part_b(n: int, concurrency: int, workdir: Path) -> dict[str, Any]:
    """1,000 tasks through the real SDK against the fake server with 20% 429/529."""
    with FakeAnthropic(seed=5) as fake:
        fake.fault_rates = {"rate_limit": 0.10, "overloaded": 0.10}
        fake.rate_limit_retry_after = 0.002
        os.environ["ANTHROPIC_BASE_URL"] = fake.base_url
        os.environ["ANTHROPIC_API_KEY"] = "dummy-key-for-the-fake-server"
        policy = RetryPolicy(
            max_attempts=6, base_delay=0.002, max_delay=0.02, deadline=30, max_retry_after=0.01
        )
        provider = RetryingProvider(get_provider("anthropic"), policy)
        ledger = Ledger.open(workdir / "fake.db")
        ctx = RunContext(
            provider=provider,
            catalog=CATALOG,
            router=Router(CATALOG),
            ledger=ledger,
            store=RunStore(ledger),
            source="api",
            concurrency=concurrency,
        )
        jobs = jobs_for(texts(n), (RegexValidator([r"^Fake reply from "]),))

        async def main() -> RunReport:
            from gearshift.engine.runner import Engine

            try:
                return await Engine(ctx).run(jobs)
            finally:
                await provider.close()

        started = time.perf_counter()
        report = asyncio.run(main())
        seconds = time.perf_counter() - started
        statuses = dict(fake.statuses)
    return {"report": report, "seconds": seconds, "statuses": statuses, **audit(ledger, jobs)}


def audit(ledger: Ledger, jobs: list[Job]) -> dict[str, Any]:
    """Rows per (task key, attempt); statuses; tasks with no row or a row twice."""
    per_attempt: Counter[tuple[str, int]] = Counter()
    final: dict[str, tuple[int, str, str | None]] = {}
    for e in ledger.executions():
        if e.status in ("retried", "dropped"):  # HTTP attempts the retry loop tried again
            continue
        key = e.task_key or "?"
        per_attempt[key, e.attempt] += 1
        if key not in final or e.attempt > final[key][0]:
            final[key] = (e.attempt, e.status, e.validation)
    keys = [j.id for j in jobs]
    return {
        "rows": sum(per_attempt.values()),
        "lost": [k for k in keys if k not in final],
        "doubled": sorted({k for (k, _), n in per_attempt.items() if n > 1}),
        "final": Counter(status for _, status, _ in final.values()),
        "unexplained": [k for k, (_, s, why) in final.items() if s != "success" and not why],
        "done": dict(ledger_run_jobs(ledger)),
    }


def ledger_run_jobs(ledger: Ledger) -> Counter[str]:
    from sqlalchemy import text

    with ledger.read() as conn:
        return Counter(status for (status,) in conn.execute(text("SELECT status FROM run_jobs")))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--fake-tasks", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="gearshift-bench-") as tmp:
        rows = part_a(args.tasks, args.repeat, args.concurrency, Path(tmp))
        fake = part_b(args.fake_tasks, 16, Path(tmp))

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"# engine benchmark — {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"machine: {_cpu_model()}, nproc {os.cpu_count()}; Python {platform.python_version()}; "
        f"load average {load}"
    )
    print()
    print(f"(a) {args.tasks:,} tasks, tiered, sim time_scale=0, concurrency {args.concurrency}")
    print(f"best of {args.repeat} runs each")
    print()
    print("| run | tasks | model calls | total s | tasks/s | in provider µs/task "
          "| overhead µs/task (wall) | overhead µs/task (CPU) | goal |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for row in rows:
        goal = "<= 200 µs" if row.name.startswith("engine") else ""
        overhead = "—" if row.name.startswith("bare") else f"{row.overhead_us:.0f}"
        cpu = "—" if row.name.startswith("bare") else f"{row.cpu_overhead_us:.0f}"
        print(
            f"| {row.name} | {row.tasks:,} | {row.calls:,} | {row.wall:.2f} | "
            f"{row.tasks / row.wall:,.0f} | {row.provider / row.tasks * 1e6:.0f} | "
            f"{overhead} | {cpu} | {goal} |"
        )
    share = rows[0].overhead_us - rows[1].overhead_us
    print()
    print(f"ledger's share of the overhead: {share:.0f} µs/task")
    _print_fake(fake, args.fake_tasks)


def _print_fake(fake: dict[str, Any], n: int) -> None:
    report: RunReport = fake["report"]
    statuses = fake["statuses"]
    sent = sum(statuses.values())
    faults = statuses.get(429, 0) + statuses.get(529, 0)
    print()
    print(f"(b) {n:,} tasks through the anthropic SDK against the fake server, 20% 429/529")
    print()
    print("| check | value |")
    print("|---|---:|")
    items = [
        ("wall time", f"{fake['seconds']:.2f} s ({n / fake['seconds']:,.0f} tasks/s)"),
        ("HTTP requests sent", f"{sent:,}"),
        ("answered 429 / 529", f"{statuses.get(429, 0):,} / {statuses.get(529, 0):,}"),
        ("share of requests faulted", f"{faults / max(sent, 1):.1%}"),
        ("jobs succeeded / failed / error", "{} / {} / {}".format(
            report.count("succeeded"), report.count("failed"), report.count("error"))),
        ("ledger rows (besides retried HTTP attempts)", f"{fake['rows']:,}"),
        ("final row status per task", _counts(fake["final"])),
        ("tasks with no ledger row (lost)", str(len(fake["lost"]))),
        ("task attempts recorded twice", str(len(fake["doubled"]))),
        ("non-success without a recorded reason", str(len(fake["unexplained"]))),
        ("run store: finished jobs", _counts(fake["done"])),
        ("HTTP 200 answers (paid calls) vs success rows", "{:,} vs {:,}".format(
            statuses.get(200, 0), fake["final"].get("success", 0))),
    ]  # fmt: skip
    for name, value in items:
        print(f"| {name} | {value} |")
    for outcome in [o for o in report.outcomes if o.status != "succeeded"][:5]:
        print(f"- {outcome.job_id}: {outcome.status}: {outcome.reason[:160]}")


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())) or "none"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


if __name__ == "__main__":
    main()
