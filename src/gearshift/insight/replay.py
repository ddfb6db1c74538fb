"""Replay: what the ledger's tasks would have cost, and how well they would have done, had a
different policy chosen their tiers.

A policy file (YAML) maps agents and task types to a tier or to a tiered chain::

    default: keep              # keep (each task as it ran), or a tier, for unmatched tasks
    rules:                     # the first rule that matches wins; patterns as in fnmatch
      - {agent: release-summarizer, tiers: [haiku, sonnet]}    # tiered: escalate on failure
      - {task_type: docs, tier: sonnet}
      - {agent: "lint-*", task_type: linting, tier: haiku}

A task is a chain of attempts (one execution when it has no chain). It is replayed from its
first attempt's usage, re-priced exactly on each tier's model (the model it ran on when the tier
is the same, else the tier's default) at the prices in force when it ran. Success on a tier is
the Beta posterior mean of that task type's runs there (else the agent's; with fewer than
:data:`MIN_RUNS` runs, the tier's default rate -- reported as assumed). A chain of tiers reaches
step ``i`` with probability ``prod(1 - s_j, j < i)``, which weights that step's cost; the task
ends well unless every step fails (the validator is assumed to catch failures). A task the
policy routes exactly as it ran keeps what really happened.
"""

from __future__ import annotations

import fnmatch
import itertools
import os
from collections import defaultdict
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Annotated, Any

import msgspec

from gearshift.catalog import Tier, Usage
from gearshift.insight.expected_cost import DEFAULT_SUCCESS, Beta, nanos
from gearshift.insight.plan import exact
from gearshift.insight.workload import Definition, read_definition
from gearshift.ledger.evidence import outcomes
from gearshift.ledger.queries import Filters
from gearshift.ledger.record import FLAG_BATCH, FLAG_FAST, Execution

if TYPE_CHECKING:
    from gearshift.catalog import Catalog
    from gearshift.ledger.store import Ledger

__all__ = [
    "MIN_RUNS",
    "AgentReplay",
    "Policy",
    "PolicyFile",
    "ReplayReport",
    "Rule",
    "load_policy",
    "replay",
]

#: Runs of a task type (or agent) on a tier before its own success rate replaces the default.
MIN_RUNS = 10


@dataclass(frozen=True, slots=True)
class Rule:
    agent: str | None
    task_type: str | None
    tiers: tuple[Tier, ...]

    def matches(self, agent: str, task_type: str | None) -> bool:
        if self.agent is not None and not fnmatch.fnmatchcase(agent, self.agent):
            return False
        return self.task_type is None or fnmatch.fnmatchcase(task_type or "", self.task_type)


@dataclass(frozen=True, slots=True)
class Policy:
    """Rules in order; ``default`` is ``None`` for "keep as it ran"."""

    rules: tuple[Rule, ...]
    default: tuple[Tier, ...] | None = None
    source: str = "<policy>"

    def route(self, agent: str, task_type: str | None) -> tuple[Tier, ...] | None:
        for rule in self.rules:
            if rule.matches(agent, task_type):
                return rule.tiers
        return self.default


_Pattern = str | int | float  # a name or fnmatch pattern; YAML may read a name as a number
_Tier = Annotated[str, msgspec.Meta(examples=["haiku", "sonnet", "opus"])]


