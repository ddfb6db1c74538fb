"""Tiered execution: start on the cheapest suitable tier, validate, escalate one tier on failure.

The failure's evidence goes into the next attempt's prompt; escalation only goes up and stops at
the job's ``ladder_top``. There, with nowhere left to escalate, the job retries the top tier
``options["top_retries"]`` times (default 1) with the evidence before it gives up: a strong model
told what its first answer got wrong usually fixes it, and failing the whole job (and skipping its
dependents) costs more than one call. A provider error (after the retry loop gave up) ends the job
with its reason rather than paying a bigger model to hit the same outage.

**Resuming.** Every attempt's row commits with the job's state (:class:`Chain`, as ``progress``):
finished, or where the chain goes next -- tier, attempt number, the evidence for the prompt, the
top retries left. A run resumed after a crash, a ``kill -9`` or a provider outage continues each
interrupted chain from there, in the same chain, and never pays again for the cheaper attempts
that already failed. A chain that failed at the top of its ladder starts afresh (the user re-runs
it after fixing the cause).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from gearshift.catalog import Tier
from gearshift.engine.context import Marker, RunContext
from gearshift.engine.job import Attempt, Job, JobOutcome
from gearshift.engine.run_state import FinishedJob
from gearshift.engine.strategies.base import Plan, close, retry_prompt

__all__ = ["Chain", "run"]

_EVIDENCE_CHARS = 2000


@dataclass(frozen=True, slots=True)
class Chain:
    """Where a tiered chain stands before its next attempt."""

    tier: Tier
    chain_id: str = ""
    number: int = 1
    reason: str | None = None
    evidence: str | None = None
    top_retries: int = 1
    path: str = ""
    cost_nanos: int = 0

    @classmethod
    def start(cls, plan: Plan, job: Job) -> Chain:
        if plan.progress:
            chain = cls.from_progress(plan.progress)
            return replace(chain, chain_id=plan.chain_id)
        top_retries = max(0, int(job.options.get("top_retries", 1)))
        return cls(plan.tier, plan.chain_id, top_retries=top_retries)

    @classmethod
    def from_progress(cls, progress: Mapping[str, Any]) -> Chain:
        return cls(
            Tier.parse(str(progress["tier"])),
            str(progress.get("chain_id", "")),
            int(progress["number"]),
            progress.get("reason"),
            progress.get("evidence"),
            int(progress.get("top_retries", 0)),
            str(progress.get("path", "")),
            int(progress.get("cost_nanos", 0)),
        )

    def to_progress(self) -> dict[str, Any]:
        return {
            "strategy": "tiered",
            "tier": self.tier.value,
            "chain_id": self.chain_id,
            "number": self.number,
            "reason": self.reason,
            "evidence": self.evidence,
            "top_retries": self.top_retries,
            "path": self.path,
            "cost_nanos": self.cost_nanos,
        }

    def prompt(self, base: str) -> str:
        return base if self.evidence is None else retry_prompt(base, self.evidence)

    def recorded(self, attempt: Attempt) -> Chain:
        """This chain with ``attempt`` paid for."""
        path, cost = self._paid(attempt)
        return Chain(self.tier, self.chain_id, self.number, self.reason, self.evidence,
                     self.top_retries, path, cost)  # fmt: skip

    def _paid(self, attempt: Attempt) -> tuple[str, int]:
        """The tier path and cost of this chain once ``attempt`` is paid for."""
        tier = attempt.tier.value
        if not self.path:
            path = tier
        elif self.path == tier or self.path.endswith(" -> " + tier):
            path = self.path
        else:
            path = f"{self.path} -> {tier}"
        return path, self.cost_nanos + attempt.cost_nanos

    def after_failure(self, attempt: Attempt, job: Job) -> Chain | None:
        """The next step after ``attempt`` failed validation (this chain with it paid for):
        one tier up, or the top again with the evidence; ``None`` when nothing is left."""
        evidence = f"validation failed on {self.tier}: {attempt.evidence[:200]}".rstrip(": ")
        up = self.tier.up()
        kept = attempt.evidence[:_EVIDENCE_CHARS]
        if up is None or up > job.ladder_top:
            if self.top_retries == 0:
                return None
            reason = f"{evidence} (top of the ladder: retry with the evidence)"
            return Chain(self.tier, self.chain_id, self.number + 1, reason, kept,
                         self.top_retries - 1, self.path, self.cost_nanos)  # fmt: skip
        return Chain(up, self.chain_id, self.number + 1, evidence, kept, self.top_retries,
                     self.path, self.cost_nanos)  # fmt: skip

    def state(self, job: Job, attempt: Attempt | None) -> FinishedJob:
        """The job's state once ``attempt`` is in the ledger (committed with its row); with
        ``None``, while this chain's attempt is under way (one of its HTTP attempts is being
        retried): a resume makes the same attempt, in the same chain."""
        if attempt is None:
            return FinishedJob(
                job.id, "running", None, self.cost_nanos, self.path, self.to_progress()
            )
        path, cost = self._paid(attempt)
        if attempt.status == "success":
            return FinishedJob(job.id, "succeeded", attempt.text, cost, path)
        paid = self.recorded(attempt)
        if attempt.status == "error":  # a resume tries this tier again
            why = f"resumed after {attempt.error or 'a provider error'}"[:300]
            again = Chain(self.tier, self.chain_id, self.number + 1, why, self.evidence,
                          self.top_retries, path, cost)  # fmt: skip
            return FinishedJob(job.id, "error", None, cost, path, again.to_progress())
        step = paid.after_failure(attempt, job)
        if step is None:
            return FinishedJob(job.id, "failed", attempt.text, cost, path)
        return FinishedJob(job.id, "running", None, cost, path, step.to_progress())


def _marker(chain: Chain, job: Job) -> Marker:
    return lambda attempt: chain.state(job, attempt)


async def run(ctx: RunContext, job: Job, plan: Plan) -> JobOutcome:
    chain = Chain.start(plan, job)
    attempts: list[Attempt] = []
    while True:
        current = chain
        attempt = await ctx.call(
            job,
            current.tier,
            current.prompt(plan.prompt),
            number=current.number,
            chain_id=plan.chain_id,
            strategy="tiered",
            escalation_reason=current.reason,
            complexity=plan.complexity,
            mark=_marker(current, job),
        )
        attempts.append(attempt)
        if attempt.status != "failure":
            break
        step = current.recorded(attempt).after_failure(attempt, job)
        if step is None:
            break
        if step.tier is not current.tier:
            ctx.stats.escalations += 1
        chain = step
    outcome = close(job.id, plan, attempts, attempts[-1])
    outcome.marked = True
    return outcome
