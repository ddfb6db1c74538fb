"""What a worker does with one queued ``(run_id, job_id)``: the local engine's path, dispatched.

A job runs exactly as ``--executor local`` runs it -- routed, then its strategy through
:meth:`RunContext.call <gearshift.engine.context.RunContext.call>` (budget hold, retry loop,
validators, one group commit of the attempt's row, its hold's release and its job's state) --
with a :class:`~gearshift.distributed.graph.DistributedRunStore`, so the commit that saves a job
as succeeded also finishes its node and enqueues its ready children.

Per run id a worker keeps one context (provider, router, group commit), built from the run's
stored pipeline and options (:mod:`~gearshift.distributed.build`).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import json
import logging
import os
import random
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, text

from gearshift.distributed.batches import BatchPending, DeferredBatches, has_batches
from gearshift.distributed.build import (
    ProviderFactory,
    default_provider,
    run_catalog,
    stored_pipeline,
)
from gearshift.distributed.graph import TERMINAL, DistributedRunStore, end_in, load_run
from gearshift.distributed.liveness import HELD
from gearshift.distributed.queue import QUEUE, Acks, defer_in
from gearshift.engine.run_state import FinishedJob
from gearshift.engine.runner import Engine
from gearshift.errors import ConfigError, GearshiftError, LedgerConflict

if TYPE_CHECKING:
    from gearshift.config import Config
    from gearshift.distributed.ratelimit import RateLimits
    from gearshift.distributed.ratelimit_store import BucketStore
    from gearshift.engine.context import RunContext
    from gearshift.engine.job import Job
    from gearshift.ledger.store import Ledger

__all__ = ["Runtime", "worker_name"]

log = logging.getLogger("gearshift.worker")

_CLAIM = text(
    f"SELECT n.state, r.status, n.worker, {HELD}, r.updated_at FROM gs_dist_nodes n "
    "JOIN gs_dist_runs r ON r.run_id = n.run_id "
    "WHERE n.run_id = :run AND n.job_id = :job FOR UPDATE OF n"
)
#: the usual claim in one statement: a ``queued`` node of a run neither cancelled nor submitted
#: again since it was built here starts, and its dependencies' rows and its own come back (one
#: row, of NULLs but the first, when there are none); no row: :data:`_CLAIM` decides. The node
#: is found and locked by its primary key first (a condition on its state in the UPDATE would
#: let the planner walk the run's queued nodes through the state index instead).
#: (psycopg's parameter style: it runs on the queue's async pool, or through SQLAlchemy's
#: ``exec_driver_sql`` when the runtime has none; ``{ids}``: one placeholder per id, see
#: :func:`_claim_sql`)
_CLAIM_QUEUED = (
    "WITH node AS MATERIALIZED (SELECT state FROM gs_dist_nodes "
    "  WHERE run_id = %(run)s AND job_id = %(job)s FOR UPDATE), "
    "claimed AS (UPDATE gs_dist_nodes n SET state = 'running', starts = n.starts + 1, "
    "  worker = %(worker)s, started_at = clock_timestamp() FROM node, gs_dist_runs r "
    "  WHERE n.run_id = %(run)s AND n.job_id = %(job)s AND node.state = 'queued' "
    "  AND r.run_id = %(run)s AND r.status <> 'cancelled' AND r.updated_at = %(version)s "
    "  RETURNING n.job_id) "
    "SELECT c.job_id, s.job_id, s.status, s.output, s.cost_nanos, s.tier_path, s.progress "
    "FROM claimed c LEFT JOIN run_jobs s ON s.run_id = %(run)s AND s.job_id IN ({ids})"
)


def _claim_sql(ids: Sequence[str]) -> tuple[str, dict[str, Any]]:
    """:data:`_CLAIM_QUEUED` for ``ids`` (the job and its parents), and their parameters.

    One placeholder each (``id0``, ``id1``...), not ``= ANY(array)``: the statement is prepared
    after a few runs, and a generic plan made while ``run_jobs`` was nearly empty filtered the
    whole run's rows for the ids instead of looking them up by primary key -- 1.7 ms a claim
    at 10,000 jobs (server log). Above :data:`_PLACEHOLDERS` ids (a wide fan-in; PostgreSQL
    takes at most 65,535 parameters) it is one array, and not prepared."""
    if len(ids) > _PLACEHOLDERS:
        array = "SELECT unnest(CAST(%(ids)s AS VARCHAR[]))"
        return _CLAIM_QUEUED.format(ids=array), {"ids": list(ids)}
    names = [f"id{i}" for i in range(len(ids))]
    return _CLAIM_QUEUED.format(ids=", ".join(f"%({n})s" for n in names)), dict(
        zip(names, ids, strict=True)
    )


_PLACEHOLDERS = 100


_VERSION = text("SELECT updated_at FROM gs_dist_runs WHERE run_id = :run")
#: what :meth:`Runtime._claim` returns when the run was submitted again since it was built
_STALE = "stale"
_START = text(
    "UPDATE gs_dist_nodes SET state = 'running', starts = starts + 1, worker = :worker, "
    "started_at = clock_timestamp() WHERE run_id = :run AND job_id = :job"
)
_CANCEL = text(
    "UPDATE gs_dist_nodes SET state = 'cancelled', finished_at = clock_timestamp() "
    "WHERE run_id = :run AND job_id = :job"
)
_HAND_BACK = text(
    "UPDATE gs_dist_nodes SET state = 'queued' WHERE run_id = :run AND job_id = :job "
    "AND state = 'running' AND worker = :worker RETURNING job_id"
)
_UNCOUNT = text(
    "UPDATE gs_dist_nodes SET starts = starts - 1 WHERE run_id = :run AND job_id = :job"
)
_STATES = text(
    "SELECT job_id, status, output, cost_nanos, tier_path, progress FROM run_jobs "
    "WHERE run_id = :run AND job_id IN :ids"
).bindparams(bindparam("ids", expanding=True))


def worker_name() -> str:
    """``host:pid``: what a node's ``worker`` column says, and what a hold is tagged with."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(slots=True)
