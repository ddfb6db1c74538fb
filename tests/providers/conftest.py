"""Fixtures for provider tests: a fake Anthropic server on loopback and a provider bound to it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest

from gearshift.testing.fake_anthropic import FakeAnthropic

T = TypeVar("T")


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


@pytest.fixture(autouse=True)
def _no_real_anthropic(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may pick up a developer's key or endpoint."""
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def with_provider(fake: FakeAnthropic) -> Callable[..., Any]:
    """Run ``body(provider)`` on a fresh event loop with an AnthropicProvider on the fake."""

    def run(body: Callable[[Any], Awaitable[T]], **options: Any) -> T:
        from gearshift.providers.anthropic import AnthropicProvider

        async def main() -> T:
            options.setdefault("api_key", "test-key")
            options.setdefault("base_url", fake.base_url)
            provider = AnthropicProvider(**options)
            try:
                return await body(provider)
            finally:
                await provider.close()

        return asyncio.run(main())

    return run
