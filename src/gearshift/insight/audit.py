"""Audit agent definitions: is each agent on the right tier, and what would moving it save?

This is the article's "Week 2: reassess and classify" step as a command. For every definition,
the audit assesses the agent's role and description with the rubric (the same estimator that
routes tasks) and weighs it against what the ledger has seen the agent do: one source of advice
with ``gearshift report``. Per agent, in order:

1. the report's tier move for it (:func:`gearshift.insight.recommend.tier_moves`), when that
   rests on enough outcome evidence, decides -- the same move and the same saving;
2. an agent the ledger has seen run ``min_runs`` times or more, with no such move, stays: its
   record gives no reason to move it, whatever the rubric says (noted);
3. otherwise the rubric decides (the note says what evidence the ledger lacked).

``decided_by`` says which (``ledger`` or ``rubric``). Where the rubric decides and the ledger
has seen the agent run, the audit prices the recommendation: the agent's monthly cost now, on
the recommended tier, and the difference.

Observed numbers come in as :class:`AgentObservation` values keyed by agent name, so the audit
does not depend on how they were collected (the ledger, a CSV, a test). A month is
``days_per_month`` days (30), scaled from the days the observation covers. Re-pricing is exact
when the observation carries its token usage; otherwise the observed cost is scaled by the ratio
of output prices between the recommended tier's model and the model the agent ran on (Claude
tiers keep input and output prices in the same ratio, so the blend hardly matters).

:meth:`AuditReport.edits` turns the changed rows into in-place file edits
(:mod:`gearshift.agents.rewrite`), which a caller shows as a diff and then applies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any, Protocol

from gearshift.agents.definition import AgentDefinition, SourceFormat
from gearshift.agents.loaders import LoadOptions
from gearshift.agents.rewrite import FileEdit, plan_edits
from gearshift.catalog import Catalog, Tier, Usage, nanos_to_decimal
from gearshift.catalog.cost import round_half_even
from gearshift.insight.recommend import Recommendation
from gearshift.routing.estimator import KeywordEstimator
from gearshift.routing.rubric import Assessment, Rubric

__all__ = [
    "AgentObservation",
    "AuditReport",
    "AuditRow",
    "assess_agent",
    "audit_agents",
    "monthly_nanos",
    "observations_from_stats",
]

_US_PER_DAY = 86_400_000_000


@dataclass(frozen=True, slots=True)
class AgentObservation:
    """What was observed of one agent: executions and their cost over ``days`` days.

    ``models`` lists the model ids seen (most used first); ``usage``, when known, is the summed
    token usage and makes re-pricing exact.
    """

    executions: int
    cost_nanos: int
    days: Decimal | int
    models: tuple[str, ...] = ()
    usage: Usage | None = None

    def __post_init__(self) -> None:
        if self.executions < 0 or self.cost_nanos < 0 or Decimal(self.days) <= 0:
            raise ValueError("an observation needs executions >= 0, cost >= 0 and days > 0")


class StatsRow(Protocol):
    """One (agent, model) aggregate, as the ledger's ``agent_summary`` returns them."""

    agent: str
    model: str
    executions: int
    cost_nanos: int
    input_tokens: int
    output_tokens: int
    cache_creation_tokens: int
    cache_read_tokens: int
    first_us: int
    last_us: int


def observations_from_stats(
    stats: Iterable[StatsRow], *, days: Decimal | int | None = None
) -> dict[str, AgentObservation]:
    """Per-agent observations from per-(agent, model) aggregates.

    ``days`` is the period the rows cover; by default, the span from each agent's first to
    last execution (at least one day). Cache writes are priced as 5-minute writes when the
    recommendation is re-priced, since the aggregate does not split them by TTL.
    """
    grouped: dict[str, list[StatsRow]] = {}
    for row in stats:
        grouped.setdefault(row.agent, []).append(row)
    out = {}
    for agent, rows in grouped.items():
        rows.sort(key=lambda r: -r.executions)
        span_us = max(r.last_us for r in rows) - min(r.first_us for r in rows)
        covered = days if days is not None else max(Decimal(1), Decimal(span_us) / _US_PER_DAY)
        usage = Usage(
            input_tokens=sum(r.input_tokens for r in rows),
            output_tokens=sum(r.output_tokens for r in rows),
            cache_write_5m_tokens=sum(r.cache_creation_tokens for r in rows),
            cache_read_tokens=sum(r.cache_read_tokens for r in rows),
        )
        out[agent] = AgentObservation(
            executions=sum(r.executions for r in rows),
            cost_nanos=sum(r.cost_nanos for r in rows),
            days=covered,
            models=tuple(r.model for r in rows if not r.model.startswith("<")),  # no <synthetic>
            usage=usage,
        )
    return out


