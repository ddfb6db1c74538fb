"""Recommendations from the ledger, each with its evidence and its monthly saving.

Kinds, in the order of the article's playbook:

* ``move-down`` -- the agent's task type succeeds on a cheaper tier (its own runs there, or other
  agents' runs of the same task type), or it pays the Opus overkill tax;
* ``tiered`` / ``move-up`` -- failures that nobody rescued cost an investigation each: run the
  cheap tier first and escalate on a failed validation, or move up when that is cheaper; an agent
  already tiered whose escalations are frequent pays twice too often and moves up;
* ``batch`` -- high-volume work nobody waits for, re-priced at the batch discount;
* ``cache`` -- the same task (same ``task_hash``) run again soon after it succeeded;
* ``cost-driver`` -- the top five agents by spend (no saving: where to look first).

Savings are monthly true cost (see :mod:`gearshift.insight.truecost`), each estimated on its own:
two recommendations on the same agent overlap. A saving is computed on the tasks the
recommendation acts on -- moving an agent off a tier moves the tasks that start there, not the
ones already on other tiers -- and never exceeds what those tasks cost (``basis_nanos``).

Advice must be actionable. Claude Code's built-in subagents (``Explore``, ``Plan``,
``general-purpose``, ...) have no definition a user edits, so they get no tier advice; the main
thread (``main``) does, saying how (its model is the session's). Work that runs inside an
interactive Claude Code session is never sent to the Message Batches API.

Success rates are Beta posteriors with a 90% credible interval; a recommendation resting on
fewer than ``min_executions`` runs, or on an interval wider than ``max_interval_width``, is
still shown -- marked as lacking evidence, with what would settle it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from gearshift.catalog import Tier
from gearshift.fmt import usd_nanos
from gearshift.insight.expected_cost import (
    Beta,
    TrueCostRates,
    nanos,
    pct_text,
    static_cost,
    tiered_cost,
)
from gearshift.insight.truecost import AgentTrueCost, TrueCostReport, outlook, true_cost
from gearshift.ledger.evidence import agent_sources, outcomes, task_runs
from gearshift.ledger.queries import Filters

if TYPE_CHECKING:
    from gearshift.catalog import Catalog
    from gearshift.ledger.store import Ledger

__all__ = ["BUILTIN_AGENTS", "Recommendation", "Settings", "recommend", "tier_moves"]

#: Claude Code's built-in subagent types (and the ingest's fallback label): no definition file a
#: user could edit, so no tier advice.
BUILTIN_AGENTS = frozenset(
    {
        "Explore",
        "Plan",
        "general-purpose",
        "statusline-setup",
        "output-style-setup",
        "claude-code-guide",
        "subagent",
    }
)
#: The main thread of Claude Code sessions: its model is the session's.
MAIN_AGENT = "main"
#: Sources whose work runs in an interactive session (nobody can wait a day for a batch).
INTERACTIVE_SOURCES = frozenset({"claude-code"})

_HOUR_US = 3_600_000_000
_DAY_US = 24 * _HOUR_US


@dataclass(frozen=True, slots=True)
class Settings:
    """How much evidence a recommendation needs, and the thresholds that trigger one."""

    min_executions: int = 30
    max_interval_width: float = 0.15
    level: float = 0.9
    high_success: float = 0.9
    rework_rate: Fraction = Fraction(5, 100)
    escalation_rate: Fraction = Fraction(25, 100)
    batch_min_per_day: int = 20
    interactive_task_types: frozenset[str] = frozenset({"code-review", "debugging", "architecture"})
    cache_window_hours: int = 24
    cache_min_hits: int = 10
    top_drivers: int = 5


@dataclass(slots=True)
class Recommendation:
    """One thing to do, why (``evidence``), and what it saves a month.

    A tier change names ``from_tier`` and ``to_tier``; ``basis_nanos`` is the monthly true cost
    of the tasks the recommendation acts on (the saving never exceeds it); ``how`` says how to
    act where it is not a definition's ``model`` line.
    """

    kind: str
    agent: str | None
    action: str
    evidence: list[str] = field(default_factory=list)
    monthly_saving_nanos: int | None = None
    enough_evidence: bool = True
    needs: str | None = None
    from_tier: str | None = None
    to_tier: str | None = None
    basis_nanos: int | None = None
    how: str | None = None

    @property
    def message(self) -> str:
        saving = (
            f" -- saves about {usd_nanos(self.monthly_saving_nanos)}/month"
            if self.monthly_saving_nanos is not None
            else ""
        )
        doubt = f" [not enough evidence: {self.needs}]" if not self.enough_evidence else ""
        how = f" ({self.how})" if self.how else ""
        return f"{self.action}{how}{saving}{doubt}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "agent": self.agent,
            "action": self.action,
            "monthly_saving_usd": (
                str(Decimal(self.monthly_saving_nanos).scaleb(-9))
                if self.monthly_saving_nanos is not None
                else None
            ),
            "enough_evidence": self.enough_evidence,
            "needs": self.needs,
            "from_tier": self.from_tier,
            "to_tier": self.to_tier,
            "tasks_cost_monthly_usd": (
                str(Decimal(self.basis_nanos).scaleb(-9)) if self.basis_nanos is not None else None
            ),
            "how": self.how,
            "evidence": list(self.evidence),
        }


def recommend(
    ledger: Ledger,
    filters: Filters | None = None,
    rates: TrueCostRates | None = None,
    settings: Settings | None = None,
    *,
    report: TrueCostReport | None = None,
) -> list[Recommendation]:
    """Every recommendation the executions ``filters`` selects support, biggest saving first."""
    filters = filters or Filters()
    settings = settings or Settings()
    report = report or true_cost(ledger, filters, rates)
    judge = _Judge(report, ledger.catalog, settings, _task_type_evidence(ledger, filters))
    sources = agent_sources(ledger, filters)
    found: list[Recommendation] = []
    for agent in report.agents:
        if agent.agent in BUILTIN_AGENTS:
            continue  # nothing a user can edit
        for change in judge.tier_changes(agent):
            if agent.agent == MAIN_AGENT:
                change.how = (
                    f"the main thread runs on the session's model: choose {change.to_tier} with "
                    '/model, or set "model" in .claude/settings.json'
                )
            found.append(change)
        if not sources.get(agent.agent, set()) & INTERACTIVE_SOURCES:
            found += judge.batch(agent)
    found += _cache(ledger, filters, report, settings)
    found.sort(key=lambda r: (-(r.monthly_saving_nanos or 0), r.kind, r.agent or ""))
    return found + _drivers(report, settings)


def tier_moves(recommendations: list[Recommendation]) -> dict[str, Recommendation]:
    """The model changes among ``recommendations`` (move down, move up), by agent: what an
    agent definition's ``model`` line would act on."""
    return {
        r.agent: r
        for r in recommendations
        if r.kind in ("move-down", "move-up") and r.agent is not None and r.to_tier is not None
    }


