"""A per-provider concurrency limit: at most ``limit`` calls in flight through one provider.

The engine's ``--concurrency`` bounds jobs and attempts; this bounds what one provider sees,
judge calls of validators included -- the knob for an API key's rate limits or a local
``claude`` binary that should not run ten times at once.
"""

from __future__ import annotations

import asyncio

from gearshift.providers.base import ModelRequest, ModelResult, Provider

__all__ = ["LimitedProvider"]


class LimitedProvider:
    """``provider`` with a semaphore around every call. ``inner`` is the wrapped provider."""

    def __init__(self, provider: Provider, limit: int) -> None:
        if limit < 1:
            raise ValueError("a provider limit must be at least 1")
        self.inner = provider
        self.name = provider.name
        self.counts_tokens = bool(getattr(provider, "counts_tokens", False))
        self.limit = limit
        self._gate: asyncio.Semaphore | None = None

    def _semaphore(self) -> asyncio.Semaphore:
        if self._gate is None:
            self._gate = asyncio.Semaphore(self.limit)
        return self._gate

    async def complete(self, request: ModelRequest) -> ModelResult:
        async with self._semaphore():
            return await self.inner.complete(request)

    async def count_tokens(self, request: ModelRequest) -> int:
        async with self._semaphore():
            return await self.inner.count_tokens(request)

    async def close(self) -> None:
        await self.inner.close()
