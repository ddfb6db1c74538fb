"""A worker shutting down keeps beating until it has returned: its in-flight jobs are not
re-queued by other workers' sweeps, and a duplicate delivery of a job running on a live worker
is not run again."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from gearshift.distributed.build import default_provider
from gearshift.distributed.graph import submit
from gearshift.distributed.queue import ensure_schema
from gearshift.distributed.runtime import Runtime
from gearshift.distributed.worker import WorkerOptions, requeue_stalled, serve
from gearshift.engine.pipeline import load_pipeline
from gearshift.errors import ConfigError
from gearshift.ledger import Ledger
from gearshift.providers.base import ModelRequest, ModelResult, Provider

pytestmark = pytest.mark.postgres

PIPELINE = """\
defaults: {strategy: single, model: haiku, max_tokens: 256}
tasks:
  - {id: s0, task: Write a haiku}
  - {id: s1, task: Write another haiku}
"""


class Slow:
    """The sim provider, each call ``delay`` seconds long."""

    def __init__(self, inner: Provider, delay: float) -> None:
        self.inner, self.delay = inner, delay
        self.name = inner.name
        self.calls = 0

    async def complete(self, request: ModelRequest) -> ModelResult:
        self.calls += 1
        await asyncio.sleep(self.delay)
        return await self.inner.complete(request)

    async def count_tokens(self, request: ModelRequest) -> int:
        return await self.inner.count_tokens(request)

    async def close(self) -> None:
        await self.inner.close()


def slow_factory(delay: float) -> Any:
    def build(options: dict[str, Any], catalog: Any, limiter: Any = None) -> Provider:
        return Slow(default_provider(options, catalog, limiter), delay)

    return build


def submitted(dist_db: str, tmp_path: Path, run: str, body: str = PIPELINE) -> Ledger:
    path = tmp_path / "p.yaml"
    path.write_text(body, encoding="utf-8")
    ledger = Ledger.open(dist_db)
    ensure_schema(ledger)
    pipeline = load_pipeline(path, catalog=ledger.catalog, sim=True)
    options = {"provider": "sim", "time_scale": 0.0, "enforce_budgets": False}
    submit(ledger, run, pipeline.jobs, pipeline_path=str(path), pipeline_text=body,
           options=options)  # fmt: skip
    return ledger


def nodes(ledger: Ledger, run: str) -> dict[str, tuple[str, int]]:
    rows = ledger.query(
        "SELECT job_id, state, starts FROM gs_dist_nodes WHERE run_id = :r", {"r": run}
    )
    return {r[0]: (r[1], int(r[2])) for r in rows}


async def until_running(ledger: Ledger, run: str, job: str) -> None:
    """Wait (up to 5 s) until ``job``'s node is ``running``."""
    for _ in range(100):
        if (await asyncio.to_thread(nodes, ledger, run))[job][0] == "running":
            return
        await asyncio.sleep(0.05)


def ran_once(ledger: Ledger, run: str, scenario: Callable[[], Coroutine[Any, Any, int]]) -> None:
    """Run ``scenario`` (it returns how many jobs the runtime executed): ``s0`` ran once, and
    succeeded, started once. Closes ``ledger``."""
    try:
        assert asyncio.run(scenario()) == 1
        assert nodes(ledger, run)["s0"] == ("succeeded", 1)
    finally:
        ledger.close()


def heartbeat_age(ledger: Ledger) -> float:
    rows = ledger.query(
        "SELECT extract(epoch FROM now() - max(last_heartbeat)) FROM procrastinate_workers"
    )
    return float(rows[0][0])


