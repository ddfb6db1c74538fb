"""The one retry loop: backoff with full jitter, retry-after, non-retryable errors, deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gearshift.errors import (
    AuthError,
    BadRequest,
    Overloaded,
    ProviderError,
    ProviderTimeout,
    RateLimited,
    SpendLimit,
)
from gearshift.providers import (
    ModelRequest,
    RetryEvent,
    RetryingProvider,
    RetryPolicy,
    backoff_delay,
    call_with_retry,
)
from gearshift.providers.sim import SimProvider


class Flaky:
    """Fails with the given errors in turn, then returns "ok"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors: Iterator[Exception] = iter(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        error = next(self.errors, None)
        if error is not None:
            raise error
        return "ok"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


def run(call: Any, policy: RetryPolicy | None = None, clock: Clock | None = None, **kw: Any) -> Any:
    clock = clock or Clock()
    kw.setdefault("rand", lambda: 1.0)
    return asyncio.run(call_with_retry(call, policy, sleep=clock.sleep, clock=clock, **kw))


def test_retries_retryable_errors_with_exponential_backoff() -> None:
    flaky = Flaky(Overloaded("529"), ProviderTimeout("t"), Overloaded("529"))
    clock = Clock()
    assert run(flaky, RetryPolicy(base_delay=0.5), clock) == "ok"
    assert flaky.calls == 4
    assert clock.sleeps == [0.5, 1.0, 2.0]


def test_full_jitter_scales_the_ceiling() -> None:
    clock = Clock()
    run(
        Flaky(Overloaded("a"), Overloaded("b")),
        RetryPolicy(base_delay=1.0),
        clock,
        rand=lambda: 0.25,
    )
    assert clock.sleeps == [0.25, 0.5]


def test_delay_is_capped_by_max_delay() -> None:
    clock = Clock()
    errors = [Overloaded(str(i)) for i in range(6)]
    run(
        Flaky(*errors),
        RetryPolicy(max_attempts=10, base_delay=1, max_delay=4, deadline=None),
        clock,
    )
    assert clock.sleeps == [1, 2, 4, 4, 4, 4]


def test_retry_after_is_a_floor() -> None:
    clock = Clock()
    run(
        Flaky(RateLimited("429", retry_after=7.0)),
        RetryPolicy(base_delay=0.5),
        clock,
        rand=lambda: 0.0,
    )
    assert clock.sleeps == [7.0]


@pytest.mark.parametrize(
    "error", [SpendLimit("spend"), AuthError("401"), BadRequest("400"), ProviderError("x")]
)
def test_non_retryable_errors_propagate_at_once(error: ProviderError) -> None:
    flaky = Flaky(error)
    clock = Clock()
    with pytest.raises(type(error)):
        run(flaky, clock=clock)
    assert flaky.calls == 1
    assert clock.sleeps == []


def test_errors_outside_the_tree_are_not_retried() -> None:
    flaky = Flaky(KeyError("bug"))
    with pytest.raises(KeyError):
        run(flaky)
    assert flaky.calls == 1


def test_gives_up_after_max_attempts_with_the_last_error() -> None:
    last = Overloaded("third")
    flaky = Flaky(Overloaded("first"), Overloaded("second"), last)
    with pytest.raises(Overloaded) as caught:
        run(flaky, RetryPolicy(max_attempts=3))
    assert caught.value is last
    assert flaky.calls == 3


def test_deadline_stops_before_a_wait_that_would_overrun_it() -> None:
    clock = Clock()
    flaky = Flaky(*[Overloaded(str(i)) for i in range(10)])
    with pytest.raises(Overloaded):
        run(flaky, RetryPolicy(max_attempts=10, base_delay=1, deadline=5.0), clock)
    assert clock.sleeps == [1, 2]  # a third wait of 4 s would end at 7 s > 5 s
    assert flaky.calls == 3


def test_on_retry_sees_each_retry() -> None:
    events: list[RetryEvent] = []
    run(Flaky(RateLimited("a", retry_after=2), Overloaded("b")), on_retry=events.append)
    assert [(e.attempt, type(e.error).__name__, e.delay) for e in events] == [
        (1, "RateLimited", 2.0),
        (2, "Overloaded", 1.0),
    ]


@given(
    attempt=st.integers(1, 30),
    base=st.floats(0, 10),
    cap=st.floats(0, 60),
    r=st.floats(0, 1),
    retry_after=st.none() | st.floats(0, 600),
)
def test_backoff_bounds(
    attempt: int, base: float, cap: float, r: float, retry_after: float | None
) -> None:
    policy = RetryPolicy(base_delay=base, max_delay=cap, max_retry_after=300)
    delay = backoff_delay(attempt, RateLimited("x", retry_after=retry_after), policy, lambda: r)
    ceiling = min(cap, base * 2.0 ** (attempt - 1))
    assert delay >= 0
    if retry_after is None:
        assert delay <= ceiling
    else:
        assert delay >= min(retry_after, 300)
        assert delay <= max(ceiling, min(retry_after, 300))


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(base_delay=-1)


def test_retrying_provider_wraps_any_provider() -> None:
    sim = SimProvider(seed=3, time_scale=0, faults={"rate_limit": 0.5})
    clock = Clock()
    provider = RetryingProvider(sim, RetryPolicy(max_attempts=20), sleep=clock.sleep, clock=clock)
    assert provider.name == "sim"

    async def main() -> list[str]:
        texts = []
        for i in range(20):
            result = await provider.complete(ModelRequest.user(f"task {i}", model="haiku"))
            texts.append(result.text)
        await provider.close()
        return texts

    texts = asyncio.run(main())
    assert len(texts) == 20
    assert clock.sleeps  # about half the first calls were rate limited, and retried
    assert all(s >= 1.0 for s in clock.sleeps)  # the sim's retry-after is 1 s
