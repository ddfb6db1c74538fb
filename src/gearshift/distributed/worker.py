"""``gearshift worker``: one process, one event loop, many jobs of any run in flight.

* procrastinate fetches jobs (LISTEN/NOTIFY, polling as a fallback) and runs up to
  ``concurrency`` of them at once through :class:`~gearshift.distributed.runtime.Runtime`.
* Heartbeat: procrastinate's worker row, this worker's ``gs_dist_workers`` row and its budget
  holds, every ``heartbeat_s`` from the worker's upkeep, until the worker has returned (through
  a SIGTERM's grace period: its in-flight jobs are not re-queued while they still run).
* Stalled jobs: every ``sweep_s`` each worker re-queues the jobs of workers silent for
  ``stalled_s`` (a ``kill -9``, a lost host) and deletes their budget holds. Re-running such a
  job pays again only for the attempt that was in flight: the attempts it finished are in the
  ledger and its chain continues where it stopped.
* Orphans: every ``stalled_s`` each worker enqueues again the nodes left ``queued`` or
  ``running`` with no queue job and no live worker holding them; ends or hand-backs the
  database refused are written again; runs idle for ``run_idle_s`` are closed.
* SIGTERM / SIGINT: no new jobs; in-flight ones get ``grace_s`` to finish, then are handed back
  to the queue (their node ``queued`` again) for another worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import text

from gearshift.distributed.build import ProviderFactory
from gearshift.distributed.holds import beat, release_orphans
from gearshift.distributed.liveness import (
    HELD,
    beat_worker,
    forget_worker,
    prune_workers,
    register_worker,
)
from gearshift.distributed.queue import (
    QUEUE,
    TASK,
    defer_in,
    ensure_schema,
    require_postgres,
    worker_app,
)
from gearshift.distributed.ratelimit import RateLimits, open_store
from gearshift.distributed.runtime import Runtime
from gearshift.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from procrastinate import App, JobContext
    from procrastinate.worker import Worker

    from gearshift.config import Config
    from gearshift.ledger.store import Ledger

__all__ = ["WorkerOptions", "requeue_orphans", "requeue_stalled", "run_worker", "serve"]

log = logging.getLogger("gearshift.worker")

#: a worker row silent this long (a day) is deleted by the others' sweeps
_FORGOTTEN_S = 86400.0
#: pg_advisory_xact_lock key serialising the stalled-job sweeps of every worker.
_SWEEP_LOCK = 7231851


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    concurrency: int = 100
    queues: tuple[str, ...] = (QUEUE,)
    heartbeat_s: float = 5.0
    stalled_s: float = 20.0
    sweep_s: float = 5.0
    grace_s: float = 30.0
    name: str | None = None
    limits: RateLimits | None = None
    #: where the rate limits' buckets live: a Redis URL, or None for the ledger's database
    rate_limit_store: str | None = None
    #: a run none of whose jobs ran here for this long is closed (built again if one comes)
    run_idle_s: float = 600.0
    #: how often to look for scheduled jobs (a batch's next poll); new jobs arrive by NOTIFY
    poll_s: float = 5.0
    #: off when the worker runs inside another program's event loop (tests, the benchmark)
    install_signal_handlers: bool = True
    #: how long a finished attempt waits for others to share its commit: a worker's jobs end
    #: one by one, so without it every job is a transaction of its own (docs/benchmarks.md)
    commit_delay_s: float = 0.01

    def __post_init__(self) -> None:
        if self.heartbeat_s >= self.stalled_s:
            raise ConfigError(
                f"--heartbeat {self.heartbeat_s:g} must be shorter than --stalled-after "
                f"{self.stalled_s:g}: other workers would take this one for dead and run its "
                "jobs again",
                hint="make --stalled-after a few heartbeats long (e.g. --heartbeat 5 "
                "--stalled-after 20)",
            )


def run_worker(
    ledger: Ledger,
    options: WorkerOptions,
    provider_factory: ProviderFactory | None = None,
    config: Config | None = None,
) -> None:
    """Run a worker until SIGTERM or SIGINT (the synchronous entry of ``gearshift worker``);
    ``config`` holds the budgets enforced for runs that enforce them."""
    require_postgres(ledger)
    ensure_schema(ledger)
    try:  # a default dependency but on Windows: a cheaper event loop for hundreds of jobs
        import uvloop
    except ImportError:
        asyncio.run(serve(ledger, options, provider_factory, config))
    else:
        uvloop.run(serve(ledger, options, provider_factory, config))


async def serve(
    ledger: Ledger,
    options: WorkerOptions,
    provider_factory: ProviderFactory | None = None,
    config: Config | None = None,
) -> None:
    from procrastinate.worker import Worker

    rate_store = None
    if options.limits is not None and options.limits.any:
        rate_store = open_store(options.rate_limit_store, ledger)
        try:
            await rate_store.check()  # an unreachable Redis: one clear error, no jobs taken
        except BaseException:
            await rate_store.close()
            raise
    runtime = Runtime(
        ledger,
        name=options.name,
        provider_factory=provider_factory,
        limits=options.limits,
        config=config,
        stalled_s=options.stalled_s,
        rate_store=rate_store,
        # one job at a time: nothing to share a commit with
        commit_delay_s=options.commit_delay_s if options.concurrency > 1 else 0.0,
    )

    async def run_job(context: JobContext, run_id: str, job_id: str) -> None:
        await runtime.run_job(run_id, job_id, queue_job=context.job.id)

    pool_size = min(20, 4 + options.concurrency // 20)
    app = worker_app(ledger, run_job, pool_size=pool_size, acks=runtime.acks)
    async with _opened(app):
        runtime.queue_pool = app.connector.pool  # type: ignore[attr-defined]
        await asyncio.to_thread(register_worker, ledger, runtime.name)
        queue_worker = Worker(
            app=app,
            queues=list(options.queues),
            concurrency=options.concurrency,
            name=runtime.name,
            delete_jobs="successful",
            fetch_job_polling_interval=options.poll_s,
            update_heartbeat_interval=options.heartbeat_s,
            stalled_worker_timeout=options.stalled_s,
            shutdown_graceful_timeout=options.grace_s,
            install_signal_handlers=options.install_signal_handlers,
        )
        side = asyncio.create_task(_upkeep(app, ledger, runtime, options, queue_worker))
        try:
            await queue_worker.run()  # type: ignore[no-untyped-call]
        finally:
            try:
                await runtime.close()
                if rate_store is not None:
                    await rate_store.close()
            finally:
                side.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await side
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(forget_worker, ledger, runtime.name)


@contextlib.asynccontextmanager
async def _opened(app: App) -> AsyncIterator[None]:
    """procrastinate's ``open_async``, closing the pool when the opening itself is interrupted
    (Ctrl-C while the worker starts): psycopg_pool's maintenance workers log a cancelled
    connect and carry on, so the interrupted process would never exit."""
    try:
        await app.open_async()
    except BaseException:
        with contextlib.suppress(Exception):
            await app.close_async()
        raise
    try:
        yield
    finally:
        await app.close_async()


async def _upkeep(
    app: App, ledger: Ledger, runtime: Runtime, options: WorkerOptions, queue_worker: Worker
) -> None:
    """Keep this worker alive in both heartbeats (procrastinate's worker row, which its own
    task stops beating at SIGTERM, and ``gs_dist_workers``) until the worker has returned;
    heartbeat its holds; re-queue stalled and orphaned jobs and free dead workers' holds."""
    every = min(options.heartbeat_s, options.sweep_s)
    since_sweep = options.sweep_s
    since_orphans = 0.0
    while True:
        try:
            if queue_worker.worker_id is not None:
                await app.job_manager.update_heartbeat(queue_worker.worker_id)
            await asyncio.to_thread(beat_worker, ledger, runtime.name)
            await asyncio.to_thread(beat, ledger, runtime.name)
            since_sweep += every
            since_orphans += every
            if runtime.has_pending:
                await asyncio.to_thread(runtime.end_pending)
            if since_sweep >= options.sweep_s:
                since_sweep = 0.0
                await asyncio.to_thread(requeue_stalled, ledger, options.stalled_s)
                await asyncio.to_thread(release_orphans, ledger, options.stalled_s)
                await runtime.evict_idle(options.run_idle_s)
            if since_orphans >= options.stalled_s:
                since_orphans = 0.0
                await asyncio.to_thread(requeue_orphans, ledger, options.stalled_s)
                await asyncio.to_thread(prune_workers, ledger, _FORGOTTEN_S)
        except asyncio.CancelledError:
            raise
        except Exception:  # the database is away: try again next round
            log.exception("worker upkeep failed")
        await asyncio.sleep(every)


