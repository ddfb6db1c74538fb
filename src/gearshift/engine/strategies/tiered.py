"""Tiered execution: start on the cheapest suitable tier, validate, escalate one tier on failure.

The failure's evidence goes into the next attempt's prompt; escalation only goes up and stops at
the job's ``ladder_top``. There, with nowhere left to escalate, the job retries the top tier
``options["top_retries"]`` times (default 1) with the evidence before it gives up: a strong model
told what its first answer got wrong usually fixes it, and failing the whole job (and skipping its
dependents) costs more than one call. A provider error (after the retry loop gave up) ends the job
with its reason rather than paying a bigger model to hit the same outage.
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
    top_retries = max(0, int(job.options.get("top_retries", 1)))
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
        evidence = f"validation failed on {tier}: {attempt.evidence[:200]}".rstrip(": ")
        if up is None or up > job.ladder_top:
            if top_retries == 0:
                break
            top_retries -= 1
            reason = f"{evidence} (top of the ladder: retry with the evidence)"
            prompt = retry_prompt(plan.prompt, attempt)
            continue
        reason = evidence
        ctx.stats.escalations += 1
        tier, prompt = up, retry_prompt(plan.prompt, attempt)
    return close(job.id, plan, attempts, attempts[-1])
