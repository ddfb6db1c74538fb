"""The live view: what a proxy or a run is doing now, read from the ledger's newest rows.

Whoever writes -- a ``gearshift proxy`` in another process or on another host, a ``gearshift
run``, a Claude Code hook -- writes to the ledger, so the dashboard learns what happens by
reading it: one poller per dashboard (not one per browser) reads the last minutes every
``interval`` seconds while someone watches, and pushes each snapshot to every watcher as a
server-sent event. Each read covers only the last few minutes of the time index (the older
minutes of the window are kept from earlier reads), so it costs the same on a ledger of a
thousand rows or a billion.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import threading
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import anyio.to_thread

from gearshift.catalog.cost import usd_text
from gearshift.errors import GearshiftError
from gearshift.ledger.browse import Activity, activity
from gearshift.ledger.record import ts_from_us

if TYPE_CHECKING:
    from gearshift.ledger.store import Ledger

__all__ = ["LiveFeed"]

_SECOND = 1_000_000
_MINUTE = 60 * _SECOND
#: Rows may be written a little after the time they carry (writers batch): the last minutes
#: are read again on every poll.
_LATE_MINUTES = 2
RECENT = 10


class LiveFeed:
    """Snapshots of the last ``window_minutes`` (see the module doc)."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        interval: float = 1.0,
        window_minutes: int = 30,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ledger = ledger
        self.interval = interval
        self.window = window_minutes
        self.clock = clock
        self._minutes: dict[int, Activity] = {}
        self._read_to: int | None = None  # the minute the kept minutes are complete up to
        self._lock = threading.Lock()
        self._watchers: set[asyncio.Queue[dict[str, Any]]] = set()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ended = False

    # -- reading ----------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The live numbers now (reads the ledger; thread-safe)."""
        with self._lock:
            now_us = int(self.clock() * _SECOND)
            minute = now_us // _MINUTE
            first = minute - self.window + 1
            fresh = first if self._read_to is None else max(first, self._read_to - _LATE_MINUTES)
            for m in [m for m in self._minutes if m < first or m >= fresh]:
                del self._minutes[m]
            for a in activity(self.ledger, fresh * _MINUTE, _MINUTE):
                self._minutes[a.unit] = a
            self._read_to = minute
            seconds = {a.unit: a for a in activity(self.ledger, now_us - 60 * _SECOND, _SECOND)}
            minutes = [self._minutes.get(m) or Activity(m, 0, 0, 0, 0, 0, 0) for m in
                       range(first, minute + 1)]  # fmt: skip
            last_second = now_us // _SECOND
            per_second = [
                seconds[s].executions if s in seconds else 0
                for s in range(last_second - 59, last_second + 1)
            ]
            recent = list(self.ledger.executions(order="ts_us DESC, id DESC", limit=RECENT))
        last_minute = _sum(list(seconds.values()))
        return {
            "at": ts_from_us(now_us).isoformat().replace("+00:00", "Z"),
            "requests_per_second": str((Decimal(sum(per_second)) / 60).quantize(Decimal("0.01"))),
            "last_minute": last_minute,
            "window_minutes": self.window,
            "window": _sum(minutes),
            "per_minute": [a.to_dict(_MINUTE) for a in minutes],
            "per_second": per_second,
            "recent": [
                {
                    "id": e.id,
                    "ts": e.ts.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
                    "agent": e.agent,
                    "model": e.model,
                    "tier": e.tier,
                    "status": e.status,
                    "attempt": e.attempt,
                    "escalated": e.escalation_reason is not None,
                    "source": e.source,
                    "cost_usd": usd_text(e.cost_nanos),
                }
                for e in recent
            ],
        }

    # -- watching ---------------------------------------------------------------------------

    async def watch(self) -> AsyncIterator[dict[str, Any]]:
        """Snapshots as they are read, for as long as the caller iterates or until
        :meth:`end` (the newest only: a slow watcher skips, it never queues)."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1)
        self._loop = asyncio.get_running_loop()
        self._watchers.add(queue)
        if self._task is None or self._task.done():
            self._task = self._loop.create_task(self._poll())
        try:
            while not self._ended:
                snap = await queue.get()
                if snap is _END:
                    return
                yield snap
        finally:
            self._watchers.discard(queue)

    def end(self) -> None:
        """End every watch now and any later one at once: a server shutting down should not
        wait for streams that never end by themselves. Safe from a signal handler or another
        thread."""
        self._ended = True
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        for queue in list(self._watchers):
            _replace(queue, _END)

    async def _poll(self) -> None:
        while self._watchers and not self._ended:
            try:
                snap = await anyio.to_thread.run_sync(self.snapshot)
            except GearshiftError as exc:  # a locked or unreachable ledger: say so, retry
                snap = {"error": exc.message}
            for queue in list(self._watchers):
                _replace(queue, snap)
            await asyncio.sleep(self.interval)

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


#: What a watcher's queue receives when the feed ends.
_END: dict[str, Any] = {}


def _replace(queue: asyncio.Queue[dict[str, Any]], item: dict[str, Any]) -> None:
    """Put ``item`` in a one-slot queue, dropping what it held."""
    with contextlib.suppress(asyncio.QueueEmpty):
        queue.get_nowait()
    queue.put_nowait(item)


def _sum(units: list[Activity]) -> dict[str, Any]:
    return {
        "executions": sum(a.executions for a in units),
        "cost_usd": usd_text(sum(a.cost_nanos for a in units)),
        "escalations": sum(a.escalations for a in units),
        "blocked": sum(a.blocked for a in units),
        "failed": sum(a.failed for a in units),
        "tokens": sum(a.tokens for a in units),
    }
