"""The cost analysis behind ``gearshift report``, in the shape of the article's template.

Per agent: its model, executions, tokens, total and average cost; a summary with the biggest cost
driver, the tier split and the success rate; and the optimisation opportunities the data supports.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from gearshift.catalog import Tier, Usage
from gearshift.catalog.cost import nanos_to_decimal, usd_text
from gearshift.fmt import pct, usd, usd_nanos
from gearshift.ledger.queries import AgentModelStats, Filters, agent_summary

if TYPE_CHECKING:
    from gearshift.ledger.store import Ledger

__all__ = ["AgentCost", "CostAnalysis", "Opportunity", "analyse"]

#: An agent whose executions all ran on Opus and whose average output is below this many tokens
#: is flagged as a likely "Opus overkill tax".
SHORT_OUTPUT_TOKENS = 800


@dataclass(slots=True)
class AgentCost:
    agent: str
    model: str
    tier: str
    models: dict[str, int]
    executions: int
    successes: int
    input_tokens: int
    output_tokens: int
    cache_creation_tokens: int
    cache_read_tokens: int
    cost_nanos: int
    tiers: dict[str, int] = field(default_factory=dict)

    @property
    def average_nanos(self) -> int:
        return self.cost_nanos // self.executions if self.executions else 0


@dataclass(slots=True)
class Opportunity:
    kind: str
    agent: str | None
    message: str
    monthly_saving_nanos: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "agent": self.agent, "message": self.message}
        if self.monthly_saving_nanos is not None:
            out["monthly_saving_usd"] = usd_text(self.monthly_saving_nanos)
        return out


@dataclass(slots=True)
class CostAnalysis:
    period: tuple[dt.date | None, dt.date | None]
    agents: list[AgentCost]
    total_executions: int
    total_cost_nanos: int
    successes: int
    tier_cost: dict[str, int]
    tier_executions: dict[str, int]
    opportunities: list[Opportunity]

    @property
    def biggest(self) -> AgentCost | None:
        return self.agents[0] if self.agents else None

    def period_text(self) -> str:
        start, end = self.period
        return f"{start or 'start'} to {end or 'now'}"

    def to_dict(self) -> dict[str, Any]:
        """Machine form: exact decimal strings, no currency signs."""
        return {
            "period": {"from": _iso(self.period[0]), "to": _iso(self.period[1])},
            "agents": {
                a.agent: {
                    "model": a.model,
                    "tier": a.tier,
                    "models": a.models,
                    "executions": a.executions,
                    "success_rate": _ratio(a.successes, a.executions),
                    "total_input_tokens": a.input_tokens,
                    "total_output_tokens": a.output_tokens,
                    "total_cache_creation_tokens": a.cache_creation_tokens,
                    "total_cache_read_tokens": a.cache_read_tokens,
                    "total_cost_usd": usd_text(a.cost_nanos),
                    "average_cost_per_execution_usd": usd_text(a.average_nanos),
                }
                for a in self.agents
            },
            "summary": {
                "total_executions": self.total_executions,
                "total_cost_usd": usd_text(self.total_cost_nanos),
                "biggest_cost_driver": self._driver_dict(),
                "tier_split": {
                    t: {
                        "executions": self.tier_executions.get(t, 0),
                        "cost_usd": usd_text(self.tier_cost.get(t, 0)),
                        "cost_share": _ratio(self.tier_cost.get(t, 0), self.total_cost_nanos),
                    }
                    for t in (tier.value for tier in Tier.ordered())
                },
                "success_rate": _ratio(self.successes, self.total_executions),
            },
            "optimization_opportunities": [o.to_dict() for o in self.opportunities],
        }

    def _driver_dict(self) -> dict[str, Any] | None:
        top = self.biggest
        if top is None:
            return None
        return {
            "agent": top.agent,
            "model": top.model,
            "tier": top.tier,
            "cost_usd": usd_text(top.cost_nanos),
            "share": _ratio(top.cost_nanos, self.total_cost_nanos),
        }

    def to_template(self) -> dict[str, Any]:
        """Human form, in the article's ``cost-analysis`` template shape."""
        top = self.biggest
        return {
            "cost-analysis": {
                "period": self.period_text(),
                "agents": {
                    a.agent: {
                        "model": a.tier,
                        "model_id": a.model,
                        "executions": a.executions,
                        "total_input_tokens": a.input_tokens,
                        "total_output_tokens": a.output_tokens,
                        "total_cost": usd_nanos(a.cost_nanos),
                        "average_cost_per_execution": usd_nanos(a.average_nanos),
                    }
                    for a in self.agents
                },
                "summary": {
                    "total_executions": self.total_executions,
                    "total_cost": usd_nanos(self.total_cost_nanos),
                    "biggest_cost_driver": (
                        f"{top.agent} ({top.tier}) at "
                        f"{pct(top.cost_nanos, self.total_cost_nanos)} of spend"
                        if top
                        else None
                    ),
                    "tier_split": {
                        t.value: pct(self.tier_cost.get(t.value, 0), self.total_cost_nanos)
                        for t in Tier.ordered()
                    },
                    "success_rate": pct(self.successes, self.total_executions),
                },
                "optimization_opportunities": [o.message for o in self.opportunities],
            }
        }


