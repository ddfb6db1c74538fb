"""A call run on another thread and waited for later: the part of :class:`threading.Thread` a
hook-run ingest uses (its walk of the transcript folders, its read of the subagent sidecars),
on the low-level :mod:`_thread` module. :mod:`threading` costs such a run ~0.8 ms to load, and
``Thread.start`` waits until the new thread runs; neither is needed to start a call and join it.

Like a daemon thread, a call still running when the interpreter exits is abandoned.
"""

from __future__ import annotations

import _thread

TYPE_CHECKING = False  # not typing's: this module is on the path of every hook-run ingest
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["Background"]


class Background:
    """``fn(*args)`` running on a new thread: :meth:`result` waits for it and returns what it
    returned or raises what it raised; :attr:`ready` says whether that would return at once."""

    __slots__ = ("_done", "_error", "_value")

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        self._value: Any = None
        self._error: BaseException | None = None
        self._done = _thread.allocate_lock()
        self._done.acquire()  # released by the thread when the call returns
        _thread.start_new_thread(self._run, (fn, args))

    def _run(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            self._value = fn(*args)
        except BaseException as exc:  # handed to the waiter
            self._error = exc
        finally:
            self._done.release()

    @property
    def ready(self) -> bool:
        return not self._done.locked()

    def result(self) -> Any:
        with self._done:  # waits for the release
            pass
        if self._error is not None:
            raise self._error
        return self._value