def monthly_nanos(nanos: int, days: Decimal | int, days_per_month: int = 30) -> int:
    """``nanos`` spent over ``days`` days, scaled to ``days_per_month`` (half-even, exact)."""
    ratio = Fraction(Decimal(days)) / days_per_month
    return round_half_even(nanos * ratio.denominator, ratio.numerator)


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One agent's audit: where it is, where it should be, and the money at stake."""

    agent: AgentDefinition
    current_tier: Tier | None
    assessment: Assessment
    recommended: Tier
    change: bool
    note: str
    observation: AgentObservation | None = None
    monthly_cost_nanos: int | None = None
    monthly_recommended_nanos: int | None = None
    decided_by: str = "rubric"
    rubric_tier: Tier | None = None
    advice: Recommendation | None = None

    @property
    def monthly_saving_nanos(self) -> int | None:
        """Positive when the recommendation is cheaper; ``None`` without observations. When the
        ledger decided, the report's saving for the move."""
        if self.decided_by == "ledger" and self.advice is not None and self.change:
            return self.advice.monthly_saving_nanos
        if self.monthly_cost_nanos is None or self.monthly_recommended_nanos is None:
            return None
        return self.monthly_cost_nanos - self.monthly_recommended_nanos

    def to_dict(self) -> dict[str, Any]:
        obs = self.observation
        saving = self.monthly_saving_nanos
        return {
            "agent": self.agent.name,
            "source": str(self.agent.source) if self.agent.source else None,
            "model_line": self.agent.model_line,
            "current_model": self.agent.model_text,
            "model_declared": self.agent.model_declared,
            "current_tier": self.current_tier.value if self.current_tier else None,
            "scores": self.assessment.scores.to_dict(),
            "evidence": {k: list(v) for k, v in self.assessment.evidence.items()},
            "recommended_tier": self.recommended.value,
            "rubric_tier": (self.rubric_tier or self.recommended).value,
            "decided_by": self.decided_by,
            "ledger_evidence": list(self.advice.evidence) if self.advice else [],
            "change": self.change,
            "note": self.note,
            "executions": obs.executions if obs else None,
            "cost_usd": nanos_to_decimal(obs.cost_nanos) if obs else None,
            "days": obs.days if obs else None,
            "models_seen": list(obs.models) if obs else [],
            "monthly_cost_usd": _usd(self.monthly_cost_nanos),
            "monthly_cost_recommended_usd": _usd(self.monthly_recommended_nanos),
            "monthly_saving_usd": _usd(saving),
        }


def _usd(nanos: int | None) -> Decimal | None:
    return nanos_to_decimal(nanos) if nanos is not None else None


@dataclass(frozen=True, slots=True)
class AuditReport:
    """Every audited agent, in the order found."""

    rows: tuple[AuditRow, ...]

    @property
    def changes(self) -> list[AuditRow]:
        return [row for row in self.rows if row.change]

    @property
    def monthly_saving_nanos(self) -> int:
        return sum(row.monthly_saving_nanos or 0 for row in self.changes)

    def edits(self, options: LoadOptions | None = None) -> list[FileEdit]:
        """File edits that set each changed agent's ``model`` to its recommended tier."""
        pairs = [
            (row.agent, row.recommended.value)
            for row in self.changes
            if row.agent.source is not None and row.agent.format is not SourceFormat.PYTHON
        ]
        return plan_edits(pairs, options)

    def to_dict(self) -> dict[str, Any]:
        return {
            "agents": [row.to_dict() for row in self.rows],
            "changes": len(self.changes),
            "monthly_saving_usd": nanos_to_decimal(self.monthly_saving_nanos),
        }


def assess_agent(agent: AgentDefinition, estimator: KeywordEstimator) -> Assessment:
    """Assess an agent's typical work from its role and description (its prompt if neither)."""
    text = ". ".join(part for part in (agent.role, agent.description) if part)
    return estimator.estimate(text or agent.instructions[:600])


