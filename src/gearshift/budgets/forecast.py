"""Forecasts: where a budget's spend will land at the end of its period, and how sure that is.

The burn model is weekday/weekend aware, because agent teams mostly run on working days and a
flat daily average would over-forecast every Friday and under-forecast every Monday:

1. Take the budget's daily spend over the last ``weeks`` weeks of complete days (before today),
   starting at the first day with any spend (days before the scope existed are not zeros).
2. Split those days into weekdays and weekend days (Saturday, Sunday in the budget's zone) and
   take each kind's mean and standard deviation. A kind with no day yet borrows the pooled
   figures; with no complete day at all, today's rate so far stands in, with a 100% spread.
3. Project each remaining day of the period at its kind's mean (today only for its remaining
   fraction) and add that to the spend so far.
4. The band is a 90% interval: day-to-day noise (independent days) plus the uncertainty of each
   mean (shared by all days of its kind), ``projected ± 1.645 sd``, the low end never below what
   is already spent.

Money: floats appear only inside the model (means, variances, a square root); every amount
leaving this module is an integer of nano-dollars, rounded half-to-even at that boundary, and
``projected_nanos`` is exactly ``spent_nanos`` plus the sum of the rounded ``projection``.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from gearshift.budgets.model import Budget, period_window
from gearshift.catalog.cost import nanos_to_decimal, usd_text
from gearshift.fmt import usd
from gearshift.ledger.views import period_totals

if TYPE_CHECKING:
    from gearshift.ledger.store import Ledger

__all__ = ["STATUSES", "BurnModel", "BurnPoint", "Forecast", "forecast", "money"]

WEEKS_OF_HISTORY = 4
Z_90 = 1.6448536269514722
#: From worst to best; ``budget check`` exits 1 on breached, 2 on forecast-breach.
STATUSES = ("breached", "forecast-breach", "at-risk", "ok")


@dataclass(frozen=True, slots=True)
class BurnModel:
    """Mean and spread of daily spend (nano-dollars per day) for weekdays and weekend days."""

    weekday_mean: float = 0.0
    weekday_sd: float = 0.0
    weekday_days: int = 0
    weekend_mean: float = 0.0
    weekend_sd: float = 0.0
    weekend_days: int = 0
    basis: str = "no spend yet"

    def of(self, day: dt.date) -> tuple[float, float, int]:
        """(mean, sd, number of days behind the mean) for ``day``'s kind."""
        if day.weekday() >= 5:
            return self.weekend_mean, self.weekend_sd, max(self.weekend_days, 1)
        return self.weekday_mean, self.weekday_sd, max(self.weekday_days, 1)


@dataclass(frozen=True, slots=True)
class BurnPoint:
    """One day of a cumulative burn chart: actual spend so far, or the projection with its band."""

    day: dt.date
    actual_nanos: int | None
    expected_nanos: int | None
    low_nanos: int | None
    high_nanos: int | None


