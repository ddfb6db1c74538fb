"""Where the shared token buckets live: what a store does, whichever store it is.

:class:`~gearshift.distributed.ratelimit.SharedRateLimiter` keeps the semantics (what a call
costs, when to wait, what to give back); a :class:`BucketStore` keeps the numbers, atomically,
for every worker at once, on its own clock (never a worker's: hosts' clocks may disagree):

* :class:`~gearshift.distributed.ratelimit_pg.PgBucketStore` -- rows of ``gs_rate_buckets`` in
  the ledger's PostgreSQL database (the default: nothing more to run);
* :class:`~gearshift.distributed.ratelimit_redis.RedisBucketStore` -- hashes in Redis, each
  operation one Lua script (``--rate-limit-store redis://...``).

A bucket holds up to ``capacity`` tokens and refills ``refill_per_s`` a second. Every operation
names its buckets with their sizes, so a store creates a missing bucket full (a bucket idle long
enough to expire is full anyway) and follows a resize.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from gearshift.errors import GearshiftError

__all__ = ["BucketSpec", "BucketStore", "Settlement", "StoreUnavailable"]


@dataclass(frozen=True, slots=True)
class BucketSpec:
    """One bucket: ``key`` (provider key, model class and dimension; never an API key) and its
    size."""

    key: str
    capacity: float
    refill_per_s: float


@dataclass(frozen=True, slots=True)
class Settlement:
    """What to do to one bucket after a call: give ``refund`` tokens back (up to its capacity),
    then lower it to ``remaining`` when the server said what remains (``None``: it did not)."""

    bucket: BucketSpec
    refund: float = 0.0
    remaining: float | None = None


class StoreUnavailable(GearshiftError):
    """The store cannot be reached now (Redis down): the limiter waits and tries again rather
    than let a call through unmetered."""


class BucketStore(Protocol):
    """Atomic operations on a set of buckets, every one on the store's own clock."""

    #: what to show for the store in messages (no password)
    display: str

    async def take(self, buckets: Sequence[BucketSpec], costs: Sequence[float]) -> float:
        """Debit ``costs[i]`` from ``buckets[i]`` for every bucket or for none: 0 when taken,
        else the seconds until they would all hold their cost (a blocked bucket: until its
        block ends)."""
        ...

    async def settle(self, settlements: Sequence[Settlement]) -> None:
        """Apply every settlement of a call at once (one transaction, one script)."""
        ...

    async def block(self, buckets: Sequence[BucketSpec], seconds: float) -> None:
        """A 429: empty ``buckets`` and let nobody take from them for ``seconds``."""
        ...

    async def check(self) -> None:
        """Raise a :class:`~gearshift.errors.ConfigError` naming the option when the store
        cannot be used (before a worker takes jobs)."""
        ...

    async def close(self) -> None: ...
