"""The anthropic provider, through the real SDK, against the fake server on 127.0.0.1."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gearshift.catalog import load_catalog
from gearshift.errors import (
    AuthError,
    BadRequest,
    Overloaded,
    ProviderError,
    ProviderTimeout,
    RateLimited,
    SpendLimit,
)
from gearshift.providers import ModelRequest, Pacer, RetryingProvider, RetryPolicy, SyncProvider
from gearshift.providers.anthropic import AnthropicProvider
from gearshift.testing.fake_anthropic import FakeAnthropic, Fault, RateLimits, Reply

HAIKU = load_catalog().resolve("haiku").id


def request(prompt: str = "Say hello", **options: Any) -> ModelRequest:
    options.setdefault("model", "haiku")
    return ModelRequest.user(prompt, **options)


@pytest.mark.parametrize("stream", [False, True])
def test_complete_maps_text_usage_and_headers(fake: FakeAnthropic, with_provider, stream) -> None:
    fake.reply = lambda body: Reply("Hello there, friend.", output_tokens=7)
    result = with_provider(lambda p: p.complete(request(system="Be brief.")), stream=stream)
    assert result.text == "Hello there, friend."
    assert result.model == HAIKU
    assert result.usage.output_tokens == 7
    assert result.usage.input_tokens == 3 + 3  # "Be brief." + "Say hello", ceil(chars / 4) each
    assert result.stop_reason == "end_turn"
    assert result.request_id == "req_fake_000001"
    assert result.provider == "anthropic"
    assert result.ratelimit is not None
    assert result.ratelimit.requests.limit == 4000
    assert result.ratelimit.requests.remaining == 3999
    body = fake.bodies()[0]
    assert body["model"] == HAIKU  # the bare tier alias went out as the catalog's model id
    assert body["system"] == "Be brief."
    assert bool(body.get("stream")) is stream
    assert "temperature" not in body
    assert fake.requests[0].api_key == "test-key"


def test_options_reach_the_wire(fake: FakeAnthropic, with_provider) -> None:
    fake.reply = lambda body: "one two STOP three"
    req = request(
        temperature=0.2, stop_sequences=("STOP",), max_tokens=50, metadata={"user_id": "u-1"}
    )
    result = with_provider(lambda p: p.complete(req))
    body = fake.bodies()[0]
    assert body["temperature"] == 0.2
    assert body["stop_sequences"] == ["STOP"]
    assert body["metadata"] == {"user_id": "u-1"}
    assert body["max_tokens"] == 50
    assert result.text == "one two "
    assert result.stop_reason == "stop_sequence"


@pytest.mark.parametrize("ttl", ["5m", "1h"])
def test_cache_control_sent_and_cache_usage_mapped(fake: FakeAnthropic, with_provider, ttl) -> None:
    system = "You are a careful reviewer. " * 40
    req = request(system=system, cache_system=True, cache_ttl=ttl)

    async def twice(p: AnthropicProvider) -> tuple[Any, Any]:
        return await p.complete(req), await p.complete(req)

    first, second = with_provider(twice)
    block = fake.bodies()[0]["system"][0]
    expected = {"type": "ephemeral", "ttl": "1h"} if ttl == "1h" else {"type": "ephemeral"}
    assert block["cache_control"] == expected
    assert block["text"] == system
    written = (
        first.usage.cache_write_1h_tokens if ttl == "1h" else first.usage.cache_write_5m_tokens
    )
    assert written == 280
    assert first.usage.cache_read_tokens == 0
    assert second.usage.cache_read_tokens == 280
    assert second.usage.cache_write_tokens == 0
    assert first.usage.input_tokens == second.usage.input_tokens == 3
    catalog = load_catalog()
    assert (
        catalog.cost(second.model, second.usage).nanos
        < catalog.cost(first.model, first.usage).nanos
    )


def test_no_cache_control_unless_asked(fake: FakeAnthropic, with_provider) -> None:
    with_provider(lambda p: p.complete(request(system="plain")))
    assert fake.bodies()[0]["system"] == "plain"


ERRORS = [
    (Fault.rate_limit(retry_after=3), RateLimited, 429, True),
    (Fault.spend_limit(), SpendLimit, 429, False),
    (Fault.overloaded(), Overloaded, 529, True),
    (Fault.server_error(), Overloaded, 500, True),
    (Fault.error(503, "api_error"), Overloaded, 503, True),
    (Fault.error(401, "authentication_error"), AuthError, 401, False),
    (Fault.error(403, "permission_error"), AuthError, 403, False),
    (Fault.error(400, "invalid_request_error"), BadRequest, 400, False),
    (Fault.error(404, "not_found_error"), BadRequest, 404, False),
    (Fault.error(413, "request_too_large"), BadRequest, 413, False),
]


@pytest.mark.parametrize(("fault", "error", "status", "retryable"), ERRORS)
def test_error_mapping(fake: FakeAnthropic, with_provider, fault, error, status, retryable) -> None:
    fake.script(fault)
    with pytest.raises(error) as caught:
        with_provider(lambda p: p.complete(request()))
    assert type(caught.value) is error
    assert caught.value.status == status
    assert caught.value.retryable is retryable
    assert caught.value.request_id == "req_fake_000001"
    assert isinstance(caught.value.__cause__, Exception)  # the SDK error is kept as the cause
    if error is RateLimited:
        assert caught.value.retry_after == 3.0


@pytest.mark.parametrize("stream", [False, True])
def test_dropped_connection_is_a_timeout(fake: FakeAnthropic, with_provider, stream) -> None:
    fake.reply = lambda body: "x" * 400
    fake.script(Fault.drop())
    with pytest.raises(ProviderTimeout):
        with_provider(lambda p: p.complete(request()), stream=stream)


def test_slow_response_is_a_timeout(fake: FakeAnthropic, with_provider) -> None:
    fake.script(Fault.slow(2.0))
    with pytest.raises(ProviderTimeout):
        with_provider(lambda p: p.complete(request(timeout=0.2)))


@pytest.mark.parametrize(
    ("error_type", "error"), [("overloaded_error", Overloaded), ("rate_limit_error", RateLimited)]
)
def test_error_event_mid_stream(fake: FakeAnthropic, with_provider, error_type, error) -> None:
    fake.reply = lambda body: "a long answer " * 20
    fake.script(Fault.stream_error(error_type))
    with pytest.raises(error):
        with_provider(lambda p: p.complete(request()), stream=True)


def test_retry_honours_retry_after_with_injected_sleep(fake: FakeAnthropic, with_provider) -> None:
    fake.script(Fault.rate_limit(retry_after=4), Fault.overloaded())
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async def body(p: AnthropicProvider) -> Any:
        retrying = RetryingProvider(p, RetryPolicy(base_delay=0.5), sleep=sleep, rand=lambda: 1.0)
        return await retrying.complete(request())

    result = with_provider(body)
    assert result.text.startswith("Fake reply")
    assert sleeps == [4.0, 1.0]  # retry-after beats the 0.5 s backoff; then 0.5 * 2
    assert fake.counts["/v1/messages"] == 3


def test_spend_limit_is_never_retried(fake: FakeAnthropic, with_provider) -> None:
    fake.script(Fault.spend_limit(), Fault.spend_limit())
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async def body(p: AnthropicProvider) -> Any:
        return await RetryingProvider(p, sleep=sleep).complete(request())

    with pytest.raises(SpendLimit):
        with_provider(body)
    assert sleeps == []
    assert fake.counts["/v1/messages"] == 1


def test_pacing_waits_for_the_reset_instead_of_hitting_429(
    fake: FakeAnthropic, with_provider
) -> None:
    fake.limits = RateLimits(requests=2, window=0.3, enforce=True)
    pacer = Pacer()

    async def four(p: AnthropicProvider) -> list[Any]:
        return [await p.complete(request()) for _ in range(4)]

    results = with_provider(four, pacer=pacer)
    assert len(results) == 4
    assert fake.statuses[429] == 0
    assert pacer.waits >= 1
    assert 0 < pacer.waited < 1.0


def test_without_pacing_the_same_load_gets_429(fake: FakeAnthropic, with_provider) -> None:
    fake.limits = RateLimits(requests=2, window=30, enforce=True)

    async def three(p: AnthropicProvider) -> None:
        for _ in range(3):
            await p.complete(request())

    with pytest.raises(RateLimited) as caught:
        with_provider(three, pace=False)
    assert caught.value.retry_after is not None and caught.value.retry_after > 0


def test_count_tokens(fake: FakeAnthropic, with_provider) -> None:
    count = with_provider(lambda p: p.count_tokens(request("x" * 40, system="y" * 8)))
    assert count == 12
    body = fake.bodies("/v1/messages/count_tokens")[0]
    assert body["system"] == "y" * 8
    assert body["model"] == HAIKU
    assert "max_tokens" not in body


def test_count_tokens_errors_are_mapped(fake: FakeAnthropic, with_provider) -> None:
    fake.script(Fault("status", 529, "overloaded_error", path="/v1/messages/count_tokens"))
    with pytest.raises(Overloaded):
        with_provider(lambda p: p.count_tokens(request()))


def test_key_and_base_url_from_environment(fake: FakeAnthropic, monkeypatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "env-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)

    async def main() -> None:
        provider = AnthropicProvider()
        try:
            await provider.complete(request())
        finally:
            await provider.close()

    asyncio.run(main())
    assert fake.requests[0].api_key == "env-key"


def test_missing_key_is_an_auth_error_at_first_call() -> None:
    provider = AnthropicProvider()  # constructing never fails
    with pytest.raises(AuthError) as caught:
        asyncio.run(provider.complete(request()))
    assert caught.value.hint == "set ANTHROPIC_API_KEY"


def test_wrong_key_is_an_auth_error() -> None:
    with (
        FakeAnthropic(api_key="right") as server,
        SyncProvider(AnthropicProvider(api_key="wrong", base_url=server.base_url)) as provider,
        pytest.raises(AuthError),
    ):
        provider.complete(request())


def test_sync_facade(fake: FakeAnthropic) -> None:
    with SyncProvider(AnthropicProvider(api_key="k", base_url=fake.base_url)) as provider:
        first = provider.complete(request("one"))
        second = provider.complete(request("two"))
        assert provider.count_tokens(request("three")) == 2
    assert first.text.endswith("one") and second.text.endswith("two")


def test_provider_error_carries_no_sdk_types(fake: FakeAnthropic, with_provider) -> None:
    fake.script(Fault.overloaded())
    with pytest.raises(ProviderError) as caught:
        with_provider(lambda p: p.complete(request()))
    assert type(caught.value).__module__ == "gearshift.errors"
