"""The shared token buckets as rows of ``gs_rate_buckets`` in the ledger's PostgreSQL database.

One row per bucket. A debit locks its rows in key order (no deadlocks between workers), reads
what each holds now -- its stored tokens plus the refill since it was last written, on the
database clock (``clock_timestamp()``) -- and writes them all or none, in one transaction. A
settlement is one ``UPDATE`` (one transaction) for every bucket of a call. Refunds and
corrections write the refill so far with the new value and the time, so the next debit adds only
what refilled after them: the server's count is never credited twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, text

from gearshift.distributed.ratelimit_store import BucketSpec, Settlement

if TYPE_CHECKING:
    from gearshift.ledger.store import Ledger

__all__ = ["PgBucketStore"]

_LOCK = text(
    "SELECT key, tokens, capacity, refill_per_s, "
    "EXTRACT(EPOCH FROM clock_timestamp() - updated_at), "
    "coalesce(EXTRACT(EPOCH FROM blocked_until - clock_timestamp()), 0) "
    "FROM gs_rate_buckets WHERE key IN :keys ORDER BY key FOR UPDATE"
).bindparams(bindparam("keys", expanding=True))
_SET = text(
    "UPDATE gs_rate_buckets SET tokens = :tokens, updated_at = clock_timestamp() WHERE key = :key"
)
_CONFIGURE = text(
    "INSERT INTO gs_rate_buckets (key, tokens, capacity, refill_per_s) "
    "VALUES (:key, :capacity, :capacity, :refill) "
    "ON CONFLICT (key) DO UPDATE SET capacity = excluded.capacity, "
    "refill_per_s = excluded.refill_per_s, "
    "tokens = LEAST(gs_rate_buckets.tokens, excluded.capacity)"
)
#: Every bucket of a call settled at once: locked in key order first (the MATERIALIZED lock is
#: taken before the update joins it, as a debit takes its locks), then each set to what it holds
#: now plus its refund, capped by its capacity and by what the server says remains (LEAST skips
#: a NULL ``remaining``).
_SETTLE = text(
    "WITH v AS (SELECT * FROM unnest(CAST(:keys AS text[]), CAST(:refunds AS float8[]), "
    "  CAST(:remaining AS float8[])) AS v(key, refund, remaining)), "
    "locked AS MATERIALIZED (SELECT b.key FROM gs_rate_buckets b "
    "  WHERE b.key = ANY(CAST(:keys AS text[])) ORDER BY b.key FOR UPDATE) "
    "UPDATE gs_rate_buckets b SET tokens = LEAST(b.capacity, b.tokens + b.refill_per_s * "
    "  GREATEST(0, EXTRACT(EPOCH FROM clock_timestamp() - b.updated_at)) + v.refund, "
    "  v.remaining), updated_at = clock_timestamp() "
    "FROM v, locked WHERE b.key = v.key AND locked.key = v.key"
)
_BLOCK = text(
    "UPDATE gs_rate_buckets SET tokens = 0, updated_at = clock_timestamp(), "
    "blocked_until = GREATEST(coalesce(blocked_until, clock_timestamp()), "
    "clock_timestamp() + make_interval(secs => :s)) WHERE key IN :keys"
).bindparams(bindparam("keys", expanding=True))


def _rows(buckets: Sequence[BucketSpec]) -> list[dict[str, object]]:
    """The rows creating (or resizing) ``buckets``, in key order (the order of their locks)."""
    return [
        {"key": b.key, "capacity": b.capacity, "refill": b.refill_per_s}
        for b in sorted(buckets, key=lambda b: b.key)
    ]


class PgBucketStore:
    """Token buckets in the ledger's database (see the module docstring). Its calls run in a
    thread: the ledger's connections are synchronous."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.display = f"ledger {ledger.location.display}"
        #: the sizes this process last wrote per key (a bucket is created or resized once)
        self._configured: dict[str, tuple[float, float]] = {}

    async def take(self, buckets: Sequence[BucketSpec], costs: Sequence[float]) -> float:
        return await asyncio.to_thread(self.take_now, buckets, costs)

    def take_now(self, buckets: Sequence[BucketSpec], costs: Sequence[float]) -> float:
        if not buckets:
            return 0.0
        wanted = {b.key: cost for b, cost in zip(buckets, costs, strict=True)}
        sizes = {b.key: (b.capacity, b.refill_per_s) for b in buckets}
        new = any(self._configured.get(key) != size for key, size in sizes.items())
        with self.ledger.write() as conn:
            if new:
                conn.execute(_CONFIGURE, _rows(buckets))
            rows = conn.execute(_LOCK, {"keys": sorted(wanted)}).fetchall()
            if len(rows) < len(wanted):  # another thread's insert was not committed yet
                conn.execute(_CONFIGURE, _rows(buckets))
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
            if wait <= 0:
                conn.execute(_SET, updates)
        self._configured.update(sizes)  # committed
        return wait

    async def settle(self, settlements: Sequence[Settlement]) -> None:
        if settlements:
            await asyncio.to_thread(self.settle_now, settlements)

    def settle_now(self, settlements: Sequence[Settlement]) -> None:
        params = {
            "keys": [s.bucket.key for s in settlements],
            "refunds": [max(0.0, s.refund) for s in settlements],
            "remaining": [s.remaining for s in settlements],
        }
        with self.ledger.write() as conn:
            conn.execute(_SETTLE, params)

    async def block(self, buckets: Sequence[BucketSpec], seconds: float) -> None:
        if buckets:
            await asyncio.to_thread(self.block_now, buckets, seconds)

    def block_now(self, buckets: Sequence[BucketSpec], seconds: float) -> None:
        keys = [b.key for b in buckets]
        with self.ledger.write() as conn:
            conn.execute(_BLOCK, {"keys": keys, "s": max(0.0, seconds)})

    async def check(self) -> None:
        """The ledger is checked by the worker itself."""

    async def close(self) -> None:
        """The ledger belongs to the caller."""
