"""What every strategy shares: the plan it is handed and how an outcome is closed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gearshift.catalog import Tier
from gearshift.engine.job import Attempt, JobOutcome

if TYPE_CHECKING:
    from gearshift.routing.decision import RouteDecision

__all__ = ["Plan", "close", "retry_prompt"]


@dataclass(frozen=True, slots=True)
class Plan:
    """The routed start of a job: its decision, starting tier, prompt and complexity score.

    ``progress`` is where an earlier session of the run stopped the job's chain (saved with its
    last attempt; ``chain_id`` is then that chain's): a strategy that can, continues from there.
    """

    decision: RouteDecision
    prompt: str
    chain_id: str
    progress: Mapping[str, Any] | None = None

    @property
    def tier(self) -> Tier:
        return self.decision.tier

    @property
    def complexity(self) -> int | None:
        a = self.decision.assessment
        return a.scores.total if a is not None else None


def close(job_id: str, plan: Plan, attempts: list[Attempt], output: Attempt | None) -> JobOutcome:
    """The outcome of ``attempts``: succeeded when ``output`` passed, else how the last ended."""
    outcome = JobOutcome(job_id, "succeeded", attempts, route=plan.decision, chain_id=plan.chain_id)
    if output is not None and output.status == "success":
        outcome.output = output.text
        outcome.reason = f"accepted on {output.tier}"
        return outcome
    last = attempts[-1] if attempts else None
    if last is None:
        outcome.status, outcome.reason = "error", "no attempt was made"
    elif last.status == "error":
        outcome.status, outcome.reason = "error", last.error or "provider error"
    else:
        outcome.status = "failed"
        outcome.reason = (
            f"validation failed on {last.tier} (top of the ladder): {last.evidence[:200]}"
        )
        outcome.output = last.text
    return outcome


def retry_prompt(prompt: str, failed: Attempt | str) -> str:
    """The next attempt's prompt: the task plus the evidence of why the last one failed (an
    attempt, or its evidence as saved with a chain's progress)."""
    evidence = (failed if isinstance(failed, str) else failed.evidence).strip()
    evidence = evidence or "it did not pass validation"
    return (
        f"{prompt}\n\nA previous attempt on a smaller model was rejected. What the check "
        f"reported:\n{evidence[:2000]}\nProduce a corrected, complete answer."
    )