class _Run:
    ctx: RunContext
    engine: Engine
    jobs: dict[str, Job]
    queue: str
    #: the run row's ``updated_at`` when it was built: a submission of the run again changes it
    version: Any = None
    #: jobs of it executing here, and when one last started or ended (``time.monotonic``)
    active: int = 0
    used: float = field(default_factory=time.monotonic)


class Runtime:
    """Runs queued jobs of any run on this worker (see the module docstring)."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        name: str | None = None,
        provider_factory: ProviderFactory | None = None,
        limits: RateLimits | None = None,
        config: Config | None = None,
        stalled_s: float = 20.0,
        rate_store: BucketStore | None = None,
        commit_delay_s: float = 0.0,
    ) -> None:
        self.ledger = ledger
        #: how long a finished attempt waits for others to share its commit
        self.commit_delay_s = commit_delay_s
        self.stalled_s = stalled_s
        self.limits = limits
        #: where the shared rate limits' buckets live (None: the ledger's database)
        self.rate_store = rate_store
        self.config = config
        self.name = name or worker_name()
        self.provider_factory = provider_factory or default_provider
        self._runs: dict[str, _Run] = {}
        self._building: dict[str, asyncio.Lock] = {}
        #: (run id, job id) this process is executing now
        #: per job, the claims of it in progress in this process plus its execution here (a
        #: count, not a set: two deliveries of one job claiming at once must not forget the
        #: one that started it)
        self._running: collections.Counter[tuple[str, str]] = collections.Counter()
        #: the writes that end or hand back a node, by (run id, job id), the database refused
        self._unended: dict[tuple[str, str], Callable[[], None]] = {}
        #: builds of runs replaced or idle, closed once their jobs here have finished
        self._retired: list[_Run] = []
        #: the queue rows of the jobs executing here, deleted by the commits that end them
        self.acks = Acks()
        #: the queue's async psycopg pool (autocommit), where claims run when it is set
        self.queue_pool: Any = None
        self.executed = 0

    async def run_job(self, run_id: str, job_id: str, *, queue_job: int | None = None) -> None:
        """Execute one job, unless it already ended (a duplicate delivery) or its run was
        cancelled. A job that does not succeed ends its node and skips what is below it.

        Whatever goes wrong, the node does not stay ``queued`` or ``running`` with nothing
        behind it: an error setting up the run or executing the job ends it ``error`` with the
        reason (retried from the upkeep while the database is away); an error claiming it
        leaves it ``queued`` for the orphan sweep (:func:`requeue_orphans`) to enqueue again.

        ``queue_job``: the id of the job's queue row, deleted by the commit that ends the job
        (:class:`~gearshift.distributed.queue.Acks`)."""
        for _ in range(3):  # built again when the run was submitted again meanwhile
            try:
                run = await self._run(run_id)
            except Exception as exc:  # the run cannot be set up here: say so on the job
                await self._fail(run_id, job_id, f"worker: {_describe(exc)}", ack=queue_job)
                return
            job = run.jobs.get(job_id)
            if job is None:
                if await asyncio.to_thread(self._stale, run):
                    self._retire(run)
                    continue
                await self._fail(
                    run_id, job_id, f"worker: job {job_id!r} is not in the run's pipeline any "
                    "more (it was submitted again without it)", ack=queue_job,
                )  # fmt: skip
                return
            claimed = await self._claim(run, job)
            if claimed != _STALE:
                break
            self._retire(run)
        else:
            await self._fail(
                run_id, job_id, "worker: the run kept being submitted again", ack=queue_job
            )
            return
        if claimed is None or isinstance(claimed, str):
            return
        outputs, state = claimed
        self.executed += 1
        run.active += 1
        self.acks.start(run_id, job_id, queue_job)
        try:
            outcome = await run.engine.run_one(job, outputs, state)
            if outcome.status == "succeeded" and not outcome.marked:
                finished = FinishedJob(
                    job.id, "succeeded", outcome.output, outcome.cost_nanos, outcome.tier_path
                )
                run.ctx.save_finished(finished)
                run.ctx.flush()  # committed before the queue job is marked done
            if outcome.status == "succeeded":
                self.acks.confirm(queue_job)  # that commit deleted its queue row
            else:
                await self._fail(run_id, job_id, outcome.reason, outcome.status, ack=queue_job)
        except BatchPending as pending:
            self._hand_back(run, job_id, after_s=pending.after_s)
        except asyncio.CancelledError:
            self._hand_back(run, job_id)
            raise
        except Exception as exc:
            log.exception("job %s of run %s failed on this worker", job_id, run_id)
            await self._fail(run_id, job_id, _describe(exc), ack=queue_job)
        finally:
            self.acks.stop(run_id, job_id)
            self._leave((run_id, job_id))
            run.active -= 1
            run.used = time.monotonic()

    async def _fail(
        self, run_id: str, job_id: str, reason: str, status: str = "error", *,
        ack: int | None = None,
    ) -> None:  # fmt: skip
        """End a node that did not succeed (and delete its queue row ``ack`` with it); when the
        database refuses, keep it for the upkeep's :meth:`end_pending` and fail the queue job
        (it is logged there)."""
        try:
            await asyncio.to_thread(self._end, run_id, job_id, status, reason, ack)
        except Exception:
            self._unended[(run_id, job_id)] = functools.partial(
                self._end_later, run_id, job_id, status, reason, ack
            )
            raise
        self.acks.confirm(ack)

    def _end_later(
        self, run_id: str, job_id: str, status: str, reason: str, ack: int | None
    ) -> None:
        """:meth:`_end` from the upkeep: the queue row goes with the node's end, as it would
        have (procrastinate's finish of it has been tried and has failed meanwhile)."""
        self._end(run_id, job_id, status, reason, ack)
        if ack is not None:
            self.acks.handed(ack)  # its bookkeeping forgotten: the row is gone

    @property
    def has_pending(self) -> bool:
        return bool(self._unended)

    def end_pending(self) -> int:
        """End, or hand back, the nodes :meth:`run_job` could not (the database was away): a
        node left ``running`` under this live worker is not the orphan sweep's; how many."""
        ended = 0
        for key, write in list(self._unended.items()):
            write()
            del self._unended[key]
            ended += 1
        return ended

    def _end(
        self, run_id: str, job_id: str, status: str, reason: str, ack: int | None = None
    ) -> None:
        for attempt in range(1, 4):
            try:
                with self.ledger.write() as conn:
                    end_in(conn, run_id, job_id, status, reason)
                    if ack is not None:
                        self.acks.delete_in(conn, [ack])
                return
            except LedgerConflict:  # a deadlock victim: nothing was written
                if attempt == 3:
                    raise
                time.sleep(random.uniform(0.05, 0.2) * attempt)  # let the other one through

    async def _claim(
        self, run: _Run, job: Job
    ) -> tuple[dict[str, str], FinishedJob | None] | str | None:
        """Start ``job`` and read its dependencies' outputs and how far an earlier attempt got
        with it; ``None`` when it must not run (it ended already, its run was cancelled, or it
        is running on a live worker -- this process included -- that started it: a duplicate
        delivery); ``_STALE`` when the run was submitted again since ``run`` was built
        (nothing changed then).

        The usual claim is one statement, committed on its own (no BEGIN and COMMIT round
        trips), on the queue's async pool when there is one (no thread, no SQLAlchemy); the job
        counts as running here from before it, so that a second delivery to this process,
        which waits for the node's row, then finds it held. Anything else is decided under
        the node's row lock, in a thread (the event loop keeps running)."""
        run_id = run.ctx.run_id
        here = (run_id, job.id)
        sql, params = _claim_sql([*job.depends_on, job.id])
        params.update(run=run_id, job=job.id, worker=self.name, version=run.version)
        self._running[here] += 1
        try:
            if self.queue_pool is not None:
                async with self.queue_pool.connection() as aconn:
                    prepare = None if "ids" not in params else False
                    claimed = await (await aconn.execute(sql, params, prepare=prepare)).fetchall()
            else:
                claimed = await asyncio.to_thread(self._claim_queued, sql, params)
        except BaseException:
            self._leave(here)
            # the statement may have committed with its answer lost: the node would stay
            # ``running`` under this live worker with no queue row; the upkeep puts it back
            # in the queue (a no-op unless it is ``running`` here)
            self._unended.setdefault(here, functools.partial(self._requeue_lost, run, job.id))
            raise
        if claimed:
            return _inputs(job, [r[1:] for r in claimed if r[1] is not None])
        self._leave(here)
        return await asyncio.to_thread(self._claim_locked, run, job)

    def _claim_queued(self, sql: str, params: dict[str, Any]) -> list[Any]:
        with self._autocommit() as conn:
            return list(conn.exec_driver_sql(sql, params).fetchall())

    def _claim_locked(
        self, run: _Run, job: Job
    ) -> tuple[dict[str, str], FinishedJob | None] | str | None:
        """:meth:`_claim` for a node that was not simply ``queued``, under its row lock."""
        run_id = run.ctx.run_id
        key = {"run": run_id, "job": job.id}
        ids = [*job.depends_on, job.id]
        here = (run_id, job.id)
        started = False
        try:
            with self.ledger.write() as conn:
                row = conn.execute(_CLAIM, {**key, "stalled": self.stalled_s}).first()
                if row is None or row[0] in TERMINAL:
                    return None
                if row[1] == "cancelled":  # before the version: cancelling changes it
                    conn.execute(_CANCEL, key)
                    return None
                if row[4] != run.version:
                    return _STALE
                if row[0] == "running" and self._held(run_id, job.id, row[2], bool(row[3])):
                    log.info("job %s of run %s runs on %s already: not run again", job.id, run_id,
                             row[2])  # fmt: skip
                    return None
                conn.execute(_START, {**key, "worker": self.name})
                self._running[here] += 1  # under the row lock: a second delivery waits
                started = True
                rows = conn.execute(_STATES, {"run": run_id, "ids": ids})
                return _inputs(job, rows.fetchall())
        except BaseException:
            if started:  # not committed
                self._leave(here)
            raise

    @contextlib.contextmanager
    def _autocommit(self) -> Iterator[Connection]:
        """A ledger connection whose every statement commits on its own."""
        with self.ledger.read() as conn:
            yield conn.execution_options(isolation_level="AUTOCOMMIT")

    def _held(self, run_id: str, job_id: str, worker: str | None, live: bool) -> bool:
        """Whether a ``running`` node is being executed elsewhere: on another live worker, or
        in this process (a node this process's previous life left under its name is not)."""
        if worker == self.name:
            return self._running[(run_id, job_id)] > 0
        return live

    def _leave(self, key: tuple[str, str]) -> None:
        self._running[key] -= 1
        if self._running[key] <= 0:
            del self._running[key]

    def _hand_back(self, run: _Run, job_id: str, *, after_s: float | None = None) -> None:
        """A job stopped by shutdown goes back to the queue (its paid attempts are recorded:
        the context writes them on the way out); one waiting for its Message Batch comes back
        ``after_s`` seconds later, its visit not counted as a start. When the database refuses,
        the upkeep tries again (:meth:`end_pending`)."""
        try:
            run.ctx.flush()
        finally:
            requeue = functools.partial(self._requeue, run.ctx.run_id, job_id, run.queue, after_s)
            try:
                requeue()
            except Exception:
                self._unended[(run.ctx.run_id, job_id)] = requeue
                raise

    def _requeue_lost(self, run: _Run, job_id: str) -> None:
        """Queue again a node whose claim may have committed with its answer lost -- unless a
        delivery of it is being claimed or executed here now (then it is not lost)."""
        if self._running[(run.ctx.run_id, job_id)] == 0:
            self._requeue(run.ctx.run_id, job_id, run.queue, None)

    def _requeue(self, run_id: str, job_id: str, queue: str, after_s: float | None) -> None:
        with self.ledger.write() as conn:
            back = conn.execute(
                _HAND_BACK, {"run": run_id, "job": job_id, "worker": self.name}
            ).first()
            if back is not None:
                if after_s is not None:
                    conn.execute(_UNCOUNT, {"run": run_id, "job": job_id})
                defer_in(conn, run_id, [job_id], queue=queue, after_s=after_s)

    def _stale(self, run: _Run) -> bool:
        with self.ledger.read() as conn:
            return bool(conn.execute(_VERSION, {"run": run.ctx.run_id}).scalar() != run.version)

    def _retire(self, run: _Run) -> None:
        """Forget ``run`` as the run's current build (its jobs in flight finish with it); the
        next job of the run builds it again from the stored pipeline and options."""
        if self._runs.get(run.ctx.run_id) is run:
            del self._runs[run.ctx.run_id]
            self._retired.append(run)

    async def evict_idle(self, idle_s: float) -> int:
        """Close the runs no job has used for ``idle_s`` seconds (finished or submitted again:
        a new job builds its run again); how many."""
        now = time.monotonic()
        for run in list(self._runs.values()):
            if run.active == 0 and now - run.used >= idle_s:
                self._retire(run)
        done = [run for run in self._retired if run.active == 0]
        self._retired = [run for run in self._retired if run.active > 0]
        for run in done:
            run.ctx.flush()
            await run.ctx.provider.close()
        return len(done)

    async def _run(self, run_id: str) -> _Run:
        cached = self._runs.get(run_id)
        if cached is not None:
            return cached
        lock = self._building.setdefault(run_id, asyncio.Lock())
        async with lock:
            if run_id not in self._runs:
                self._runs[run_id] = await asyncio.to_thread(self._build, run_id)
        return self._runs[run_id]

    def _build(self, run_id: str) -> _Run:
        from gearshift.engine.context import RunContext

        record = load_run(self.ledger, run_id)
        if record is None:
            raise ConfigError(f"run {run_id} is not in this ledger's distributed runs")
        options = record.options
        catalog = run_catalog(run_id, options, self.ledger.catalog)
        sim = options.get("provider") == "sim"
        pipeline = stored_pipeline(
            record.pipeline_path, record.pipeline_text, options, catalog, sim
        )
        queue = str(options.get("queue") or QUEUE)
        limiter = None
        if self.limits is not None and self.limits.any:
            from gearshift.distributed.ratelimit import SharedRateLimiter, open_store, provider_key

            if self.rate_store is None:
                self.rate_store = open_store(None, self.ledger)
            name = str(options.get("provider") or "anthropic")
            secret = os.environ.get("ANTHROPIC_API_KEY") if name == "anthropic" else None
            limiter = SharedRateLimiter(self.rate_store, provider_key(name, secret), self.limits)
        provider = self.provider_factory(options, catalog, limiter)
        if has_batches(provider):
            provider = DeferredBatches(provider, self.ledger, run_id)
        ctx = RunContext(
            provider=provider,
            catalog=catalog,
            router=pipeline.router(catalog),
            ledger=self.ledger,
            run_id=run_id,
            store=DistributedRunStore(self.ledger, queue, self.acks),
            project=str(options.get("project") or ""),
            source="sim" if sim else "api",
            concurrency=int(options.get("worker_calls") or 1000),
            load_aware=bool(options.get("load_aware")),
            budget_wait_s=float(options.get("budget_wait") or 30.0),
            commit_delay_s=self.commit_delay_s,
        )
        if options.get("enforce_budgets"):
            from gearshift.distributed.holds import WorkerReservations

            ctx.guard = WorkerReservations(self.ledger, self.name, config=self.config)
        jobs = {job.id: job for job in pipeline.jobs}
        return _Run(ctx, Engine(ctx), jobs, queue, record.version)

    async def close(self) -> None:
        for run in [*self._runs.values(), *self._retired]:
            run.ctx.flush()
            await run.ctx.provider.close()


def _describe(exc: Exception) -> str:
    return exc.message if isinstance(exc, GearshiftError) else f"{type(exc).__name__}: {exc}"


def _inputs(job: Job, rows: Sequence[Any]) -> tuple[dict[str, str], FinishedJob | None]:
    """The outputs of ``job``'s dependencies, and how far an earlier attempt got with it."""
    outputs: dict[str, str] = {}
    state: FinishedJob | None = None
    for row in rows:
        if row[0] == job.id:
            progress = json.loads(row[5]) if row[5] else None
            state = FinishedJob(row[0], row[1], row[2], row[3], row[4], progress)
        elif row[1] == "succeeded":
            outputs[row[0]] = row[2] or ""
    return outputs, state
