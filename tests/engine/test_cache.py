"""Exact response reuse through ``Job.cache_ttl_s``: free hits, tagged and counted; TTL honoured."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import gearshift.engine.run_state as store_module
from gearshift.catalog import Tier, Usage, load_catalog
from gearshift.engine.context import RunContext
from gearshift.engine.job import Attempt, Job
from gearshift.engine.run_state import RunStore
from gearshift.engine.runner import run_jobs
from gearshift.engine.validators import RegexValidator
from gearshift.ledger import Ledger
from gearshift.providers.base import ModelRequest, ModelResult
from gearshift.routing.router import Router
from gearshift.routing.task import Task

CATALOG = load_catalog()


class Counting:
    """Answers ``answer`` (with ``stop``) and counts calls."""

    name = "counting"

    def __init__(self, answer: str = "PASS the answer", stop: str = "end_turn") -> None:
        self.answer, self.stop, self.calls = answer, stop, 0

    async def complete(self, request: ModelRequest) -> ModelResult:
        self.calls += 1
        model = CATALOG.resolve(request.model).id
        return ModelResult(self.answer, Usage(200, 80), model, 5, stop_reason=self.stop)

    async def count_tokens(self, request: ModelRequest) -> int:
        return 1

    async def close(self) -> None:
        return None


@pytest.fixture
def ledger() -> Ledger:
    return Ledger.open("sqlite://")


def make(provider: Any, ledger: Ledger, **options: Any) -> RunContext:
    return RunContext(
        provider=provider, catalog=CATALOG, router=Router(CATALOG), ledger=ledger,
        store=RunStore(ledger), **options,
    )  # fmt: skip


def cached_job(ttl: int = 60, **options: Any) -> Job:
    return Job("j", Task("Summarise the changelog", model="haiku"), cache_ttl_s=ttl, **options)


def call(ctx: RunContext, job: Job, prompt: str = "Summarise the changelog", **kw: Any) -> Attempt:
    async def main() -> Attempt:
        return await ctx.call(
            job, Tier.HAIKU, prompt, number=1, chain_id="c", strategy="single", **kw
        )

    return asyncio.run(main())


def test_a_repeat_within_the_ttl_is_free_tagged_and_counted(ledger: Ledger) -> None:
    provider = Counting()
    ctx = make(provider, ledger)
    first, second = call(ctx, cached_job()), call(ctx, cached_job())
    assert provider.calls == 1
    assert first.cost_nanos > 0 and not first.cached
    assert second.cost_nanos == 0 and second.cached and second.text == first.text
    assert (ctx.stats.calls, ctx.stats.cache_hits) == (1, 1)
    rows = sorted(ledger.executions(), key=lambda e: e.cost_nanos)
    assert [r.cost_nanos for r in rows] == [0, first.cost_nanos]
    assert rows[0].tags == {"role": "generate", "cache": "hit"} and "cache" not in rows[1].tags
    assert rows[0].input_tokens == rows[0].output_tokens == 0


def test_expired_entries_are_not_used(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    provider = Counting()
    ctx = make(provider, ledger)
    now = store_module._now_us()
    monkeypatch.setattr(store_module, "_now_us", lambda: now)
    call(ctx, cached_job(ttl=30))
    monkeypatch.setattr(store_module, "_now_us", lambda: now + 29_000_000)
    assert call(ctx, cached_job(ttl=30)).cached
    monkeypatch.setattr(store_module, "_now_us", lambda: now + 31_000_000)
    assert not call(ctx, cached_job(ttl=30)).cached
    assert provider.calls == 2 and ctx.stats.cache_hits == 1


def test_any_difference_in_the_request_misses(ledger: Ledger) -> None:
    provider = Counting()
    ctx = make(provider, ledger)
    call(ctx, cached_job())
    call(ctx, cached_job(), prompt="Summarise the other changelog")
    call(ctx, cached_job(max_tokens=100))
    call(ctx, cached_job(temperature=0.0))
    call(ctx, cached_job(system="Be brief."))
    assert provider.calls == 5 and ctx.stats.cache_hits == 0


def test_without_a_ttl_nothing_is_stored_or_reused(ledger: Ledger) -> None:
    provider = Counting()
    ctx = make(provider, ledger)
    call(ctx, cached_job(ttl=0))
    assert not call(ctx, cached_job(ttl=0)).cached and provider.calls == 2


@pytest.mark.parametrize(
    ("answer", "stop", "validators"),
    [
        ("FAIL", "end_turn", (RegexValidator([r"PASS"]),)),  # failed validation
        ("PASS but cut", "max_tokens", ()),  # truncated
        ("   ", "end_turn", ()),  # empty
    ],
)
def test_failed_or_incomplete_outputs_are_not_cached(
    ledger: Ledger, answer: str, stop: str, validators: tuple[Any, ...]
) -> None:
    provider = Counting(answer, stop)
    ctx = make(provider, ledger)
    call(ctx, cached_job(validators=validators))
    assert not call(ctx, cached_job(validators=validators)).cached
    assert provider.calls == 2


def test_a_hit_is_validated_for_the_job_that_reuses_it(ledger: Ledger) -> None:
    ctx = make(Counting("PASS 42"), ledger)
    call(ctx, cached_job())
    strict = cached_job(validators=(RegexValidator([r"PASS 43"]),))
    hit = call(ctx, strict)
    assert hit.cached and hit.status == "failure"


def test_reuse_end_to_end_across_runs(ledger: Ledger) -> None:
    provider = Counting()
    jobs = [cached_job(strategy="single")]
    first = run_jobs(make(provider, ledger), jobs)
    second = run_jobs(make(provider, ledger), jobs)
    assert provider.calls == 1
    assert first.cost_nanos > 0 and second.cost_nanos == 0
    totals = second.to_dict()["totals"]
    assert (totals["cache_hits"], totals["calls"], totals["cost_usd"]) == (1, 0, "0.000000000")
    assert sum(1 for e in ledger.executions() if e.tags.get("cache") == "hit") == 1
