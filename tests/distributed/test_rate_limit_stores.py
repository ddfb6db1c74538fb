"""The shared rate limiter's semantics, the same on both bucket stores (the ledger's PostgreSQL
database and Redis): all dimensions debited or none, a wait of the computed deficit, refunds
and corrections in one settlement per call, never raised, and a 429 that blocks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from tests.distributed.conftest import REDIS_URL

from gearshift.catalog import Usage, load_catalog
from gearshift.distributed.ratelimit import RateLimitedProvider, RateLimits, SharedRateLimiter
from gearshift.distributed.ratelimit_store import BucketStore
from gearshift.errors import Overloaded, RateLimited
from gearshift.providers.base import ModelRequest, ModelResult
from gearshift.providers.pacing import Bucket, RateLimitSnapshot


@dataclass
class Backend:
    #: a new store (inside the test's event loop: Redis connections belong to one loop)
    make: Callable[[], BucketStore]
    #: the tokens stored for a bucket key (``sim:haiku:requests``), without refill since
    peek: Callable[[str], float]


@pytest.fixture(params=["postgres", "redis"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    if request.param == "postgres":
        import psycopg

        from gearshift.distributed.ratelimit_pg import PgBucketStore
        from gearshift.ledger import Ledger

        url = request.getfixturevalue("dist_db")
        ledger = Ledger.open(url)

        def peek_pg(key: str) -> float:
            with psycopg.connect(url) as conn:
                row = conn.execute(
                    "SELECT tokens FROM gs_rate_buckets WHERE key = %s", (key,)
                ).fetchone()
            assert row is not None, key
            return float(row[0])

        try:
            yield Backend(lambda: PgBucketStore(ledger), peek_pg)
        finally:
            ledger.close()
        return
    import redis

    from gearshift.distributed.ratelimit_redis import RedisBucketStore

    prefix = request.getfixturevalue("redis_prefix")
    client = redis.Redis.from_url(REDIS_URL)

    def peek_redis(key: str) -> float:
        head, _, dimension = key.rpartition(":")
        value = client.hget(f"{prefix}{{{head}}}:{dimension}", "tokens")
        assert value is not None, key
        return float(value)

    try:
        yield Backend(lambda: RedisBucketStore(REDIS_URL, prefix=prefix), peek_redis)
    finally:
        client.close()


def run(backend: Backend, body: Callable[[BucketStore], Coroutine[Any, Any, None]]) -> None:
    async def main() -> None:
        store = backend.make()
        try:
            await store.check()
            await body(store)
        finally:
            await store.close()

    asyncio.run(main())


def test_headers_correct_the_buckets_and_a_429_empties_them(backend: Backend) -> None:
    async def body(store: BucketStore) -> None:
        # 10 requests and 10 output tokens a second, buckets of 100 (slow refills: a loaded
        # machine's latency between two steps moves them little)
        limiter = SharedRateLimiter(store, "sim", RateLimits(600, 60_000, 600, burst_s=10))
        assert await limiter.take("haiku", {"requests": 1, "output_tokens": 100}) == 0
        await limiter.settle("haiku", {"output_tokens": 60})
        assert backend.peek("sim:haiku:output_tokens") == pytest.approx(60, abs=2)
        # the server says 2 requests remain: every worker now sees at most 2
        snapshot = RateLimitSnapshot(requests=Bucket(limit=600, remaining=2))
        await limiter.settle("haiku", {}, snapshot)
        assert await limiter.take("haiku", {"requests": 2}) == 0
        assert await limiter.take("haiku", {"requests": 2}) > 0
        # a 429 with retry-after 5: nothing passes for about 5 seconds, whatever the refill
        await limiter.block("haiku", 5.0)
        wait = await limiter.take("haiku", {"requests": 1})
        assert 4.0 < wait <= 5.0

    run(backend, body)


def test_all_dimensions_or_none_and_the_wait_is_the_deficit(backend: Backend) -> None:
    async def body(store: BucketStore) -> None:
        # 10 requests/s and 10 output tokens/s, buckets of 100
        limiter = SharedRateLimiter(store, "sim", RateLimits(600, 0, 600, burst_s=10))
        assert await limiter.take("haiku", {"requests": 1, "output_tokens": 80}) == 0
        # 40 more output tokens do not fit: neither bucket is debited
        wait = await limiter.take("haiku", {"requests": 5, "output_tokens": 40})
        assert 1.5 < wait <= 2.0  # (40 - ~20) / 10 per second
        assert backend.peek("sim:haiku:requests") == pytest.approx(99, abs=0.01)
        assert backend.peek("sim:haiku:output_tokens") == pytest.approx(20, abs=0.01)
        # a dimension without a limit is not a bucket; another model class has its own
        assert await limiter.take("sonnet", {"requests": 10, "input_tokens": 1e9}) == 0
        # asking more than a bucket holds takes the whole bucket (it would never fit)
        assert await limiter.take("opus", {"output_tokens": 1e6}) == 0  # not 1e6 / 10 s
        assert backend.peek("sim:opus:output_tokens") == pytest.approx(0, abs=0.5)

    run(backend, body)


def test_a_correction_is_not_credited_twice(backend: Backend) -> None:
    """After the server says what remains, the next debit adds only the refill since then:
    the refill before the correction is already in the server's figure."""

    async def body(store: BucketStore) -> None:
        limiter = SharedRateLimiter(store, "sim", RateLimits(600, burst_s=1))  # 10/s, holds 10
        assert await limiter.take("haiku", {"requests": 10}) == 0  # empty
        await asyncio.sleep(0.5)  # ~5 refilled
        snapshot = RateLimitSnapshot(requests=Bucket(limit=600, remaining=1))
        await limiter.settle("haiku", {}, snapshot)
        # 1 left (plus the refill since), not 1 + the 5 again
        assert await limiter.take("haiku", {"requests": 5}) > 0
        # and a correction never raises a bucket: the server's 9 is above what is left here
        high = RateLimitSnapshot(requests=Bucket(limit=600, remaining=9))
        await limiter.settle("haiku", {}, high)
        assert backend.peek("sim:haiku:requests") < 5

    run(backend, body)