@dataclass(frozen=True, slots=True)
class Forecast:
    """A budget's period: spend so far, its projection to the period's end, and the band.

    ``history`` is the spend of each day of the period up to today (today so far); ``projection``
    the expected spend of each remaining day (today: its remainder). Both are per day, not
    cumulative; :meth:`burn` gives the cumulative series a chart draws. ``period_start`` and
    ``period_end`` are UTC instants, ``[start, end)``; days are in ``zone``.
    """

    budget: Budget
    now: dt.datetime
    zone: dt.tzinfo
    period_start: dt.datetime
    period_end: dt.datetime
    spent_nanos: int
    projected_nanos: int
    low_nanos: int
    high_nanos: int
    history: list[tuple[dt.date, int]]
    projection: list[tuple[dt.date, int]]
    bands: list[tuple[dt.date, int, int]]
    model: BurnModel

    @property
    def amount_nanos(self) -> int:
        return self.budget.amount_nanos

    @property
    def ended(self) -> bool:
        return self.now >= self.period_end

    @property
    def status(self) -> str:
        """One of :data:`STATUSES`: reached the amount, forecast over it, band over it, fine."""
        if self.spent_nanos >= self.amount_nanos:
            return "breached"
        if self.projected_nanos > self.amount_nanos:
            return "forecast-breach"
        if self.high_nanos > self.amount_nanos:
            return "at-risk"
        return "ok"

    @property
    def used_percent(self) -> int:
        """Spend so far as a whole percentage of the amount (rounded down)."""
        return self.spent_nanos * 100 // self.amount_nanos

    @property
    def verdict(self) -> str:
        """One line for people, e.g. ``on track for $812 of $500 — over by 62%``."""
        amount, spent, projected = self.amount_nanos, self.spent_nanos, self.projected_nanos
        of = f"of {money(amount)}"
        if self.ended:
            return f"period ended: spent {money(spent)} {of} ({_percent(spent, amount)})"
        over = _percent(projected - amount, amount)
        if spent >= amount:
            return f"spent {money(spent)} {of} — on track for {money(projected)}, over by {over}"
        if projected > amount:
            return f"on track for {money(projected)} {of} — over by {over}"
        line = f"on track for {money(projected)} {of} ({_percent(projected, amount)})"
        if self.high_nanos > amount:
            line += f" — at risk: could reach {money(self.high_nanos)}"
        return line

    def burn(self) -> list[BurnPoint]:
        """The cumulative series for a "budget burn with forecast" chart.

        Days up to today carry ``actual_nanos`` (cumulative spend); today and later days carry
        ``expected_nanos`` with ``low_nanos``/``high_nanos`` (cumulative, 90% band). Today has
        both: what is spent so far and where the day is expected to end.
        """
        points: dict[dt.date, BurnPoint] = {}
        total = 0
        for day, nanos in self.history:
            total += nanos
            points[day] = BurnPoint(day, total, None, None, None)
        expected = self.spent_nanos
        for (day, nanos), (_, low, high) in zip(self.projection, self.bands, strict=True):
            expected += nanos
            actual = points[day].actual_nanos if day in points else None
            points[day] = BurnPoint(day, actual, expected, low, high)
        return [points[d] for d in sorted(points)]

    def to_dict(self) -> dict[str, Any]:
        usd_of = usd_text
        return {
            "budget": self.budget.name,
            "scope": self.budget.scope_text,
            "period": self.budget.period,
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "amount_usd": usd_of(self.amount_nanos),
            "spent_usd": usd_of(self.spent_nanos),
            "projected_usd": usd_of(self.projected_nanos),
            "low_usd": usd_of(self.low_nanos),
            "high_usd": usd_of(self.high_nanos),
            "status": self.status,
            "verdict": self.verdict,
            "action": self.budget.action,
            "model": {
                "weekday_mean_usd": usd_of(round(self.model.weekday_mean)),
                "weekend_mean_usd": usd_of(round(self.model.weekend_mean)),
                "basis": self.model.basis,
            },
            "history": [[d.isoformat(), usd_of(n)] for d, n in self.history],
            "projection": [[d.isoformat(), usd_of(n)] for d, n in self.projection],
        }


def money(nanos: int) -> str:
    """Whole dollars from $100 up (verdicts read better), cents below, 4 places under $1."""
    amount = nanos_to_decimal(nanos)
    return usd(amount, places=0 if abs(amount) >= 100 else None)


def _percent(part: int, whole: int) -> str:
    return f"{(Decimal(part) * 100 / Decimal(whole)).quantize(Decimal(1), ROUND_HALF_UP)}%"


def forecast(
    ledger: Ledger,
    budget: Budget,
    now: dt.datetime | None = None,
    tz: dt.tzinfo | None = None,
    *,
    weeks: int = WEEKS_OF_HISTORY,
) -> Forecast:
    """Forecast ``budget``'s current period as of ``now`` (default: now), days in ``tz``.

    ``tz`` is used unless the budget names its own zone; ``None`` means the local zone. Reads
    the ledger once (one grouped query covering the period and the model's history).
    """
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    zone = budget.zone(tz)
    start, end = period_window(budget, now, zone)
    today = now.astimezone(zone).date()
    first, last = _local(start, zone), _local(end, zone) - dt.timedelta(days=1)
    history_from = min(first, today - dt.timedelta(weeks=weeks))
    daily = _daily_spend(ledger, budget, _midnight(history_from, zone), min(now, end), zone)

    history = [(d, daily.get(d, 0)) for d in _days(first, min(today, last))]
    spent = sum(n for _, n in history)
    model = _burn_model(daily, history_from, today, now, zone)
    weights = _remaining(now, start, end, first, last, today, zone)
    projection, bands = _project(model, weights, spent)
    projected = spent + sum(n for _, n in projection)
    low, high = (bands[-1][1], bands[-1][2]) if bands else (spent, spent)
    return Forecast(
        budget=budget,
        now=now,
        zone=zone,
        period_start=start,
        period_end=end,
        spent_nanos=spent,
        projected_nanos=projected,
        low_nanos=low,
        high_nanos=high,
        history=history,
        projection=projection,
        bands=bands,
        model=model,
    )


def _local(instant: dt.datetime, zone: dt.tzinfo) -> dt.date:
    return instant.astimezone(zone).date()


def _midnight(day: dt.date, zone: dt.tzinfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=zone).astimezone(dt.UTC)


def _days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def _daily_spend(
    ledger: Ledger, budget: Budget, since: dt.datetime, until: dt.datetime, zone: dt.tzinfo
) -> dict[dt.date, int]:
    """Spend per local day over ``[since, until)``, read from the spend rollups (each
    15-minute bucket on the day in ``zone`` where it starts, as ``spend`` counts days)."""
    if until <= since:
        return {}
    days = period_totals(
        ledger, "day", (), budget.filters(since, until), zone, sums=("cost_nanos",)
    )
    return {dt.date.fromisoformat(day): g[()].cost_nanos for day, g in days.items() if () in g}


