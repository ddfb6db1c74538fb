"""Rate limits shared by every worker: token buckets in a store every worker reaches.

Anthropic limits an organisation per model class on three dimensions -- requests, input tokens
and output tokens per minute -- refilled continuously up to the limit, and answers a 429 with
``retry-after`` beyond them. One bucket per ``(provider key, model class, dimension)`` models
that for every worker at once:

* **debited before** a call: one request, the request's input-token bound, its ``max_tokens``
  of output -- all three buckets or none, atomically; a call that does not fit sleeps for the
  computed deficit;
* **settled after** it, in one round trip: **refunded** the input tokens the bound overcounted
  (the bound is about one token a byte; the response says what counted: uncached input and
  cache writes) and the output tokens it did not use -- all of its output when the call failed
  without an answer -- and **corrected** down to the ``anthropic-ratelimit-*-remaining``
  headers of the response, so every worker converges on the server's own view (calls from
  outside gearshift included; never raised: calls in flight elsewhere may not be in the
  server's count yet);
* **zeroed on a 429**, the buckets blocked until ``retry-after`` has passed.

The buckets live in a :class:`~gearshift.distributed.ratelimit_store.BucketStore`: the ledger's
PostgreSQL database by default (:mod:`~gearshift.distributed.ratelimit_pg`), or Redis
(:mod:`~gearshift.distributed.ratelimit_redis`, ``--rate-limit-store redis://...``); times come
from the store's clock, never a worker's. The provider key is a hash of the API key, never the
key. When the store cannot be reached the limiter fails closed: calls wait (and the worker logs
it) until it answers again; a refund or a correction it could not write is dropped (the limit
is only stricter for it).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gearshift.distributed.ratelimit_store import (
    BucketSpec,
    BucketStore,
    Settlement,
    StoreUnavailable,
)
from gearshift.errors import ProviderError, RateLimited
from gearshift.providers.base import ModelRequest, ModelResult, input_token_bound

if TYPE_CHECKING:
    from gearshift.catalog import Catalog
    from gearshift.ledger.store import Ledger
    from gearshift.providers.base import Provider
    from gearshift.providers.pacing import RateLimitSnapshot

__all__ = [
    "RateLimitedProvider",
    "RateLimits",
    "SharedRateLimiter",
    "check_store_url",
    "open_store",
    "provider_key",
]

log = logging.getLogger("gearshift.worker")

DIMENSIONS = ("requests", "input_tokens", "output_tokens")
#: seconds between two attempts to reach a store that is away, and between two warnings
_RETRY_S = (0.5, 5.0)
_WARN_EVERY_S = 30.0


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Per-minute limits per model class (0: no limit on that dimension). ``burst_s``: how many
    seconds of the rate a bucket holds when full (60, as the API's per-minute buckets)."""

    requests_per_min: float = 0
    input_tokens_per_min: float = 0
    output_tokens_per_min: float = 0
    burst_s: float = 60.0

    def per_min(self) -> dict[str, float]:
        values = (self.requests_per_min, self.input_tokens_per_min, self.output_tokens_per_min)
        return {d: v for d, v in zip(DIMENSIONS, values, strict=True) if v > 0}

    @property
    def any(self) -> bool:
        return bool(self.per_min())


def provider_key(name: str, secret: str | None = None) -> str:
    """``name`` plus a short hash of its API key (limits belong to a key's organisation)."""
    if not secret:
        return name
    return f"{name}:{hashlib.sha256(secret.encode()).hexdigest()[:12]}"


def _in_ledger(url: str | None) -> bool:
    return not url or url.strip().lower() == "ledger"


def check_store_url(url: str | None) -> None:
    """Refuse a ``--rate-limit-store`` that cannot work (not a Redis URL, or Redis's client not
    installed) before anything connects: a :class:`~gearshift.errors.ConfigError` naming it."""
    if not _in_ledger(url):
        from gearshift.distributed.ratelimit_redis import check_url

        assert url is not None
        check_url(url)


def open_store(url: str | None, ledger: Ledger) -> BucketStore:
    """The store ``--rate-limit-store`` names: ``redis://...`` (``rediss://``, ``unix://``) for
    Redis; unset, empty or ``ledger`` for the ledger's own database. Connects to nothing yet:
    :meth:`BucketStore.check` does. ``$GEARSHIFT_RATE_LIMIT_PREFIX`` namespaces the Redis keys
    (two deployments on one Redis; tests)."""
    if _in_ledger(url):
        from gearshift.distributed.ratelimit_pg import PgBucketStore

        return PgBucketStore(ledger)
    from gearshift.distributed.ratelimit_redis import PREFIX, RedisBucketStore

    assert url is not None
    return RedisBucketStore(url, prefix=os.environ.get("GEARSHIFT_RATE_LIMIT_PREFIX") or PREFIX)


