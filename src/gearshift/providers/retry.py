"""The one retry loop: exponential backoff with full jitter, honouring ``retry-after``.

Providers make exactly one attempt per call (the SDK's own retries are off), so this loop is the
only place a failed call is tried again, and every caller gets the same policy:

* only errors whose ``retryable`` is true are retried (RateLimited, Overloaded, ProviderTimeout);
  SpendLimit, AuthError, BadRequest and anything outside the error tree propagate at once;
* the n-th retry waits ``uniform(0, min(max_delay, base_delay * 2**(n-1)))`` ("full jitter",
  which spreads a crowd of clients better than equal or no jitter), but never less than the
  server's ``retry_after``;
* it stops after ``max_attempts`` attempts, or when the next wait would end past ``deadline``
  seconds from the first attempt, re-raising the last error unchanged.

``sleep``, ``random`` and ``clock`` are injectable so tests run instantly and deterministically.

Every attempt the loop retries is an HTTP attempt someone may be billed for (a response dropped
mid-body was made by the provider). Besides ``on_retry`` (set when the loop is built, for logs
and metrics), whoever makes a call can see its retried attempts: inside
``with observe_retries(callback):`` every retry of a call made by the same task is reported to
``callback`` -- through any wrapper around the retrying provider -- before the loop sleeps. The
engine records each one in the ledger this way. A callback that raises stops the retries: the
exception propagates to the caller instead of the provider's error.
"""

from __future__ import annotations

import asyncio
import random as _random
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import TypeVar

from gearshift.errors import ProviderError, RateLimited
from gearshift.providers.base import ModelRequest, ModelResult, Provider

__all__ = [
    "RetryEvent",
    "RetryPolicy",
    "RetryingProvider",
    "backoff_delay",
    "call_with_retry",
    "observe_retries",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to retry. ``deadline`` (seconds, from the first attempt) may be ``None``."""

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    deadline: float | None = 300.0
    max_retry_after: float = 300.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("delays must not be negative")


@dataclass(frozen=True, slots=True)
class RetryEvent:
    """One retry about to happen: attempt ``attempt`` failed with ``error`` after
    ``latency_ms``; waiting ``delay`` seconds."""

    attempt: int
    error: ProviderError
    delay: float
    latency_ms: int = 0


_observer: ContextVar[Callable[[RetryEvent], object] | None] = ContextVar(
    "gearshift_retry_observer", default=None
)


class observe_retries:
    """``with observe_retries(callback):`` reports to ``callback`` every retry of the calls this
    task makes inside the block. (A class rather than a generator: the engine enters one per
    model call.)"""

    __slots__ = ("_callback", "_token")

    def __init__(self, callback: Callable[[RetryEvent], object]) -> None:
        self._callback = callback
        self._token: Token[Callable[[RetryEvent], object] | None] | None = None

    def __enter__(self) -> None:
        self._token = _observer.set(self._callback)

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _observer.reset(self._token)


def backoff_delay(
    attempt: int, error: ProviderError, policy: RetryPolicy, rand: Callable[[], float]
) -> float:
    """The wait after failed attempt number ``attempt`` (1-based)."""
    ceiling = min(policy.max_delay, policy.base_delay * 2.0 ** (attempt - 1))
    delay = rand() * ceiling
    if isinstance(error, RateLimited) and error.retry_after is not None:
        delay = max(delay, min(error.retry_after, policy.max_retry_after))
    return delay


async def call_with_retry(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy | None = None,
    *,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    rand: Callable[[], float] = _random.random,
    clock: Callable[[], float] = time.monotonic,
    on_retry: Callable[[RetryEvent], object] | None = None,
) -> T:
    """Await ``call()`` until it succeeds, fails for good, or the policy gives up."""
    policy = policy or RetryPolicy()
    started = clock()
    attempt = 1
    while True:
        began = clock()
        try:
            return await call()
        except ProviderError as error:
            if not error.retryable or attempt >= policy.max_attempts:
                raise
            delay = backoff_delay(attempt, error, policy, rand)
            if policy.deadline is not None and clock() + delay - started > policy.deadline:
                raise
            event = RetryEvent(attempt, error, delay, max(0, round((clock() - began) * 1000)))
            if on_retry is not None:
                on_retry(event)
            observer = _observer.get()
            if observer is not None:
                observer(event)
            await sleep(delay)
            attempt += 1


class RetryingProvider:
    """Any provider, with :func:`call_with_retry` around ``complete`` and ``count_tokens``.

    ``on_retry`` sees every retry (for logging and metrics); a caller sees the retries of its own
    calls with :func:`observe_retries`. ``counts_tokens`` is the wrapped provider's.
    """

    def __init__(
        self,
        provider: Provider,
        policy: RetryPolicy | None = None,
        *,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        rand: Callable[[], float] = _random.random,
        clock: Callable[[], float] = time.monotonic,
        on_retry: Callable[[RetryEvent], object] | None = None,
    ) -> None:
        self.inner = provider
        self.name = provider.name
        self.counts_tokens = bool(getattr(provider, "counts_tokens", False))
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._rand = rand
        self._clock = clock
        self.on_retry = on_retry

    async def complete(self, request: ModelRequest) -> ModelResult:
        return await self._retry(lambda: self.inner.complete(request))

    async def count_tokens(self, request: ModelRequest) -> int:
        return await self._retry(lambda: self.inner.count_tokens(request))

    async def close(self) -> None:
        await self.inner.close()

    async def _retry(self, call: Callable[[], Awaitable[T]]) -> T:
        return await call_with_retry(
            call,
            self.policy,
            sleep=self._sleep,
            rand=self._rand,
            clock=self._clock,
            on_retry=self.on_retry,
        )
