"""Every HTTP attempt is in the ledger: a run against the fake Messages API with 20% injected
429s, 529s and responses dropped mid-body records one row per request the server saw -- the
retried ones as ``retried`` or ``dropped`` (billable, with the usage a stream had sent) -- so
the ledger reconciles with what the provider made and would bill."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from gearshift.catalog import load_catalog
from gearshift.engine.context import RunContext
from gearshift.engine.job import Job
from gearshift.engine.run_state import RunStore
from gearshift.engine.runner import Engine, RunReport
from gearshift.engine.validators import RegexValidator
from gearshift.ledger import Ledger, spend
from gearshift.ledger.queries import Filters
from gearshift.providers import RetryingProvider, RetryPolicy
from gearshift.providers.anthropic import AnthropicProvider
from gearshift.routing.router import Router
from gearshift.routing.task import Task
from gearshift.testing.fake_anthropic import FakeAnthropic

CATALOG = load_catalog()
JOBS = 60


@pytest.fixture
def server() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(seed=7) as fake:
        fake.rate_limit_retry_after = 0
        fake.fault_rates = {"rate_limit": 0.07, "overloaded": 0.07, "drop": 0.06}
        yield fake


def jobs() -> list[Job]:
    """Tiered jobs checked for "sonnet" in the answer: the fake echoes the task, so a task that
    says "sonnet" passes on haiku and the others escalate once."""
    check = (RegexValidator(["sonnet"]),)
    return [
        Job(f"job-{i:02d}", Task(f"Task {i}" + (" for sonnet" if i % 2 else ""), model="haiku"),
            strategy="tiered", validators=check, options={"top_retries": 0})
        for i in range(JOBS)
    ]  # fmt: skip


def run_and_close(ctx: RunContext, todo: list[Job]) -> RunReport:
    async def main() -> RunReport:
        try:
            return await Engine(ctx).run(todo)
        finally:
            await ctx.provider.close()

    return asyncio.run(main())


@pytest.mark.parametrize("stream", [False, True])
def test_every_http_attempt_is_a_ledger_row(
    tmp_path: Path, server: FakeAnthropic, stream: bool
) -> None:
    ledger = Ledger.open(tmp_path / "ledger.db", catalog=CATALOG)
    api = AnthropicProvider(
        api_key="test", base_url=server.base_url, stream=stream, pace=False, catalog=CATALOG
    )
    policy = RetryPolicy(max_attempts=12, base_delay=0.001, max_delay=0.005)
    ctx = RunContext(provider=RetryingProvider(api, policy), catalog=CATALOG,
                     router=Router(CATALOG), ledger=ledger, store=RunStore(ledger),
                     concurrency=8)  # fmt: skip
    report = run_and_close(ctx, jobs())
    rows = list(ledger.executions(where="run_id = :r", params={"r": report.run_id}))
    statuses = Counter(r.status for r in rows)
    assert statuses["retried"] > 0 and statuses["dropped"] > 0  # the faults happened

    # one row per HTTP attempt the server saw, each with the request id the server gave it
    assert len(rows) == server.counts["/v1/messages"]
    sent = {
        f"req_fake_{i:06d}" for i, r in enumerate(server.requests, 1) if r.path == "/v1/messages"
    }
    assert {r.tags["request_id"] for r in rows} == sent
    # every message the server made (and would bill) is a row that is paid for
    paid = [r for r in rows if r.status in ("success", "failure", "dropped")]
    assert {r.tags["request_id"] for r in paid} == {b.request_id for b in server.billed}
    assert len(paid) == len(server.billed)
    delivered = [b for b in server.billed if b.delivered]
    assert sum(r.output_tokens for r in rows if r.status != "dropped") == sum(
        int(b.usage["output_tokens"]) for b in delivered
    )
    dropped_input = sum(r.input_tokens for r in rows if r.status == "dropped")
    if stream:  # a cut-off stream had sent its usage in message_start
        cut = [b for b in server.billed if not b.delivered]
        assert dropped_input == sum(int(b.usage["input_tokens"]) for b in cut) > 0
    else:  # a cut-off JSON body carried none: recorded, at no known usage
        assert dropped_input == 0
    # retried rows carry their error and the HTTP attempt they were
    retried = [r for r in rows if r.status == "retried"]
    assert all(r.validation and ("RateLimited" in r.validation or "Overloaded" in r.validation)
               for r in retried)  # fmt: skip
    assert all(r.tags.get("http_attempt") for r in rows if r.status in ("retried", "dropped"))
    # the report's cost is the ledger's, and spend shows what retries cost
    assert report.cost_nanos == sum(r.cost_nanos for r in rows)
    by_status = {row.key: row for row in spend(ledger, "status", Filters()).rows}
    assert by_status["retried"].executions == statuses["retried"]
    assert by_status["dropped"].executions == statuses["dropped"]
    assert report.stats.retries == statuses["retried"] + statuses["dropped"]
    assert {o.status for o in report.outcomes} == {"succeeded"}
