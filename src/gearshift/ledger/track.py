"""``ledger.track(...)``: time a model call and record it, exceptions included.

::

    with ledger.track(agent="test-engineer", model="haiku", task="write tests") as call:
        response = client.messages.create(...)
        call.usage_from(response.usage)      # or call.set_usage(Usage(...))
        if not tests_pass(response):
            call.status = "failure"

On an exception the execution is recorded with status ``error`` (and the exception's type in
``validation``), and the exception propagates. A model the price catalog does not know is
recorded all the same, at $0 and flagged unpriced (``gearshift ledger reprice`` prices it once a
price file knows the model): the call happened and was paid for, so it is never lost.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any, Protocol

from gearshift.catalog import Usage
from gearshift.ledger.record import Execution

__all__ = ["Recorder", "Tracker", "usage_from_api"]


class Recorder(Protocol):
    """What a tracker records into (:class:`~gearshift.ledger.store.Ledger`)."""

    def record(self, *, agent: str, model: str, **fields: Any) -> Execution: ...


def usage_from_api(usage: Any) -> Usage:
    """Map an Anthropic ``usage`` (SDK object or dict) to a :class:`Usage`, splitting cache
    writes by TTL when the API says how (see :meth:`Usage.from_api`)."""
    return Usage.from_api(usage)


class Tracker:
    """The object ``ledger.track()`` yields; see the module docstring."""

    def __init__(self, ledger: Recorder, *, agent: str, model: str, fields: dict[str, Any]) -> None:
        self.ledger = ledger
        self.agent = agent
        self.model = model
        self.fields = fields
        self.usage = Usage()
        self.status = "success"
        self.execution: Execution | None = None
        self._start = 0.0

    def set_usage(self, usage: Usage) -> None:
        self.usage = usage

    def usage_from(self, api_usage: Any) -> None:
        self.usage = usage_from_api(api_usage)

    def __enter__(self) -> Tracker:
        self._start = time.perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        latency_ms = int((time.perf_counter() - self._start) * 1000)
        fields = dict(self.fields)
        if exc_type is not None:
            self.status = "error"
            fields.setdefault("validation", f"{exc_type.__name__}: {exc}"[:500])
        fields.setdefault("source", "api")
        self.execution = self.ledger.record(
            agent=self.agent,
            model=self.model,
            input_tokens=self.usage.input_tokens,
            output_tokens=self.usage.output_tokens,
            cache_write_5m_tokens=self.usage.cache_write_5m_tokens,
            cache_write_1h_tokens=self.usage.cache_write_1h_tokens,
            cache_read_tokens=self.usage.cache_read_tokens,
            batch=self.usage.batch,
            fast=self.usage.fast,
            geo=self.usage.geo,
            latency_ms=latency_ms,
            status=self.status,
            **fields,
        )
