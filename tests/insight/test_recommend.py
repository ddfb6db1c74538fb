"""Recommendations: each kind from a ledger made to call for it, evidence rules, the demo month."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from gearshift.catalog import Usage, load_catalog
from gearshift.demo.month import fill_month
from gearshift.insight.recommend import Recommendation, Settings, recommend
from gearshift.insight.truecost import true_cost
from gearshift.ledger import Filters, Ledger

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
WINDOW = Filters(since=T0, until=T0 + dt.timedelta(days=30))


def runs(
    ledger: Ledger,
    agent: str,
    model: str,
    n: int,
    *,
    failures: int = 0,
    task_type: str = "linting",
    output_tokens: int = 400,
) -> None:
    """``n`` runs of ``agent`` over four weeks, the first ``failures`` failed, in one write."""
    ledger.add_many(
        ledger.price(
            agent=agent,
            model=model,
            usage=Usage(1000, output_tokens),
            status="failure" if i < failures else "success",
            latency_ms=3000,
            task_type=task_type,
            task=f"{agent} task {i}",
            ts=T0 + dt.timedelta(days=i % 28, minutes=i),
        )
        for i in range(n)
    )


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    with Ledger.open(ledger_url, catalog=load_catalog("article")) as opened:
        yield opened


def by_agent(recs: list[Recommendation], kind: str) -> dict[str | None, Recommendation]:
    return {r.agent: r for r in recs if r.kind == kind}


def test_move_down_when_the_task_type_succeeds_on_a_cheaper_tier(ledger: Ledger) -> None:
    runs(ledger, "linter-sonnet", "sonnet", 60)
    runs(ledger, "linter-haiku", "haiku", 200, failures=2)
    runs(ledger, "formatter-opus", "opus", 40, task_type="formatting-rare", output_tokens=2000)
    runs(ledger, "formatter-haiku", "haiku", 5, task_type="formatting-rare")
    recs = recommend(ledger, WINDOW)
    down = by_agent(recs, "move-down")
    sure = down["linter-sonnet"]
    assert sure.enough_evidence and sure.needs is None
    assert sure.action == "move linter-sonnet from sonnet to haiku"
    assert sure.monthly_saving_nanos and sure.monthly_saving_nanos > 0
    assert any("linting on haiku" in e and "over 200 runs" in e for e in sure.evidence)
    unsure = down["formatter-opus"]
    assert not unsure.enough_evidence
    assert unsure.needs is not None and "5 runs of formatting-rare on haiku" in unsure.needs
    assert "not enough evidence" in unsure.message


def test_tiered_for_rework_and_move_up_for_frequent_escalation(ledger: Ledger) -> None:
    runs(ledger, "summarizer", "haiku", 100, failures=25, task_type="summaries")
    for i in range(60):
        chain = f"c{i}"
        at = T0 + dt.timedelta(days=i % 28, minutes=i)
        ledger.record(
            agent="escalator",
            model="haiku",
            input_tokens=1000,
            output_tokens=400,
            status="failure" if i < 54 else "success",
            chain_id=chain,
            latency_ms=3000,
            task_type="analysis",
            ts=at,
        )
        if i < 54:  # at 90%, Haiku first costs more than it saves: 2400 > 10% of 9000
            ledger.record(
                agent="escalator",
                model="sonnet",
                input_tokens=1000,
                output_tokens=400,
                chain_id=chain,
                attempt=2,
                latency_ms=9000,
                escalation_reason="validation failed",
                task_type="analysis",
                ts=at + dt.timedelta(seconds=10),
            )
    recs = recommend(ledger, WINDOW)
    tiered = by_agent(recs, "tiered")["summarizer"]
    assert tiered.enough_evidence and "haiku first, sonnet when validation fails" in tiered.action
    assert any("validator" in e for e in tiered.evidence)
    up = by_agent(recs, "move-up")["escalator"]
    assert "to sonnet alone" in up.action and up.monthly_saving_nanos
    assert any("of tasks escalate" in e for e in up.evidence)


def test_batch_candidates_are_busy_and_not_interactive(ledger: Ledger) -> None:
    runs(ledger, "bulk-linter", "haiku", 900)
    runs(ledger, "reviewer", "sonnet", 900, task_type="code-review")
    runs(ledger, "rare", "haiku", 30)
    report = true_cost(ledger, WINDOW)
    batch = by_agent(recommend(ledger, WINDOW, report=report), "batch")
    assert set(batch) == {"bulk-linter"}
    bill = report.agent("bulk-linter")
    assert bill is not None
    expected = bill.bill_nanos // 2  # half the bill over exactly 30 days
    assert batch["bulk-linter"].monthly_saving_nanos == expected


def test_cache_needs_repeats_with_the_same_prompt(ledger: Ledger) -> None:
    for i in range(40):
        at = T0 + dt.timedelta(days=i // 8, hours=i % 8)
        ledger.record(
            agent="doc-bot",
            model="haiku",
            input_tokens=500,
            output_tokens=100,
            task="Summarise the README",
            ts=at,
        )
        ledger.record(
            agent="drifter",
            model="haiku",
            input_tokens=500 + i,
            output_tokens=100,
            task="Summarise the changelog",
            ts=at,
        )
    cache = [r for r in recommend(ledger, WINDOW) if r.kind == "cache"]
    sure = next(r for r in cache if r.agent == "doc-bot")
    assert sure.enough_evidence and sure.monthly_saving_nanos
    assert "39 of 40 tasks repeat" in sure.evidence[0]
    maybe = next(r for r in cache if r.agent is None)
    assert not maybe.enough_evidence and maybe.monthly_saving_nanos is None
    assert any(line.startswith("drifter:") for line in maybe.evidence)


def test_top_five_cost_drivers_come_last(ledger: Ledger) -> None:
    for i in range(7):
        runs(ledger, f"agent-{i}", "sonnet", 5 + i, task_type=f"t{i}")
    recs = recommend(ledger, WINDOW, settings=Settings(top_drivers=5))
    drivers = [r for r in recs if r.kind == "cost-driver"]
    assert [d.agent for d in drivers] == [f"agent-{i}" for i in (6, 5, 4, 3, 2)]
    assert recs[-5:] == drivers
    assert drivers[0].action.startswith("#1 cost driver: agent-6 (sonnet)")
    assert drivers[0].to_dict()["monthly_saving_usd"] is None


@pytest.fixture(scope="module")
def demo_ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    path: Path = tmp_path_factory.mktemp("demo") / "demo.db"
    with Ledger.open(path) as ledger:
        fill_month(ledger, end=dt.datetime(2026, 3, 31, 18, tzinfo=dt.UTC))
        yield ledger


def test_the_demo_month_surfaces_both_hidden_costs(demo_ledger: Ledger) -> None:
    report = true_cost(demo_ledger)
    labels = {f.agent: f.label for f in report.flags}
    assert labels["release-summarizer"] == "Haiku false economy"
    assert labels["doc-writer"] == "Opus overkill tax"
    recs = recommend(demo_ledger, report=report)
    assert recs[0].kind == "tiered" and recs[0].agent == "release-summarizer"
    doc = by_agent(recs, "move-down")["doc-writer"]
    assert not doc.enough_evidence and "trial 30 runs on sonnet" in (doc.needs or "")
    assert {r.agent for r in recs if r.kind == "batch"} == {"test-engineer", "style-enforcer"}
    assert all(r.to_dict()["kind"] == r.kind for r in recs)
