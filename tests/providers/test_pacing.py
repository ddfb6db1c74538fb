"""Rate-limit headers -> snapshots -> a pacer that waits for the reset before a 429."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gearshift.providers import Bucket, Pacer, RateLimitSnapshot, parse_ratelimit

T0 = dt.datetime(2026, 11, 27, 12, 0, 0, tzinfo=dt.UTC)


def headers(requests: int = 10, remaining: int = 9, reset: str = "2026-11-27T12:00:30Z") -> dict:
    out = {"request-id": "req_1"}
    for name, limit in (
        ("requests", requests),
        ("tokens", 100_000),
        ("input-tokens", 80_000),
        ("output-tokens", 20_000),
    ):
        out[f"anthropic-ratelimit-{name}-limit"] = str(limit)
        out[f"anthropic-ratelimit-{name}-remaining"] = str(
            remaining if name == "requests" else limit
        )
        out[f"anthropic-ratelimit-{name}-reset"] = reset
    return out


def test_parse_all_four_families() -> None:
    snap = parse_ratelimit(headers())
    assert snap is not None
    assert snap.requests == Bucket(10, 9, T0 + dt.timedelta(seconds=30))
    assert snap.input_tokens.limit == 80_000
    assert snap.output_tokens.remaining == 20_000
    assert snap.tokens.reset == T0 + dt.timedelta(seconds=30)


def test_parse_is_case_insensitive_and_tolerant() -> None:
    raw = {
        "Anthropic-RateLimit-Requests-Remaining": "3",
        "anthropic-ratelimit-requests-limit": "many",
        "anthropic-ratelimit-requests-reset": "yesterday",
    }
    snap = parse_ratelimit(raw)
    assert snap is not None
    assert snap.requests == Bucket(None, 3, None)
    assert snap.tokens == Bucket()


def test_no_headers_no_snapshot() -> None:
    assert parse_ratelimit({"content-type": "application/json"}) is None


@given(st.dictionaries(st.text(max_size=40), st.text(max_size=40)))
def test_parse_never_raises(raw: dict[str, str]) -> None:
    parse_ratelimit(raw)


class FakeTime:
    def __init__(self) -> None:
        self.now = T0
        self.sleeps: list[float] = []

    def __call__(self) -> dt.datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += dt.timedelta(seconds=seconds)


def pacer(clock: FakeTime, **kw: float) -> Pacer:
    return Pacer(now=clock, sleep=clock.sleep, margin=0.0, **kw)


def test_no_snapshot_no_wait() -> None:
    clock = FakeTime()
    assert asyncio.run(pacer(clock).acquire(input_tokens=10)) == 0.0


def test_waits_for_reset_when_requests_would_run_out() -> None:
    clock = FakeTime()
    p = pacer(clock)
    p.update(parse_ratelimit(headers(remaining=2)))

    async def three() -> list[float]:
        return [await p.acquire() for _ in range(3)]

    assert asyncio.run(three()) == [0.0, 0.0, 30.0]
    assert clock.sleeps == [30.0]
    assert p.waits == 1
    assert p.snapshot is not None and p.snapshot.requests.remaining == 9  # refilled, one taken


def test_token_dimensions_count_the_request_size() -> None:
    clock = FakeTime()
    p = pacer(clock)
    snap = RateLimitSnapshot(output_tokens=Bucket(20_000, 5_000, T0 + dt.timedelta(seconds=12)))
    p.update(snap)
    assert asyncio.run(p.acquire(output_tokens=4_000)) == 0.0
    assert asyncio.run(p.acquire(output_tokens=4_000)) == 12.0


def test_a_passed_reset_means_full_again() -> None:
    clock = FakeTime()
    p = pacer(clock)
    p.update(parse_ratelimit(headers(remaining=0, reset="2026-11-27T11:59:00Z")))
    assert asyncio.run(p.acquire()) == 0.0


def test_max_wait_caps_a_wait() -> None:
    clock = FakeTime()
    p = pacer(clock, max_wait=5.0)
    p.update(parse_ratelimit(headers(remaining=0)))
    assert asyncio.run(p.acquire()) == 5.0


def test_margin_is_added() -> None:
    clock = FakeTime()
    p = Pacer(now=clock, sleep=clock.sleep, margin=0.25)
    p.update(parse_ratelimit(headers(remaining=0)))
    assert asyncio.run(p.acquire()) == pytest.approx(30.25)


def test_concurrent_waiters_queue_behind_one_wait() -> None:
    clock = FakeTime()
    p = pacer(clock)
    p.update(parse_ratelimit(headers(remaining=1)))

    async def many() -> list[float]:
        return list(await asyncio.gather(*(p.acquire() for _ in range(4))))

    waits = asyncio.run(many())
    assert sorted(waits) == [0.0, 0.0, 0.0, 30.0]  # one sleeper; the rest fit the refilled window
    assert clock.sleeps == [30.0]
