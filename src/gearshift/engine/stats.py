"""A run's live counters, shared by the run context, budget holds and progress displays."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RunStats"]


@dataclass(slots=True)
class RunStats:
    """Live counters for progress displays and the run's summary. ``call_ms`` sums the latency
    of every call (retries and judges included); ``retries`` counts retried HTTP attempts and
    ``retry_cost_nanos`` what they cost; ``budget_wait_s`` is time spent waiting for budget
    holds to settle."""

    calls: int = 0
    cache_hits: int = 0
    escalations: int = 0
    cost_nanos: int = 0
    jobs_done: int = 0
    blocked: int = 0
    retries: int = 0
    retry_cost_nanos: int = 0
    call_ms: int = 0
    budget_waits: int = 0
    budget_wait_s: float = 0.0
