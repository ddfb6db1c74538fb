"""True cost on both stores: exact parts, the bill conserved, and the two flags."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gearshift.catalog import Tier, Usage, load_catalog
from gearshift.insight.expected_cost import (
    Beta,
    Outlook,
    TrueCostRates,
    nanos,
    static_cost,
    tiered_cost,
)
from gearshift.insight.truecost import true_cost
from gearshift.ledger import Filters, Ledger

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
WINDOW = Filters(since=T0, until=T0 + dt.timedelta(days=10))


def record_team(ledger: Ledger) -> None:
    """summarizer: Haiku failing 30%; tester: Haiku tiered to Sonnet; writer: Opus, short."""
    at = T0 + dt.timedelta(hours=1)
    rows = [
        ledger.price(
            agent="summarizer",
            model="haiku",
            usage=Usage(1000, 500),
            status="failure" if i < 30 else "success",
            latency_ms=2000,
            task_type="summaries",
            ts=at + dt.timedelta(minutes=i),
        )
        for i in range(100)
    ]
    for i in range(50):
        failed = i < 10
        rows.append(
            ledger.price(
                agent="tester",
                model="haiku",
                usage=Usage(1000, 1000),
                status="failure" if failed else "success",
                latency_ms=1000,
                chain_id=f"chain-{i}",
                attempt=1,
                task_type="test-writing",
                ts=at + dt.timedelta(minutes=i),
            )
        )
        if failed:
            rows.append(
                ledger.price(
                    agent="tester",
                    model="sonnet",
                    usage=Usage(1000, 1000),
                    latency_ms=3000,
                    chain_id=f"chain-{i}",
                    attempt=2,
                    escalation_reason="validation failed",
                    task_type="test-writing",
                    ts=at + dt.timedelta(minutes=i, seconds=5),
                )
            )
    rows += [
        ledger.price(
            agent="writer",
            model="opus",
            usage=Usage(1000, 200),
            latency_ms=20000,
            task_type="docs",
            ts=at + dt.timedelta(days=9, minutes=i),
        )
        for i in range(40)
    ]
    ledger.add_many(rows)


@pytest.fixture
def team(ledger_url: str) -> Iterator[Ledger]:
    ledger = Ledger.open(ledger_url, catalog=load_catalog("article"))
    record_team(ledger)
    yield ledger
    ledger.close()


def test_parts_are_exact_and_the_bill_is_conserved(team: Ledger) -> None:
    report = true_cost(team, WINDOW)
    summarizer = report.agent("summarizer")
    assert summarizer is not None
    row = summarizer.home
    assert (row.tier, row.executions, row.terminal_failures) == (Tier.HAIKU, 100, 30)
    assert row.bill_nanos == 100 * 2_800_000  # 1000 x $0.80/M + 500 x $4/M = $0.0028
    assert row.rework == 30 * Fraction(25)  # 30 minutes at $50/hour
    assert row.waiting == Fraction(100 * 2000 * 25, 100 * 3_600_000) * 50  # 0.25 x $50/h
    assert row.total == Fraction(row.bill_nanos, 10**9) + row.rework + row.waiting

    tester = report.agent("tester")
    assert tester is not None and tester.tasks == 50
    haiku, sonnet = tester.rows
    assert (haiku.redone, haiku.terminal_failures, haiku.rework) == (10, 0, 0)
    assert haiku.double_pay_nanos == 10 * 4_800_000
    assert haiku.token_nanos + haiku.double_pay_nanos == haiku.bill_nanos
    assert (sonnet.first_attempts, sonnet.executions) == (0, 10)
    assert report.bill_nanos == team_bill(team)
    assert report.span_us == 10 * 86_400_000_000
    assert report.monthly(Fraction(10)) == 30


def team_bill(ledger: Ledger) -> int:
    return sum(e.cost_nanos for e in ledger.executions())


def test_flags_the_haiku_false_economy_and_the_opus_overkill_tax(team: Ledger) -> None:
    report = true_cost(team, WINDOW)
    kinds = {f.agent: f for f in report.flags}
    assert set(kinds) == {"summarizer", "writer"}
    economy = kinds["summarizer"]
    assert economy.label == "Haiku false economy" and economy.alternative is Tier.SONNET
    assert economy.per_task_alternative < economy.per_task_now
    assert economy.monthly_nanos > 0 and "Haiku false economy" in economy.message
    tax = kinds["writer"]
    assert tax.label == "Opus overkill tax" and tax.alternative is Tier.SONNET
    assert "short outputs" in tax.message
    assert report.flags[0].monthly_nanos >= report.flags[-1].monthly_nanos
    data = report.to_dict()
    assert {f["kind"] for f in data["flags"]} == {"false-economy", "overkill-tax"}
    assert data["rates"] == {
        "hourly_rate_usd": "50",
        "investigate_minutes": "30",
        "blocking_factor": "0.25",
    }


def test_rates_change_the_verdict(team: Ledger) -> None:
    free_people = TrueCostRates(hourly_rate=Decimal(0))
    report = true_cost(team, WINDOW, free_people)
    assert report.total == Fraction(report.bill_nanos, 10**9)
    assert not [f for f in report.flags if f.kind == "false-economy"]


def test_an_empty_ledger_has_no_true_cost(tmp_path: object) -> None:
    with Ledger.open("sqlite://") as ledger:
        report = true_cost(ledger)
    assert report.agents == [] and report.flags == [] and report.total == 0


def test_rates_from_the_config_section() -> None:
    from gearshift.config import TrueCostConfig

    rates = TrueCostRates.from_config(
        TrueCostConfig(
            hourly_rate_usd=Decimal(80),
            minutes_to_investigate=Decimal(45),
            blocking_factor=Decimal("0.5"),
        )
    )
    assert (rates.hourly_rate, rates.investigate_minutes, rates.blocking_factor) == (80, 45, 0.5)
    assert rates.rework_per_failure == 60
    assert TrueCostRates.from_config(TrueCostConfig()) == TrueCostRates()


def test_beta_posterior() -> None:
    uniform = Beta(0, 0)
    assert uniform.mean == Fraction(1, 2)
    assert uniform.quantile(0.05) == pytest.approx(0.05)
    assert Beta(1, 0).quantile(0.25) == pytest.approx(0.5)  # Beta(2, 1): CDF x^2
    low, high = Beta(90, 10).interval(0.9)
    assert low < float(Beta(90, 10).mean) < high
    narrow = Beta(900, 100).interval(0.9)
    assert narrow[1] - narrow[0] < high - low


@given(
    first=st.fractions(min_value=0, max_value=1, max_denominator=1000),
    second=st.fractions(min_value=0, max_value=1, max_denominator=1000),
    escalation=st.fractions(min_value=0, max_value=1, max_denominator=1000),
)
def test_tiered_cost_is_bounded_by_its_parts(
    first: Fraction, second: Fraction, escalation: Fraction
) -> None:
    rates = TrueCostRates()
    cheap = Outlook(Tier.HAIKU, "h", Fraction(1, 1000), Fraction(1000), first)
    dear = Outlook(Tier.SONNET, "s", Fraction(3, 1000), Fraction(2000), second)
    cost = tiered_cost(cheap, dear, escalation, rates)
    assert cost >= cheap.tokens + escalation * dear.tokens
    if escalation == 0:
        assert cost == static_cost(cheap, rates)
    perfect = Outlook(Tier.SONNET, "s", dear.tokens, dear.latency_ms, Fraction(1))
    caught = tiered_cost(cheap, perfect, 1 - first, rates)
    assert (
        caught
        == cheap.tokens
        + (1 - first) * dear.tokens
        + (cheap.latency_ms + (1 - first) * dear.latency_ms) * rates.waiting_per_ms
    )


@given(st.fractions(min_value=0, max_value=10**6, max_denominator=10**12))
def test_nanos_rounds_half_to_even_once(amount: Fraction) -> None:
    value = nanos(amount)
    assert abs(Fraction(value, 10**9) - amount) <= Fraction(1, 2 * 10**9)
