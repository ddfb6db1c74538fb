"""Every agent at a glance: how often it ran on which tier and how that went, what it truly
costs, what to change -- the Agents page of the dashboard, as data.

Counts and spend per tier come from the spend rollups (:mod:`gearshift.ledger.views`, quick:
:func:`tiers_of`); true cost and recommendations from :mod:`~gearshift.insight.truecost` and
:mod:`~gearshift.insight.recommend`, which read the executions (slow on a large ledger:
:func:`with_insight`). A learned tier predictor, when
one is trained, is asked for each agent's chance of success per tier through a
:data:`Predictor` (none by default: the roster then says so rather than guess).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from gearshift.catalog import Tier
from gearshift.catalog.cost import usd_text
from gearshift.insight.expected_cost import nanos
from gearshift.insight.recommend import Recommendation, recommend
from gearshift.insight.truecost import AgentTrueCost, true_cost
from gearshift.ledger.views import range_totals

if TYPE_CHECKING:
    from gearshift.insight.expected_cost import TrueCostRates
    from gearshift.ledger import Filters
    from gearshift.ledger.store import Ledger
    from gearshift.ledger.views import Totals

__all__ = ["AgentView", "Predictor", "TierRecord", "roster", "tiers_of", "with_insight"]

#: An agent's name -> its probability of success per tier (``"haiku"`` -> 0.93), or ``None``
#: when the predictor knows nothing about it. Supplied by whoever trained one.
Predictor = Callable[[str], Mapping[str, float] | None]


@dataclass(frozen=True, slots=True)
class TierRecord:
    """One agent's executions on one tier."""

    tier: str
    totals: Totals

    @property
    def success_rate(self) -> Decimal | None:
        """Successes over executions that ended (errors and blocked requests say nothing
        about whether the tier could do the task); ``None`` with none."""
        t = self.totals
        ended = t.successes + t.failures
        return (Decimal(t.successes) / ended).quantize(Decimal("0.0001")) if ended else None

    def to_dict(self) -> dict[str, Any]:
        t = self.totals
        rate = self.success_rate
        return {
            "tier": self.tier,
            "executions": t.executions,
            "successes": t.successes,
            "failures": t.failures,
            "errors": t.errors,
            "blocked": t.blocked,
            "escalations": t.escalations,
            "success_rate": None if rate is None else str(rate),
            "cost_usd": usd_text(t.cost_nanos),
        }


@dataclass(slots=True)
class AgentView:
    """One agent: its tiers, true cost, recommendations and predicted success."""

    agent: str
    tiers: list[TierRecord]
    true_cost: AgentTrueCost | None = None
    recommendations: list[Recommendation] = field(default_factory=list)
    predicted: Mapping[str, float] | None = None

    @property
    def executions(self) -> int:
        return sum(r.totals.executions for r in self.tiers)

    @property
    def cost_nanos(self) -> int:
        return sum(r.totals.cost_nanos for r in self.tiers)

    def to_dict(self, monthly: Callable[[Fraction], Fraction]) -> dict[str, Any]:
        tc = self.true_cost
        return {
            "agent": self.agent,
            "executions": self.executions,
            "cost_usd": usd_text(self.cost_nanos),
            "tiers": [r.to_dict() for r in self.tiers],
            "true_cost": None
            if tc is None
            else {
                "home_tier": tc.home.tier.value,
                "tasks": tc.tasks,
                "true_cost_usd": _usd(tc.total),
                "true_cost_per_task_usd": _usd(tc.per_task),
                "monthly_true_cost_usd": _usd(monthly(tc.total)),
            },
            "recommendations": [r.to_dict() for r in self.recommendations],
            "p_success": None
            if self.predicted is None
            else {tier: f"{p:.4f}" for tier, p in self.predicted.items()},
        }


def roster(
    ledger: Ledger,
    filters: Filters,
    rates: TrueCostRates,
    *,
    predictor: Predictor | None = None,
) -> tuple[list[AgentView], Callable[[Fraction], Fraction]]:
    """Every agent the executions ``filters`` selects, biggest spender first, with its true
    cost, advice and predictions (:func:`with_insight`), and the function that scales an amount
    over the window to a 30-day month."""
    views = tiers_of(ledger, filters)
    return views, with_insight(views, ledger, filters, rates, predictor=predictor)


def tiers_of(ledger: Ledger, filters: Filters) -> list[AgentView]:
    """Every agent with its executions per tier, from the spend rollups: quick on any ledger
    (true cost and advice are left empty)."""
    per_tier: dict[str, list[TierRecord]] = {}
    for (agent, tier), totals in sorted(range_totals(ledger, ("agent", "tier"), filters).items()):
        per_tier.setdefault(agent, []).append(TierRecord(tier, totals))
    views = [AgentView(agent, sorted(records, key=_tier_order)) for agent, records in
             per_tier.items()]  # fmt: skip
    views.sort(key=lambda v: (-v.cost_nanos, v.agent))
    return views


def with_insight(
    views: list[AgentView],
    ledger: Ledger,
    filters: Filters,
    rates: TrueCostRates,
    *,
    predictor: Predictor | None = None,
) -> Callable[[Fraction], Fraction]:
    """Fill in each view's true cost, recommendations and predicted success; returns the
    monthly scale. Reads every execution of the window (chains, repeated tasks): seconds on a
    large ledger."""
    report = true_cost(ledger, filters, rates)
    advice = recommend(ledger, filters, report=report)
    for view in views:
        view.true_cost = report.agent(view.agent)
        view.recommendations = [r for r in advice if r.agent == view.agent]
        view.predicted = predictor(view.agent) if predictor is not None else None
    return report.monthly


_RANKS = {t.value: t.rank for t in Tier}


def _tier_order(record: TierRecord) -> tuple[int, str]:
    """Cheapest tier first; a tier the catalog does not know (``unknown``) last."""
    return _RANKS.get(record.tier, len(_RANKS)), record.tier


def _usd(amount: Fraction) -> str:
    return usd_text(nanos(amount))