class _Counting:
    """A store that counts the round trips the limiter makes."""

    def __init__(self, inner: BucketStore) -> None:
        self.inner, self.display = inner, inner.display
        self.calls: list[str] = []

    async def take(self, *args: Any) -> float:
        self.calls.append("take")
        return await self.inner.take(*args)

    async def settle(self, *args: Any) -> None:
        self.calls.append("settle")
        await self.inner.settle(*args)

    async def block(self, *args: Any) -> None:
        self.calls.append("block")
        await self.inner.block(*args)

    async def check(self) -> None:
        await self.inner.check()

    async def close(self) -> None:
        await self.inner.close()


class _Inner:
    name, counts_tokens = "sim", False
    fail: Exception | None = None

    async def complete(self, request: ModelRequest) -> ModelResult:
        if self.fail is not None:
            raise self.fail
        usage = Usage(input_tokens=40, output_tokens=10, cache_write_5m_tokens=5)
        snapshot = RateLimitSnapshot(requests=Bucket(limit=60, remaining=50_000))
        return ModelResult("ok", usage, request.model, 1, ratelimit=snapshot)


def test_the_input_bound_is_refunded_down_to_what_counted(backend: Backend) -> None:
    """A call is debited its input-token bound (about a token a byte) and refunded down to the
    uncached input and cache writes the response reports, in one settlement with the header
    correction; a failed call gives its output back; a 429 blocks."""

    async def body(store: BucketStore) -> None:
        counting = _Counting(store)
        # buckets of 60,000 that refill 1 a second: the refunds are what moves them
        limiter = SharedRateLimiter(counting, "sim", RateLimits(60, 60, 60, burst_s=60_000))
        inner = _Inner()
        provider = RateLimitedProvider(inner, limiter, load_catalog())  # type: ignore[arg-type]
        request = ModelRequest.user("x" * 4000, model="claude-haiku-4-5", max_tokens=100)
        await provider.complete(request)
        assert counting.calls == ["take", "settle"]  # one round trip after the call
        assert backend.peek("sim:haiku:input_tokens") == pytest.approx(60_000 - 45, abs=3)
        assert backend.peek("sim:haiku:output_tokens") == pytest.approx(60_000 - 10, abs=3)
        assert backend.peek("sim:haiku:requests") == pytest.approx(50_000, abs=3)  # corrected
        inner.fail = Overloaded("overloaded")
        with pytest.raises(Overloaded):
            await provider.complete(request)
        assert backend.peek("sim:haiku:output_tokens") == pytest.approx(60_000 - 10, abs=3)
        inner.fail = RateLimited("429", retry_after=3)
        counting.calls.clear()
        with pytest.raises(RateLimited):
            await provider.complete(request)
        assert counting.calls == ["take", "block"]
        wait = await limiter.take("haiku", {"requests": 1})
        assert 2.0 < wait <= 3.0

    run(backend, body)


