"""True cost: what an agent's work costs once failures, waiting and escalations are counted.

The token bill is not the cost of agent work (the article's "hidden costs of wrong model
selection"). Per agent and tier::

    true cost = token cost   the bill for attempts whose result was kept
              + double-pay   the bill for attempts that a later attempt of the same chain redid
                             (an escalation pays for the failed try *and* the retry)
              + rework       failures nobody redid x minutes to investigate x hourly rate
              + waiting      latency x blocking factor x hourly rate

Token cost + double-pay is exactly the bill, so nothing is counted twice: a failure that an
escalation rescued costs its double-pay, not an investigation; a failure nobody rescued costs an
investigation. Errors (the call itself failed) cost their tokens and their waiting only.

Money is exact: rationals (:class:`~fractions.Fraction`) inside, rates as ``Decimal``, integer
nano-dollars (rounded half to even once, at the edge) outside.

Two flags come out of it, each with what the mistake costs a month:

* **false economy** -- "Haiku false economy" on Haiku: an agent whose true cost per task on its
  tier exceeds its expected true cost on the next tier up, even with its failure rate taken at
  the low end of its 90% credible interval. The next tier's success rate is the agent's own
  record there, else the tier's default
  (:data:`~gearshift.insight.expected_cost.DEFAULT_SUCCESS`), and never below what the cheaper
  tier achieved (a stronger model is not assumed to do worse).
* **Opus overkill tax**: an agent on Opus with a high success rate on objective or short-output
  tasks, where Sonnet would do; on such tasks the cheaper tier is assumed to match the observed
  success rate (the article's "identical quality") unless the ledger says otherwise.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from gearshift.catalog import Catalog, Tier, Usage
from gearshift.fmt import usd_nanos
from gearshift.insight.expected_cost import (
    MONTH_DAYS,
    Beta,
    Outlook,
    TrueCostRates,
    nanos,
    pct_text,
    static_cost,
)
from gearshift.ledger.evidence import chain_stats
from gearshift.ledger.queries import AgentModelStats, Filters, agent_summary
from gearshift.ledger.record import us_from_ts

if TYPE_CHECKING:
    from gearshift.ledger.store import Ledger

__all__ = [
    "AgentTrueCost",
    "Flag",
    "TierCost",
    "TrueCostReport",
    "outlook",
    "true_cost",
]

#: Task types with objective success criteria (the article's "Haiku playlist").
OBJECTIVE_TASK_TYPES = frozenset(
    {"linting", "formatting", "boilerplate", "scaffolding", "parsing", "validation", "extraction"}
)
#: Outputs shorter than this (mean tokens) mark a short-output task.
SHORT_OUTPUT_TOKENS = 800
#: The success rate above which Opus on an objective or short task is flagged.
HIGH_SUCCESS = Fraction(9, 10)
#: Runs of an agent on a tier needed before its own record there replaces the default.
MIN_OWN_RUNS = 30

_US_PER_DAY = 86_400_000_000
_NANO = 10**9


@dataclass(slots=True)
class TierCost:
    """One agent on one tier over the window."""

    agent: str
    tier: Tier
    model: str
    task_type: str | None = None
    executions: int = 0
    first_attempts: int = 0
    successes: int = 0
    failures: int = 0
    errors: int = 0
    terminal_failures: int = 0
    redone: int = 0
    batch_executions: int = 0
    usage: Usage = field(default_factory=Usage)
    bill_nanos: int = 0
    double_pay_nanos: int = 0
    latency_ms: int = 0
    latency_n: int = 0
    rework: Fraction = Fraction(0)
    waiting: Fraction = Fraction(0)

    @property
    def token_nanos(self) -> int:
        return self.bill_nanos - self.double_pay_nanos

    @property
    def total(self) -> Fraction:
        return Fraction(self.bill_nanos, _NANO) + self.rework + self.waiting

    @property
    def success_rate(self) -> Fraction:
        return Fraction(self.successes, self.executions) if self.executions else Fraction(0)

    @property
    def mean_latency_ms(self) -> Fraction | None:
        return Fraction(self.latency_ms, self.latency_n) if self.latency_n else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "tier": self.tier.value,
            "model": self.model,
            "executions": self.executions,
            "successes": self.successes,
            "failures": self.failures,
            "terminal_failures": self.terminal_failures,
            "redone": self.redone,
            "errors": self.errors,
            "token_cost_usd": _usd(Fraction(self.token_nanos, _NANO)),
            "double_pay_usd": _usd(Fraction(self.double_pay_nanos, _NANO)),
            "rework_usd": _usd(self.rework),
            "waiting_usd": _usd(self.waiting),
            "true_cost_usd": _usd(self.total),
        }


@dataclass(slots=True)
class AgentTrueCost:
    """An agent's tiers (cheapest first) and its true cost per task (chain)."""

    agent: str
    rows: list[TierCost]

    @property
    def home(self) -> TierCost:
        """The tier its tasks start on."""
        return max(self.rows, key=lambda r: (r.first_attempts, r.executions, -r.tier.rank))

    @property
    def tasks(self) -> int:
        return max(1, sum(r.first_attempts for r in self.rows))

    @property
    def bill_nanos(self) -> int:
        return sum(r.bill_nanos for r in self.rows)

    @property
    def total(self) -> Fraction:
        return sum((r.total for r in self.rows), Fraction(0))

    @property
    def per_task(self) -> Fraction:
        return self.total / self.tasks

    def row(self, tier: Tier) -> TierCost | None:
        return next((r for r in self.rows if r.tier is tier), None)

    def moved(self, tier: Tier) -> tuple[int, Fraction]:
        """``(tasks, true cost)`` of the tasks that start on ``tier``: what a recommendation to
        move them acts on. Their cost is the runs on that tier, and the runs above it when
        those tasks escalate; never the agent's tasks on other tiers."""
        row = self.row(tier)
        if row is None:
            return 0, Fraction(0)
        total = row.total
        if row.redone:
            total += sum((r.total for r in self.rows if r.tier > tier), Fraction(0))
        return max(1, row.first_attempts), total


