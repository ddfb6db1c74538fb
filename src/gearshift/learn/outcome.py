"""One known outcome: a task, the tier it ran on, and how well it did (0..1)."""

from __future__ import annotations

from dataclasses import dataclass

from gearshift.catalog.tiers import Tier
from gearshift.routing.features import TaskText

__all__ = ["Outcome"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """``score`` is 1 for a pass, 0 for a failure, or a graded score in between; a task counts
    as passed when ``score >= 0.5``. ``cost_nanos`` is exact integer nano-dollars (``None``
    when unknown). ``chain_id`` links the attempts of one escalation chain."""

    task: str
    tier: Tier
    score: float
    agent: str | None = None
    task_type: str | None = None
    model: str | None = None
    cost_nanos: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    ts_us: int = 0
    chain_id: str | None = None
    source: str = "import"

    @property
    def passed(self) -> bool:
        return self.score >= 0.5

    @property
    def key(self) -> TaskText:
        """The task as the predictor sees it (outcomes with equal keys are one task)."""
        return TaskText(self.task, self.agent, self.task_type)
