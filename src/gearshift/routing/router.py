"""The router: runs a chain of policies over a task and returns a recorded decision.

:func:`default_chain` builds the chain the article implies (see :mod:`.policies`); pass your own
list of policies to reorder, drop or add links. :meth:`Router.route` is synchronous and cheap
(the hot path: no I/O, no model calls); :meth:`Router.aroute` first awaits an asynchronous
assessor, such as the LLM judge, when the task carries no scores, then routes the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from gearshift.catalog import Catalog, Tier
from gearshift.routing.context import RouteContext
from gearshift.routing.decision import RouteDecision
from gearshift.routing.policies import (
    AgentModelPolicy,
    BudgetPolicy,
    ComplexityPolicy,
    EscalationFloorPolicy,
    LoadPolicy,
    ObjectivePolicy,
    OverridePolicy,
    Policy,
    SessionMemory,
    StickyPolicy,
)
from gearshift.routing.rubric import DIMENSIONS, Assessment, Rubric
from gearshift.routing.rules import RuleSet, RulesPolicy
from gearshift.routing.task import Task
from gearshift.routing.zeroshot import default_estimator

if TYPE_CHECKING:
    from gearshift.agents.definition import AgentDefinition
    from gearshift.routing.assessor import Assessor, TextEstimator

__all__ = ["Router", "default_chain"]

_GIVEN = dict.fromkeys(DIMENSIONS, ("given with the task",))


def default_chain(
    catalog: Catalog,
    *,
    rules: RuleSet | None = None,
    load: LoadPolicy | None = None,
    over_budget: Callable[[Task], bool] | None = None,
    budget_floor: Tier = Tier.HAIKU,
    memory: SessionMemory | None = None,
    learned: Policy | None = None,
) -> list[Policy]:
    """override, sticky, agent, [rules], [learned], complexity, objective, load, [budget],
    escalation. ``learned`` is a :class:`~gearshift.routing.learned.LearnedPolicy` (or any
    policy to run just before the rubric)."""
    chain: list[Policy] = [
        OverridePolicy(catalog),
        StickyPolicy(memory if memory is not None else SessionMemory()),
        AgentModelPolicy(catalog),
    ]
    if rules is not None:
        chain.append(RulesPolicy(rules))
    if learned is not None:
        chain.append(learned)
    chain += [ComplexityPolicy(), ObjectivePolicy(), load if load is not None else LoadPolicy()]
    if over_budget is not None:
        chain.append(BudgetPolicy(over_budget, floor=budget_floor))
    chain.append(EscalationFloorPolicy())
    return chain


class Router:
    """Routes tasks through ``policies`` (default: :func:`default_chain`).

    ``agents`` maps names to definitions (an :class:`~gearshift.agents.AgentSet` works).
    ``always_assess`` puts rubric scores on every decision, even when an override decided
    (the estimator is cheap, and the scores explain whether the override was wise).
    ``default_tier`` applies only if no policy decides (a chain without ``complexity``).
    ``estimator`` scores tasks that carry neither scores nor a label: by default the learned
    zero-shot estimator (:func:`~gearshift.routing.zeroshot.default_estimator`), which beats the
    keyword estimator on tasks phrased by other people; pass ``KeywordEstimator()`` for the
    cue tables.
    """

    def __init__(
        self,
        catalog: Catalog,
        *,
        agents: Mapping[str, AgentDefinition] | None = None,
        policies: Sequence[Policy] | None = None,
        rubric: Rubric | None = None,
        estimator: TextEstimator | None = None,
        assessor: Assessor | None = None,
        always_assess: bool = True,
        default_tier: Tier = Tier.SONNET,
    ) -> None:
        self.catalog = catalog
        self.agents: Mapping[str, AgentDefinition] = agents if agents is not None else {}
        self.policies: tuple[Policy, ...] = tuple(
            policies if policies is not None else default_chain(catalog)
        )
        self.rubric = rubric or Rubric()
        self.estimator = estimator or default_estimator()
        self.assessor = assessor
        self.always_assess = always_assess
        self.default_tier = default_tier
        self._settlers = [p for p in self.policies if isinstance(p, StickyPolicy)]
        self._preparers: list[Any] = [p for p in self.policies if hasattr(p, "prepare")]

    def route(
        self,
        task: Task,
        *,
        queue_depth: int | None = None,
        assessment: Assessment | None = None,
    ) -> RouteDecision:
        """Decide ``task``'s tier and model. ``assessment`` overrides the task's own scores
        (it is how :meth:`aroute` hands over an asynchronous assessor's result)."""
        agent = self.agents.get(task.agent) if task.agent is not None else None
        ctx = RouteContext(
            task,
            agent,
            self.rubric,
            self._assess,
            queue_depth=queue_depth,
            assessment=assessment,
        )
        for policy in self.policies:
            policy.apply(ctx)
        tier = ctx.tier
        if tier is None:
            tier = self.default_tier
            ctx.decide("default", tier, f"no policy decided; default {tier}")
        model = ctx.model or self.catalog.default_for(tier).id
        for sticky in self._settlers:
            sticky.settle(task, tier, model)
        a = ctx.assessment() if self.always_assess else ctx.peek_assessment()
        return RouteDecision(
            tier,
            model,
            a,
            tuple(ctx.steps),
            ctx.decided_by or "default",
            task.id,
            task.agent,
            ctx.p_success,
        )

    async def aroute(self, task: Task, *, queue_depth: int | None = None) -> RouteDecision:
        """Like :meth:`route`, assessing unscored tasks with the configured async assessor."""
        assessment = None
        if self.assessor is not None and task.scores is None and task.complexity is None:
            agent = self.agents.get(task.agent) if task.agent is not None else None
            assessment = await self.assessor.assess(
                task.text,
                role=agent.role if agent else "",
                description=agent.description if agent else "",
            )
        return self.route(task, queue_depth=queue_depth, assessment=assessment)

    def route_many(self, tasks: Iterable[Task], **kwargs: Any) -> list[RouteDecision]:
        """Route every task; policies with a ``prepare(tasks)`` method (the learned policy's
        batch prediction) see the whole list first."""
        tasks = list(tasks)
        for policy in self._preparers:
            policy.prepare(tasks)
        return [self.route(task, **kwargs) for task in tasks]

    def _assess(self, ctx: RouteContext) -> Assessment:
        task = ctx.task
        if task.scores is not None:
            return Assessment(task.scores, "given", _GIVEN)
        if task.complexity is not None:
            return Assessment.from_label(task.complexity)
        agent = ctx.agent
        if agent is None:
            return self.estimator.estimate(task.text)
        return self.estimator.estimate(task.text, role=agent.role, description=agent.description)
