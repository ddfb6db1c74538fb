"""Confidence-based escalation: the model states its confidence; high is accepted, middling is
reviewed by the next tier (which accepts or revises), low is regenerated on the next tier.

Thresholds come from ``job.options`` (``accept``, default 0.9; ``review``, default 0.6). When the
job also has validators, an accepted answer must pass them too, and a failure escalates like a
low confidence.
"""

from __future__ import annotations

import re

from gearshift.engine.context import RunContext
from gearshift.engine.job import Attempt, Job, JobOutcome
from gearshift.engine.strategies.base import Plan, close

ASK = (
    "\n\nAt the end of your answer, on its own line, state how confident you are that it is "
    "correct and complete, as `confidence: <a number from 0 to 1>`."
)
_VERDICT = re.compile(r"verdict\s*[:=]\s*\**\s*(accept|approve|pass|revise|reject|fail)", re.I)


async def run(ctx: RunContext, job: Job, plan: Plan) -> JobOutcome:
    from gearshift.engine.validators import parse_confidence

    accept = float(job.options.get("accept", 0.9))
    review = float(job.options.get("review", 0.6))
    first = await ctx.call(
        job,
        plan.tier,
        plan.prompt + ASK,
        number=1,
        chain_id=plan.chain_id,
        strategy="confidence",
        complexity=plan.complexity,
    )
    attempts = [first]
    if first.status == "error":
        return close(job.id, plan, attempts, None)
    stated = parse_confidence(first.text)
    up = plan.tier.up()
    if up is not None and up > job.ladder_top:
        up = None
    if (stated is not None and stated >= accept and first.status == "success") or up is None:
        return close(job.id, plan, attempts, first)
    shown = "none stated" if stated is None else f"{stated:.2f}"
    if stated is not None and stated >= review and first.status == "success":
        reason = f"confidence {shown} in [{review}, {accept}): review on {up}"
        ctx.stats.escalations += 1
        checked = await ctx.call(
            job,
            up,
            _review_prompt(plan.prompt, first.text),
            number=2,
            chain_id=plan.chain_id,
            strategy="confidence",
            role="review",
            escalation_reason=reason,
            validate=False,
            complexity=plan.complexity,
        )
        attempts.append(checked)
        if checked.status == "error":
            return close(job.id, plan, attempts, None)
        verdict = _VERDICT.search(checked.text)
        if verdict and verdict.group(1).lower() in ("accept", "approve", "pass"):
            return close(job.id, plan, attempts, first)
        revised = checked.text[verdict.end() :].strip() if verdict else checked.text
        final = Attempt(3, up, checked.model, text=revised or checked.text, role="revision")
        return close(job.id, plan, attempts, final)
    low = "failed validation" if first.status == "failure" else f"confidence {shown} < {review}"
    reason = f"{low}: regenerate on {up}"
    ctx.stats.escalations += 1
    again = await ctx.call(
        job,
        up,
        plan.prompt,
        number=2,
        chain_id=plan.chain_id,
        strategy="confidence",
        role="regenerate",
        escalation_reason=reason,
        complexity=plan.complexity,
    )
    attempts.append(again)
    return close(job.id, plan, attempts, again)


def _review_prompt(task: str, answer: str) -> str:
    return (
        f"You are reviewing another model's answer.\n\nTask:\n{task}\n\nAnswer:\n{answer}\n\n"
        "If the answer is correct and complete, reply `verdict: accept`. Otherwise reply "
        "`verdict: revise` followed by the corrected answer."
    )
