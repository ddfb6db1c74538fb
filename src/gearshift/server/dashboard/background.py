"""Slow answers worked out off the request path, kept until the ledger changes.

True cost and recommendations read every execution of their window: seconds on a ledger of a
million. A page asks :class:`Background` for them and gets at once what is known -- the answer
for the ledger as it is now, or the last answer while a new one is worked out, or nothing yet
-- and a job starts on a worker thread when none is running for that question. One job per
question at a time, at most ``jobs`` at once, the last ``keep`` answers kept.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from gearshift.errors import GearshiftError

__all__ = ["RETRY_AFTER", "Answer", "Background"]

#: Seconds before a question whose job failed is tried again for the same ledger.
RETRY_AFTER = 10.0


@dataclass(frozen=True, slots=True)
class Answer:
    """What is known of a question: ``value`` (``None``: nothing yet), whether it is for the
    ledger as it is now (``fresh``), since when a job has been working on it (``running``),
    and the error of the last job if it failed."""

    value: Any
    fresh: bool
    running: float | None
    error: str | None = None


class Background:
    """See the module doc."""

    def __init__(
        self, *, keep: int = 16, jobs: int = 2, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.keep = keep
        self.clock = clock
        self._lock = threading.Lock()
        self._done: OrderedDict[Hashable, tuple[Hashable, Any, str | None]] = OrderedDict()
        self._running: dict[Hashable, float] = {}
        self._failed: dict[Hashable, tuple[Hashable, float]] = {}
        self._slots = threading.Semaphore(jobs)
        self._changed = threading.Condition(self._lock)

    def get(
        self,
        key: Hashable,
        version: Hashable,
        compute: Callable[[], Any],
        *,
        wait: float = 0.0,
    ) -> Answer:
        """The answer to ``key`` for the ledger at ``version``, starting ``compute`` on a
        worker thread when it is missing or stale; waits up to ``wait`` seconds for it."""
        deadline = self.clock() + wait
        with self._changed:
            while True:
                held = self._done.get(key)
                fresh = held is not None and held[0] == version
                failed = self._failed.get(key)
                resting = (
                    failed is not None
                    and failed[0] == version
                    and self.clock() - failed[1] < RETRY_AFTER
                )
                if not fresh and not resting and key not in self._running:
                    self._start(key, version, compute)
                if fresh or resting or self.clock() >= deadline:
                    break
                self._changed.wait(timeout=max(0.0, deadline - self.clock()))
            if held is not None:
                self._done.move_to_end(key)
            return Answer(
                None if held is None else held[1],
                fresh,
                self._running.get(key),
                None if held is None else held[2],
            )

    def _start(self, key: Hashable, version: Hashable, compute: Callable[[], Any]) -> None:
        self._running[key] = self.clock()

        def work() -> None:
            value, error = None, None
            with self._slots:
                try:
                    value = compute()
                except GearshiftError as exc:
                    error = exc.message
                except Exception as exc:  # a bug: say so on the page, never spin forever
                    error = f"internal error: {type(exc).__name__}: {exc}"
            with self._changed:
                del self._running[key]
                previous = self._done.get(key)
                if error is not None:
                    self._failed[key] = (version, self.clock())
                    if previous is not None:
                        value = previous[1]  # keep showing the last answer, with the error
                else:
                    self._failed.pop(key, None)
                self._done[key] = (version if error is None else None, value, error)
                self._done.move_to_end(key)
                while len(self._done) > self.keep:
                    self._done.popitem(last=False)
                self._changed.notify_all()

        threading.Thread(target=work, name="gearshift-dashboard-job", daemon=True).start()