@dataclass(slots=True)
class _Judge:
    report: TrueCostReport
    catalog: Catalog
    settings: Settings
    by_type: dict[tuple[str, Tier], Beta]

    def evidence_gap(self, beta: Beta, what: str) -> str | None:
        """Why ``beta`` is not enough to act on, or ``None`` when it is."""
        s = self.settings
        if beta.n < s.min_executions:
            return f"{beta.n} runs of {what} (needs {s.min_executions})"
        low, high = beta.interval(s.level)
        if high - low > s.max_interval_width:
            return f"the success rate of {what} is known only within {_pp(high - low)}"
        return None

    def rate(self, beta: Beta, what: str) -> str:
        low, high = beta.interval(self.settings.level)
        return (
            f"{what}: {pct_text(beta.successes, beta.n)} success over {beta.n} runs "
            f"({self.settings.level:.0%} interval {low:.1%}-{high:.1%})"
        )

    def saving(self, tasks: int, cost: Fraction, per_task_saving: Fraction) -> tuple[int, int]:
        """``(monthly saving, monthly cost of the tasks moved)``: ``per_task_saving`` on the
        ``tasks`` moved, never more than the ``cost`` they have."""
        basis = nanos(self.report.monthly(cost))
        return min(nanos(self.report.monthly(per_task_saving * tasks)), basis), basis

    def tier_changes(self, agent: AgentTrueCost) -> list[Recommendation]:
        home = agent.home
        if home.tier > Tier.HAIKU:
            down = self.move_down(agent)
            if down is not None:
                return [down]
        up = self.move_up(agent)
        return [up] if up is not None else []

    def move_down(self, agent: AgentTrueCost) -> Recommendation | None:
        home, rates = agent.home, self.report.rates
        task = home.task_type or agent.agent
        kept = Beta(home.executions - home.terminal_failures, home.terminal_failures)
        tasks, cost = agent.moved(home.tier)

        def now_at(rate: Fraction) -> Fraction:
            if home.redone:
                return cost / tasks
            return static_cost(outlook(agent, home.tier, self.catalog, rates, rate), rates)

        candidates = [t for t in Tier.ordered() if t < home.tier]
        for lower in reversed(candidates):
            beta = self.by_type.get((task, lower))
            if beta is None or beta.n == 0:
                continue
            what = f"{task} on {lower}"
            observed = Fraction(beta.successes, beta.n)
            if observed < Fraction(self.settings.high_success):
                continue
            gap = self.evidence_gap(beta, what)
            # the same estimator on both sides: posterior means with enough evidence, observed
            # rates without (comparing a smoothed rate now with a raw 100% of a few runs below
            # would invent a saving out of the prior)
            if gap is None:
                now, rate = now_at(kept.mean), beta.mean
            else:
                now, rate = now_at(Fraction(kept.successes, max(kept.n, 1))), observed
            expected = static_cost(outlook(agent, lower, self.catalog, rates, rate), rates)
            saving = now - expected
            if saving <= 0:
                continue
            # the estimate's share of a task's expected cost, on what the tasks moved did cost
            monthly, basis = self.saving(tasks, cost, cost / tasks * saving / now)
            return Recommendation(
                "move-down",
                agent.agent,
                f"move {agent.agent} from {home.tier} to {lower}",
                [
                    self.rate(beta, what),
                    self.rate(kept, f"{agent.agent} on {home.tier}"),
                    f"expected true cost per task {_usd(now)} now, {_usd(expected)} on {lower}",
                    _moved_text(tasks, home.tier, basis),
                ],
                monthly,
                gap is None,
                gap,
                home.tier.value,
                lower.value,
                basis,
            )
        flag = next(
            (f for f in self.report.flags if f.agent == agent.agent and f.kind == "overkill-tax"),
            None,
        )
        if flag is None:
            return None
        beta = self.by_type.get((task, flag.alternative)) or Beta(0, 0)
        gap = self.evidence_gap(beta, f"{task} on {flag.alternative}")
        basis = nanos(self.report.monthly(cost))
        return Recommendation(
            "move-down",
            agent.agent,
            f"move {agent.agent} from {home.tier} to {flag.alternative} (Opus overkill tax)",
            [
                flag.message,
                "assumes the cheaper tier matches Opus on these tasks",
                _moved_text(tasks, home.tier, basis),
            ],
            min(flag.monthly_nanos, basis),
            gap is None,
            f"{gap}: trial {self.settings.min_executions} runs on {flag.alternative}"
            if gap
            else None,
            home.tier.value,
            flag.alternative.value,
            basis,
        )

    def move_up(self, agent: AgentTrueCost) -> Recommendation | None:
        home, rates = agent.home, self.report.rates
        up = home.tier.up()
        if up is None or not home.executions:
            return None
        probe = outlook(agent, up, self.catalog, rates)
        better = outlook(agent, up, self.catalog, rates, max(probe.success, home.success_rate))
        static = static_cost(better, rates)
        source = "observed" if probe.observed else "assumed"
        tasks, cost = agent.moved(home.tier)
        per_task = cost / tasks
        if home.redone:
            kept = Beta(home.executions - home.redone, home.redone)
            if 1 - kept.mean < self.settings.escalation_rate or per_task <= static:
                return None
            gap = self.evidence_gap(kept, f"{agent.agent} on {home.tier}")
            monthly, basis = self.saving(tasks, cost, per_task - static)
            return Recommendation(
                "move-up",
                agent.agent,
                f"move {agent.agent} from tiered {home.tier}->{up} to {up} alone",
                [
                    f"{pct_text(home.redone, home.executions)} of tasks escalate: both tiers paid",
                    f"true cost per task {_usd(per_task)} now, {_usd(static)} on {up} "
                    f"({source} {pct_text(better.success, 1)} success)",
                    _moved_text(tasks, home.tier, basis),
                ],
                monthly,
                gap is None,
                gap,
                home.tier.value,
                up.value,
                basis,
            )
        kept = Beta(home.executions - home.terminal_failures, home.terminal_failures)
        if 1 - kept.mean < self.settings.rework_rate:
            return None
        escalation = Fraction(home.terminal_failures, home.executions)
        first = outlook(agent, home.tier, self.catalog, rates, 1 - escalation)
        tiered = tiered_cost(first, better, escalation, rates)
        best, kind = (tiered, "tiered") if tiered <= static else (static, "move-up")
        if best >= per_task:
            return None
        gap = self.evidence_gap(kept, f"{agent.agent} on {home.tier}")
        monthly, basis = self.saving(tasks, cost, per_task - best)
        action = (
            f"put {agent.agent} on tiered execution: {home.tier} first, {up} when validation fails"
            if kind == "tiered"
            else f"move {agent.agent} from {home.tier} to {up}"
        )
        return Recommendation(
            kind,
            agent.agent,
            action,
            [
                self.rate(kept, f"{agent.agent} on {home.tier}"),
                f"{home.terminal_failures} failures in the window, each investigated "
                f"({_usd(rates.rework_per_failure)})",
                f"true cost per task {_usd(per_task)} now; tiered {_usd(tiered)}, "
                f"{up} alone {_usd(static)} ({source} {pct_text(better.success, 1)} success)",
                _moved_text(tasks, home.tier, basis),
            ]
            + (
                ["tiered assumes a validator that catches the failures"] if kind == "tiered" else []
            ),
            monthly,
            gap is None,
            gap,
            home.tier.value,
            up.value,
            basis,
        )

    def batch(self, agent: AgentTrueCost) -> list[Recommendation]:
        home = agent.home
        s = self.settings
        per_day = Fraction(agent.tasks * _DAY_US, self.report.span_us)
        unbatched = sum(r.bill_nanos for r in agent.rows if r.batch_executions < r.executions)
        if (
            home.task_type in s.interactive_task_types
            or per_day < s.batch_min_per_day
            or not unbatched
            or all(r.batch_executions == r.executions for r in agent.rows)
        ):
            return []
        discount = 1 - Fraction(self.catalog.batch_multiplier)
        saving = nanos(self.report.monthly(Fraction(unbatched, 10**9) * discount))
        basis = nanos(
            self.report.monthly(
                sum((r.total for r in agent.rows if r.batch_executions < r.executions), Fraction(0))
            )
        )
        executions = sum(r.executions for r in agent.rows)
        gap = (
            None
            if executions >= s.min_executions
            else f"{executions} runs (needs {s.min_executions})"
        )
        return [
            Recommendation(
                "batch",
                agent.agent,
                f"send {agent.agent}'s {home.task_type or 'work'} through the Message Batches "
                f"API ({pct_text(discount, 1)} off)",
                [
                    f"{float(per_day):.0f} tasks/day, none waiting on a person "
                    f"(task type {home.task_type or 'unknown'})",
                    "assumes nobody waits for the results (batches finish within 24 hours)",
                ],
                min(saving, basis),
                gap is None,
                gap,
                basis_nanos=basis,
            )
        ]


