"""Pace requests from the ``anthropic-ratelimit-*`` headers so a 429 does not happen.

Every Messages API response says, per dimension (requests, tokens, input tokens, output tokens),
the ``limit``, what is ``remaining`` and when it ``reset``\\ s (RFC 3339). :func:`parse_ratelimit`
turns those headers into a :class:`RateLimitSnapshot`; a :class:`Pacer` keeps the latest one and,
before each request, deducts what the request will need (1 request, its estimated input tokens,
its ``max_tokens`` of output -- the API reserves output at ``max_tokens`` too). When a dimension
would go below zero it waits until that dimension's reset, then assumes it is full again.

Waits are serialised by a lock: the first waiter sleeps to the reset and the others queue behind
it instead of all firing at once. The model is deliberately simple -- the server's real buckets
refill continuously, so waiting for the reset is conservative, and requests in flight when a
snapshot arrives are already counted in it. A 429 that slips through is the retry loop's job.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace

__all__ = ["Bucket", "Pacer", "RateLimitSnapshot", "parse_ratelimit"]

_PREFIX = "anthropic-ratelimit-"
_DIMENSIONS = ("requests", "tokens", "input_tokens", "output_tokens")


@dataclass(frozen=True, slots=True)
class Bucket:
    """One rate-limit dimension as the server last reported it."""

    limit: int | None = None
    remaining: int | None = None
    reset: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class RateLimitSnapshot:
    """The four rate-limit dimensions from one response's headers."""

    requests: Bucket = Bucket()
    tokens: Bucket = Bucket()
    input_tokens: Bucket = Bucket()
    output_tokens: Bucket = Bucket()

    def bucket(self, dimension: str) -> Bucket:
        bucket: Bucket = getattr(self, dimension)
        return bucket


def parse_ratelimit(headers: Mapping[str, str]) -> RateLimitSnapshot | None:
    """The rate-limit snapshot in ``headers`` (case-insensitive names), or ``None`` if absent.

    Malformed values are ignored rather than raised: pacing is advice, never a reason to fail a
    call that succeeded.
    """
    lowered = {k.lower(): v for k, v in headers.items() if k.lower().startswith(_PREFIX)}
    if not lowered:
        return None
    buckets = {}
    for dimension in _DIMENSIONS:
        stem = _PREFIX + dimension.replace("_", "-") + "-"
        buckets[dimension] = Bucket(
            limit=_int(lowered.get(stem + "limit")),
            remaining=_int(lowered.get(stem + "remaining")),
            reset=_time(lowered.get(stem + "reset")),
        )
    return RateLimitSnapshot(**buckets)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Pacer:
    """An async limiter fed by rate-limit snapshots.

    ``await pacer.acquire(input_tokens=..., output_tokens=...)`` returns the seconds it waited
    (0.0 when there was room); ``pacer.update(snapshot)`` records a response's headers -- call it
    for error responses too, since a 429 carries the most useful snapshot of all. ``max_wait``
    caps a single wait: past it the request goes anyway and the retry loop handles any 429.
    ``now`` and ``sleep`` are injectable for tests.
    """

    def __init__(
        self,
        *,
        max_wait: float = 60.0,
        margin: float = 0.05,
        now: Callable[[], dt.datetime] = _utcnow,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.max_wait = max_wait
        self.margin = margin
        self._now = now
        self._sleep = sleep
        self._state: RateLimitSnapshot | None = None
        self._lock: asyncio.Lock | None = None
        self.waited = 0.0
        self.waits = 0

    @property
    def snapshot(self) -> RateLimitSnapshot | None:
        """The pacer's current view: the last snapshot minus what was acquired since."""
        return self._state

    def update(self, snapshot: RateLimitSnapshot | None) -> None:
        if snapshot is not None:
            self._state = snapshot

    async def acquire(self, *, input_tokens: int = 0, output_tokens: int = 0) -> float:
        needs = {
            "requests": 1,
            "tokens": input_tokens + output_tokens,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
        }
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            delay = self._delay(needs)
            if delay > 0:
                delay = min(delay + self.margin, self.max_wait)
                await self._sleep(delay)
                self.waited += delay
                self.waits += 1
            self._deduct(needs)
            return delay

    def _delay(self, needs: Mapping[str, int]) -> float:
        """Seconds until every dimension short of ``needs`` has reset (0 if none is short)."""
        state = self._state
        if state is None:
            return 0.0
        now = self._now()
        delay = 0.0
        for dimension, need in needs.items():
            bucket = state.bucket(dimension)
            if bucket.remaining is None or bucket.remaining >= need or bucket.reset is None:
                continue
            if bucket.reset <= now:
                continue
            delay = max(delay, (bucket.reset - now).total_seconds())
        return delay

    def _deduct(self, needs: Mapping[str, int]) -> None:
        """Take ``needs`` from the view; a dimension whose reset has passed counts as full."""
        state = self._state
        if state is None:
            return
        now = self._now()
        fresh = {}
        for dimension in _DIMENSIONS:
            bucket = state.bucket(dimension)
            if bucket.reset is not None and bucket.reset <= now and bucket.limit is not None:
                bucket = replace(bucket, remaining=bucket.limit, reset=None)
            if bucket.remaining is not None:
                bucket = replace(bucket, remaining=max(0, bucket.remaining - needs[dimension]))
            fresh[dimension] = bucket
        self._state = RateLimitSnapshot(**fresh)
