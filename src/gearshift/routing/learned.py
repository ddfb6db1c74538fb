"""The ``learned`` policy: start each task on the tier with the lowest expected true cost.

For each tier ``t`` with a predicted chance of passing ``p(t)`` (:class:`~.predictor.Predictor`)
and a token cost ``c(t)`` (the catalog's price of the task's tokens on the tier's default model)::

    expected(t) = c(t) + (1 - p(t)) * (failure_cost + c(next tier up))

-- a failed attempt costs its rework (``failure_cost``: review, delay, a person's time) and the
escalation the tiered strategy then pays (at the top tier, a retry there). The policy takes the
tier with the lowest expected cost among those with ``p(t) >= min_p`` (when none reaches the
floor, the tier most likely to pass). **The one knob is ``failure_cost``**, in dollars: what a
failure costs you beyond its tokens, which is also what you are willing to pay for one more
point of success probability. At $0 the cheapest tier above the floor wins; as it grows,
routing buys reliability wherever the predictor says it is cheap to buy.

It falls back to the rubric (passes, and says why) when the evidence is thin: fewer than
``min_evidence`` known outcomes for the task's agent and for its type, or fewer than two tiers
with predictions. And it explores: with probability ``explore`` a task that did not get the
bottom tier is considered for the tier below; a Thompson draw from the Beta posterior of that
tier's pass rate in the task's group decides, by the same cost rule, whether to try it (so a
cheaper tier that started to work is noticed). ``rng`` is injectable for tests.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from gearshift.catalog import Catalog, Tier, Usage
from gearshift.errors import ConfigError
from gearshift.routing.context import RouteContext
from gearshift.routing.features import TaskText
from gearshift.routing.predictor import TIERS, GroupEvidence, Predictor
from gearshift.routing.task import Task

if TYPE_CHECKING:
    import numpy as np

__all__ = ["LearnedPolicy", "choose_tier", "choose_tiers", "expected_costs", "task_text"]

DEFAULT_OUTPUT_TOKENS = 1000


def task_text(task: Task) -> TaskText:
    return TaskText(task.text, task.agent, task.type)


def expected_costs(
    cost: Sequence[float], p: Sequence[float | None], failure_cost: float, *, escalate: bool = True
) -> list[float | None]:
    """``c(t) + (1 - p(t)) * (failure_cost + c(up))`` per tier (``None`` where ``p`` is);
    ``escalate=False`` leaves out the escalation (a one-shot routing)."""
    out: list[float | None] = []
    top = len(cost) - 1
    for i, (c, pi) in enumerate(zip(cost, p, strict=True)):
        if pi is None:
            out.append(None)
            continue
        up = cost[min(i + 1, top)] if escalate else 0.0
        out.append(c + (1.0 - pi) * (failure_cost + up))
    return out


def choose_tier(
    cost: Sequence[float],
    p: Sequence[float | None],
    *,
    failure_cost: float,
    min_p: float,
    escalate: bool = True,
) -> int:
    """The rank of the tier with the least expected cost among those with ``p >= min_p``
    (ties: the cheaper tier); when none reaches ``min_p``, the most likely to pass."""
    costs = expected_costs(cost, p, failure_cost, escalate=escalate)
    if all(v is None for v in p):
        raise ConfigError("no tier has a prediction to choose from")
    probs = {i: v for i, v in enumerate(p) if v is not None}
    feasible = [i for i in probs if probs[i] >= min_p]
    if not feasible:
        return max(probs, key=lambda i: (probs[i], -i))
    return min(feasible, key=lambda i: (costs[i] or 0.0, i))


def choose_tiers(
    cost: np.ndarray, p: np.ndarray, *, failure_cost: float, min_p: float, escalate: bool = True
) -> np.ndarray:
    """:func:`choose_tier` for many tasks at once (``(n, 3)`` arrays, every tier known)."""
    import numpy as np

    up = np.concatenate([cost[:, 1:], cost[:, -1:]], axis=1) if escalate else 0.0
    expected = cost + (1.0 - p) * (failure_cost + up)
    feasible = p >= min_p
    masked = np.where(feasible, expected, np.inf)
    chosen = np.argmin(masked, axis=1)  # argmin takes the first (cheaper) tier on ties
    best = np.argmax(p, axis=1)
    out: np.ndarray = np.where(feasible.any(axis=1), chosen, best)
    return out


@dataclass(slots=True)
class LearnedPolicy:
    """See the module docstring. ``failure_cost_usd`` is the knob; ``min_p`` the floor."""

    predictor: Predictor
    catalog: Catalog
    failure_cost_usd: Decimal = Decimal("0.10")
    min_p: float = 0.5
    min_evidence: int = 30
    explore: float = 0.05
    rng: random.Random = field(default_factory=random.Random)
    name: str = "learned"
    _ready: dict[int, tuple[Task, dict[Tier, float | None]]] = field(
        default_factory=dict, repr=False
    )

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_p <= 1.0:
            raise ConfigError(f"min_p must be from 0 to 1, not {self.min_p}")
        if not 0.0 <= self.explore <= 1.0:
            raise ConfigError(f"the exploration share must be from 0 to 1, not {self.explore}")
        if self.failure_cost_usd < 0:
            raise ConfigError("the failure cost must not be negative")

    def prepare(self, tasks: Sequence[Task]) -> None:
        """Predict ``tasks`` in one batch (much cheaper per task than one at a time); the next
        :meth:`apply` of each of them uses the prediction (predictions of an earlier batch that
        were never routed are dropped)."""
        self._ready.clear()
        for task, p in zip(
            tasks, self.predictor.predict([task_text(t) for t in tasks]), strict=True
        ):
            self._ready[id(task)] = (task, p)

    def p_success(self, task: Task) -> dict[Tier, float | None]:
        ready = self._ready.pop(id(task), None)
        if ready is not None and ready[0] is task:
            return ready[1]
        return self.predictor.predict([task_text(task)])[0]

    def token_costs(self, task: Task) -> list[float]:
        """Dollars of the task's tokens on each tier's default model: its input estimate and
        the mean output the training outcomes of that tier produced."""
        tiers = self.predictor.meta.get("summary", {}).get("tiers", {})
        out = []
        for tier in TIERS:
            mean_out = (tiers.get(tier.value) or {}).get("mean_output_tokens")
            usage = Usage(task.tokens, int(mean_out or DEFAULT_OUTPUT_TOKENS))
            out.append(self.catalog.cost(self.catalog.default_for(tier), usage).nanos / 1e9)
        return out

    def apply(self, ctx: RouteContext) -> None:
        p = self.p_success(ctx.task)
        ctx.p_success = p
        if ctx.tier is not None:
            ctx.skip(self.name, f"already decided by {ctx.decided_by}", _shown(p))
            return
        row = task_text(ctx.task)
        evidence = self.predictor.evidence(row)
        thin = self._thin(p, evidence)
        if thin is not None:
            ctx.skip(self.name, f"{thin}; the rubric decides", _shown(p))
            return
        cost = self.token_costs(ctx.task)
        failure = float(self.failure_cost_usd)
        chosen = TIERS[
            choose_tier(cost, [p[t] for t in TIERS], failure_cost=failure, min_p=self.min_p)
        ]
        inputs: dict[str, Any] = {
            **_shown(p),
            "failure_cost_usd": str(self.failure_cost_usd),
            "min_p": self.min_p,
        }
        explored = self._explore(chosen, p, cost, evidence)
        if explored is not None:
            lower, draw, group = explored
            inputs["explore"] = {"tier": lower.value, "draw": round(draw, 3), "group": group.key}
            ctx.decide(
                self.name,
                lower,
                f"exploring one tier down: a draw of {draw:.2f} from {group.key}'s "
                f"{lower} posterior makes it the cheaper start (the model says {chosen})",
                inputs,
            )
            return
        reason = ", ".join(f"{t} {v:.0%}" for t in TIERS if (v := p[t]) is not None)
        ctx.decide(
            self.name,
            chosen,
            f"lowest expected cost at a ${self.failure_cost_usd} failure cost (P(pass): {reason})",
            inputs,
        )

    def _thin(self, p: dict[Tier, float | None], evidence: list[GroupEvidence]) -> str | None:
        if sum(v is not None for v in p.values()) < 2:
            return "the model knows fewer than two tiers"
        best = max(evidence, key=lambda g: g.total)
        if best.total < self.min_evidence:
            names = " or ".join(g.key for g in evidence)
            return (
                f"evidence is thin: {best.total} known outcomes for {names} (< {self.min_evidence})"
            )
        return None

    def _explore(
        self,
        chosen: Tier,
        p: dict[Tier, float | None],
        cost: list[float],
        evidence: list[GroupEvidence],
    ) -> tuple[Tier, float, GroupEvidence] | None:
        lower = chosen.down()
        if lower is None or p[lower] is None or self.rng.random() >= self.explore:
            return None
        group = max(evidence, key=lambda g: g.trials[lower.rank])
        s, n = group.successes[lower.rank], group.trials[lower.rank]
        draw = self.rng.betavariate(1 + s, 1 + n - s)
        trial = dict(p)
        trial[lower] = draw
        again = TIERS[
            choose_tier(
                cost,
                [trial[t] for t in TIERS],
                failure_cost=float(self.failure_cost_usd),
                min_p=self.min_p,
            )
        ]
        return (lower, draw, group) if again <= lower else None


def _shown(p: dict[Tier, float | None]) -> dict[str, Any]:
    return {"p_success": {t.value: (round(v, 4) if v is not None else None) for t, v in p.items()}}
