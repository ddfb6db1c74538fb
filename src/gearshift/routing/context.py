"""The working state of one routing decision, shared by the policies of a chain.

Policies read the task, its agent and the current tier from a :class:`RouteContext`, and record
what they did through :meth:`~RouteContext.decide`, :meth:`~RouteContext.adjust` or
:meth:`~RouteContext.skip` — each call appends exactly one :class:`PolicyStep`, so the decision
always carries the full chain. The complexity assessment is computed on first use only: a task
whose tier an override or a rule settles before anything reads its complexity costs no
assessment on the hot path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from gearshift.catalog.tiers import Tier
from gearshift.routing.decision import Action, PolicyStep
from gearshift.routing.rubric import Assessment, Rubric
from gearshift.routing.task import Task

if TYPE_CHECKING:
    from gearshift.agents.definition import AgentDefinition

__all__ = ["EMPTY", "RouteContext"]

#: An immutable empty mapping, shared by steps that have no inputs worth recording.
EMPTY: Mapping[str, Any] = MappingProxyType({})

# Steps are made several times per decision: build the named tuples directly (skipping the
# generated ``__new__`` wrapper) and look the actions up once.
_step = tuple.__new__
_DECIDE, _ADJUST, _PASS = Action.DECIDE, Action.ADJUST, Action.PASS


class RouteContext:
    """Mutable state of one decision; owned by one :meth:`Router.route` call."""

    __slots__ = (
        "_assess",
        "_assessment",
        "_label",
        "agent",
        "decided_by",
        "model",
        "p_success",
        "pinned",
        "queue_depth",
        "rubric",
        "steps",
        "task",
        "tier",
    )

    def __init__(
        self,
        task: Task,
        agent: AgentDefinition | None,
        rubric: Rubric,
        assess: Callable[[RouteContext], Assessment],
        *,
        queue_depth: int | None = None,
        assessment: Assessment | None = None,
    ) -> None:
        self.task = task
        self.agent = agent
        self.rubric = rubric
        self.queue_depth = queue_depth
        self.tier: Tier | None = None
        self.model: str | None = None
        self.pinned = False
        self.decided_by: str | None = None
        self.steps: list[PolicyStep] = []
        self.p_success: Mapping[Tier, float | None] | None = None
        self._assess = assess
        self._assessment = assessment
        self._label: str | None = None

    @property
    def assessed(self) -> bool:
        return self._assessment is not None

    def assessment(self) -> Assessment:
        """The task's rubric assessment (given scores, label or estimate), computed once."""
        if self._assessment is None:
            self._assessment = self._assess(self)
        return self._assessment

    def peek_assessment(self) -> Assessment | None:
        return self._assessment

    def complexity(self) -> str:
        """``low``/``medium``/``high``: the task's label, or the label of its scores' tier."""
        label = self._label
        if label is None:
            label = self._label = self.rubric.label_for(self.assessment()).value
        return label

    def decide(
        self,
        policy: str,
        tier: Tier,
        reason: str,
        inputs: Mapping[str, Any] = EMPTY,
        *,
        model: str | None = None,
        pin: bool = False,
    ) -> None:
        """Set the tier (and optionally an exact model id); ``pin`` forbids later adjustments
        other than escalation (explicit overrides and session continuations)."""
        self.tier = tier
        self.model = model
        self.decided_by = policy
        self.pinned = pin
        self.steps.append(_step(PolicyStep, (policy, _DECIDE, reason, tier, inputs)))

    def adjust(
        self, policy: str, tier: Tier, reason: str, inputs: Mapping[str, Any] = EMPTY
    ) -> None:
        """Move an already decided tier; an exact model id no longer applies."""
        self.tier = tier
        self.model = None
        self.steps.append(_step(PolicyStep, (policy, _ADJUST, reason, tier, inputs)))

    def skip(self, policy: str, reason: str, inputs: Mapping[str, Any] = EMPTY) -> None:
        """Record that ``policy`` looked and left the decision as it was."""
        self.steps.append(_step(PolicyStep, (policy, _PASS, reason, self.tier, inputs)))
