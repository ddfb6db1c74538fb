"""Single call: one attempt on the routed tier, validated when the job has validators."""

from __future__ import annotations

from gearshift.engine.context import RunContext
from gearshift.engine.job import Job, JobOutcome
from gearshift.engine.strategies.base import Plan, close


async def run(ctx: RunContext, job: Job, plan: Plan) -> JobOutcome:
    attempt = await ctx.call(
        job,
        plan.tier,
        plan.prompt,
        number=1,
        chain_id=plan.chain_id,
        strategy="single",
        complexity=plan.complexity,
    )
    return close(job.id, plan, [attempt], attempt)
