"""Forecasts: a weekday/weekend-aware burn model, its band, and the verdict line."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gearshift.budgets.forecast import BurnModel, Forecast, forecast, money
from gearshift.budgets.model import Budget, make_budget
from gearshift.ledger import Execution, Ledger

USD = 10**9
MARCH = {"name": "acme", "scope": "project", "value": "acme", "period": "month"}
# 2026-03-01 is a Sunday; "now" is Wednesday 18 March, 06:00 UTC.
NOW = dt.datetime(2026, 3, 18, 6, tzinfo=dt.UTC)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger.open(tmp_path / "l.db") as led:
        yield led


def spend(ledger: Ledger, amounts: dict[dt.datetime, int], project: str = "acme") -> None:
    ledger.add_many(
        Execution(model="claude-sonnet-4-5", tier="sonnet", project=project, cost_nanos=n, ts=ts)
        for ts, n in amounts.items()
        if n
    )


def steady(first: dt.date, last: dt.date, weekday: int, weekend: int) -> dict[dt.datetime, int]:
    out = {}
    day = first
    while day <= last:
        noon = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)
        out[noon] = weekday if day.weekday() < 5 else weekend
        day += dt.timedelta(days=1)
    return out


def budget(**kw: str) -> Budget:
    return make_budget(**{"amount_usd": "500", **MARCH, **kw})  # type: ignore[arg-type]


def test_weekday_and_weekend_burn_are_projected_separately(ledger: Ledger) -> None:
    spend(ledger, steady(dt.date(2026, 2, 15), dt.date(2026, 3, 18), 10 * USD, 2 * USD))
    spend(ledger, steady(dt.date(2026, 2, 15), dt.date(2026, 3, 18), 7 * USD, 7 * USD), "other")
    fc = forecast(ledger, budget(), NOW, dt.UTC)
    # Mar 1-17: 12 weekdays at $10 and 5 weekend days at $2; today's noon spend is after "now"
    assert fc.spent_nanos == 130 * USD
    assert (fc.model.weekday_mean, fc.model.weekend_mean) == (10 * USD, 2 * USD)
    expected = dict(fc.projection)
    assert expected[dt.date(2026, 3, 18)] == 7_500_000_000  # 18 of today's 24 hours to come
    assert expected[dt.date(2026, 3, 20)] == 10 * USD  # Friday
    assert expected[dt.date(2026, 3, 21)] == 2 * USD  # Saturday
    # 9 more weekdays and 4 weekend days: 130 + 7.5 + 90 + 8
    assert fc.projected_nanos == 235_500_000_000
    assert fc.projected_nanos == fc.spent_nanos + sum(expected.values())
    assert fc.low_nanos == fc.high_nanos == fc.projected_nanos  # no variance, no band
    assert fc.status == "ok" and fc.verdict == "on track for $236 of $500 (47%)"
    assert [d for d, _ in fc.history] == [dt.date(2026, 3, d) for d in range(1, 19)]
    assert fc.period_start == dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    assert fc.period_end == dt.datetime(2026, 4, 1, tzinfo=dt.UTC)


def test_noisy_burn_gives_a_band_that_widens_towards_the_period_end(ledger: Ledger) -> None:
    days = steady(dt.date(2026, 2, 15), dt.date(2026, 3, 17), 10 * USD, 0)
    noisy = {ts: (n and n + (5 * USD if ts.day % 2 else -5 * USD)) for ts, n in days.items()}
    spend(ledger, noisy)
    fc = forecast(ledger, budget(), NOW, dt.UTC)
    assert fc.spent_nanos <= fc.low_nanos < fc.projected_nanos < fc.high_nanos
    burn = [p for p in fc.burn() if p.expected_nanos is not None]
    assert burn[-1].expected_nanos == fc.projected_nanos
    assert (burn[-1].low_nanos, burn[-1].high_nanos) == (fc.low_nanos, fc.high_nanos)
    widths = [p.high_nanos - p.expected_nanos for p in burn]  # type: ignore[operator]
    assert widths == sorted(widths)


def test_burn_series_is_cumulative_and_today_has_both_halves(ledger: Ledger) -> None:
    spend(ledger, steady(dt.date(2026, 3, 1), dt.date(2026, 3, 17), 10 * USD, 2 * USD))
    spend(ledger, {dt.datetime(2026, 3, 18, 3, tzinfo=dt.UTC): 1 * USD})
    fc = forecast(ledger, budget(), NOW, dt.UTC)
    points = {p.day: p for p in fc.burn()}
    assert points[dt.date(2026, 3, 1)].actual_nanos == 2 * USD
    today = points[dt.date(2026, 3, 18)]
    assert today.actual_nanos == fc.spent_nanos == 131 * USD
    assert today.expected_nanos == 131 * USD + 7_500_000_000
    assert points[dt.date(2026, 3, 31)].expected_nanos == fc.projected_nanos
    assert points[dt.date(2026, 3, 31)].actual_nanos is None


def test_verdict_lines() -> None:
    base = _synthetic(spent=300, projected=812, high=900)
    assert base.verdict == "on track for $812 of $500 — over by 62%"
    assert base.status == "forecast-breach"
    assert (
        _synthetic(520, 812, 900).verdict == "spent $520 of $500 — on track for $812, over by 62%"
    )
    assert _synthetic(520, 812, 900).status == "breached"
    assert _synthetic(100, 450, 560).verdict == (
        "on track for $450 of $500 (90%) — at risk: could reach $560"
    )
    assert _synthetic(100, 450, 560).status == "at-risk"
    assert _synthetic(100, 300, 320).status == "ok"


def _synthetic(spent: int, projected: int, high: int) -> Forecast:
    return Forecast(
        budget=budget(),
        now=NOW,
        zone=dt.UTC,
        period_start=dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
        period_end=dt.datetime(2026, 4, 1, tzinfo=dt.UTC),
        spent_nanos=spent * USD,
        projected_nanos=projected * USD,
        low_nanos=spent * USD,
        high_nanos=high * USD,
        history=[],
        projection=[],
        bands=[],
        model=BurnModel(),
    )


def test_money_reads_like_a_verdict() -> None:
    assert money(812 * USD) == "$812" and money(1234 * USD) == "$1,234"
    assert money(25_080_000_000) == "$25.08" and money(1_500_000) == "$0.0015"


def test_no_spend_at_all(ledger: Ledger) -> None:
    fc = forecast(ledger, budget(), NOW, dt.UTC)
    assert (fc.spent_nanos, fc.projected_nanos, fc.low_nanos, fc.high_nanos) == (0, 0, 0, 0)
    assert fc.status == "ok" and fc.model.basis == "no spend yet"


def test_first_day_extrapolates_todays_rate(ledger: Ledger) -> None:
    spend(ledger, {dt.datetime(2026, 3, 18, 3, tzinfo=dt.UTC): 6 * USD})
    fc = forecast(ledger, budget(period="day"), NOW, dt.UTC)
    assert fc.model.weekday_mean == 24 * USD  # $6 in the first quarter of the day
    assert fc.projected_nanos == 24 * USD
    assert fc.low_nanos == 6 * USD < fc.high_nanos  # a 100% spread, floored at what is spent


def test_days_before_the_scope_existed_do_not_drag_the_mean_down(ledger: Ledger) -> None:
    spend(ledger, steady(dt.date(2026, 3, 16), dt.date(2026, 3, 17), 10 * USD, 10 * USD))
    fc = forecast(ledger, budget(), NOW, dt.UTC)
    assert fc.model.weekday_mean == 10 * USD and fc.model.weekday_days == 2
    assert fc.model.weekend_mean == 10 * USD  # no weekend seen yet: the pooled mean


def test_ended_and_future_custom_periods(ledger: Ledger) -> None:
    spend(ledger, steady(dt.date(2026, 3, 1), dt.date(2026, 3, 17), 10 * USD, 10 * USD))
    past = forecast(ledger, budget(period="custom", start="2026-03-02", end="2026-03-03"), NOW)
    assert past.ended and past.projection == [] and past.projected_nanos == 20 * USD
    assert past.verdict == "period ended: spent $20.00 of $500 (4%)"
    future = forecast(
        ledger, budget(period="custom", start="2026-03-23", end="2026-03-24"), NOW, dt.UTC
    )
    assert future.history == [] and future.spent_nanos == 0
    assert future.projected_nanos == 20 * USD and len(future.projection) == 2


def test_days_are_local_to_the_zone(ledger_url: str) -> None:
    """Runs on both stores: the daily grouping must agree on SQLite and PostgreSQL."""
    paris = ZoneInfo("Europe/Paris")
    with Ledger.open(ledger_url) as ledger:
        # 23:30 UTC on the 17th is 00:30 on the 18th in Paris
        spend(ledger, {dt.datetime(2026, 3, 17, 23, 30, tzinfo=dt.UTC): 4 * USD})
        spend(ledger, {dt.datetime(2026, 3, 17, 22, 30, tzinfo=dt.UTC): 1 * USD})
        daily = budget(period="day")
        assert forecast(ledger, daily, NOW, paris).spent_nanos == 4 * USD
        assert forecast(ledger, daily, NOW, dt.UTC).spent_nanos == 0
        pinned = dataclasses.replace(daily, tz="Europe/Paris")  # the budget's zone wins
        assert forecast(ledger, pinned, NOW, dt.UTC).spent_nanos == 4 * USD
        weekly = forecast(ledger, budget(period="week"), NOW, paris)
        assert weekly.period_start == dt.datetime(2026, 3, 15, 23, tzinfo=dt.UTC)  # Mon 00:00 CET
        assert weekly.spent_nanos == 5 * USD
        assert weekly.to_dict()["spent_usd"] == "5.000000000"