def analyse(ledger: Ledger, filters: Filters | None = None, tz: dt.tzinfo = dt.UTC) -> CostAnalysis:
    """Build the cost analysis of the executions ``filters`` selects; days are in ``tz``."""
    filters = filters or Filters()
    stats = agent_summary(ledger, filters)
    agents = _per_agent(stats)
    total_cost = sum(a.cost_nanos for a in agents)
    tier_cost: Counter[str] = Counter()
    tier_exec: Counter[str] = Counter()
    for s in stats:
        tier_cost[s.tier] += s.cost_nanos
        tier_exec[s.tier] += s.executions
    analysis = CostAnalysis(
        period=(
            filters.since.astimezone(tz).date() if filters.since else _first_day(stats, tz),
            # ``until`` is exclusive: the period's last day is the one before it
            (filters.until - dt.timedelta(microseconds=1)).astimezone(tz).date()
            if filters.until
            else _last_day(stats, tz),
        ),
        agents=agents,
        total_executions=sum(a.executions for a in agents),
        total_cost_nanos=total_cost,
        successes=sum(a.successes for a in agents),
        tier_cost=dict(tier_cost),
        tier_executions=dict(tier_exec),
        opportunities=[],
    )
    analysis.opportunities = basic_opportunities(ledger, analysis, stats)
    return analysis


def _per_agent(stats: list[AgentModelStats]) -> list[AgentCost]:
    grouped: dict[str, list[AgentModelStats]] = defaultdict(list)
    for s in stats:
        grouped[s.agent].append(s)
    agents = []
    for name, rows in grouped.items():
        models = {r.model: r.executions for r in rows}
        tiers: Counter[str] = Counter()
        for r in rows:
            tiers[r.tier] += r.executions
        main = max(rows, key=lambda r: (r.executions, r.cost_nanos))
        agents.append(
            AgentCost(
                agent=name,
                model=main.model,
                tier=main.tier,
                models=models,
                executions=sum(r.executions for r in rows),
                successes=sum(r.successes for r in rows),
                input_tokens=sum(r.input_tokens for r in rows),
                output_tokens=sum(r.output_tokens for r in rows),
                cache_creation_tokens=sum(r.cache_creation_tokens for r in rows),
                cache_read_tokens=sum(r.cache_read_tokens for r in rows),
                cost_nanos=sum(r.cost_nanos for r in rows),
                tiers=dict(tiers),
            )
        )
    agents.sort(key=lambda a: (-a.cost_nanos, a.agent))
    return agents


def basic_opportunities(
    ledger: Ledger, analysis: CostAnalysis, stats: list[AgentModelStats]
) -> list[Opportunity]:
    """The biggest driver, and agents that ran only on Opus for short outputs."""
    out: list[Opportunity] = []
    top = analysis.biggest
    if top is not None and analysis.total_cost_nanos:
        out.append(
            Opportunity(
                "biggest-driver",
                top.agent,
                f"{top.agent} ({top.tier}) is the biggest cost driver at "
                f"{pct(top.cost_nanos, analysis.total_cost_nanos)} of spend "
                f"({usd_nanos(top.cost_nanos)}): start optimising there",
            )
        )
    days = _days_covered(stats)
    for agent in analysis.agents:
        if set(agent.tiers) != {Tier.OPUS.value} or not agent.executions:
            continue
        avg_out = agent.output_tokens // agent.executions
        if avg_out >= SHORT_OUTPUT_TOKENS:
            continue
        sonnet = ledger.catalog.default_for(Tier.SONNET)
        usage = Usage(
            agent.input_tokens,
            agent.output_tokens,
            agent.cache_creation_tokens,
            0,
            agent.cache_read_tokens,
        )
        on_sonnet = ledger.catalog.cost(sonnet, usage).nanos
        saving = max(0, agent.cost_nanos - on_sonnet)
        monthly = saving * 30 // max(days, 1)
        out.append(
            Opportunity(
                "opus-short-output",
                agent.agent,
                f"{agent.agent} runs every execution on Opus for short outputs "
                f"(avg {avg_out} tokens): the same tokens on {sonnet.id} would cost about "
                f"{usd(nanos_to_decimal(monthly))}/month less (token cost only; true cost and "
                "the recommendations count rework and waiting too)",
                monthly,
            )
        )
    return out


def _days_covered(stats: list[AgentModelStats]) -> int:
    if not stats:
        return 1
    first = min(s.first_us for s in stats)
    last = max(s.last_us for s in stats)
    return max(1, round((last - first) / 86_400_000_000))


def _first_day(stats: list[AgentModelStats], tz: dt.tzinfo) -> dt.date | None:
    from gearshift.ledger.record import ts_from_us

    return ts_from_us(min(s.first_us for s in stats)).astimezone(tz).date() if stats else None


def _last_day(stats: list[AgentModelStats], tz: dt.tzinfo) -> dt.date | None:
    from gearshift.ledger.record import ts_from_us

    return ts_from_us(max(s.last_us for s in stats)).astimezone(tz).date() if stats else None


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


def _ratio(part: int, whole: int) -> str:
    if not whole:
        return "0"
    return str((Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001")))
