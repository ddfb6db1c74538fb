"""The single, tiered and confidence strategies and the runner: escalation, DAG, resume."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from gearshift.catalog import Catalog, Tier, Usage, load_catalog
from gearshift.engine.context import RunContext
from gearshift.engine.job import Job
from gearshift.engine.run_state import RunStore
from gearshift.engine.runner import check_graph, run_jobs
from gearshift.engine.validators import RegexValidator
from gearshift.errors import DefinitionError, Overloaded
from gearshift.ledger import Ledger
from gearshift.ledger.record import Execution
from gearshift.providers.base import ModelRequest, ModelResult
from gearshift.routing.router import Router
from gearshift.routing.task import Task

CATALOG = load_catalog()
PASS = (RegexValidator([r"\bPASS\b"]),)
Reply = Callable[[ModelRequest], "str | Exception"]


class Scripted:
    """A provider whose answer is ``reply(request)`` (an exception is raised)."""

    name = "scripted"

    def __init__(self, reply: Reply, catalog: Catalog = CATALOG) -> None:
        self.reply = reply
        self.catalog = catalog
        self.requests: list[ModelRequest] = []

    async def complete(self, request: ModelRequest) -> ModelResult:
        self.requests.append(request)
        out = self.reply(request)
        if isinstance(out, Exception):
            raise out
        model = self.catalog.resolve(request.model)
        return ModelResult(out, Usage(100, 40), model.id, 3, stop_reason="end_turn")

    async def count_tokens(self, request: ModelRequest) -> int:
        return 1

    async def close(self) -> None:
        return None

    def tiers(self) -> list[str]:
        return [self.catalog.resolve(r.model).tier.value for r in self.requests]


def by_tier(**answers: str | Exception) -> Reply:
    """Answer by the request's tier: ``by_tier(haiku="FAIL", sonnet="PASS")``."""

    def reply(request: ModelRequest) -> str | Exception:
        return answers[CATALOG.resolve(request.model).tier.value]

    return reply


def context(provider: Any, ledger: Ledger | None = None, **options: Any) -> RunContext:
    store = RunStore(ledger) if ledger is not None else None
    options.setdefault("concurrency", 4)
    return RunContext(
        provider=provider, catalog=CATALOG, router=Router(CATALOG), ledger=ledger, store=store,
        source="sim", **options,
    )  # fmt: skip


@pytest.fixture
def ledger() -> Ledger:
    return Ledger.open("sqlite://")


def rows(ledger: Ledger) -> list[Execution]:
    return sorted(ledger.executions(), key=lambda e: (e.task_key or "", e.attempt))


def job(job_id: str, text: str = "Fix the bug", tier: str = "haiku", **options: Any) -> Job:
    return Job(job_id, Task(text, model=tier), validators=PASS, **options)


# -- single ---------------------------------------------------------------------------------
def test_single_makes_one_recorded_attempt(ledger: Ledger) -> None:
    provider = Scripted(by_tier(haiku="PASS here"))
    report = run_jobs(context(provider, ledger), [job("a", strategy="single")])
    outcome = report.outcomes[0]
    assert (outcome.status, outcome.output) == ("succeeded", "PASS here")
    (row,) = rows(ledger)
    assert (row.strategy, row.attempt, row.status, row.chain_id) == (
        "single", 1, "success", outcome.chain_id,
    )  # fmt: skip
    assert row.run_id == report.run_id and row.task_key == "a"
    assert row.validation is not None and row.validation.startswith("pass")


# -- tiered ---------------------------------------------------------------------------------
def test_tiered_escalates_with_evidence_and_one_chain(ledger: Ledger) -> None:
    provider = Scripted(by_tier(haiku="FAIL one", sonnet="FAIL two", opus="PASS three"))
    report = run_jobs(context(provider, ledger), [job("t", strategy="tiered")])
    outcome = report.outcomes[0]
    assert outcome.status == "succeeded" and outcome.tier_path == "haiku -> sonnet -> opus"
    assert provider.tiers() == ["haiku", "sonnet", "opus"]
    assert "FAIL" not in provider.requests[0].prompt
    assert "missing: /\\bPASS\\b/" in provider.requests[1].prompt  # the evidence goes up
    recorded = rows(ledger)
    assert [(r.attempt, r.tier, r.status) for r in recorded] == [
        (1, "haiku", "failure"), (2, "sonnet", "failure"), (3, "opus", "success"),
    ]  # fmt: skip
    assert {r.chain_id for r in recorded} == {outcome.chain_id}
    assert recorded[0].escalation_reason is None
    assert recorded[1].escalation_reason == "validation failed on haiku: missing: /\\bPASS\\b/"
    assert "on sonnet" in str(recorded[2].escalation_reason)
    assert report.stats.escalations == 2 and outcome.escalations == 2


