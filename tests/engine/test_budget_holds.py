"""Budget holds: a worst case that cannot be exceeded, released as soon as usage is known, and
calls refused only because of holds in flight wait for them instead of failing."""

from __future__ import annotations

import asyncio
import base64
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gearshift.budgets.model import make_budget
from gearshift.budgets.reservations import Reservations
from gearshift.catalog import Usage, load_catalog
from gearshift.engine.context import RunContext
from gearshift.engine.job import Job
from gearshift.engine.run_state import RunStore
from gearshift.engine.runner import Engine, RunReport, run_jobs
from gearshift.engine.validators import RegexValidator
from gearshift.ledger import Ledger
from gearshift.providers import RetryingProvider
from gearshift.providers.anthropic import AnthropicProvider
from gearshift.providers.base import ModelRequest, ModelResult, estimate_tokens
from gearshift.routing.router import Router
from gearshift.routing.task import Task
from gearshift.testing.fake_anthropic import FakeAnthropic

CATALOG = load_catalog()

CJK = "东京の天気は晴れです。明日は雨が降るでしょう。" * 120
CODE = "def f(x):\n    return {k: [v**2 for v in x[k]] for k in sorted(x)}\n" * 50
BASE64 = base64.b64encode(bytes(range(256)) * 12).decode()


class Dense:
    """Bills input as densely as real tokenizers meet CJK, code and base64 (nine tokens per ten
    bytes) and answers with ``max_tokens`` of output: each call costs close to its true worst
    case. It has no token count of its own (no ``counts_tokens``)."""

    name = "dense"

    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency

    async def complete(self, request: ModelRequest) -> ModelResult:
        await asyncio.sleep(self.latency)
        text = (request.system or "") + request.prompt
        tokens = math.ceil(len(text.encode("utf-8")) * 0.9)
        model = CATALOG.resolve(request.model)
        return ModelResult("PASS", Usage(tokens, request.max_tokens), model.id, 7)

    async def count_tokens(self, request: ModelRequest) -> int:
        return estimate_tokens((request.system or "") + request.prompt)

    async def close(self) -> None:
        return None


def context(provider: Any, ledger: Ledger, guard: Reservations, **extra: Any) -> RunContext:
    return RunContext(provider=provider, catalog=CATALOG, router=Router(CATALOG), ledger=ledger,
                      store=RunStore(ledger), guard=guard, source="sim", **extra)  # fmt: skip


def spent(ledger: Ledger) -> int:
    return sum(e.cost_nanos for e in ledger.executions())


@pytest.mark.parametrize("text", [CJK, CODE, BASE64], ids=["cjk", "code", "base64"])
def test_token_dense_prompts_never_overrun_a_blocking_budget(ledger_url: str, text: str) -> None:
    ledger = Ledger.open(ledger_url, catalog=CATALOG)
    budget = make_budget(
        name="cap", scope="global", value="", period="month", amount_usd="0.10", action="block"
    )
    jobs = [
        Job(f"j{i}", Task(f"{i}: {text}", model="sonnet"), max_tokens=256, strategy="single")
        for i in range(24)
    ]
    report = run_jobs(context(Dense(), ledger, Reservations(ledger, [budget]), concurrency=6), jobs)
    assert report.count("succeeded") >= 1 and report.count("blocked") >= 1
    assert spent(ledger) <= budget.amount_nanos
    ledger.close()