class PolicyRule(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Tasks of ``agent`` and/or ``task_type`` (fnmatch patterns) run on ``tier``, or on the
    ladder ``tiers`` (cheapest first, escalating on failure)."""

    agent: _Pattern | None = None
    task_type: _Pattern | None = None
    tier: _Tier | None = None
    tiers: Annotated[list[_Tier], msgspec.Meta(min_length=1)] | None = None


class PolicyFile(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A replay policy: rules tried in order; ``default`` (``keep``, or a tier) for the rest."""

    default: Annotated[str, msgspec.Meta(examples=["keep", "haiku", "sonnet", "opus"])] = "keep"
    rules: list[PolicyRule] = []


def schema() -> type[PolicyFile]:
    """The Struct whose JSON Schema describes a replay policy file."""
    return PolicyFile


def load_policy(path: str | os.PathLike[str]) -> Policy:
    """Read and validate a policy file; errors name the file, the line and the key."""
    return parse_policy(read_definition(path, "policy"), str(path))


def parse_policy(content: str, source: str = "<policy>") -> Policy:
    doc = Definition.parse(content, source, "see docs/replay.md and examples/replay-policy.yaml")
    spec: PolicyFile = doc.check(PolicyFile)
    rules = []
    for i, rule in enumerate(spec.rules):
        path = ("rules", i)
        if rule.agent is None and rule.task_type is None:
            raise doc.fail(path, "a rule needs an 'agent' or a 'task_type' to match")
        rules.append(Rule(_text(rule.agent), _text(rule.task_type), _tiers(doc, rule, path)))
    default = None if spec.default == "keep" else (doc.tier(spec.default, ("default",)),)
    return Policy(tuple(rules), default, source)


def _text(value: _Pattern | None) -> str | None:
    return None if value is None else str(value)


def _tiers(doc: Definition, rule: PolicyRule, path: tuple[str | int, ...]) -> tuple[Tier, ...]:
    if (rule.tier is None) == (rule.tiers is None):
        raise doc.fail(path, "give either 'tier' or 'tiers' (a tiered chain, cheapest first)")
    if rule.tiers is None:
        return (doc.tier(str(rule.tier), (*path, "tier")),)
    tiers = tuple(doc.tier(t, (*path, "tiers", i)) for i, t in enumerate(rule.tiers))
    if any(b <= a for a, b in itertools.pairwise(tiers)):
        raise doc.fail((*path, "tiers"), "escalation only goes up: list tiers cheapest first")
    return tiers


@dataclass(slots=True)
class AgentReplay:
    """One agent's tasks: what happened, and what the policy would have made of them."""

    agent: str
    tasks: int = 0
    actual_nanos: int = 0
    actual_ok: int = 0
    actual_escalations: int = 0
    replay_cost: Fraction = Fraction(0)
    replay_ok: Fraction = Fraction(0)
    replay_escalations: Fraction = Fraction(0)
    routes: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    assumed: set[str] = field(default_factory=set)

    def to_dict(self) -> dict[str, Any]:
        tasks = self.tasks or 1
        return {
            "agent": self.agent,
            "tasks": self.tasks,
            "routes": dict(self.routes),
            "actual": {
                "cost_usd": exact(Fraction(self.actual_nanos, 10**9)),
                "quality": exact(Fraction(self.actual_ok, tasks)),
                "escalations": self.actual_escalations,
            },
            "replayed": {
                "cost_usd": exact(Fraction(nanos(self.replay_cost), 10**9)),
                "quality": exact(self.replay_ok / tasks),
                "escalations": exact(self.replay_escalations),
            },
            "assumed_success_rates": sorted(self.assumed),
        }


@dataclass(slots=True)
class ReplayReport:
    policy: str
    agents: list[AgentReplay]

    def totals(self) -> dict[str, Any]:
        tasks = sum(a.tasks for a in self.agents) or 1
        return {
            "tasks": sum(a.tasks for a in self.agents),
            "actual_cost_usd": exact(Fraction(sum(a.actual_nanos for a in self.agents), 10**9)),
            "replayed_cost_usd": exact(
                Fraction(nanos(sum((a.replay_cost for a in self.agents), Fraction(0))), 10**9)
            ),
            "actual_quality": exact(Fraction(sum(a.actual_ok for a in self.agents), tasks)),
            "replayed_quality": exact(sum((a.replay_ok for a in self.agents), Fraction(0)) / tasks),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "agents": [a.to_dict() for a in self.agents],
            "total": self.totals(),
        }


def replay(ledger: Ledger, policy: Policy, filters: Filters | None = None) -> ReplayReport:
    """Replay the tasks ``filters`` selects under ``policy``."""
    filters = filters or Filters()
    rates = _Rates(_evidence(ledger, filters))
    chains: dict[str, list[Execution]] = defaultdict(list)
    for execution in ledger.executions(filters=filters, order="ts_us, attempt, id"):
        chains[execution.chain_id or execution.id].append(execution)
    agents: dict[str, AgentReplay] = {}
    for attempts in chains.values():
        first = attempts[0]
        result = agents.setdefault(first.agent, AgentReplay(first.agent))
        _replay_task(result, attempts, policy, rates, ledger.catalog)
    ordered = sorted(agents.values(), key=lambda a: (-a.actual_nanos, a.agent))
    return ReplayReport(policy.source, ordered)


def _replay_task(
    result: AgentReplay,
    attempts: list[Execution],
    policy: Policy,
    rates: _Rates,
    catalog: Catalog,
) -> None:
    first, last = attempts[0], attempts[-1]
    ran = tuple(dict.fromkeys(Tier.parse(a.tier) for a in attempts))
    route = policy.route(first.agent, first.task_type)
    result.tasks += 1
    result.actual_nanos += sum(a.cost_nanos for a in attempts)
    result.actual_ok += last.status == "success"
    result.actual_escalations += len(ran) > 1
    if route is None or route == ran:
        result.routes["as it ran"] += 1
        result.replay_cost += Fraction(sum(a.cost_nanos for a in attempts), 10**9)
        result.replay_ok += last.status == "success"
        result.replay_escalations += len(ran) > 1
        return
    result.routes["->".join(t.value for t in route)] += 1
    usage = Usage(
        first.input_tokens,
        first.output_tokens,
        first.cache_write_5m_tokens,
        first.cache_write_1h_tokens,
        first.cache_read_tokens,
        batch=bool(first.flags & FLAG_BATCH),
        fast=bool(first.flags & FLAG_FAST),
    )
    reach = Fraction(1)
    for step, tier in enumerate(route):
        model = first.model if tier.value == first.tier else catalog.default_for(tier).id
        cost = catalog.cost(model, usage, at=first.ts).exact
        success = rates.success(first.agent, first.task_type, tier, result.assumed)
        result.replay_cost += reach * Fraction(cost)
        result.replay_escalations += reach if step else 0
        reach *= 1 - success
    result.replay_ok += 1 - reach


@dataclass(slots=True)
class _Rates:
    counts: dict[tuple[str, str, Tier], Beta]

    def success(self, agent: str, task_type: str | None, tier: Tier, assumed: set[str]) -> Fraction:
        for key in (("type", task_type or "", tier), ("agent", agent, tier)):
            beta = self.counts.get(key)
            if beta is not None and beta.n >= MIN_RUNS:
                return beta.mean
        assumed.add(f"{task_type or agent} on {tier}")
        return Fraction(DEFAULT_SUCCESS[tier])


def _evidence(ledger: Ledger, filters: Filters) -> dict[tuple[str, str, Tier], Beta]:
    """Successes and failures per (task type, tier) and (agent, tier); errors left out."""
    counts: dict[tuple[str, str, Tier], list[int]] = defaultdict(lambda: [0, 0])
    for o in outcomes(ledger, filters):
        tier = Tier.parse(o.tier)
        for key in (("type", o.task_type, tier), ("agent", o.agent, tier)):
            counts[key][0] += o.successes
            counts[key][1] += o.failures
    return {key: Beta(ok, bad) for key, (ok, bad) in counts.items()}