def test_tiered_stops_at_ladder_top(ledger: Ledger) -> None:
    provider = Scripted(by_tier(haiku="FAIL", sonnet="FAIL", opus="PASS"))
    report = run_jobs(
        context(provider, ledger),
        [job("t", strategy="tiered", ladder_top=Tier.SONNET, options={"top_retries": 0})],
    )
    outcome = report.outcomes[0]
    assert outcome.status == "failed" and outcome.tier_path == "haiku -> sonnet"
    assert "top of the ladder" in outcome.reason
    assert provider.tiers() == ["haiku", "sonnet"] and len(rows(ledger)) == 2


def test_tiered_retries_the_top_once_with_the_evidence(ledger: Ledger) -> None:
    provider = Scripted(by_tier(haiku="FAIL", sonnet="FAIL", opus="PASS"))
    report = run_jobs(
        context(provider, ledger), [job("t", strategy="tiered", ladder_top=Tier.SONNET)]
    )
    outcome = report.outcomes[0]
    assert outcome.status == "failed" and provider.tiers() == ["haiku", "sonnet", "sonnet"]
    recorded = rows(ledger)
    assert [(r.attempt, r.tier) for r in recorded] == [(1, "haiku"), (2, "sonnet"), (3, "sonnet")]
    assert "top of the ladder: retry" in str(recorded[2].escalation_reason)
    assert "missing" in provider.requests[2].prompt  # the evidence goes into the retry
    assert report.stats.escalations == 1


def test_tiered_provider_error_ends_the_job_without_escalating(ledger: Ledger) -> None:
    provider = Scripted(by_tier(haiku=Overloaded("529 overloaded", status=529)))
    outcome = run_jobs(context(provider, ledger), [job("t", strategy="tiered")]).outcomes[0]
    assert outcome.status == "error" and "Overloaded" in outcome.reason
    (row,) = rows(ledger)
    assert row.status == "error" and row.cost_nanos == 0


# -- confidence -----------------------------------------------------------------------------
def confidence_run(ledger: Ledger, haiku: str, sonnet: str) -> tuple[Any, Scripted]:
    provider = Scripted(by_tier(haiku=haiku, sonnet=sonnet))
    job_ = Job("c", Task("Write the regex", model="haiku"), strategy="confidence")
    return run_jobs(context(provider, ledger), [job_]).outcomes[0], provider


def test_confidence_high_is_accepted(ledger: Ledger) -> None:
    outcome, provider = confidence_run(ledger, "answer\nconfidence: 0.95", "unused")
    assert outcome.status == "succeeded" and outcome.output == "answer\nconfidence: 0.95"
    assert provider.tiers() == ["haiku"]
    assert "confidence: <a number" in provider.requests[0].prompt


def test_confidence_middling_is_reviewed_and_accepted(ledger: Ledger) -> None:
    outcome, provider = confidence_run(ledger, "draft\nconfidence: 0.75", "verdict: accept")
    assert provider.tiers() == ["haiku", "sonnet"]
    assert outcome.output == "draft\nconfidence: 0.75"
    assert [a.role for a in outcome.attempts] == ["generate", "review"]
    review = rows(ledger)[1]
    assert review.tags["role"] == "review" and review.escalation_reason is not None
    assert "review on sonnet" in review.escalation_reason


def test_confidence_middling_is_reviewed_and_revised(ledger: Ledger) -> None:
    outcome, _ = confidence_run(ledger, "draft\nconfidence: 0.7", "verdict: revise\nbetter")
    assert outcome.status == "succeeded" and outcome.output == "better"
    assert [a.role for a in outcome.attempts] == ["generate", "review"]
    assert len(rows(ledger)) == 2  # the revision is the review's own text: no third call
    assert outcome.reason == "accepted on sonnet"


def test_confidence_low_is_regenerated_higher(ledger: Ledger) -> None:
    outcome, provider = confidence_run(ledger, "guess\nconfidence: 0.3", "solid answer")
    assert provider.tiers() == ["haiku", "sonnet"]
    assert outcome.output == "solid answer"
    assert "confidence" not in provider.requests[1].prompt  # a plain regeneration
    second = rows(ledger)[1]
    assert second.tags["role"] == "regenerate"
    assert second.escalation_reason == "confidence 0.30 < 0.6: regenerate on sonnet"


# -- the runner: DAG, skips, cycles, resume ---------------------------------------------------
def test_dependents_get_outputs_and_failures_skip_their_dependents(ledger: Ledger) -> None:
    def reply(request: ModelRequest) -> str:
        if request.prompt.startswith("design"):
            return "PASS the design"
        return "FAIL" if request.prompt.startswith("broken") else "PASS done"

    provider = Scripted(reply)
    jobs = [
        job("design", "design it", strategy="single"),
        job("build", "build it", strategy="single", depends_on=("design",)),
        job("broken", "broken step", strategy="single"),
        job("after", "after broken", strategy="single", depends_on=("broken",)),
        job("later", "later still", strategy="single", depends_on=("after", "design")),
    ]
    report = run_jobs(context(provider, ledger), jobs)
    status = {o.job_id: o.status for o in report.outcomes}
    assert status == {
        "design": "succeeded", "build": "succeeded", "broken": "failed",
        "after": "skipped", "later": "skipped",
    }  # fmt: skip
    build = next(r for r in provider.requests if r.prompt.startswith("build"))
    assert "--- output of design ---\nPASS the design" in build.prompt
    skipped = {o.job_id: o.reason for o in report.outcomes}
    assert skipped["after"] == "dependency broken did not succeed"
    assert len(provider.requests) == 3


