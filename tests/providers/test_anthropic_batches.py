"""Message Batches helpers against the fake server: submit, poll, collect, batch pricing."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from gearshift.catalog import load_catalog
from gearshift.errors import BadRequest, Overloaded, ProviderTimeout
from gearshift.providers import ModelRequest
from gearshift.providers.anthropic import AnthropicProvider
from gearshift.testing.fake_anthropic import FakeAnthropic, Fault


def items(n: int) -> list[tuple[str, ModelRequest]]:
    return [
        (f"item-{i}", ModelRequest.user(f"Summarise document {i}", model="haiku", temperature=0.0))
        for i in range(n)
    ]


async def no_sleep(seconds: float) -> None:
    return None


def test_run_batch_collects_every_item_at_batch_prices(fake: FakeAnthropic, with_provider) -> None:
    fake.batch_polls = 2
    fake.fail_custom_ids = {"item-1"}

    async def body(p: AnthropicProvider) -> Any:
        return await p.run_batch(items(3), interval=5.0, sleep=no_sleep)

    outcomes = with_provider(body)
    assert set(outcomes) == {"item-0", "item-1", "item-2"}
    assert outcomes["item-1"].status == "errored"
    assert isinstance(outcomes["item-1"].error, BadRequest)
    ok = outcomes["item-0"]
    assert ok.status == "succeeded" and ok.result is not None
    assert ok.result.text == "Fake reply from claude-haiku-5-5: Summarise document 0"
    assert ok.result.usage.batch is True
    catalog = load_catalog()
    batch_cost = catalog.cost(ok.result.model, ok.result.usage).nanos
    live_cost = catalog.cost(ok.result.model, replace(ok.result.usage, batch=False)).nanos
    assert batch_cost * 2 == live_cost
    created = fake.bodies("/v1/messages/batches")[0]["requests"]
    assert [r["custom_id"] for r in created] == ["item-0", "item-1", "item-2"]
    assert created[0]["params"]["model"] == "claude-haiku-5-5"
    assert created[0]["params"]["temperature"] == 0.0
    assert fake.counts["/v1/messages/batches/msgbatch_fake_0001/results"] == 1


def test_submit_poll_collect_separately(fake: FakeAnthropic, with_provider) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def body(p: AnthropicProvider) -> Any:
        batch_id = await p.submit_batch(items(2))
        status = await p.poll_batch(batch_id, interval=7.0, sleep=sleep)
        assert status.ended and status.counts["succeeded"] == 2
        return await p.collect_batch(batch_id)

    outcomes = with_provider(body)
    assert slept == [7.0]
    assert all(o.status == "succeeded" for o in outcomes.values())


def test_poll_times_out_without_losing_the_batch(fake: FakeAnthropic, with_provider) -> None:
    fake.batch_polls = 100

    async def body(p: AnthropicProvider) -> Any:
        batch_id = await p.submit_batch(items(1))
        with pytest.raises(ProviderTimeout) as caught:
            await p.poll_batch(batch_id, interval=10.0, timeout=25.0, sleep=no_sleep)
        return caught.value

    error = with_provider(body)
    assert "still in_progress" in error.message
    assert fake.counts["/v1/messages/batches"] == 1  # submitted once, never again


def test_submit_is_not_retried(fake: FakeAnthropic, with_provider) -> None:
    fake.script(Fault("status", 529, "overloaded_error", path="/v1/messages/batches"))
    with pytest.raises(Overloaded):
        with_provider(lambda p: p.run_batch(items(1), interval=1.0, sleep=no_sleep))
    assert fake.counts["/v1/messages/batches"] == 1


def test_polling_retries_transient_errors(fake: FakeAnthropic, with_provider) -> None:
    path = "/v1/messages/batches/msgbatch_fake_0001"
    fake.script(Fault("status", 529, "overloaded_error", path=path))
    outcomes = with_provider(lambda p: p.run_batch(items(1), interval=1.0, sleep=no_sleep))
    assert outcomes["item-0"].status == "succeeded"
    assert fake.statuses[529] == 1


def test_duplicate_custom_ids_are_refused(with_provider) -> None:
    twice = items(1) * 2
    with pytest.raises(ValueError, match="unique"):
        with_provider(lambda p: p.submit_batch(twice))