def test_a_hold_drops_to_the_real_cost_before_validation_ends(tmp_path: Path) -> None:
    """While a slow validator runs, the budget counts the call's cost, not its worst case."""
    ledger = Ledger.open(tmp_path / "l.db", catalog=CATALOG)
    budget = make_budget(
        name="cap", scope="global", value="", period="month", amount_usd="100", action="block"
    )
    guard = Reservations(ledger, [budget])
    seen: list[int] = []

    class Slow(RegexValidator):
        async def validate(self, output: str, context: Any) -> Any:
            with ledger.read() as conn:
                from sqlalchemy import text

                held = conn.execute(text("SELECT SUM(amount_nanos) FROM budget_reservations"))
                seen.append(int(held.scalar_one() or 0))
            return await super().validate(output, context)

    class Brief(Dense):
        async def complete(self, request: ModelRequest) -> ModelResult:
            model = CATALOG.resolve(request.model)
            return ModelResult("PASS", Usage(10, 20), model.id, 7)

    job = Job("j", Task("hello", model="opus"), max_tokens=8000, validators=(Slow(["PASS"]),))
    report = run_jobs(context(Brief(), ledger, guard), [job])
    (row,) = list(ledger.executions())
    assert seen == [row.cost_nanos]  # not the 8,000-token worst case
    assert report.outcomes[0].status == "succeeded"
    with ledger.read() as conn:
        from sqlalchemy import text

        assert conn.execute(text("SELECT COUNT(*) FROM budget_reservations")).scalar_one() == 0


def blocked_share(ledger_url: str, wait_s: float, runs: int = 6) -> tuple[float, int, int]:
    """Run ``runs`` runs at once against one blocking budget; the share of jobs blocked, the
    spend and the budget."""
    ledger = Ledger.open(ledger_url, catalog=CATALOG)
    budget = make_budget(
        name="team", scope="global", value="", period="month", amount_usd="0.40", action="block"
    )
    # each job's worst case (4,000 tokens out on sonnet) is ~10x what it costs (a short answer)
    jobs = [
        Job(f"j{i}", Task(f"summarise note {i}", model="sonnet"), max_tokens=4000) for i in range(8)
    ]

    class Short(Dense):
        async def complete(self, request: ModelRequest) -> ModelResult:
            await asyncio.sleep(self.latency)
            model = CATALOG.resolve(request.model)
            return ModelResult("PASS", Usage(400, 350), model.id, 40)

    async def main() -> list[RunReport]:
        contexts = [
            context(Short(latency=0.05), ledger, Reservations(ledger, [budget]), concurrency=4,
                    budget_wait_s=wait_s)
            for _ in range(runs)
        ]  # fmt: skip
        return list(await asyncio.gather(*(Engine(c).run(jobs) for c in contexts)))

    reports = asyncio.run(main())
    blocked = sum(r.count("blocked") for r in reports)
    total = sum(len(r.outcomes) for r in reports)
    result = (blocked / total, spent(ledger), budget.amount_nanos)
    ledger.close()
    return result


def test_waiting_drops_the_blocked_share(tmp_path: Path) -> None:
    refused, spend_refused, amount = blocked_share(str(tmp_path / "a.db"), wait_s=0)
    waited, spend_waited, _ = blocked_share(str(tmp_path / "b.db"), wait_s=10)
    assert refused > 0.5  # holds ~10x the real cost: most jobs refused, the budget half unspent
    assert waited < refused / 2
    assert spend_refused <= amount and spend_waited <= amount
    assert spend_waited > spend_refused


def test_concurrent_runs_that_wait_stay_within_budget(ledger_url: str) -> None:
    share, spend, amount = blocked_share(ledger_url, wait_s=10)
    assert share < 0.25 and spend <= amount


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


def test_anthropic_counts_each_distinct_prompt_once(tmp_path: Path, fake: FakeAnthropic) -> None:
    ledger = Ledger.open(tmp_path / "l.db", catalog=CATALOG)
    budget = make_budget(
        name="cap", scope="global", value="", period="month", amount_usd="100", action="block"
    )
    api = AnthropicProvider(api_key="k", base_url=fake.base_url, pace=False, catalog=CATALOG)
    ctx = context(RetryingProvider(api), ledger, Reservations(ledger, [budget]), concurrency=1)
    same = [Job(f"j{i}", Task("the same task", model="haiku"), strategy="single") for i in range(3)]

    async def main() -> RunReport:
        try:
            return await Engine(ctx).run(same)
        finally:
            await api.close()

    report = asyncio.run(main())
    assert report.count("succeeded") == 3
    assert fake.counts["/v1/messages/count_tokens"] == 1
    assert fake.counts["/v1/messages"] == 3
