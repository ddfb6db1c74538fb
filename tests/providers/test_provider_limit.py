"""The per-provider concurrency limit holds, whatever the engine's concurrency."""

from __future__ import annotations

import asyncio

from gearshift.catalog import Usage
from gearshift.providers.base import ModelRequest, ModelResult
from gearshift.providers.limit import LimitedProvider


class Slow:
    name = "slow"

    def __init__(self) -> None:
        self.active = 0
        self.peak = 0

    async def complete(self, request: ModelRequest) -> ModelResult:
        self.active += 1
        self.peak = max(self.peak, self.active)
        await asyncio.sleep(0.01)
        self.active -= 1
        return ModelResult(text="ok", usage=Usage(1, 1), model=request.model, latency_ms=10)

    async def count_tokens(self, request: ModelRequest) -> int:
        return 1

    async def close(self) -> None:
        return None


def test_limit_bounds_calls_in_flight() -> None:
    inner = Slow()
    limited = LimitedProvider(inner, 3)

    async def main() -> None:
        request = ModelRequest.user("hi", model="haiku")
        await asyncio.gather(*(limited.complete(request) for _ in range(20)))

    asyncio.run(main())
    assert inner.peak == 3 and limited.inner is inner