@dataclass(frozen=True, slots=True)
class Flag:
    """A hidden cost worth acting on, with what it costs a month."""

    kind: str
    label: str
    agent: str
    tier: Tier
    alternative: Tier
    per_task_now: Fraction
    per_task_alternative: Fraction
    monthly_nanos: int
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "label": self.label,
            "agent": self.agent,
            "tier": self.tier.value,
            "alternative": self.alternative.value,
            "true_cost_per_task_usd": _usd(self.per_task_now),
            "alternative_per_task_usd": _usd(self.per_task_alternative),
            "monthly_cost_usd": _usd(Fraction(self.monthly_nanos, _NANO)),
            "message": self.message,
        }


@dataclass(slots=True)
class TrueCostReport:
    """True cost per agent and tier over a window of ``span_us`` microseconds."""

    rates: TrueCostRates
    span_us: int
    agents: list[AgentTrueCost]
    flags: list[Flag] = field(default_factory=list)

    @property
    def total(self) -> Fraction:
        return sum((a.total for a in self.agents), Fraction(0))

    @property
    def bill_nanos(self) -> int:
        return sum(a.bill_nanos for a in self.agents)

    def monthly(self, amount: Fraction) -> Fraction:
        """``amount`` over the window, scaled to a 30-day month."""
        return amount * MONTH_DAYS * _US_PER_DAY / self.span_us

    def agent(self, name: str) -> AgentTrueCost | None:
        return next((a for a in self.agents if a.agent == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rates": self.rates.to_dict(),
            "window_days": str(Decimal(self.span_us) / _US_PER_DAY),
            "total_bill_usd": _usd(Fraction(self.bill_nanos, _NANO)),
            "total_true_cost_usd": _usd(self.total),
            "monthly_true_cost_usd": _usd(self.monthly(self.total)),
            "agents": [
                {
                    "agent": a.agent,
                    "tier": a.home.tier.value,
                    "tasks": a.tasks,
                    "true_cost_usd": _usd(a.total),
                    "true_cost_per_task_usd": _usd(a.per_task),
                    "monthly_true_cost_usd": _usd(self.monthly(a.total)),
                    "tiers": [r.to_dict() for r in a.rows],
                }
                for a in self.agents
            ],
            "flags": [f.to_dict() for f in self.flags],
        }


def outlook(
    agent: AgentTrueCost,
    tier: Tier,
    catalog: Catalog,
    rates: TrueCostRates,
    success: Fraction | None = None,
) -> Outlook:
    """The agent's typical task on ``tier``: its own record there if it has one (its model,
    usage and latency), else its home tier's usage repriced on the tier's default model and its
    latency scaled by :attr:`TrueCostRates.speed`. ``success`` defaults to the own record (with
    at least :data:`MIN_OWN_RUNS` runs) or the tier's default rate."""
    home = agent.home
    own = agent.row(tier)
    basis = own if own is not None and own.executions else home
    model = catalog.find(own.model) if own is not None else None
    model = model or catalog.default_for(tier)
    n = max(1, basis.executions)
    u = basis.usage
    mean = Usage(
        u.input_tokens // n,
        u.output_tokens // n,
        u.cache_write_5m_tokens // n,
        u.cache_write_1h_tokens // n,
        u.cache_read_tokens // n,
    )
    femto = model.period_at(None).prices_for(mean).femto_cost(basis.usage)
    tokens = Fraction(femto, 10**15 * n)
    latency = basis.mean_latency_ms or Fraction(0)
    if basis is home and tier is not home.tier:
        latency *= Fraction(rates.speed[tier]) / Fraction(rates.speed[home.tier])
    observed = own is not None and own.executions >= MIN_OWN_RUNS
    if success is None:
        success = (
            own.success_rate if own is not None and observed else Fraction(rates.success[tier])
        )
    return Outlook(tier, model.id, tokens, latency, success, observed)


def true_cost(
    ledger: Ledger,
    filters: Filters | None = None,
    rates: TrueCostRates | None = None,
    *,
    stats: list[AgentModelStats] | None = None,
) -> TrueCostReport:
    """The true cost of the executions ``filters`` selects, per agent and tier, with flags."""
    filters = filters or Filters()
    rates = rates or TrueCostRates()
    stats = agent_summary(ledger, filters) if stats is None else stats
    rows = _tier_rows(stats)
    _add_chain_stats(ledger, filters, rows)
    for row in rows.values():
        row.rework = row.terminal_failures * rates.rework_per_failure
        row.waiting = row.latency_ms * rates.waiting_per_ms
    grouped: dict[str, list[TierCost]] = defaultdict(list)
    for row in rows.values():
        grouped[row.agent].append(row)
    agents = [AgentTrueCost(name, sorted(rs, key=lambda r: r.tier)) for name, rs in grouped.items()]
    agents.sort(key=lambda a: (-a.total, a.agent))
    report = TrueCostReport(rates, _span_us(stats, filters), agents)
    report.flags = _flags(report, ledger.catalog)
    return report


_TIERS = frozenset(t.value for t in Tier)


def _tier_rows(stats: list[AgentModelStats]) -> dict[tuple[str, str], TierCost]:
    rows: dict[tuple[str, str], TierCost] = {}
    biggest: dict[tuple[str, str], int] = {}
    for s in stats:
        if s.tier not in _TIERS:
            continue  # an API error or an unpriced model: no tier to reason about
        key = (s.agent, s.tier)
        row = rows.get(key)
        if row is None:
            row = rows[key] = TierCost(s.agent, Tier.parse(s.tier), s.model)
        if s.executions > biggest.get(key, -1):
            biggest[key] = s.executions
            row.model = s.model
        row.executions += s.executions
        row.successes += s.successes
        row.failures += s.failures
        row.errors += s.errors
        row.bill_nanos += s.cost_nanos
        row.latency_ms += s.latency_ms_sum
        row.latency_n += s.latency_n
        row.usage = row.usage + Usage(
            s.input_tokens, s.output_tokens, s.cache_creation_tokens, 0, s.cache_read_tokens
        )
    return rows


def _add_chain_stats(
    ledger: Ledger, filters: Filters, rows: dict[tuple[str, str], TierCost]
) -> None:
    """Attempts redone later in their chain (double-pay), failures nobody redid (rework),
    first attempts (tasks), batch runs and the main task type, per agent and tier."""
    types: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for stats in chain_stats(ledger, filters):
        row = rows.get((stats.agent, stats.tier))
        if row is None:
            continue
        row.first_attempts += stats.first_attempts
        row.redone += stats.redone
        row.double_pay_nanos += stats.redone_nanos
        row.terminal_failures += stats.terminal_failures
        row.batch_executions += stats.batch_executions
        if stats.task_type:
            types[(stats.agent, stats.tier)][stats.task_type] += stats.executions
    for key, counter in types.items():
        rows[key].task_type = counter.most_common(1)[0][0]


def _span_us(stats: list[AgentModelStats], filters: Filters) -> int:
    """The window's length: the filter's bounds where given (``until`` no later than now), else
    the data's first and last execution; at least a day."""
    if not stats:
        return _US_PER_DAY
    first = min(s.first_us for s in stats)
    last = max(s.last_us for s in stats)
    if filters.since is not None:
        first = us_from_ts(filters.since)
    if filters.until is not None:
        last = max(last, min(us_from_ts(filters.until), us_from_ts(dt.datetime.now(dt.UTC))))
    return max(_US_PER_DAY, last - first)


def _flags(report: TrueCostReport, catalog: Catalog) -> list[Flag]:
    flags: list[Flag] = []
    for agent in report.agents:
        flag = _false_economy(report, agent, catalog) or _overkill_tax(report, agent, catalog)
        if flag is not None:
            flags.append(flag)
    flags.sort(key=lambda f: -f.monthly_nanos)
    return flags


def _false_economy(report: TrueCostReport, agent: AgentTrueCost, catalog: Catalog) -> Flag | None:
    """Flag only what survives the doubt: the agent's failure rate is taken at the low end of
    its 90% credible interval, and the next tier is never assumed to fail more than that."""
    home = agent.home
    up = home.tier.up()
    if up is None or not home.executions:
        return None
    rates = report.rates
    kept = Beta(home.executions - home.terminal_failures, home.terminal_failures)
    fail_low = Fraction(1 - kept.interval()[1]).limit_denominator(10**6)
    doubt = (home.terminal_failures - home.executions * fail_low) * rates.rework_per_failure
    tasks, cost = agent.moved(home.tier)
    per_task = cost / tasks
    now_low = per_task - doubt / tasks
    probe = outlook(agent, up, catalog, rates)
    better = outlook(agent, up, catalog, rates, max(probe.success, 1 - fail_low))
    alternative = static_cost(better, rates)
    if now_low <= alternative:
        return None
    monthly = nanos(report.monthly(min((now_low - alternative) * tasks, cost)))
    label = "Haiku false economy" if home.tier is Tier.HAIKU else "false economy"
    source = "observed" if probe.observed else "assumed"
    return Flag(
        "false-economy",
        label,
        agent.agent,
        home.tier,
        up,
        per_task,
        alternative,
        monthly,
        f"{label}: {agent.agent} on {home.tier} costs {_usd_text(per_task)} per task in "
        f"true cost ({pct_text(home.terminal_failures, home.executions)} of runs fail and need "
        f"investigating); on {up} it would cost about {_usd_text(alternative)} at an {source} "
        f"{pct_text(better.success, 1)} success rate -- at least {usd_nanos(monthly)}/month lost",
    )


def _overkill_tax(report: TrueCostReport, agent: AgentTrueCost, catalog: Catalog) -> Flag | None:
    home = agent.home
    if home.tier is not Tier.OPUS or not home.executions:
        return None
    mean_output = home.usage.output_tokens // home.executions
    objective = home.task_type in OBJECTIVE_TASK_TYPES
    if not (objective or mean_output < SHORT_OUTPUT_TOKENS) or home.success_rate < HIGH_SUCCESS:
        return None
    down = Tier.SONNET
    own = agent.row(down)
    evidence = own is not None and own.executions >= MIN_OWN_RUNS
    cheaper = outlook(agent, down, catalog, report.rates, None if evidence else home.success_rate)
    alternative = static_cost(cheaper, report.rates)
    tasks, cost = agent.moved(home.tier)
    per_task = cost / tasks
    if per_task <= alternative:
        return None
    monthly = nanos(report.monthly(min((per_task - alternative) * tasks, cost)))
    why = f"{home.task_type} tasks" if objective else f"short outputs (mean {mean_output} tokens)"
    return Flag(
        "overkill-tax",
        "Opus overkill tax",
        agent.agent,
        home.tier,
        down,
        per_task,
        alternative,
        monthly,
        f"Opus overkill tax: {agent.agent} runs {why} on Opus with "
        f"{pct_text(home.successes, home.executions)} success; on {down} ({cheaper.model}) at the "
        f"same success rate a task would cost {_usd_text(alternative)} instead of "
        f"{_usd_text(per_task)} -- {usd_nanos(monthly)}/month",
    )


def _usd_text(amount: Fraction) -> str:
    return usd_nanos(nanos(amount))


def _usd(amount: Fraction) -> str:
    return str(Decimal(nanos(amount)).scaleb(-9))