def _burn_model(
    daily: dict[dt.date, int],
    history_from: dt.date,
    today: dt.date,
    now: dt.datetime,
    zone: dt.tzinfo,
) -> BurnModel:
    spent_days = sorted(d for d, n in daily.items() if history_from <= d < today and n > 0)
    if not spent_days:
        return _today_rate(daily.get(today, 0), today, now, zone)
    days = _days(spent_days[0], today - dt.timedelta(days=1))
    weekday = [float(daily.get(d, 0)) for d in days if d.weekday() < 5]
    weekend = [float(daily.get(d, 0)) for d in days if d.weekday() >= 5]
    pooled = weekday + weekend
    pooled_mean, pooled_sd = _mean_sd(pooled, pooled)
    wd_mean, wd_sd = _mean_sd(weekday, pooled) if weekday else (pooled_mean, pooled_sd)
    we_mean, we_sd = _mean_sd(weekend, pooled) if weekend else (pooled_mean, pooled_sd)
    basis = f"{len(weekday)} weekdays and {len(weekend)} weekend days since {days[0]}"
    return BurnModel(
        weekday_mean=wd_mean,
        weekday_sd=wd_sd,
        weekday_days=len(weekday) or len(pooled),
        weekend_mean=we_mean,
        weekend_sd=we_sd,
        weekend_days=len(weekend) or len(pooled),
        basis=basis,
    )


def _mean_sd(values: Sequence[float], pooled: Sequence[float]) -> tuple[float, float]:
    """The mean of ``values``; their sd, or the pooled sd when two values are too few."""
    mean = statistics.fmean(values)
    if len(values) >= 2:
        return mean, statistics.stdev(values)
    if len(pooled) >= 2:
        return mean, statistics.stdev(pooled)
    return mean, mean


def _today_rate(spent_today: int, today: dt.date, now: dt.datetime, zone: dt.tzinfo) -> BurnModel:
    """No complete day of history: extrapolate today's rate so far, with a 100% spread."""
    elapsed = _fraction_of_day(now, today, zone, elapsed=True)
    if spent_today <= 0 or elapsed <= 0:
        return BurnModel()
    rate = spent_today / elapsed
    return BurnModel(rate, rate, 1, rate, rate, 1, "today's rate so far (no earlier spend)")


def _fraction_of_day(now: dt.datetime, day: dt.date, zone: dt.tzinfo, *, elapsed: bool) -> float:
    """The elapsed (or remaining) share of ``day`` at ``now``; DST days are 23 or 25 hours."""
    begin, after = _midnight(day, zone), _midnight(day + dt.timedelta(days=1), zone)
    share = (now - begin) / (after - begin)
    share = min(max(share, 0.0), 1.0)
    return share if elapsed else 1.0 - share


def _remaining(
    now: dt.datetime,
    start: dt.datetime,
    end: dt.datetime,
    first: dt.date,
    last: dt.date,
    today: dt.date,
    zone: dt.tzinfo,
) -> list[tuple[dt.date, float]]:
    """The days still to come in the period, each with the share of it still to come."""
    if now >= end:
        return []
    if now < start:
        return [(d, 1.0) for d in _days(first, last)]
    rest = [(today, _fraction_of_day(now, today, zone, elapsed=False))]
    return rest + [(d, 1.0) for d in _days(today + dt.timedelta(days=1), last)]


def _project(
    model: BurnModel, weights: list[tuple[dt.date, float]], spent: int
) -> tuple[list[tuple[dt.date, int]], list[tuple[dt.date, int, int]]]:
    """Per-day expected spend and the cumulative 90% band at the end of each day."""
    projection: list[tuple[dt.date, int]] = []
    bands: list[tuple[dt.date, int, int]] = []
    noise = 0.0  # sum of w^2 sd^2: independent day-to-day variation
    shares = {False: 0.0, True: 0.0}  # sum of w per kind: the mean's error is shared by its days
    spreads = {False: (0.0, 1), True: (0.0, 1)}
    total = spent
    for day, weight in weights:
        mean, sd, n = model.of(day)
        weekend = day.weekday() >= 5
        expected = round(weight * mean)
        total += expected
        noise += (weight * sd) ** 2
        shares[weekend] += weight
        spreads[weekend] = (sd, n)
        variance = noise + sum(shares[k] ** 2 * spreads[k][0] ** 2 / spreads[k][1] for k in shares)
        half = Z_90 * math.sqrt(variance)
        projection.append((day, expected))
        bands.append((day, max(spent, round(total - half)), round(total + half)))
    return projection, bands
