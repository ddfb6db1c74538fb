"""The rate limit every worker shares: held across 4 worker processes, refunded, corrected from
the server's headers, and shut on a 429."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from tests.distributed.conftest import Fleet, wait_for

from gearshift.distributed.ratelimit import RateLimits, SharedRateLimiter
from gearshift.ledger import Ledger
from gearshift.providers.pacing import Bucket, RateLimitSnapshot

pytestmark = pytest.mark.postgres

RATE = 10  # requests per second
JOBS = 120


def _flat(path: Path, jobs: int) -> None:
    lines = ["defaults: {strategy: single, max_tokens: 256}", "tasks:"]
    lines += [f"  - {{id: t{i}, task: 'Check file {i}'}}" for i in range(jobs)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _call_times(url: str, run: str) -> list[float]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT ts_us FROM executions WHERE run_id = %s ORDER BY ts_us", (run,)
        ).fetchall()
    return [r[0] / 1e6 for r in rows]


def test_four_workers_hold_a_shared_request_rate(fleet: Fleet, tmp_path: Path) -> None:
    path = tmp_path / "flat.yaml"
    _flat(path, JOBS)
    run = "rate"
    proc = fleet.start(
        "run", str(path), "--provider", "sim", "--time-scale", "0", "--executor", "postgres",
        "--run-id", run, "--detach",
    )  # fmt: skip
    assert proc.wait(60) == 0, fleet.logs()
    for _ in range(4):
        fleet.start(
            "worker", "--concurrency", "30", "--rpm", str(RATE * 60), "--rate-burst", "1",
            "--heartbeat", "0.5", "--stalled-after", "4",
        )  # fmt: skip
    url = fleet.url
    wait_for(lambda: len(_call_times(url, run)) >= JOBS, 90, "every call", fleet)
    times = _call_times(url, run)
    # any one-second window: at most a second of the rate plus one full bucket (the burst)
    busiest = max(sum(1 for t in times[i:] if t < start + 1.0) for i, start in enumerate(times))
    assert busiest <= RATE + RATE * 1, busiest
    # and the rate is held, not starved: the calls after the first burst came at about RATE/s
    span = times[-1] - times[0]
    assert span >= (JOBS - 2 * RATE) / RATE, span
    assert (JOBS - RATE) / span >= RATE * 0.6, span


def test_headers_correct_the_buckets_and_a_429_empties_them(dist_db: str) -> None:
    ledger = Ledger.open(dist_db)
    try:
        limiter = SharedRateLimiter(ledger, "sim", RateLimits(600, 60_000, 6_000, burst_s=1))
        limiter.configure("haiku")
        assert limiter.try_take("haiku", {"requests": 1, "output_tokens": 100}) == 0
        limiter.refund("haiku", "output_tokens", 60)
        with psycopg.connect(dist_db) as conn:
            out = conn.execute(
                "SELECT tokens FROM gs_rate_buckets WHERE key = 'sim:haiku:output_tokens'"
            ).fetchone()
        assert out is not None and out[0] == pytest.approx(60, abs=1)
        # the server says 2 requests remain: every worker now sees at most 2
        limiter.correct("haiku", RateLimitSnapshot(requests=Bucket(limit=600, remaining=2)))
        assert limiter.try_take("haiku", {"requests": 2}) == 0
        assert limiter.try_take("haiku", {"requests": 2}) > 0
        # a 429 with retry-after 5: nothing passes for about 5 seconds, whatever the refill
        limiter.block("haiku", 5.0)
        wait = limiter.try_take("haiku", {"requests": 1})
        assert 4.0 < wait <= 5.0
    finally:
        ledger.close()


def test_a_correction_is_not_credited_twice(dist_db: str) -> None:
    """After the server says what remains, the next debit adds only the refill since then:
    the refill before the correction is already in the server's figure."""
    import time

    ledger = Ledger.open(dist_db)
    try:
        limiter = SharedRateLimiter(ledger, "sim", RateLimits(600, burst_s=1))  # 10/s, holds 10
        limiter.configure("haiku")
        assert limiter.try_take("haiku", {"requests": 10}) == 0  # empty
        time.sleep(0.5)  # ~5 refilled
        limiter.correct("haiku", RateLimitSnapshot(requests=Bucket(limit=600, remaining=1)))
        assert limiter.try_take("haiku", {"requests": 3}) > 0  # 1 left, not 1 + the 5 again
    finally:
        ledger.close()


def test_the_input_bound_is_refunded_down_to_what_counted(dist_db: str) -> None:
    """A call is debited its input-token bound (about a token a byte) and refunded down to the
    uncached input and cache writes the response reports; a failed call gives its output back."""
    import asyncio

    from gearshift.catalog import Usage, load_catalog
    from gearshift.distributed.ratelimit import RateLimitedProvider
    from gearshift.errors import Overloaded
    from gearshift.providers.base import ModelRequest, ModelResult

    class Inner:
        name, counts_tokens, fail = "sim", False, False

        async def complete(self, request: ModelRequest) -> ModelResult:
            if self.fail:
                raise Overloaded("overloaded")
            usage = Usage(input_tokens=40, output_tokens=10, cache_write_5m_tokens=5)
            return ModelResult("ok", usage, request.model, 1)

    def tokens(dimension: str) -> float:
        with psycopg.connect(dist_db) as conn:
            row = conn.execute(
                "SELECT tokens FROM gs_rate_buckets WHERE key = %s", (f"sim:haiku:{dimension}",)
            ).fetchone()
        assert row is not None
        return float(row[0])

    catalog = load_catalog()
    ledger = Ledger.open(dist_db)
    try:
        # buckets of 60,000 that refill 1 a second: the refunds are what moves them
        limiter = SharedRateLimiter(ledger, "sim", RateLimits(60, 60, 60, burst_s=60_000))
        inner = Inner()
        provider = RateLimitedProvider(inner, limiter, catalog)  # type: ignore[arg-type]
        request = ModelRequest.user("x" * 4000, model="claude-haiku-4-5", max_tokens=100)
        asyncio.run(provider.complete(request))
        assert tokens("input_tokens") == pytest.approx(60_000 - 45, abs=3)  # bound refunded
        assert tokens("output_tokens") == pytest.approx(60_000 - 10, abs=3)
        inner.fail = True
        with pytest.raises(Overloaded):
            asyncio.run(provider.complete(request))
        assert tokens("output_tokens") == pytest.approx(60_000 - 10, abs=3)  # all given back
    finally:
        ledger.close()