@pytest.mark.parametrize(
    ("deps", "message"),
    [
        ({"a": ("b",), "b": ("c",), "c": ("a",)}, "cycle: a -> b -> c -> a"),
        ({"a": ("a",), "b": (), "c": ()}, "cycle: a -> a"),
        ({"a": ("zzz",), "b": (), "c": ()}, "unknown job 'zzz'"),
    ],
)
def test_bad_graphs_are_rejected(deps: dict[str, Sequence[str]], message: str) -> None:
    jobs = [job(j, depends_on=tuple(d)) for j, d in deps.items()]
    with pytest.raises(DefinitionError, match=message):
        check_graph(jobs)
    with pytest.raises(DefinitionError):
        run_jobs(context(Scripted(by_tier(haiku="PASS"))), jobs)


def test_duplicate_job_ids_are_rejected() -> None:
    with pytest.raises(DefinitionError, match="defined twice"):
        check_graph([job("a"), job("a")])


def test_resume_skips_succeeded_jobs_of_the_same_run_id(ledger: Ledger) -> None:
    flaky = {"fail": True}

    def reply(request: ModelRequest) -> str:
        if request.prompt.startswith("flaky") and flaky["fail"]:
            return "FAIL"
        return "PASS " + request.prompt.split()[0]

    provider = Scripted(reply)
    jobs = [
        job("one", "one", strategy="single"),
        job("two", "two", strategy="single", depends_on=("one",)),
        job("flaky", "flaky", strategy="single"),
    ]
    first = run_jobs(context(provider, ledger, run_id="run-1"), jobs)
    assert [o.status for o in first.outcomes] == ["succeeded", "succeeded", "failed"]
    assert len(provider.requests) == 3 and ledger.count() == 3
    flaky["fail"] = False
    again = run_jobs(context(provider, ledger, run_id="run-1"), jobs)
    assert [(o.status, o.resumed) for o in again.outcomes] == [
        ("succeeded", True), ("succeeded", True), ("succeeded", False),
    ]  # fmt: skip
    assert len(provider.requests) == 4 and ledger.count() == 4  # only "flaky" ran again
    assert again.outcomes[0].cost_nanos == first.outcomes[0].cost_nanos
    other = run_jobs(context(provider, ledger, run_id="run-2"), jobs)
    assert not any(o.resumed for o in other.outcomes) and len(provider.requests) == 7


def test_an_attempt_is_in_the_ledger_when_call_returns(ledger: Ledger) -> None:
    """Group commit batches rows, but never returns before the attempt's row is written."""
    ctx = context(Scripted(by_tier(haiku="PASS")), ledger)
    job_ = job("g")

    async def main() -> list[int]:
        counts = []
        for n in range(3):
            await ctx.call(job_, Tier.HAIKU, "go", number=n + 1, chain_id="c", strategy="x")
            counts.append(ledger.count())
        results = await asyncio.gather(
            *(
                ctx.call(job_, Tier.HAIKU, f"p{n}", number=1, chain_id=f"k{n}", strategy="x")
                for n in range(20)
            )
        )
        counts.append(ledger.count())
        assert all(r.cost_nanos > 0 for r in results)
        return counts

    assert asyncio.run(main()) == [1, 2, 3, 23]


def test_counterfactual_counts_every_batch_item(ledger: Ledger) -> None:
    provider = Scripted(by_tier(haiku="PASS"))
    batch = Job("b", Task("Format", model="haiku"), strategy="batch", options={"items": ["x", "y"]})
    single = job("s", "Format x", strategy="single")
    report = run_jobs(context(provider, ledger), [batch, single])
    per_call = CATALOG.cost(CATALOG.default_for(Tier.SONNET), Usage(100, 40)).nanos
    assert report.counterfactual_nanos["sonnet"] == 3 * per_call


def test_write_path_on_both_databases(ledger_url: str) -> None:
    """Group commit, the run store's upsert and the response cache on SQLite and PostgreSQL."""
    provider = Scripted(by_tier(haiku="PASS"))
    jobs = [job(f"j{n}", f"task {n}", strategy="single", cache_ttl_s=60) for n in range(30)]
    with Ledger.open(ledger_url) as ledger:
        first = run_jobs(context(provider, ledger, run_id="run-a", concurrency=8), jobs)
        assert first.count("succeeded") == 30 and ledger.count() == 30
        again = run_jobs(context(provider, ledger, run_id="run-a"), jobs)
        assert all(o.resumed for o in again.outcomes) and ledger.count() == 30
        store = RunStore(ledger)
        store.save("run-a", store.finished("run-a")["j1"])  # saving twice replaces
        assert len(store.finished("run-a")) == 30
        other = run_jobs(context(provider, ledger, run_id="run-b"), jobs)  # all cache hits
        assert other.cost_nanos == 0 and other.stats.cache_hits == 30 and ledger.count() == 60
    assert len(provider.requests) == 30