def _moved_text(tasks: int, tier: Tier, basis: int) -> str:
    return (
        f"applies to the {tasks:,} tasks that start on {tier}, whose true cost is "
        f"{usd_nanos(basis)}/month"
    )


def _task_type_evidence(ledger: Ledger, filters: Filters) -> dict[tuple[str, Tier], Beta]:
    """Successes and failures (errors left out) per task type and tier, over every agent."""
    counts: dict[tuple[str, Tier], list[int]] = defaultdict(lambda: [0, 0])
    for o in outcomes(ledger, filters):
        pair = counts[(o.task_type or o.agent, Tier.parse(o.tier))]
        pair[0] += o.successes
        pair[1] += o.failures
    return {key: Beta(ok, bad) for key, (ok, bad) in counts.items()}


def _cache(
    ledger: Ledger, filters: Filters, report: TrueCostReport, settings: Settings
) -> list[Recommendation]:
    """Tasks (chains) that repeat one that succeeded within the cache window.

    ``task_hash`` covers the task text only, so a repeat counts as evidence when its prompt also
    has the same size as the successful run's (the context around the text did not change); the
    saving is the cost of those repeats. Repeats of the text alone are reported once, unpriced.
    """
    chains: dict[tuple[str, str], dict[str, list[int]]] = defaultdict(dict)
    for run in task_runs(ledger, filters):
        entry = chains[(run.agent, run.task_hash)].setdefault(
            run.chain, [run.ts_us, 0, 0, run.prompt_tokens]
        )
        entry[1] += run.cost_nanos
        entry[2] |= run.status == "success"
    window = settings.cache_window_hours * _HOUR_US
    per_agent: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for (agent, _), by_chain in chains.items():
        last_ok: tuple[int, int] | None = None
        for ts, cost, ok, prompt in by_chain.values():
            stats = per_agent[agent]
            stats[0] += 1
            if last_ok is not None and ts - last_ok[0] <= window:
                stats[1] += 1
                if prompt == last_ok[1]:
                    stats[2] += 1
                    stats[3] += cost
            if ok:
                last_ok = (ts, prompt)
    hours = settings.cache_window_hours
    out, text_only = [], []
    for agent, (tasks, hits, exact, saved) in sorted(per_agent.items()):
        if exact < settings.cache_min_hits:
            if hits >= settings.cache_min_hits:
                text_only.append(f"{agent}: {hits} of {tasks} ({pct_text(hits, tasks)})")
            continue
        out.append(
            Recommendation(
                "cache",
                agent,
                f"cache {agent}'s results for {hours}h, keyed by task and prompt",
                [
                    f"{exact} of {tasks} tasks repeat, with the same prompt size, a task that "
                    f"succeeded less than {hours}h before ({pct_text(exact, tasks)})",
                    f"{hits} repeat the task text alone",
                ],
                nanos(report.monthly(Fraction(saved, 10**9))),
            )
        )
    if text_only:
        out.append(
            Recommendation(
                "cache",
                None,
                "possible cache candidates: task texts repeat within "
                f"{hours}h but their prompts differ",
                text_only,
                None,
                False,
                "check that the task text alone determines the answer before caching on it",
            )
        )
    return out


def _drivers(report: TrueCostReport, settings: Settings) -> list[Recommendation]:
    ranked = sorted(report.agents, key=lambda a: (-a.bill_nanos, a.agent))
    bill = report.bill_nanos or 1
    return [
        Recommendation(
            "cost-driver",
            a.agent,
            f"#{i} cost driver: {a.agent} ({'/'.join(r.tier.value for r in a.rows)}) at "
            f"{pct_text(a.bill_nanos, bill)} of spend",
            [
                f"bill {usd_nanos(a.bill_nanos)}, true cost {_usd(a.total)} over the window "
                f"({_usd(report.monthly(a.total))}/month)",
            ],
        )
        for i, a in enumerate(ranked[: settings.top_drivers], start=1)
    ]


def _usd(amount: Fraction) -> str:
    return usd_nanos(nanos(amount))


def _pp(width: float) -> str:
    return f"±{width * 50:.1f} points"