def audit_agents(
    agents: Iterable[AgentDefinition],
    catalog: Catalog,
    *,
    observed: Mapping[str, AgentObservation] | None = None,
    advice: Mapping[str, Recommendation] | None = None,
    min_runs: int = 30,
    rubric: Rubric | None = None,
    estimator: KeywordEstimator | None = None,
    days_per_month: int = 30,
) -> AuditReport:
    """Assess each agent, recommend a tier -- with the ledger's ``advice`` (the report's tier
    moves, by agent) where it has enough evidence, the rubric elsewhere; see the module
    docstring -- and price the change with ``observed`` data. Without ``advice`` (no outcome
    evidence weighed) the rubric decides for every agent.

    Agents that ``inherit`` their parent's model are assessed but never marked for change:
    their tier is the caller's, not the file's.
    """
    rubric = rubric or Rubric()
    estimator = estimator or KeywordEstimator()
    observed = observed or {}
    weighed = advice is not None
    advice = advice or {}
    rows = []
    for agent in agents:
        assessment = assess_agent(agent, estimator)
        by_rubric = rubric.tier_for(assessment)
        current = agent.tier(catalog)
        obs = observed.get(agent.name)
        move = advice.get(agent.name)
        recommended, decided_by = _decide(
            current, by_rubric, obs if weighed else None, move, min_runs
        )
        change = current is not None and current is not recommended
        note = _note(agent, current, recommended, obs, catalog)
        if weighed:
            note = _with_evidence(note, decided_by, by_rubric, recommended, obs, move)
        monthly = rec_monthly = None
        if obs is not None:
            monthly = monthly_nanos(obs.cost_nanos, obs.days, days_per_month)
            rec_cost = _reprice(obs, agent, recommended, catalog) if change else obs.cost_nanos
            rec_monthly = monthly_nanos(rec_cost, obs.days, days_per_month)
            if decided_by == "ledger" and move is not None and change:
                rec_monthly = monthly - (move.monthly_saving_nanos or 0)
        rows.append(
            AuditRow(
                agent,
                current,
                assessment,
                recommended,
                change,
                note,
                obs,
                monthly,
                rec_monthly,
                decided_by,
                by_rubric,
                move if decided_by == "ledger" else None,
            )
        )
    return AuditReport(tuple(rows))


def _decide(
    current: Tier | None,
    by_rubric: Tier,
    obs: AgentObservation | None,
    move: Recommendation | None,
    min_runs: int,
) -> tuple[Tier, str]:
    """(the recommended tier, what decided it): see the module docstring."""
    if current is None:
        return by_rubric, "rubric"
    if move is not None and move.enough_evidence and move.to_tier is not None:
        return Tier.parse(move.to_tier), "ledger"
    if move is None and obs is not None and obs.executions >= min_runs:
        return current, "ledger"
    return by_rubric, "rubric"


def _with_evidence(
    note: str,
    decided_by: str,
    by_rubric: Tier,
    recommended: Tier,
    obs: AgentObservation | None,
    move: Recommendation | None,
) -> str:
    """``note`` with what decided, and what the other source said."""
    if decided_by == "ledger" and move is not None:
        extra = f"ledger: {move.action}"
    elif decided_by == "ledger":
        runs = obs.executions if obs else 0
        extra = f"ledger: {runs} runs give no reason to move it"
    elif move is not None:
        extra = f"ledger suggests {move.to_tier}, but not enough evidence ({move.needs})"
    elif obs is not None:
        extra = f"rubric (the ledger has only {obs.executions} runs)"
    else:
        extra = "rubric (the ledger has not seen it run)"
    if decided_by == "ledger" and by_rubric is not recommended:
        extra += f"; the rubric says {by_rubric}"
    return f"{note}; {extra}" if note else extra


def _note(
    agent: AgentDefinition,
    current: Tier | None,
    recommended: Tier,
    obs: AgentObservation | None,
    catalog: Catalog,
) -> str:
    if current is None:
        return f"inherits the parent's model; assessed as {recommended}, file left alone"
    parts = []
    if current is recommended:
        parts.append("right tier")
    else:
        parts.append(f"move {'down' if recommended < current else 'up'}")
    if not agent.model_declared:
        parts.append(f"no model line (default {agent.model_text})")
    if obs is not None:
        seen = {m.tier for m in (catalog.find(mid) for mid in obs.models) if m is not None}
        if seen and seen != {current}:
            names = ", ".join(sorted(t.value for t in seen))
            parts.append(f"ran on {names}")
    return "; ".join(parts)


def _reprice(obs: AgentObservation, agent: AgentDefinition, tier: Tier, catalog: Catalog) -> int:
    # the model the agent already ran on in that tier, if any: a saving must come from the
    # tier move, not from the difference between two models' prices within one tier
    seen = (m for m in (catalog.find(i) for i in obs.models) if m is not None and m.tier is tier)
    target = next(seen, None) or catalog.default_for(tier)
    if obs.usage is not None:
        return catalog.cost(target, obs.usage).nanos
    ran_on = next((m for m in (catalog.find(i) for i in obs.models) if m is not None), None)
    if ran_on is None:
        ran_on = catalog.resolve(agent.model_text)
    before = ran_on.period_at(None).base.output
    after = target.period_at(None).base.output
    if before == 0:
        return obs.cost_nanos
    ratio = Fraction(after) / Fraction(before)
    return round_half_even(obs.cost_nanos * ratio.numerator, ratio.denominator)
