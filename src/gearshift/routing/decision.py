"""A routing decision and the record of how it was reached.

Every policy in the chain leaves one :class:`PolicyStep`, whether it decided the tier, adjusted
it or passed, with the inputs it looked at and its reason in words. The decision therefore
answers "why is this task on Opus?" without re-running anything, and the same record can be
stored in the ledger next to the execution it routed.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NamedTuple

from gearshift.catalog.tiers import Tier
from gearshift.routing.rubric import Assessment

__all__ = ["Action", "PolicyStep", "RouteDecision"]


class Action(enum.Enum):
    """What a policy did: set the tier, move a tier already set, or nothing."""

    DECIDE = "decide"
    ADJUST = "adjust"
    PASS = "pass"


class PolicyStep(NamedTuple):
    """One policy's part in a decision. ``tier`` is the tier after the step (``None`` while
    no policy has decided). A named tuple: steps are made on every route, so they are cheap."""

    policy: str
    action: Action
    reason: str
    tier: Tier | None = None
    inputs: Mapping[str, Any] = MappingProxyType({})

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "action": self.action.value,
            "tier": self.tier.value if self.tier else None,
            "inputs": dict(self.inputs),
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """Where a task goes — tier and concrete model — and every step that led there.

    ``assessment`` holds the rubric scores with their evidence (``None`` only when the router
    was told not to assess tasks that other policies already decided). ``decided_by`` names the
    policy that set the tier; later policies may have adjusted it. ``p_success`` is the learned
    predictor's chance of passing on each tier (``None`` for a tier it knows nothing about), when
    the chain has a trained ``learned`` policy.
    """

    tier: Tier
    model: str
    assessment: Assessment | None
    steps: tuple[PolicyStep, ...]
    decided_by: str
    task_id: str | None = None
    agent: str | None = None
    p_success: Mapping[Tier, float | None] | None = None

    @property
    def reasons(self) -> list[str]:
        """The reasons of the steps that decided or adjusted, in chain order."""
        return [f"{s.policy}: {s.reason}" for s in self.steps if s.action is not Action.PASS]

    @property
    def adjusted(self) -> bool:
        return any(s.action is Action.ADJUST for s in self.steps)

    def to_dict(self) -> dict[str, Any]:
        a = self.assessment
        return {
            "id": self.task_id,
            "agent": self.agent,
            "tier": self.tier.value,
            "model": self.model,
            "decided_by": self.decided_by,
            "scores": a.scores.to_dict() if a else None,
            "assessment": a.to_dict() if a else None,
            "p_success": self.p_success_dict(),
            "reasons": self.reasons,
            "steps": [s.to_dict() for s in self.steps],
        }

    def p_success_dict(self) -> dict[str, float | None] | None:
        """``{"haiku": p, "sonnet": p, "opus": p}`` (rounded to 4 places), or ``None``."""
        if self.p_success is None:
            return None
        return {
            t.value: (round(v, 4) if v is not None else None) for t, v in self.p_success.items()
        }
