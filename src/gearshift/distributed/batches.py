"""Message Batches on workers: submit, then poll from a scheduled queue job -- no worker slot is
held while a batch runs (up to 24 hours).

:class:`DeferredBatches` wraps a run's provider. The batch strategy runs unchanged:

* ``submit_batch`` submits once per ``(run_id, job_id)`` and remembers the batch id in
  ``gs_dist_batches``; when the job runs again it gets the same id back (nothing re-submitted,
  nothing paid twice -- after a crash or a resume too);
* ``poll_batch`` checks the status once: ended, the strategy collects and records the results
  as it does in-process; still running, it raises :class:`BatchPending`, and the worker puts the
  job back in the queue to run again in ``batch_poll_s`` seconds (procrastinate's
  ``schedule_in``), freeing its slot.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from gearshift.errors import ProviderTimeout

if TYPE_CHECKING:
    from gearshift.ledger.store import Ledger
    from gearshift.providers.base import ModelRequest, ModelResult, Provider

__all__ = ["BatchPending", "DeferredBatches", "has_batches"]

_FIND = text("SELECT batch_id FROM gs_dist_batches WHERE run_id = :run AND job_id = :job")
_SAVE = text(
    "INSERT INTO gs_dist_batches (run_id, job_id, batch_id) VALUES (:run, :job, :batch) "
    "ON CONFLICT (run_id, job_id) DO NOTHING"
)


class BatchPending(Exception):
    """The job's batch has not ended: run the job again in ``after_s`` seconds."""

    def __init__(self, batch_id: str, after_s: float) -> None:
        super().__init__(f"batch {batch_id} still running; polling again in {after_s:g}s")
        self.batch_id, self.after_s = batch_id, after_s


def has_batches(provider: Any) -> bool:
    """Whether ``provider`` (or one it wraps) has the Message Batches API."""
    while not hasattr(provider, "submit_batch") and hasattr(provider, "inner"):
        provider = provider.inner
    return hasattr(provider, "submit_batch")


class DeferredBatches:
    """The run's provider, with batch polls handed to the queue (see the module docstring)."""

    def __init__(self, inner: Provider, ledger: Ledger, run_id: str) -> None:
        self.inner, self.ledger, self.run_id = inner, ledger, run_id
        self.name = inner.name
        self.counts_tokens = bool(getattr(inner, "counts_tokens", False))
        batches: Any = inner
        while not hasattr(batches, "submit_batch") and hasattr(batches, "inner"):
            batches = batches.inner
        self._batches = batches

    async def complete(self, request: ModelRequest) -> ModelResult:
        return await self.inner.complete(request)

    async def count_tokens(self, request: ModelRequest) -> int:
        return await self.inner.count_tokens(request)

    async def close(self) -> None:
        await self.inner.close()

    async def submit_batch(self, items: Sequence[tuple[str, ModelRequest]]) -> str:
        job_id = str(items[0][1].metadata.get("task_id", "")) if items else ""
        with self.ledger.read() as conn:
            found = conn.execute(_FIND, {"run": self.run_id, "job": job_id}).scalar()
        if found is not None:
            return str(found)
        batch_id = str(await self._batches.submit_batch(items))
        with self.ledger.write() as conn:
            conn.execute(_SAVE, {"run": self.run_id, "job": job_id, "batch": batch_id})
        return batch_id

    async def poll_batch(self, batch_id: str, **options: Any) -> Any:
        interval = float(options.get("interval") or 30.0)
        try:
            return await self._batches.poll_batch(batch_id, interval=interval, timeout=0.0)
        except ProviderTimeout:
            raise BatchPending(batch_id, interval) from None

    async def collect_batch(self, batch_id: str) -> Any:
        return await self._batches.collect_batch(batch_id)