def requeue_stalled(ledger: Ledger, stalled_s: float) -> int:
    """Put the jobs of workers silent for ``stalled_s`` seconds back in the queue; how many.

    Sweeps are serialised by an advisory lock and re-read the stalled jobs under it: otherwise a
    second sweeper, holding a list read before the first one's retry, would "retry" a job that
    a live worker had meanwhile fetched, and run it twice."""
    import datetime as dt

    from procrastinate.sql import queries

    with ledger.write() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _SWEEP_LOCK})
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cursor:
            cursor.execute(
                queries["select_stalled_jobs_by_heartbeat"],
                {"queue": None, "task_name": TASK, "seconds_since_heartbeat": stalled_s},
            )
            # in id order, as the commit that ends a job deletes its rows: no deadlock
            ids = sorted(row[0] for row in cursor.fetchall())
            now = dt.datetime.now(dt.UTC)
            for job_id in ids:
                cursor.execute(
                    queries["retry_job"],
                    {"job_id": job_id, "retry_at": now, "new_priority": None,
                     "new_queue_name": None, "new_lock": None},
                )  # fmt: skip
    if ids:
        log.warning("re-queued %d job(s) of stalled workers", len(ids))
    return len(ids)


#: Active nodes with no queue job behind them (the queue job failed or was dropped while the
#: node kept its state) whose worker does not hold them; queued again, at most 1000 a sweep.
_ORPHANS = text(
    "WITH lost AS (SELECT n.run_id, n.job_id FROM gs_dist_nodes n "
    "  JOIN gs_dist_runs r ON r.run_id = n.run_id AND r.status = 'running' "
    "  WHERE n.state IN ('queued', 'running') "
    f"  AND NOT (n.state = 'running' AND {HELD}) "
    "  AND NOT EXISTS (SELECT 1 FROM procrastinate_jobs j WHERE j.status IN ('todo', 'doing') "
    "    AND j.args->>'run_id' = n.run_id AND j.args->>'job_id' = n.job_id) "
    "  ORDER BY n.run_id, n.job_id LIMIT 1000 FOR UPDATE OF n SKIP LOCKED) "
    "UPDATE gs_dist_nodes n SET state = 'queued' FROM lost, gs_dist_runs r "
    "WHERE n.run_id = lost.run_id AND n.job_id = lost.job_id AND r.run_id = n.run_id "
    "RETURNING n.run_id, n.job_id, r.options"
)


def requeue_orphans(ledger: Ledger, stalled_s: float) -> int:
    """Enqueue again the nodes left ``queued`` or ``running`` with no queue job and no live
    worker holding them; how many. Serialised with the stalled sweep: a job it re-queues is
    in the queue again when the next sweep looks."""
    with ledger.write() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _SWEEP_LOCK})
        rows = conn.execute(_ORPHANS, {"stalled": stalled_s}).fetchall()
        by_queue: dict[tuple[str, str], list[str]] = {}
        for run_id, job_id, options in rows:
            queue = str(json.loads(options).get("queue") or QUEUE)
            by_queue.setdefault((run_id, queue), []).append(job_id)
        for (run_id, queue), job_ids in by_queue.items():
            defer_in(conn, run_id, job_ids, queue=queue)
    if rows:
        log.warning("re-queued %d job(s) that had no queue job", len(rows))
    return len(rows)
