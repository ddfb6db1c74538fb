"""The engine's tables in the ledger database: run outputs (for resuming) and a response cache.

``run_jobs`` remembers, per run id and job id, how a job ended and its output, so re-running a
run id skips what already succeeded (after a crash or ``kill -9`` nothing is paid twice) and hands
finished outputs to the jobs that depend on them. ``response_cache`` maps a content hash of a
request to the response text and usage, with an expiry, for exact-repeat reuse.
:class:`GroupCommit` is the engine's write path into the ledger and ``run_jobs``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, text

from gearshift.ledger.schema import response_cache, run_jobs

if TYPE_CHECKING:
    from gearshift.ledger.record import Execution
    from gearshift.ledger.store import Ledger

__all__ = [
    "CachedResponse",
    "FinishedJob",
    "GroupCommit",
    "RunStore",
    "request_key",
]

_UPSERT_RUN_JOB = text(
    "INSERT INTO run_jobs (run_id, job_id, status, output, cost_nanos, tier_path, finished_at) "
    "VALUES (:run_id, :job_id, :status, :output, :cost_nanos, :tier_path, :finished_at) "
    "ON CONFLICT (run_id, job_id) DO UPDATE SET status = excluded.status, "
    "output = excluded.output, cost_nanos = excluded.cost_nanos, "
    "tier_path = excluded.tier_path, finished_at = excluded.finished_at"
)


def request_key(
    model: str, system: str | None, prompt: str, max_tokens: int, temperature: float | None
) -> str:
    """A content hash of everything that determines a response."""
    payload = json.dumps([model, system, prompt, max_tokens, temperature], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class FinishedJob:
    job_id: str
    status: str
    output: str | None
    cost_nanos: int
    tier_path: str


@dataclass(frozen=True, slots=True)
class CachedResponse:
    text: str
    usage: Mapping[str, Any]
    model: str


def _now_us() -> int:
    return int(dt.datetime.now(dt.UTC).timestamp() * 1_000_000)


class RunStore:
    """Run outputs and the response cache of one ledger."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def finished(self, run_id: str) -> dict[str, FinishedJob]:
        query = select(
            run_jobs.c.job_id,
            run_jobs.c.status,
            run_jobs.c.output,
            run_jobs.c.cost_nanos,
            run_jobs.c.tier_path,
        ).where(run_jobs.c.run_id == run_id)
        with self.ledger.read() as conn:
            return {row[0]: FinishedJob(*row) for row in conn.execute(query)}

    def save(self, run_id: str, job: FinishedJob) -> None:
        self.save_many(run_id, [job])

    def save_many(self, run_id: str, jobs: Sequence[FinishedJob]) -> None:
        """Record finished jobs in one transaction (the engine's group commit); a job saved
        again replaces its record. One upsert statement, the same on SQLite and PostgreSQL."""
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
                "tier_path": job.tier_path,
                "finished_at": now,
            }
            for job in {job.job_id: job for job in jobs}.values()
        ]
        with self.ledger.write() as conn:
            conn.execute(_UPSERT_RUN_JOB, rows)

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
    waiters: list[asyncio.Future[None]] = field(default_factory=list)
    finished: list[FinishedJob] = field(default_factory=list)
    written: bool = False


class GroupCommit:
    """The engine's write path: ledger rows and finished-job marks, batched per event-loop turn.

    Every row queued while the loop runs other work is written in one transaction, scheduled
    with ``call_soon``, so a thousand concurrent attempts cost a few transactions rather than a
    thousand (one SQLite transaction per row cost ~250 µs; see docs/benchmarks.md).

    * :meth:`record` returns only once its row is written: a caller never goes on to pay for
      more work before the last attempt is in the ledger.
    * :meth:`mark_finished` is not awaited; marks are written after the rows queued before them,
      so no job is marked done whose attempts are missing. Losing a mark in a crash costs a
      re-run, never an unrecorded attempt.
    * A failed write raises in every waiting :meth:`record`; with nobody waiting, in the next
      call. Everything runs on the event loop's thread, so writes never contend for the
      database lock with each other.
    """

    def __init__(self, ledger: Ledger | None, store: RunStore | None, run_id: str) -> None:
        self.ledger, self.store, self.run_id = ledger, store, run_id
        self._pending: _Pending | None = None
        self._failed: Exception | None = None

    async def record(self, execution: Execution) -> None:
        waiter = asyncio.get_running_loop().create_future()
        pending = self._queue()
        pending.rows.append(execution)
        pending.waiters.append(waiter)
        await waiter

    def enqueue(self, execution: Execution) -> None:
        """Queue a row without waiting for it (for paths being cancelled: the row is written
        with the next group commit, or by :meth:`flush` on the way out)."""
        self._queue().rows.append(execution)

    def mark_finished(self, finished: FinishedJob) -> None:
        self._queue().finished.append(finished)

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
            asyncio.get_running_loop().call_soon(self._scheduled, self._pending)
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
            if pending.rows and self.ledger is not None:
                self.ledger.add_many(pending.rows)
            if pending.finished and self.store is not None:
                self.store.save_many(self.run_id, pending.finished)
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
