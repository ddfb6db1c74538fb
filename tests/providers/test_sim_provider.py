"""The offline simulator: deterministic, quality by tier and complexity, faults, zero latency."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import pytest

from gearshift.catalog import Tier
from gearshift.errors import BadRequest, ConfigError, Overloaded, ProviderTimeout, RateLimited
from gearshift.providers import ModelRequest, ModelResult
from gearshift.providers.sim import PASS_PATTERN, SimProvider, load_profile


def req(prompt: str = "Refactor the parser", model: str = "haiku", **meta: Any) -> ModelRequest:
    return ModelRequest.user(prompt, model=model, metadata=meta)


def complete_all(sim: SimProvider, requests: list[ModelRequest]) -> list[ModelResult]:
    async def main() -> list[ModelResult]:
        return [await sim.complete(r) for r in requests]

    return asyncio.run(main())


def passed(result: ModelResult) -> bool:
    return re.search(PASS_PATTERN, result.text) is not None


def test_same_seed_same_task_same_result_regardless_of_order() -> None:
    tasks = [req(f"task {i}", complexity=3 + i % 7) for i in range(30)]
    forward = complete_all(SimProvider(seed=11, time_scale=0), tasks)
    backward = complete_all(SimProvider(seed=11, time_scale=0), tasks[::-1])[::-1]
    assert [(r.text, r.usage, r.latency_ms) for r in forward] == [
        (r.text, r.usage, r.latency_ms) for r in backward
    ]


def test_seed_and_attempt_change_the_draws() -> None:
    tasks = [req(f"task {i}", complexity=7) for i in range(40)]
    a = [passed(r) for r in complete_all(SimProvider(seed=1, time_scale=0), tasks)]
    b = [passed(r) for r in complete_all(SimProvider(seed=2, time_scale=0), tasks)]
    assert a != b
    retried = [req(f"task {i}", complexity=7, attempt=2) for i in range(40)]
    c = [passed(r) for r in complete_all(SimProvider(seed=1, time_scale=0), retried)]
    assert a != c


def test_tier_aliases_and_model_ids_are_the_same_model() -> None:
    sim = SimProvider(seed=5, time_scale=0)
    by_alias, by_id = complete_all(
        sim, [req(model="sonnet"), req(model=sim.catalog.resolve("sonnet").id)]
    )
    assert by_alias.text == by_id.text
    assert by_alias.model == sim.catalog.resolve("sonnet").id


@pytest.mark.parametrize("complexity", [4, 7, 9])
def test_quality_rises_with_tier_and_matches_the_profile(complexity: int) -> None:
    sim = SimProvider(seed=0, time_scale=0)
    tasks = [f"task {i}" for i in range(600)]
    rates = {}
    for tier in Tier.ordered():
        results = complete_all(
            sim, [req(t, model=tier.value, complexity=complexity) for t in tasks]
        )
        rates[tier] = sum(passed(r) for r in results) / len(results)
        expected = sim.profile.tiers[tier].pass_rate(complexity)
        assert rates[tier] == pytest.approx(expected, abs=0.06)
    assert rates[Tier.HAIKU] <= rates[Tier.SONNET] <= rates[Tier.OPUS]


def test_pass_rate_interpolates_and_clamps() -> None:
    tier = load_profile().tiers[Tier.HAIKU]
    assert tier.pass_rate(3) == tier.quality[0]
    assert tier.pass_rate(9) == tier.quality[-1]
    assert tier.pass_rate(20) == tier.quality[-1]
    assert tier.pass_rate(1) == tier.quality[0]
    assert tier.pass_rate(4.5) == pytest.approx((tier.quality[1] + tier.quality[2]) / 2)


def test_labels_count_as_complexity_scores() -> None:
    sim = SimProvider(time_scale=0)
    assert sim.complexity(req(complexity="high")) == 8.0
    assert sim.complexity(req(complexity="low")) == 4.0
    assert sim.complexity(req()) == sim.profile.default_complexity


def test_haiku_is_fastest() -> None:
    sim = SimProvider(seed=2, time_scale=0)
    tasks = [f"task {i}" for i in range(50)]
    mean = {}
    for tier in Tier.ordered():
        results = complete_all(sim, [req(t, model=tier.value) for t in tasks])
        mean[tier] = sum(r.latency_ms for r in results) / len(results)
    assert mean[Tier.HAIKU] < mean[Tier.SONNET] < mean[Tier.OPUS]


def test_tokens_follow_the_text() -> None:
    sim = SimProvider(time_scale=0)
    result = complete_all(sim, [ModelRequest.user("x" * 400, model="opus", system="s" * 40)])[0]
    assert result.usage.input_tokens == 100 + 10
    assert result.usage.output_tokens == -(-len(result.text) // 4)
    assert result.provider == "sim"


def test_answer_carries_verdict_and_confidence() -> None:
    from gearshift.engine.validators import parse_confidence

    result = complete_all(SimProvider(time_scale=0), [req()])[0]
    assert re.search(r"(?m)^verdict: (PASS|FAIL)$", result.text)
    confidence = parse_confidence(result.text)
    assert confidence is not None and 0 < confidence <= 1


def test_cache_write_then_read() -> None:
    sim = SimProvider(time_scale=0)
    one = ModelRequest.user("a", model="haiku", system="S" * 400, cache_system=True, cache_ttl="1h")
    first, second = complete_all(sim, [one, one])
    assert first.usage.cache_write_1h_tokens == 100 and first.usage.cache_read_tokens == 0
    assert second.usage.cache_read_tokens == 100 and second.usage.cache_write_tokens == 0


@pytest.mark.parametrize(
    ("fault", "error"),
    [("rate_limit", RateLimited), ("overloaded", Overloaded), ("timeout", ProviderTimeout)],
)
def test_injected_faults(fault: str, error: type[Exception]) -> None:
    sim = SimProvider(time_scale=0, faults={fault: 1.0})
    with pytest.raises(error):
        complete_all(sim, [req()])


def test_fault_rate_is_roughly_honoured_and_retries_can_succeed() -> None:
    sim = SimProvider(seed=4, time_scale=0, faults={"overloaded": 0.3})
    failures = 0

    async def main() -> int:
        nonlocal failures
        done = 0
        for i in range(300):
            while True:
                try:
                    await sim.complete(req(f"t{i}"))
                    done += 1
                    break
                except Overloaded:
                    failures += 1
        return done

    assert asyncio.run(main()) == 300
    assert 0.2 < failures / (300 + failures) < 0.4


def test_zero_latency_mode_is_fast_and_real_time_mode_sleeps() -> None:
    started = time.perf_counter()
    complete_all(SimProvider(time_scale=0), [req(f"t{i}") for i in range(2000)])
    assert time.perf_counter() - started < 2.0
    started = time.perf_counter()
    result = complete_all(SimProvider(time_scale=0.01), [req()])[0]
    assert time.perf_counter() - started >= result.latency_ms / 1000 * 0.01 * 0.9


def test_unknown_model_is_a_bad_request() -> None:
    with pytest.raises(BadRequest):
        complete_all(SimProvider(time_scale=0), [req(model="gpt-17")])


def test_count_tokens() -> None:
    request = ModelRequest.user("x" * 41, model="haiku", system="y" * 4)
    assert asyncio.run(SimProvider().count_tokens(request)) == 11 + 1


def test_bad_profiles_are_config_errors(tmp_path: Path) -> None:
    bad = tmp_path / "p.toml"
    bad.write_text("[tier.haiku]\nquality = [0.5]\n")
    with pytest.raises(ConfigError):
        load_profile(bad)
    with pytest.raises(ConfigError):
        SimProvider(faults={"meteor": 0.1})
