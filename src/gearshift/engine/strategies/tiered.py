"""Tiered execution: start on the cheapest suitable tier, validate, escalate one tier on failure.

The failure's evidence goes into the next attempt's prompt; escalation only goes up and stops at
the job's ``ladder_top``. A provider error (after the retry loop gave up) ends the job with its
reason rather than paying a bigger model to hit the same outage.
"""

from __future__ import annotations

from gearshift.engine.context import RunContext
from gearshift.engine.job import Attempt, Job, JobOutcome
from gearshift.engine.strategies.base import Plan, close, retry_prompt


async def run(ctx: RunContext, job: Job, plan: Plan) -> JobOutcome:
    tier = plan.tier
    prompt = plan.prompt
    attempts: list[Attempt] = []
    reason: str | None = None
    while True:
        attempt = await ctx.call(
            job,
            tier,
            prompt,
            number=len(attempts) + 1,
            chain_id=plan.chain_id,
            strategy="tiered",
            escalation_reason=reason,
            complexity=plan.complexity,
        )
        attempts.append(attempt)
        if attempt.status != "failure":
            break
        up = tier.up()
        if up is None or up > job.ladder_top:
            break
        reason = f"validation failed on {tier}: {attempt.evidence[:200]}".rstrip(": ")
        ctx.stats.escalations += 1
        tier, prompt = up, retry_prompt(plan.prompt, attempt)
    return close(job.id, plan, attempts, attempts[-1])