def test_a_stopping_worker_keeps_beating_so_its_running_jobs_are_not_run_twice(
    dist_db: str, tmp_path: Path
) -> None:
    run = "stop"
    ledger = submitted(dist_db, tmp_path, run)
    options = WorkerOptions(
        concurrency=4, install_signal_handlers=False, heartbeat_s=0.3, stalled_s=1.0,
        sweep_s=0.3, grace_s=6.0, poll_s=0.2, name="stopping:1",
    )  # fmt: skip

    async def scenario() -> tuple[int, float, int]:
        worker = asyncio.create_task(serve(ledger, options, slow_factory(3.0)))
        try:
            for _ in range(100):
                states = await asyncio.to_thread(nodes, ledger, run)
                if all(s == "running" for s, _ in states.values()):
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError(f"the jobs did not start: {states}")
            # a duplicate delivery to another live worker is not run again
            other = Runtime(ledger, name="other:2", provider_factory=slow_factory(0.0),
                            stalled_s=options.stalled_s)  # fmt: skip
            await other.run_job(run, "s0")
            await other.close()
        finally:
            worker.cancel()  # stop: procrastinate stops its heartbeat task, the grace begins
        await asyncio.sleep(2.0)  # > stalled_s
        age = await asyncio.to_thread(heartbeat_age, ledger)
        requeued = await asyncio.to_thread(requeue_stalled, ledger, options.stalled_s)
        with contextlib.suppress(asyncio.CancelledError):
            await worker
        return other.executed, age, requeued

    try:
        duplicate_runs, age, requeued = asyncio.run(scenario())
        assert duplicate_runs == 0
        assert age < options.stalled_s
        assert requeued == 0
        # both finished inside the grace period, each started once
        assert nodes(ledger, run) == {"s0": ("succeeded", 1), "s1": ("succeeded", 1)}
        assert ledger.query("SELECT count(*) FROM gs_dist_workers")[0][0] == 0
    finally:
        ledger.close()


def test_a_heartbeat_not_shorter_than_stalled_after_is_refused() -> None:
    with pytest.raises(ConfigError, match="--heartbeat 5 must be shorter than --stalled-after 5"):
        WorkerOptions(heartbeat_s=5.0, stalled_s=5.0)


def test_deliveries_of_a_job_running_in_this_process_are_not_run_again(
    dist_db: str, tmp_path: Path
) -> None:
    run = "again-here"
    ledger = submitted(dist_db, tmp_path, run)

    async def scenario() -> int:
        runtime = Runtime(ledger, name="here:1", provider_factory=slow_factory(1.5))
        first = asyncio.create_task(runtime.run_job(run, "s0"))
        await until_running(ledger, run, "s0")
        # a second and a third delivery while it runs: the second must not make the third
        # take the job for a leftover of an earlier life of this worker
        await runtime.run_job(run, "s0")
        await runtime.run_job(run, "s0")
        await first
        await runtime.close()
        return runtime.executed

    ran_once(ledger, run, scenario)


def test_a_failed_claim_by_one_delivery_does_not_forget_the_one_running_the_job(
    dist_db: str, tmp_path: Path
) -> None:
    """Two deliveries of one job claiming at once in this process: the one whose claim finds
    the node taken gives up its own count only, so a third delivery still sees the job held
    here (with a set, the loser's discard forgot the winner and the third ran it again)."""
    run = "claims-here"
    ledger = submitted(dist_db, tmp_path, run)
    key = (run, "s0")

    async def scenario() -> int:
        runtime = Runtime(ledger, name="here:1", provider_factory=slow_factory(1.5))
        runtime._running[key] += 1  # a second delivery's claim in progress, before the first
        first = asyncio.create_task(runtime.run_job(run, "s0"))
        await until_running(ledger, run, "s0")
        runtime._leave(key)  # ... whose claim then found the node running: it gives up
        await runtime.run_job(run, "s0")  # a third delivery: held here, not run again
        await first
        await runtime.close()
        assert not runtime._running  # every claim and execution counted out
        return runtime.executed

    ran_once(ledger, run, scenario)


def test_a_worker_interrupted_while_it_opens_its_pool_leaves_nothing_running(
    dist_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while the worker starts: psycopg_pool's maintenance workers log a cancelled
    connect and carry on, so a pool left half-open kept the process from ever exiting."""
    import psycopg

    real = psycopg.AsyncConnection.connect.__func__  # type: ignore[attr-defined]

    async def slow(cls: Any, *args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0.5)  # the pool is still connecting when the worker is cancelled
        return await real(cls, *args, **kwargs)

    monkeypatch.setattr(psycopg.AsyncConnection, "connect", classmethod(slow))
    ledger = Ledger.open(dist_db)
    ensure_schema(ledger)

    async def main() -> list[str]:
        options = WorkerOptions(install_signal_handlers=False)
        worker = asyncio.create_task(serve(ledger, options))
        await asyncio.sleep(0.2)
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(worker, 10)
        await asyncio.sleep(1.0)  # the slow connect has ended by now
        left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        names = [t.get_coro().__qualname__ for t in left]  # type: ignore[union-attr]
        for task in left:  # so that a failure fails, rather than hangs the run's shutdown
            task.cancel()
        return names

    try:
        assert asyncio.run(main()) == []
    finally:
        ledger.close()
