"""The engine's work queue, behind an interface so a distributed queue can replace it.

The load-aware routing policy reads :meth:`WorkQueue.depth`: how many jobs wait to start.
"""

from __future__ import annotations

import asyncio
from typing import Protocol, runtime_checkable

__all__ = ["InProcessQueue", "WorkQueue"]


@runtime_checkable
class WorkQueue(Protocol):
    async def put(self, job_id: str) -> None: ...

    async def get(self) -> str | None:
        """The next job id, or ``None`` once the queue is closed and drained."""
        ...

    def depth(self) -> int: ...

    def close(self) -> None: ...


class InProcessQueue:
    """An asyncio queue; ``close()`` makes every waiting ``get()`` return ``None``."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._closed = False

    async def put(self, job_id: str) -> None:
        await self._queue.put(job_id)

    async def get(self) -> str | None:
        if self._closed and self._queue.empty():
            return None
        item = await self._queue.get()
        if item is None:
            self._queue.put_nowait(None)  # wake the next waiter too
        return item

    def depth(self) -> int:
        return 0 if self._closed else self._queue.qsize()

    def close(self) -> None:
        self._closed = True
        self._queue.put_nowait(None)
