"""A recommendation's saving is computed on the tasks it moves, never on all of an agent's:
no recommendation saves more than the true cost of the tasks it applies to (a property over
random ledgers), nor more than the agent's whole true cost."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gearshift.catalog import Tier, Usage, load_catalog
from gearshift.insight.expected_cost import nanos
from gearshift.insight.recommend import Recommendation, Settings, recommend
from gearshift.insight.truecost import TrueCostReport, true_cost
from gearshift.ledger import Filters, Ledger

CAT = load_catalog("article")
T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
WINDOW = Filters(since=T0, until=T0 + dt.timedelta(days=30))
TIERS = ("haiku", "sonnet", "opus")


def add(ledger: Ledger, agent: str, tier: str, n: int, failures: int, task_type: str,
        output: int, escalate_to: str | None = None) -> None:  # fmt: skip
    rows = []
    for i in range(n):
        at = T0 + dt.timedelta(days=i % 28, minutes=i)
        failed = i < failures
        chain = f"{agent}-{tier}-{i}"
        rows.append(ledger.price(agent=agent, model=tier, usage=Usage(1000, output),
                                 status="failure" if failed else "success", latency_ms=2000,
                                 task_type=task_type, chain_id=chain, ts=at))  # fmt: skip
        if failed and escalate_to:
            rows.append(ledger.price(agent=agent, model=escalate_to, usage=Usage(1000, output),
                                     status="success", latency_ms=4000, task_type=task_type,
                                     chain_id=chain, attempt=2, escalation_reason="failed",
                                     ts=at + dt.timedelta(seconds=5)))  # fmt: skip
    ledger.add_many(rows)


def moved_cost(report: TrueCostReport, rec: Recommendation) -> Fraction:
    """The true cost, over the window, of the tasks ``rec`` moves: the agent's runs on the tier
    it moves from, with their escalations when those tasks escalate."""
    agent = report.agent(str(rec.agent))
    assert agent is not None and rec.from_tier is not None
    start = Tier.parse(rec.from_tier)
    home = agent.row(start)
    assert home is not None
    total = home.total
    if home.redone:
        total += sum((r.total for r in agent.rows if r.tier > start), Fraction(0))
    return total


def check(ledger: Ledger) -> None:
    report = true_cost(ledger, WINDOW)
    for rec in recommend(ledger, WINDOW, report=report, settings=Settings(min_executions=5)):
        if rec.monthly_saving_nanos is None or rec.agent is None:
            continue
        agent = report.agent(rec.agent)
        assert agent is not None
        assert rec.monthly_saving_nanos <= nanos(report.monthly(agent.total)), rec
        if rec.kind in ("move-down", "move-up", "tiered"):
            assert rec.monthly_saving_nanos <= nanos(report.monthly(moved_cost(report, rec))), rec
            assert rec.basis_nanos == nanos(report.monthly(moved_cost(report, rec)))


def test_moving_an_agent_off_opus_saves_at_most_what_its_opus_tasks_cost() -> None:
    """The issue's case: an architect whose tasks mostly run on cheaper tiers already; moving
    its Opus tasks down can save at most what they cost."""
    with Ledger.open("sqlite://", catalog=CAT) as ledger:
        add(ledger, "architect", "opus", 12, 0, "design", 600)
        add(ledger, "architect", "haiku", 11, 0, "design", 600)
        add(ledger, "designer", "sonnet", 80, 0, "design", 600)
        report = true_cost(ledger, WINDOW)
        recs = recommend(ledger, WINDOW, report=report)
        (down,) = [r for r in recs if r.kind == "move-down" and r.agent == "architect"]
        assert (down.from_tier, down.to_tier) == ("opus", "sonnet")
        check(ledger)


agents = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),
        st.sampled_from(TIERS),
        st.integers(1, 40),
        st.integers(0, 40),
        st.sampled_from(["design", "linting"]),
        st.sampled_from([50, 400, 3000]),
        st.sampled_from([None, "sonnet", "opus"]),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(agents)
def test_no_recommendation_saves_more_than_the_tasks_it_moves_cost(spec: list[tuple]) -> None:
    with Ledger.open("sqlite://", catalog=CAT) as ledger:
        for agent, tier, n, failures, task_type, output, up in spec:
            escalate = up if up is not None and TIERS.index(up) > TIERS.index(tier) else None
            add(ledger, agent, tier, n, min(failures, n), task_type, output, escalate)
        check(ledger)
