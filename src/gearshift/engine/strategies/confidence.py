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
from gearshift.engine.run_state import FinishedJob
from gearshift.engine.strategies.base import Plan, close

ASK = (
    "\n\nAt the end of your answer, on its own line, state how confident you are that it is "
    "correct and complete, as `confidence: <a number from 0 to 1>`."
)
_VERDICT = re.compile(r"verdict\s*[:=]\s*\**\s*(accept|approve|pass|revise|reject|fail)", re.I)


def _finished(job: Job, earlier: list[Attempt], last: Attempt, output: str) -> FinishedJob:
    attempts = [*earlier, last]
    path = " -> ".join(dict.fromkeys(a.tier.value for a in attempts))
    return FinishedJob(job.id, "succeeded", output, sum(a.cost_nanos for a in attempts), path)


def _review_verdict(text: str) -> tuple[bool, str]:
    """(accepted, the revised answer) of a review's text."""
    verdict = _VERDICT.search(text)
    if verdict and verdict.group(1).lower() in ("accept", "approve", "pass"):
        return True, ""
    revised = text[verdict.end() :].strip() if verdict else text
    return False, revised or text


async def run(ctx: RunContext, job: Job, plan: Plan) -> JobOutcome:
    """See the module docstring; each attempt that settles the job commits its state."""
    from gearshift.engine.validators import parse_confidence

    accept = float(job.options.get("accept", 0.9))
    review = float(job.options.get("review", 0.6))
    up = plan.tier.up()
    if up is not None and up > job.ladder_top:
        up = None

    def accepted(attempt: Attempt) -> bool:
        stated = parse_confidence(attempt.text)
        high = stated is not None and stated >= accept and attempt.status == "success"
        return attempt.status != "error" and (high or up is None)

    def first_done(attempt: Attempt | None) -> FinishedJob | None:
        if attempt is not None and accepted(attempt) and attempt.status == "success":
            return _finished(job, [], attempt, attempt.text)
        return None

    first = await ctx.call(
        job,
        plan.tier,
        plan.prompt + ASK,
        number=1,
        chain_id=plan.chain_id,
        strategy="confidence",
        complexity=plan.complexity,
        mark=first_done,
    )
    attempts = [first]
    if first.status == "error":
        return close(job.id, plan, attempts, None)
    stated = parse_confidence(first.text)
    if accepted(first) or up is None:
        return _marked(close(job.id, plan, attempts, first))
    shown = "none stated" if stated is None else f"{stated:.2f}"
    if stated is not None and stated >= review and first.status == "success":
        reason = f"confidence {shown} in [{review}, {accept}): review on {up}"
        ctx.stats.escalations += 1

        def reviewed(attempt: Attempt | None) -> FinishedJob | None:
            if attempt is None or attempt.status == "error":
                return None
            ok, revised = _review_verdict(attempt.text)
            return _finished(job, [first], attempt, first.text if ok else revised)

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
            mark=reviewed,
        )
        attempts.append(checked)
        if checked.status == "error":
            return close(job.id, plan, attempts, None)
        ok, revised = _review_verdict(checked.text)
        if ok:
            return _marked(close(job.id, plan, attempts, first))
        final = Attempt(3, up, checked.model, text=revised, role="revision")
        return _marked(close(job.id, plan, attempts, final))
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
        mark=lambda a: _finished(job, [first], a, a.text) if a and a.status == "success" else None,
    )
    attempts.append(again)
    return _marked(close(job.id, plan, attempts, again))


def _marked(outcome: JobOutcome) -> JobOutcome:
    """Every way this strategy succeeds commits the job's state with the deciding attempt."""
    outcome.marked = outcome.status == "succeeded"
    return outcome


def _review_prompt(task: str, answer: str) -> str:
    return (
        f"You are reviewing another model's answer.\n\nTask:\n{task}\n\nAnswer:\n{answer}\n\n"
        "If the answer is correct and complete, reply `verdict: accept`. Otherwise reply "
        "`verdict: revise` followed by the corrected answer."
    )