class SharedRateLimiter:
    """The buckets of one provider key (see the module docstring)."""

    def __init__(self, store: BucketStore, key: str, limits: RateLimits) -> None:
        self.store, self.key, self.limits = store, key, limits
        self._per_min = limits.per_min()
        self.waited_s = 0.0
        self._warned = 0.0

    def bucket(self, model_class: str, dimension: str) -> BucketSpec:
        per_min = self._per_min[dimension]
        return BucketSpec(
            f"{self.key}:{model_class}:{dimension}",
            capacity=per_min / 60 * self.limits.burst_s,
            refill_per_s=per_min / 60,
        )

    async def take(self, model_class: str, costs: dict[str, float]) -> float:
        """Debit ``costs`` (per dimension) from every bucket or none; 0 when taken, else the
        seconds to wait before the buckets can hold them (a cost above a bucket's capacity
        takes the whole bucket)."""
        buckets, wanted = [], []
        for dimension, cost in costs.items():
            if dimension in self._per_min:
                bucket = self.bucket(model_class, dimension)
                buckets.append(bucket)
                wanted.append(min(cost, bucket.capacity))
        return await self.store.take(buckets, wanted)

    def charged(self, model_class: str, costs: dict[str, float]) -> dict[str, float]:
        """What :meth:`take` debits for ``costs``: each at most its bucket's capacity (refunds
        are worked out from this, never from the full cost: a refund above the debit would
        credit the bucket with other calls' tokens)."""
        return {
            d: min(cost, self.bucket(model_class, d).capacity) if d in self._per_min else cost
            for d, cost in costs.items()
        }

    async def acquire(self, model_class: str, costs: dict[str, float]) -> None:
        """Wait until the buckets hold ``costs``, then debit them; while the store cannot be
        reached, wait for it (fail closed)."""
        away = 0
        while True:
            try:
                wait = await self.take(model_class, costs)
                away = 0
            except StoreUnavailable as exc:
                self._warn(f"{exc.message}; calls wait for it")
                wait = min(_RETRY_S[1], _RETRY_S[0] * 2**away)
                away += 1
            if wait <= 0:
                return
            pause = wait + random.uniform(0, min(wait, 0.05))
            self.waited_s += pause
            await asyncio.sleep(pause)

    async def settle(
        self,
        model_class: str,
        refunds: dict[str, float],
        snapshot: RateLimitSnapshot | None = None,
    ) -> None:
        """After a call, in one round trip: give back ``refunds`` (per dimension), then lower
        the buckets to what ``snapshot`` says remains (never raise them)."""
        settlements = []
        for dimension in DIMENSIONS:
            if dimension not in self._per_min:
                continue
            refund = max(0.0, refunds.get(dimension, 0.0))
            remaining = None
            if snapshot is not None:
                left = snapshot.bucket(dimension).remaining
                remaining = None if left is None else float(left)
            if refund > 0 or remaining is not None:
                settlements.append(
                    Settlement(self.bucket(model_class, dimension), refund, remaining)
                )
        try:
            await self.store.settle(settlements)
        except StoreUnavailable as exc:
            self._warn(f"{exc.message}; a refund was not written")
        except Exception as exc:  # the call is paid: its bookkeeping never fails it
            self._warn(f"rate-limit store error ({type(exc).__name__}); a refund was not written")

    async def block(self, model_class: str, seconds: float) -> None:
        """A 429: empty the buckets and let nobody through for ``seconds``."""
        buckets = [self.bucket(model_class, d) for d in self._per_min]
        try:
            await self.store.block(buckets, max(0.0, seconds))
        except StoreUnavailable as exc:
            self._warn(f"{exc.message}; a 429 did not block the other workers")
        except Exception as exc:  # the 429 itself is what the caller must see
            self._warn(
                f"rate-limit store error ({type(exc).__name__}); a 429 did not block the other "
                "workers"
            )

    def _warn(self, message: str) -> None:
        now = time.monotonic()
        if now - self._warned >= _WARN_EVERY_S:
            self._warned = now
            log.warning("%s", message)


class RateLimitedProvider:
    """A provider whose every HTTP attempt goes through the shared buckets (wrap it *inside*
    the retry loop, so each retry is debited too)."""

    def __init__(self, inner: Provider, limiter: SharedRateLimiter, catalog: Catalog) -> None:
        self.inner, self.limiter, self.catalog = inner, limiter, catalog
        self.name = inner.name
        self.counts_tokens = bool(getattr(inner, "counts_tokens", False))

    async def complete(self, request: ModelRequest) -> ModelResult:
        model_class = self.catalog.resolve(request.model).tier.value
        costs = {
            "requests": 1.0,
            "input_tokens": float(input_token_bound(request)),
            "output_tokens": float(request.max_tokens),
        }
        await self.limiter.acquire(model_class, costs)
        charged = self.limiter.charged(model_class, costs)
        try:
            result = await self.inner.complete(request)
        except RateLimited as exc:
            await self.limiter.block(model_class, exc.retry_after or 1.0)
            raise
        except ProviderError:  # no answer: none of the output was used
            await self.limiter.settle(model_class, {"output_tokens": charged["output_tokens"]})
            raise
        usage = result.usage
        counted = usage.input_tokens + usage.cache_write_5m_tokens + usage.cache_write_1h_tokens
        refunds = {  # what was debited and not used (never more than was debited)
            "input_tokens": charged["input_tokens"] - counted,
            "output_tokens": charged["output_tokens"] - usage.output_tokens,
        }
        await self.limiter.settle(model_class, refunds, result.ratelimit)
        return result

    async def count_tokens(self, request: ModelRequest) -> int:
        return await self.inner.count_tokens(request)

    async def close(self) -> None:
        await self.inner.close()
