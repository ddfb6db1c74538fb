"""The engine's tables in the ledger database: runs, job states (for resuming) and a response cache.

``runs`` keeps the pipeline and options a run was started with, so resuming its id reuses them.
``run_jobs`` remembers, per run id and job id, how far a job got: ``succeeded`` with its output
(re-running the run id skips it and hands the output to its dependants), or ``running`` /
``error`` with the ``progress`` of its escalation chain (a resume continues the chain where it
stopped), or ``failed``. ``response_cache`` maps a content hash of a request to the response
text and usage, with an expiry, for exact-repeat reuse.

:class:`GroupCommit` is the engine's one write path: an attempt's ledger row, the release of its
budget hold and the state of its job commit in **one** transaction, so a ``kill -9`` can never
leave a paid attempt without its job's state (paid twice on resume) or a state without its row.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, select, text

from gearshift.errors import LedgerConflict
from gearshift.ledger.queries import run_costs
from gearshift.ledger.schema import response_cache, run_jobs, runs

if TYPE_CHECKING:
    from gearshift.budgets.reservations import Reservation, Reservations
    from gearshift.ledger.record import Execution
    from gearshift.ledger.store import Ledger

__all__ = [
    "CachedResponse",
    "FinishedJob",
    "GroupCommit",
    "RunStore",
    "request_key",
]

#: The upsert of a job's state; ``RunStore.kept`` (a SQL condition on the stored row) limits
#: which stored states a save may replace.
#: How many times a group commit PostgreSQL aborted as a deadlock victim is written.
_CONFLICT_ATTEMPTS = 3

_UPSERT_RUN_JOB = (
    "INSERT INTO run_jobs (run_id, job_id, status, output, cost_nanos, tier_path, finished_at, "
    "progress) VALUES (:run_id, :job_id, :status, :output, :cost_nanos, :tier_path, "
    ":finished_at, :progress) "
    "ON CONFLICT (run_id, job_id) DO UPDATE SET status = excluded.status, "
    "output = excluded.output, cost_nanos = excluded.cost_nanos, "
    "tier_path = excluded.tier_path, finished_at = excluded.finished_at, "
    "progress = excluded.progress"
)
_UPSERT_RUN = text(
    "INSERT INTO runs (run_id, pipeline, options, created_at, updated_at) "
    "VALUES (:run_id, :pipeline, :options, :now, :now) "
    "ON CONFLICT (run_id) DO UPDATE SET pipeline = excluded.pipeline, "
    "options = excluded.options, updated_at = excluded.updated_at"
)


def request_key(
    model: str, system: str | None, prompt: str, max_tokens: int, temperature: float | None
) -> str:
    """A content hash of everything that determines a response."""
    payload = json.dumps([model, system, prompt, max_tokens, temperature], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class FinishedJob:
    """A job's (or a batch item's) state under a run id: ``succeeded`` with its ``output``;
    ``running`` or ``error`` with the ``progress`` of its chain (see
    :mod:`gearshift.engine.strategies.tiered`); ``failed``. ``cost_nanos`` and ``tier_path``
    are what it had cost and where it had run when the state was written."""

    job_id: str
    status: str
    output: str | None
    cost_nanos: int
    tier_path: str
    progress: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class CachedResponse:
    text: str
    usage: Mapping[str, Any]
    model: str


def _now_us() -> int:
    return int(dt.datetime.now(dt.UTC).timestamp() * 1_000_000)


class RunStore:
    """Run outputs and the response cache of one ledger."""

    #: SQL condition on the stored ``run_jobs`` row: a save replaces it only when it holds
    #: (``None``: always).
    replaceable: str | None = None

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        upsert = _UPSERT_RUN_JOB
        if self.replaceable is not None:
            upsert += f" WHERE {self.replaceable}"
        self._upsert = text(upsert)

    def finished(self, run_id: str) -> dict[str, FinishedJob]:
        """Every job state saved under ``run_id``, by job id."""
        c = run_jobs.c
        query = select(c.job_id, c.status, c.output, c.cost_nanos, c.tier_path, c.progress).where(
            c.run_id == run_id
        )
        with self.ledger.read() as conn:
            return {
                row[0]: FinishedJob(*row[:5], json.loads(row[5]) if row[5] else None)
                for row in conn.execute(query)
            }

    def save(self, run_id: str, job: FinishedJob) -> None:
        self.save_many(run_id, [job])

    def save_many(self, run_id: str, jobs: Sequence[FinishedJob]) -> None:
        """Record job states in one transaction of their own."""
        if jobs:
            with self.ledger.write() as conn:
                self.save_in(conn, run_id, jobs)

    def save_in(self, conn: Connection, run_id: str, jobs: Sequence[FinishedJob]) -> None:
        """Record job states inside the caller's write transaction; a job saved again replaces
        its state. One upsert statement, the same on SQLite and PostgreSQL."""
        if not jobs:
            return
        now = dt.datetime.now(dt.UTC).isoformat()
        rows = [
            {
                "run_id": run_id,
                "job_id": job.job_id,
                "status": job.status,
                "output": job.output,
                "cost_nanos": job.cost_nanos,
                "tier_path": job.tier_path[:100],
                "finished_at": now,
                "progress": json.dumps(dict(job.progress)) if job.progress else None,
            }
            for job in {job.job_id: job for job in jobs}.values()
        ]
        conn.execute(self._upsert, rows)

    def costs(self, run_id: str) -> dict[str | None, int]:
        """What the ledger holds for ``run_id``, per job id (task key): a resumed run's report
        counts every attempt an earlier session paid for."""
        return run_costs(self.ledger, run_id)

    def save_run(self, run_id: str, pipeline: str, options: Mapping[str, Any]) -> None:
        """Remember the pipeline and options ``run_id`` runs with (replacing earlier ones)."""
        params = {
            "run_id": run_id,
            "pipeline": pipeline,
            "options": json.dumps(dict(options), sort_keys=True),
            "now": dt.datetime.now(dt.UTC).isoformat(),
        }
        with self.ledger.write() as conn:
            conn.execute(_UPSERT_RUN, params)

    def run(self, run_id: str) -> tuple[str, dict[str, Any]] | None:
        """The pipeline and options ``run_id`` was started with, or ``None``."""
        query = select(runs.c.pipeline, runs.c.options).where(runs.c.run_id == run_id)
        with self.ledger.read() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        options: dict[str, Any] = json.loads(row[1])
        return str(row[0]), options

    def cache_get(self, key: str) -> CachedResponse | None:
        query = select(response_cache.c.text, response_cache.c.usage, response_cache.c.model).where(
            response_cache.c.key == key, response_cache.c.expires_us > _now_us()
        )
        with self.ledger.read() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return CachedResponse(row[0], json.loads(row[1]), row[2])

    def cache_put(
        self, key: str, model: str, text: str, usage: Mapping[str, Any], ttl_s: int
    ) -> None:
        now = _now_us()
        with self.ledger.write() as conn:
            conn.execute(delete(response_cache).where(response_cache.c.key == key))
            conn.execute(
                response_cache.insert().values(
                    key=key,
                    model=model,
                    text=text,
                    usage=json.dumps(dict(usage)),
                    created_us=now,
                    expires_us=now + ttl_s * 1_000_000,
                )
            )


@dataclass(slots=True)
class _Pending:
    rows: list[Execution] = field(default_factory=list)
    held: list[Reservation] = field(default_factory=list)
    marks: list[FinishedJob] = field(default_factory=list)
    waiters: list[asyncio.Future[None]] = field(default_factory=list)
    written: bool = False


class GroupCommit:
    """The engine's write path: ledger rows, the budget holds they settle and job states, all
    queued in one event-loop turn written in ONE transaction.

    Everything queued while the loop runs other work is written together, scheduled with
    ``call_soon``, so a thousand concurrent attempts cost a few transactions rather than a
    thousand (one SQLite transaction per row cost ~250 µs; see docs/benchmarks.md).

    * :meth:`record` returns only once its row is written: a caller never goes on to pay for
      more work before the last attempt is in the ledger. The job state passed with a row (its
      job finished, or how far its chain got) and the hold it settles commit with it, so a crash
      leaves either all of them or none.
    * :meth:`mark` (a state without a row) is not awaited; it is written with the rows queued
      before it.
    * A failed write raises in every waiting :meth:`record`; with nobody waiting, in the next
      call. Everything runs on the event loop's thread, so writes never contend for the
      database lock with each other.
    * ``delay_s`` (PostgreSQL's ``commit_delay``, for the distributed worker): the first row
      queued waits that long for others to share its transaction. Where jobs finish one by one
      (a worker's jobs arrive one fetch at a time) that is what makes commits groups at all.
    """

    def __init__(
        self,
        ledger: Ledger | None,
        store: RunStore | None,
        run_id: str,
        guard: Reservations | None = None,
        *,
        delay_s: float = 0.0,
    ) -> None:
        self.ledger, self.store, self.run_id, self.guard = ledger, store, run_id, guard
        self.delay_s = delay_s
        self._pending: _Pending | None = None
        self._failed: Exception | None = None

    async def record(
        self,
        execution: Execution,
        *,
        mark: FinishedJob | None = None,
        settles: Reservation | None = None,
    ) -> None:
        """Write ``execution`` -- with ``mark`` and the release of ``settles`` -- and wait."""
        waiter = asyncio.get_running_loop().create_future()
        self.enqueue(execution, mark=mark, settles=settles)
        self._queue().waiters.append(waiter)
        await waiter

    def enqueue(
        self,
        execution: Execution,
        *,
        mark: FinishedJob | None = None,
        settles: Reservation | None = None,
    ) -> None:
        """Queue a row without waiting for it (for paths being cancelled, and retried attempts:
        the row is written with the next group commit, or by :meth:`flush` on the way out)."""
        pending = self._queue()
        pending.rows.append(execution)
        if settles is not None:
            pending.held.append(settles)
        if mark is not None:
            pending.marks.append(mark)

    def mark(self, state: FinishedJob) -> None:
        self._queue().marks.append(state)

    def flush(self) -> None:
        """Write what is queued now; raise if that fails."""
        pending, self._pending = self._pending, None
        error = self._write(pending) if pending is not None else None
        if error is not None:
            raise error

    def _queue(self) -> _Pending:
        if self._failed is not None:
            error, self._failed = self._failed, None
            raise error
        if self._pending is None:
            self._pending = _Pending()
            loop = asyncio.get_running_loop()
            if self.delay_s > 0:
                loop.call_later(self.delay_s, self._scheduled, self._pending)
            else:
                loop.call_soon(self._scheduled, self._pending)
        return self._pending

    def _scheduled(self, pending: _Pending) -> None:
        if self._pending is pending:
            self._pending = None
        error = self._write(pending)
        if error is not None and not pending.waiters:
            self._failed = error

    def _write(self, pending: _Pending) -> Exception | None:
        """Write ``pending`` once and wake its waiters; the error, if writing failed."""
        if pending.written:
            return None
        pending.written = True
        error: Exception | None = None
        try:
            self._commit(pending)
        except Exception as exc:
            error = exc
        for waiter in pending.waiters:
            if waiter.done():  # its caller was cancelled
                continue
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error)
        return error

    def _commit(self, pending: _Pending) -> None:
        ledger, guard = self.ledger, self.guard
        if ledger is None:
            if pending.held and guard is not None:
                for held in pending.held:
                    guard.release(held)
            return
        shared = guard is not None and guard.ledger is ledger
        for attempt in range(1, _CONFLICT_ATTEMPTS + 1):
            try:
                with ledger.write() as conn:
                    if pending.rows:
                        ledger.add_in(conn, pending.rows)
                    if pending.held and guard is not None and shared:
                        guard.settle_in(conn, pending.held)
                    if pending.marks and self.store is not None:
                        self.store.save_in(conn, self.run_id, pending.marks)
                break
            except LedgerConflict:  # a deadlock victim: nothing was written, write it again
                if attempt == _CONFLICT_ATTEMPTS:
                    raise
                time.sleep(random.uniform(0.02, 0.1) * attempt)  # let the other one through
        if pending.held and guard is not None and not shared:  # budgets kept elsewhere
            for held in pending.held:
                guard.release(held)