def test_acquire_sleeps_for_the_deficit(backend: Backend) -> None:
    async def body(store: BucketStore) -> None:
        limiter = SharedRateLimiter(store, "sim", RateLimits(600, burst_s=0.5))  # 10/s, holds 5
        start = time.monotonic()
        for _ in range(10):
            await limiter.acquire("haiku", {"requests": 1})
        elapsed = time.monotonic() - start
        assert 0.4 <= elapsed < 2.0, elapsed  # 5 at once, 5 more at 10/s
        assert limiter.waited_s > 0

    run(backend, body)


def test_a_call_asking_more_than_a_bucket_holds_is_refunded_only_what_it_took(
    backend: Backend,
) -> None:
    """max_tokens above the bucket's capacity debits the whole bucket; the refund is what was
    debited and not used -- not max_tokens minus the output, which would refill the bucket with
    other calls' tokens and leave output unlimited."""

    async def body(store: BucketStore) -> None:
        # 1 output token a second, a bucket of 8,000; 1,000,000 input/requests (not the limit)
        limiter = SharedRateLimiter(store, "sim", RateLimits(6e7, 6e7, 60, burst_s=8_000))
        inner = _Inner()  # answers with 10 output tokens
        provider = RateLimitedProvider(inner, limiter, load_catalog())  # type: ignore[arg-type]
        request = ModelRequest.user("x", model="claude-haiku-4-5", max_tokens=32_000)
        await provider.complete(request)
        # 8,000 taken, 10 used: 7,990 back (the old refund, 31,990, refilled it to 8,000)
        assert backend.peek("sim:haiku:output_tokens") == pytest.approx(7_990, abs=3)

    run(backend, body)


class _Broken(_Counting):
    """A store whose bookkeeping after a call fails with an error that is not an outage."""

    async def settle(self, *args: Any) -> None:
        raise RuntimeError("OOM command not allowed when used memory > 'maxmemory'")

    async def block(self, *args: Any) -> None:
        raise RuntimeError("deadlock detected")


def test_a_store_error_after_a_paid_call_never_loses_the_answer(backend: Backend) -> None:
    async def body(store: BucketStore) -> None:
        limiter = SharedRateLimiter(_Broken(store), "sim", RateLimits(600, 60_000, 60_000))
        inner = _Inner()
        provider = RateLimitedProvider(inner, limiter, load_catalog())  # type: ignore[arg-type]
        request = ModelRequest.user("x", model="claude-haiku-4-5", max_tokens=100)
        result = await provider.complete(request)  # paid: its answer comes back all the same
        assert result.text == "ok"
        inner.fail = RateLimited("429", retry_after=1)
        with pytest.raises(RateLimited):  # the 429 itself, not the store's error
            await provider.complete(request)

    run(backend, body)


def test_a_shorter_429_never_shortens_a_block(backend: Backend) -> None:
    async def body(store: BucketStore) -> None:
        limiter = SharedRateLimiter(store, "sim", RateLimits(600, burst_s=10))
        assert await limiter.take("haiku", {"requests": 1}) == 0  # the call that got the 429
        await limiter.block("haiku", 5.0)
        await limiter.block("haiku", 1.0)  # another worker's 429 with a shorter retry-after
        wait = await limiter.take("haiku", {"requests": 1})
        assert 4.0 < wait <= 5.0

    run(backend, body)
