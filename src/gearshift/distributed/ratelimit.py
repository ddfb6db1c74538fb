"""Rate limits shared by every worker: token buckets in the ledger's PostgreSQL database.

Anthropic limits an organisation per model class on three dimensions -- requests, input tokens
and output tokens per minute -- refilled continuously up to the limit, and answers a 429 with
``retry-after`` beyond them. One row per ``(provider key, model class, dimension)`` in
``gs_rate_buckets`` models that for every worker at once:

* **debited before** a call: one request, the request's input-token bound, its ``max_tokens``
  of output -- all three rows or none, in one transaction that locks them in key order (no
  deadlocks between workers); a call that does not fit sleeps for the computed deficit;
* **refunded after**: the input tokens the bound overcounted (the bound is about one token a
  byte; the response says what counted: uncached input and cache writes) and the output tokens
  it did not use -- all of its output when the call failed without an answer;
* **corrected** from the ``anthropic-ratelimit-*-remaining`` headers of each response, so every
  worker converges on the server's own view (calls from outside gearshift included);
* **zeroed on a 429**, the bucket blocked until ``retry-after`` has passed.

Times come from the database clock (``clock_timestamp()``), never a worker's: hosts' clocks
may disagree. The provider key is a hash of the API key, never the key.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, text

from gearshift.errors import ProviderError, RateLimited
from gearshift.providers.base import ModelRequest, ModelResult, input_token_bound

if TYPE_CHECKING:
    from gearshift.catalog import Catalog
    from gearshift.ledger.store import Ledger
    from gearshift.providers.base import Provider
    from gearshift.providers.pacing import RateLimitSnapshot

__all__ = ["RateLimitedProvider", "RateLimits", "SharedRateLimiter", "provider_key"]

DIMENSIONS = ("requests", "input_tokens", "output_tokens")

_LOCK = text(
    "SELECT key, tokens, capacity, refill_per_s, "
    "EXTRACT(EPOCH FROM clock_timestamp() - updated_at), "
    "coalesce(EXTRACT(EPOCH FROM blocked_until - clock_timestamp()), 0) "
    "FROM gs_rate_buckets WHERE key IN :keys ORDER BY key FOR UPDATE"
).bindparams(bindparam("keys", expanding=True))
_SET = text(
    "UPDATE gs_rate_buckets SET tokens = :tokens, updated_at = clock_timestamp() WHERE key = :key"
)
#: What a bucket holds now: its stored tokens plus the refill since it was last written.
_NOW = (
    "LEAST(capacity, tokens + refill_per_s * "
    "GREATEST(0, EXTRACT(EPOCH FROM clock_timestamp() - updated_at)))"
)
# Refunds and corrections write the refill so far with the new value (and the time), so the
# next debit adds only what refilled after them: the server's count is never credited twice.
_REFUND = text(
    f"UPDATE gs_rate_buckets SET tokens = LEAST(capacity, {_NOW} + :n), "
    "updated_at = clock_timestamp() WHERE key = :key"
)
_CLAMP = text(
    f"UPDATE gs_rate_buckets SET tokens = LEAST({_NOW}, :n), "
    "updated_at = clock_timestamp() WHERE key = :key"
)
_BLOCK = text(
    "UPDATE gs_rate_buckets SET tokens = 0, updated_at = clock_timestamp(), "
    "blocked_until = clock_timestamp() + make_interval(secs => :s) WHERE key IN :keys"
).bindparams(bindparam("keys", expanding=True))
_CONFIGURE = text(
    "INSERT INTO gs_rate_buckets (key, tokens, capacity, refill_per_s) "
    "VALUES (:key, :capacity, :capacity, :refill) "
    "ON CONFLICT (key) DO UPDATE SET capacity = excluded.capacity, "
    "refill_per_s = excluded.refill_per_s, "
    "tokens = LEAST(gs_rate_buckets.tokens, excluded.capacity)"
)


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


class SharedRateLimiter:
    """The buckets of one provider key (see the module docstring)."""

    def __init__(self, ledger: Ledger, key: str, limits: RateLimits) -> None:
        self.ledger, self.key, self.limits = ledger, key, limits
        self._configured: set[str] = set()
        self.waited_s = 0.0

    def _key(self, model_class: str, dimension: str) -> str:
        return f"{self.key}:{model_class}:{dimension}"

    def configure(self, model_class: str) -> None:
        """Create (or resize) the buckets of ``model_class``, full."""
        if model_class in self._configured:
            return
        rows = [
            {"key": self._key(model_class, d), "capacity": per_min / 60 * self.limits.burst_s,
             "refill": per_min / 60}
            for d, per_min in self.limits.per_min().items()
        ]  # fmt: skip
        if rows:
            with self.ledger.write() as conn:
                conn.execute(_CONFIGURE, rows)
        self._configured.add(model_class)

    def try_take(self, model_class: str, costs: dict[str, float]) -> float:
        """Debit ``costs`` (per dimension) from every bucket or none; 0 when taken, else the
        seconds to wait before the buckets can hold them."""
        wanted = {
            self._key(model_class, d): min(cost, self._capacity(d))
            for d, cost in costs.items()
            if d in self.limits.per_min()
        }
        if not wanted:
            return 0.0
        with self.ledger.write() as conn:
            rows = conn.execute(_LOCK, {"keys": sorted(wanted)}).fetchall()
            wait, updates = 0.0, []
            for key, tokens, capacity, refill, elapsed, blocked in rows:
                available = min(capacity, tokens + refill * max(0.0, float(elapsed)))
                need = wanted[key]
                if blocked > 0:
                    wait = max(wait, float(blocked))
                elif available < need:
                    wait = max(wait, (need - available) / refill)
                updates.append({"key": key, "tokens": available - need})
            if wait > 0:
                return wait
            conn.execute(_SET, updates)
        return 0.0

    def _capacity(self, dimension: str) -> float:
        return self.limits.per_min()[dimension] / 60 * self.limits.burst_s

    async def acquire(self, model_class: str, costs: dict[str, float]) -> None:
        """Wait until the buckets hold ``costs``, then debit them."""
        await asyncio.to_thread(self.configure, model_class)
        while True:
            wait = await asyncio.to_thread(self.try_take, model_class, costs)
            if wait <= 0:
                return
            pause = wait + random.uniform(0, min(wait, 0.05))
            self.waited_s += pause
            await asyncio.sleep(pause)

    def refund(self, model_class: str, dimension: str, amount: float) -> None:
        if amount > 0 and dimension in self.limits.per_min():
            with self.ledger.write() as conn:
                conn.execute(_REFUND, {"key": self._key(model_class, dimension), "n": amount})

    def correct(self, model_class: str, snapshot: RateLimitSnapshot) -> None:
        """Lower the buckets to what the server says remains (never raise them: requests in
        flight elsewhere may not be in the server's count yet)."""
        params = []
        for dimension in DIMENSIONS:
            remaining = snapshot.bucket(dimension).remaining
            if remaining is not None and dimension in self.limits.per_min():
                params.append({"key": self._key(model_class, dimension), "n": float(remaining)})
        if params:
            with self.ledger.write() as conn:
                conn.execute(_CLAMP, params)

    def block(self, model_class: str, seconds: float) -> None:
        """A 429: empty the buckets and let nobody through for ``seconds``."""
        keys = [self._key(model_class, d) for d in self.limits.per_min()]
        if keys:
            with self.ledger.write() as conn:
                conn.execute(_BLOCK, {"keys": keys, "s": max(0.0, seconds)})


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
        try:
            result = await self.inner.complete(request)
        except RateLimited as exc:
            await asyncio.to_thread(self.limiter.block, model_class, exc.retry_after or 1.0)
            raise
        except ProviderError:  # no answer: none of the output was used
            await asyncio.to_thread(
                self.limiter.refund, model_class, "output_tokens", costs["output_tokens"]
            )
            raise
        usage = result.usage
        counted = usage.input_tokens + usage.cache_write_5m_tokens + usage.cache_write_1h_tokens
        unused_in = costs["input_tokens"] - counted
        await asyncio.to_thread(self.limiter.refund, model_class, "input_tokens", unused_in)
        unused = request.max_tokens - usage.output_tokens
        await asyncio.to_thread(self.limiter.refund, model_class, "output_tokens", unused)
        if result.ratelimit is not None:
            await asyncio.to_thread(self.limiter.correct, model_class, result.ratelimit)
        return result

    async def count_tokens(self, request: ModelRequest) -> int:
        return await self.inner.count_tokens(request)

    async def close(self) -> None:
        await self.inner.close()
