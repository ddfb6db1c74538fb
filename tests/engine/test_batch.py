"""The batch strategy: every item once, audited, failures re-run one tier up, Message Batches."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

from gearshift.catalog import Tier, Usage, load_catalog
from gearshift.engine.context import RunContext
from gearshift.engine.job import Attempt, Job, JobOutcome
from gearshift.engine.run_state import RunStore
from gearshift.engine.runner import Engine
from gearshift.engine.strategies.batch import audit, custom_id_of, parse_items, retry_tier
from gearshift.engine.validators import RegexValidator, ValidationResult
from gearshift.errors import DefinitionError, Overloaded
from gearshift.ledger import Ledger
from gearshift.ledger.record import FLAG_BATCH, Execution
from gearshift.providers import RetryingProvider, RetryPolicy, get_provider
from gearshift.providers.anthropic import AnthropicProvider
from gearshift.providers.base import ModelRequest, ModelResult
from gearshift.routing.router import Router
from gearshift.routing.task import Task
from gearshift.testing.fake_anthropic import FakeAnthropic, Reply

CATALOG = load_catalog()
PASS = (RegexValidator([r"\bPASS\b"]),)
Answer = Callable[[ModelRequest], "str | tuple[str, str] | Exception"]


class Scripted:
    """Answers ``answer(request)`` (text, or (text, stop_reason)); tracks calls in flight."""

    name = "scripted"

    def __init__(self, answer: Answer, delay: float = 0.0) -> None:
        self.answer, self.delay = answer, delay
        self.requests: list[ModelRequest] = []
        self.in_flight = self.most_in_flight = 0

    async def complete(self, request: ModelRequest) -> ModelResult:
        self.requests.append(request)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            out = self.answer(request)
        finally:
            self.in_flight -= 1
        if isinstance(out, Exception):
            raise out
        text, stop = out if isinstance(out, tuple) else (out, "end_turn")
        return ModelResult(text, Usage(120, 30), CATALOG.resolve(request.model).id, 2, stop)

    async def count_tokens(self, request: ModelRequest) -> int:
        return 1

    async def close(self) -> None:
        return None


def tier_of(request: ModelRequest) -> str:
    return CATALOG.resolve(request.model).tier.value


def failing(*ids: str, how: str | tuple[str, str] | Exception = "FAIL") -> Answer:
    """PASS everywhere, except items ``ids`` on haiku, which answer ``how``."""

    def answer(request: ModelRequest) -> str | tuple[str, str] | Exception:
        if tier_of(request) == "haiku" and any(f"--- item {i} ---" in request.prompt for i in ids):
            return how
        return f"PASS on {tier_of(request)}"

    return answer


@pytest.fixture
def ledger() -> Ledger:
    return Ledger.open("sqlite://")


def context(provider: Any, ledger: Ledger | None, **options: Any) -> RunContext:
    store = RunStore(ledger) if ledger is not None else None
    return RunContext(
        provider=provider, catalog=CATALOG, router=Router(CATALOG), ledger=ledger, store=store,
        concurrency=options.pop("concurrency", 50), **options,
    )  # fmt: skip


def batch_job(items: list[Any], **options: Any) -> Job:
    fields: dict[str, Any] = {k: options.pop(k) for k in ("max_tokens",) if k in options}
    if "ladder_top" in options:
        fields["ladder_top"] = Tier.parse(options.pop("ladder_top"))
    task = Task("Lint and format this file", model="haiku")
    options = {"items": items, **options}
    return Job("lint", task, strategy="batch", validators=PASS, options=options, **fields)


def run_batch(ctx: RunContext, job: Job) -> tuple[JobOutcome, dict[str, Any]]:
    """Run ``job`` alone; the provider is closed in the same event loop afterwards."""

    async def main() -> JobOutcome:
        try:
            return (await Engine(ctx).run([job])).outcomes[0]
        finally:
            await ctx.provider.close()

    outcome = asyncio.run(main())
    assert outcome.output is not None
    return outcome, json.loads(outcome.output)


def by_item(ledger: Ledger) -> dict[str, list[Execution]]:
    out: dict[str, list[Execution]] = {}
    for e in sorted(ledger.executions(), key=lambda e: e.attempt):
        out.setdefault(e.tags["item"], []).append(e)
    return out


FILES = [f"src/mod_{i}.py" for i in range(12)]


def test_every_item_is_processed_once_in_its_own_chain(ledger: Ledger) -> None:
    provider = Scripted(failing())
    outcome, summary = run_batch(context(provider, ledger), batch_job(FILES))
    assert outcome.status == "succeeded" and outcome.tier_path == "haiku"
    assert (summary["items"], summary["succeeded"], summary["retried"]) == (12, 12, [])
    assert summary["audit"] == {k: [] for k in summary["audit"]}
    assert [r["id"] for r in summary["results"]] == [str(i) for i in range(1, 13)]
    assert len(provider.requests) == 12 and len(outcome.attempts) == 12
    rows = by_item(ledger)
    assert sorted(rows, key=int) == [str(i) for i in range(1, 13)]
    chains = {item: [e.chain_id for e in chain] for item, chain in rows.items()}
    assert len({c[0] for c in chains.values()}) == 12  # one chain per item
    first = rows["3"][0]
    assert (first.task_key, first.attempt, first.strategy, first.tier) == (
        "lint", 1, "batch", "haiku",
    )  # fmt: skip
    assert first.task is not None and first.task.endswith("--- item 3 ---\nsrc/mod_2.py")
    prompt = provider.requests[0].prompt
    assert prompt.startswith("Lint and format this file\n\n--- item ")


def test_failures_are_re_run_one_tier_up_with_evidence(ledger: Ledger) -> None:
    provider = Scripted(failing("2", "7"))
    ctx = context(provider, ledger)
    outcome, summary = run_batch(ctx, batch_job(FILES))
    assert outcome.status == "succeeded" and outcome.tier_path == "haiku -> sonnet"
    assert summary["audit"]["failed"] == ["2", "7"] and summary["retried"] == ["2", "7"]
    assert ctx.stats.escalations == 2 and outcome.escalations == 2
    rows = by_item(ledger)
    assert [(e.attempt, e.tier, e.status) for e in rows["7"]] == [
        (1, "haiku", "failure"), (2, "sonnet", "success"),
    ]  # fmt: skip
    assert rows["7"][0].chain_id == rows["7"][1].chain_id
    reason = rows["7"][1].escalation_reason
    assert reason == "validation failed on haiku: missing: /\\bPASS\\b/"
    retry = [r for r in provider.requests if tier_of(r) == "sonnet"]
    assert len(retry) == 2 and "A previous attempt" in retry[0].prompt
    result = next(r for r in summary["results"] if r["id"] == "7")
    assert (result["tier_path"], result["attempts"], result["output"]) == (
        "haiku -> sonnet", 2, "PASS on sonnet",
    )  # fmt: skip


def test_corrupted_outputs_are_detected_before_validators(ledger: Ledger) -> None:
    def answer(request: ModelRequest) -> str | tuple[str, str]:
        if tier_of(request) == "haiku" and "--- item 4 ---" in request.prompt:
            return ("PASS but the file stops in the midd", "max_tokens")
        if tier_of(request) == "haiku" and "--- item 5 ---" in request.prompt:
            return ""
        return "PASS"

    outcome, summary = run_batch(context(Scripted(answer), ledger), batch_job(FILES))
    assert summary["audit"]["corrupted"] == ["4", "5"] and summary["audit"]["failed"] == []
    assert outcome.status == "succeeded" and summary["retried"] == ["4", "5"]
    cut = by_item(ledger)["4"][0]
    assert cut.status == "failure" and cut.validation is not None
    assert "cut off at max_tokens" in cut.validation
    retried = by_item(ledger)["5"][1].escalation_reason
    assert retried == "corrupted output on haiku: the output is empty"


def test_items_that_fail_again_fail_the_job_with_their_ids(ledger: Ledger) -> None:
    provider = Scripted(lambda r: "FAIL" if "--- item 3 ---" in r.prompt else "PASS")
    outcome, summary = run_batch(context(provider, ledger), batch_job(FILES))
    assert outcome.status == "failed" and outcome.reason == "1 of 12 items failed: 3"
    assert summary["failed"] == 1 and summary["results"][2]["status"] == "failed"


def test_retry_tier_option_and_ladder_top(ledger: Ledger) -> None:
    job = batch_job(FILES[:2], retry_tier="opus")
    assert retry_tier(job, Tier.HAIKU) is Tier.OPUS
    assert retry_tier(replace(job, ladder_top=Tier.SONNET), Tier.HAIKU) is None
    assert retry_tier(batch_job([], retry_tier="haiku"), Tier.SONNET) is Tier.SONNET
    assert retry_tier(batch_job([]), Tier.OPUS) is None
    provider = Scripted(lambda r: "FAIL")
    outcome, summary = run_batch(
        context(provider, ledger), batch_job(FILES[:2], ladder_top="haiku")
    )
    assert summary["retry_tier"] is None and summary["retried"] == []
    assert outcome.status == "failed" and len(provider.requests) == 2


def test_errors_are_recorded_and_re_run(ledger: Ledger) -> None:
    provider = Scripted(failing("1", how=Overloaded("529 overloaded", status=529)))
    outcome, summary = run_batch(context(provider, ledger), batch_job(FILES[:3]))
    assert outcome.status == "succeeded" and summary["audit"]["failed"] == ["1"]
    first = by_item(ledger)["1"][0]
    assert (first.status, first.cost_nanos) == ("error", 0)


def test_concurrency_bound_is_respected(ledger: Ledger) -> None:
    provider = Scripted(failing(), delay=0.01)
    run_batch(context(provider, ledger), batch_job(FILES, concurrency=3))
    assert provider.most_in_flight == 3


def test_resume_re_runs_only_unfinished_items(ledger: Ledger) -> None:
    broken = {"on": True}

    def answer(request: ModelRequest) -> str:
        return "FAIL" if broken["on"] and "--- item 2 ---" in request.prompt else "PASS"

    provider = Scripted(answer)
    job = batch_job(FILES[:4])
    outcome, _ = run_batch(context(provider, ledger, run_id="r1"), job)
    assert outcome.status == "failed" and len(provider.requests) == 5  # 4 + 1 retry
    broken["on"] = False
    outcome, summary = run_batch(context(provider, ledger, run_id="r1"), job)
    assert outcome.status == "succeeded" and len(provider.requests) == 6
    assert summary["resumed"] == 3 and [r["resumed"] for r in summary["results"]] == [
        True, False, True, True,
    ]  # fmt: skip
    assert summary["results"][0]["output"] == "PASS"


def test_audit_finds_missing_duplicated_unexpected_and_corrupted() -> None:
    def made(status: str, evidence: str = "") -> Attempt:
        a = Attempt(1, Tier.HAIKU, "m", status=status)  # type: ignore[arg-type]
        a.validation = ValidationResult(status == "success", None, evidence)
        return a

    found = audit(
        ["a", "b", "c", "d", "e"],
        [
            ("a", made("success")),
            ("b", made("success")),
            ("b", made("success")),
            ("d", made("failure", "corrupted: the output is empty")),
            ("e", made("failure", "missing: /PASS/")),
            ("zz", made("success")),
        ],
    )
    assert found.to_dict() == {
        "missing": ["c"], "duplicated": ["b"], "unexpected": ["zz"],
        "corrupted": ["d"], "failed": ["e"],
    }  # fmt: skip


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([], "non-empty list"),
        (["a", {"id": "1", "text": "b"}], "item id '1' is used twice"),
        ([{"id": "x"}], r"items\[0\]: a string or"),
        (None, "non-empty list"),
    ],
)
def test_bad_items_are_refused(items: Any, message: str) -> None:
    with pytest.raises(DefinitionError, match=message):
        parse_items(batch_job(items))


def test_batch_api_option_on_a_provider_without_it_runs_live(ledger: Ledger) -> None:
    sim = get_provider("sim", seed=3, time_scale=0)
    outcome, summary = run_batch(context(sim, ledger), batch_job(FILES[:3], use_batch_api=True))
    assert summary["mode"] == "live" and "no Message Batches API" in summary["note"]
    assert len(outcome.attempts) >= 3


# -- Message Batches through the real SDK against the fake server -----------------------------
@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAnthropic]:
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)

    def reply(body: dict[str, Any]) -> str | Reply:
        text = body["messages"][-1]["content"]
        if "--- item 3 ---" in text and body["model"].startswith("claude-haiku"):
            return Reply("PASS but cut", stop_reason="max_tokens")
        return f"PASS from {body['model']}"

    with FakeAnthropic(reply=reply) as server:
        yield server


def anthropic_context(fake: FakeAnthropic, ledger: Ledger) -> RunContext:
    provider = AnthropicProvider(api_key="test-key", base_url=fake.base_url)
    policy = RetryPolicy(max_attempts=3, base_delay=0.0, max_delay=0.0)
    return context(RetryingProvider(provider, policy), ledger)


def test_message_batches_priced_at_the_batch_discount(fake: FakeAnthropic, ledger: Ledger) -> None:
    fake.fail_custom_ids = {custom_id_of("2")}  # the second item comes back errored
    job = batch_job(FILES[:5], use_batch_api=True, batch_poll_s=0.01)
    outcome, summary = run_batch(anthropic_context(fake, ledger), job)
    assert summary["mode"] == "message-batches" and summary["batch_id"] == "msgbatch_fake_0001"
    assert outcome.status == "succeeded" and summary["retried"] == ["2", "3"]
    assert summary["audit"]["corrupted"] == ["3"] and summary["audit"]["failed"] == ["2"]
    assert fake.counts["/v1/messages/batches"] == 1 and fake.counts["/v1/messages"] == 2
    rows = by_item(ledger)
    ok = rows["1"][0]
    assert ok.flags & FLAG_BATCH and ok.tier == "haiku" and ok.status == "success"
    usage = Usage(ok.input_tokens, ok.output_tokens)
    assert ok.cost_nanos * 2 == CATALOG.cost(ok.model, usage).nanos  # half price
    assert (rows["2"][0].status, rows["2"][0].cost_nanos) == ("error", 0)
    retried = rows["2"][1]
    assert (retried.attempt, retried.tier, retried.flags & FLAG_BATCH) == (2, "sonnet", 0)
    assert retried.chain_id == rows["2"][0].chain_id


def test_message_batches_missing_and_unexpected_results_are_caught(
    fake: FakeAnthropic, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    collect = AnthropicProvider.collect_batch

    async def lossy(self: AnthropicProvider, batch_id: str) -> dict[str, Any]:
        outcomes = await collect(self, batch_id)
        outcomes["i9"] = outcomes.pop(custom_id_of("1"))  # item 1 lost, a stranger arrives
        return outcomes

    monkeypatch.setattr(AnthropicProvider, "collect_batch", lossy)
    job = batch_job(FILES[:2], use_batch_api=True, batch_poll_s=0.01)
    outcome, summary = run_batch(anthropic_context(fake, ledger), job)
    assert summary["audit"]["missing"] == ["1"]
    assert summary["audit"]["unexpected"] == ["custom_id i9"]
    assert outcome.status == "succeeded" and "1" in summary["retried"]
    assert [(e.attempt, e.tier) for e in by_item(ledger)["1"]] == [(1, "sonnet")]


def test_a_batch_that_cannot_be_collected_is_not_paid_twice(
    fake: FakeAnthropic, ledger: Ledger
) -> None:
    fake.batch_polls = 1_000
    job = batch_job(FILES[:2], use_batch_api=True, batch_poll_s=0.01, batch_timeout_s=0.02)
    outcome, summary = run_batch(anthropic_context(fake, ledger), job)
    assert outcome.status == "error" and "msgbatch_fake_0001" in outcome.reason
    assert summary["retried"] == [] and fake.counts["/v1/messages"] == 0
    assert ledger.count() == 0


def test_a_batch_collected_again_maps_results_by_item_not_position(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run made a batch for items 1-3 and crashed once item 1 was saved; the resumed run
    collects that batch again (as a distributed worker does) with only items 2 and 3 to do.
    Each must get its own result: custom ids name items, not places in the list to do."""

    def reply(body: dict[str, Any]) -> str:
        text = json.dumps(body["messages"])
        return "PASS " + next(i for i in ("1", "2", "3") if f"--- item {i} ---" in text)

    assert len({custom_id_of(i) for i in ("1", "2", "3", "item 1", "1 ")}) == 5
    assert all(len(custom_id_of(i)) <= 64 for i in ("x" * 500, "é/@ "))
    job = batch_job(FILES[:3], use_batch_api=True, batch_poll_s=0.01)
    with FakeAnthropic(reply=reply) as server:
        first = anthropic_context(server, ledger)
        _, summary = run_batch(first, job)
        made = summary["batch_id"]
        ledger.execute_many(
            [("DELETE FROM run_jobs WHERE job_id IN ('lint', 'lint#2', 'lint#3')", [{}])]
        )

        async def the_same_batch(self: AnthropicProvider, requests: Any) -> str:
            return str(made)

        monkeypatch.setattr(AnthropicProvider, "submit_batch", the_same_batch)
        again = anthropic_context(server, ledger)
        again.run_id = first.run_id
        _, resumed = run_batch(again, job)
    assert [r["resumed"] for r in resumed["results"]] == [True, False, False]
    outputs = {r["id"]: r["output"] for r in resumed["results"]}
    assert outputs == {"1": "PASS 1", "2": "PASS 2", "3": "PASS 3"}
    assert resumed["audit"]["unexpected"] == []
