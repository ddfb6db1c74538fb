"""Single call: one attempt on the routed tier, validated when the job has validators."""

from __future__ import annotations

from gearshift.engine.context import RunContext
from gearshift.engine.job import Attempt, Job, JobOutcome
from gearshift.engine.run_state import FinishedJob
from gearshift.engine.strategies.base import Plan, close


async def run(ctx: RunContext, job: Job, plan: Plan) -> JobOutcome:
    def finished(attempt: Attempt | None) -> FinishedJob | None:
        if attempt is None or attempt.status != "success":
            return None
        return FinishedJob(
            job.id, "succeeded", attempt.text, attempt.cost_nanos, attempt.tier.value
        )

    attempt = await ctx.call(
        job,
        plan.tier,
        plan.prompt,
        number=1,
        chain_id=plan.chain_id,
        strategy="single",
        complexity=plan.complexity,
        mark=finished,
    )
    outcome = close(job.id, plan, [attempt], attempt)
    outcome.marked = outcome.status == "succeeded"
    return outcome
