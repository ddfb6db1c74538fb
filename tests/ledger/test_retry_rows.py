"""Retried and dropped HTTP attempts are money, not outcomes: they count in spend and cost,
never as runs, tasks or failures."""

from __future__ import annotations

from gearshift.catalog import Usage, load_catalog
from gearshift.insight.truecost import true_cost
from gearshift.ledger import Filters, Ledger, agent_summary, spend
from gearshift.ledger.evidence import chain_stats


def test_retry_rows_cost_money_but_are_not_runs() -> None:
    with Ledger.open("sqlite://", catalog=load_catalog()) as ledger:
        rows = []
        for i in range(10):
            chain = f"c{i}"
            for n in range(2):  # two 429s, then the call
                rows.append(
                    ledger.price(
                        agent="a",
                        model="haiku",
                        usage=Usage(),
                        chain_id=chain,
                        status="retried",
                        tags={"http_attempt": str(n + 1)},
                    )
                )
            rows.append(
                ledger.price(
                    agent="a", model="haiku", usage=Usage(100, 0), chain_id=chain, status="dropped"
                )
            )
            rows.append(
                ledger.price(
                    agent="a", model="haiku", usage=Usage(100, 50), chain_id=chain, status="success"
                )
            )
        ledger.add_many(rows)
        (stats,) = agent_summary(ledger, Filters())
        assert stats.executions == 10 and stats.successes == 10 and stats.failures == 0
        assert stats.cost_nanos == sum(r.cost_nanos for r in rows)
        (chains,) = chain_stats(ledger, Filters())
        assert chains.first_attempts == 10 and chains.executions == 10
        assert chains.terminal_failures == 0
        report = true_cost(ledger, Filters())
        assert report.agents[0].tasks == 10
        assert report.bill_nanos == sum(r.cost_nanos for r in rows)
        by_status = {r.key: r.executions for r in spend(ledger, "status").rows}
        assert by_status == {"success": 10, "retried": 20, "dropped": 10}
