"""``/metrics`` for Prometheus, computed from the ledger.

The ledger holds every execution whoever ran it (proxy, runs, ingests), so the counters are its
totals, read from the spend rollups -- a few thousand rows, whatever the table's size -- and
kept for ``ttl`` seconds, so that frequent or concurrent scrapes cost one read. Labels are
bounded: agents past the ``max_agents`` busiest, and models past ``max_models``, are summed
under ``other`` (agent names come from transcripts and headers: without a bound a scrape could
grow without end).

Series (``agent``, ``model``, ``tier`` on each but the budget gauges)::

    gearshift_executions_total{status}     success, failure, error, blocked
    gearshift_tokens_total{kind}           input, output, cache_write_5m, cache_write_1h, cache_read
    gearshift_cost_usd_total
    gearshift_escalations_total
    gearshift_blocked_total
    gearshift_routing_decisions_total      first attempts: the tier each task was routed to
    gearshift_budget_used_ratio{budget}    spent / amount in the current period
    gearshift_budget_amount_usd{budget}
    gearshift_ledger_read_seconds          how long the last read of the ledger took
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gearshift.budgets.model import load_budgets, period_window
from gearshift.ledger.queries import Filters
from gearshift.ledger.views import Totals, range_totals

if TYPE_CHECKING:
    from gearshift.config import Config
    from gearshift.ledger.store import Ledger

__all__ = ["LedgerCollector"]

_LABELS = ["agent", "model", "tier"]
_STATUSES = ("successes", "failures", "errors", "blocked")
_STATUS_LABEL = {"successes": "success", "failures": "failure", "errors": "error",
                 "blocked": "blocked"}  # fmt: skip
_TOKENS = {
    "input": "input_tokens",
    "output": "output_tokens",
    "cache_write_5m": "cache_write_5m_tokens",
    "cache_write_1h": "cache_write_1h_tokens",
    "cache_read": "cache_read_tokens",
}


@dataclass(frozen=True, slots=True)
class _Reading:
    groups: dict[tuple[str, str, str], Totals]
    budgets: list[tuple[str, int, int]]  # (name, spent, amount) in nano-dollars
    seconds: float


class LedgerCollector(Collector):
    """A Prometheus collector over the ledger (see the module doc)."""

    def __init__(
        self,
        ledger: Ledger,
        config: Config,
        *,
        ttl: float = 5.0,
        max_agents: int = 50,
        max_models: int = 30,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ledger = ledger
        self.config = config
        self.ttl = ttl
        self.max_agents = max_agents
        self.max_models = max_models
        self.clock = clock
        self._lock = threading.Lock()
        self._reading: _Reading | None = None
        self._read_at = 0.0

    def collect(self) -> Iterator[Metric]:
        reading = self._current()
        yield from self._counters(reading.groups)
        used = GaugeMetricFamily(
            "gearshift_budget_used_ratio",
            "Spend in the budget's current period over its amount.",
            labels=["budget"],
        )
        amount = GaugeMetricFamily(
            "gearshift_budget_amount_usd", "The budget's amount per period.", labels=["budget"]
        )
        for name, spent, limit in reading.budgets:
            used.add_metric([name], spent / limit if limit else 0.0)
            amount.add_metric([name], limit / 1e9)
        yield used
        yield amount
        yield GaugeMetricFamily(
            "gearshift_ledger_read_seconds",
            "Seconds the last read of the ledger for these metrics took.",
            value=reading.seconds,
        )

    def _current(self) -> _Reading:
        """The last reading while it is fresh, else a new one (one reader at a time)."""
        with self._lock:
            if self._reading is None or self.clock() - self._read_at >= self.ttl:
                started = time.perf_counter()
                groups = self._groups()
                budgets = self._budgets()
                self._reading = _Reading(groups, budgets, time.perf_counter() - started)
                self._read_at = self.clock()
            return self._reading

    def _groups(self) -> dict[tuple[str, str, str], Totals]:
        found = range_totals(self.ledger, ("agent", "model", "tier"), Filters())
        agents = _busiest(((a, t.executions) for (a, _, _), t in found.items()), self.max_agents)
        models = _busiest(((m, t.executions) for (_, m, _), t in found.items()), self.max_models)
        out: dict[tuple[str, str, str], Totals] = {}
        for (agent, model, tier), totals in found.items():
            key = (
                agent if agent in agents else "other",
                model if model in models else "other",
                tier,
            )
            out.setdefault(key, Totals()).merge(totals)
        return out

    def _budgets(self) -> list[tuple[str, int, int]]:
        now = dt.datetime.now(dt.UTC)
        out = []
        for budget in load_budgets(self.ledger, self.config):
            if not budget.active(now):
                continue
            start, end = period_window(budget, now, None)
            scope = budget.filters(start, min(end, now + dt.timedelta(microseconds=1)))
            totals = range_totals(self.ledger, (), scope, sums=("cost_nanos",))
            spent = totals[()].cost_nanos if () in totals else 0
            out.append((budget.name, spent, budget.amount_nanos))
        return out

    @staticmethod
    def _counters(groups: dict[tuple[str, str, str], Totals]) -> Iterable[Metric]:
        def counter(name: str, doc: str, extra: list[str] | None = None) -> CounterMetricFamily:
            return CounterMetricFamily(name, doc, labels=[*_LABELS, *(extra or [])])

        executions = counter("gearshift_executions", "Executions by outcome.", ["status"])
        tokens = counter("gearshift_tokens", "Tokens by kind.", ["kind"])
        cost = counter("gearshift_cost_usd", "Spend in US dollars.")
        escalations = counter("gearshift_escalations", "Attempts that escalated a tier up.")
        blocked = counter("gearshift_blocked", "Requests a budget refused.")
        routed = counter("gearshift_routing_decisions", "Tasks routed to each tier.")
        for key, t in sorted(groups.items()):
            labels = list(key)
            for field in _STATUSES:
                executions.add_metric([*labels, _STATUS_LABEL[field]], getattr(t, field))
            for kind, field in _TOKENS.items():
                tokens.add_metric([*labels, kind], getattr(t, field))
            cost.add_metric(labels, t.cost_nanos / 1e9)
            escalations.add_metric(labels, t.escalations)
            blocked.add_metric(labels, t.blocked)
            routed.add_metric(labels, t.first_attempts)
        return [executions, tokens, cost, escalations, blocked, routed]


def _busiest(counts: Iterable[tuple[str, int]], limit: int) -> set[str]:
    total: dict[str, int] = {}
    for name, n in counts:
        total[name] = total.get(name, 0) + n
    return set(sorted(total, key=lambda k: (-total[k], k))[:limit])
