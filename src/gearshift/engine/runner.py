"""The engine: runs a set of jobs (a DAG by ``depends_on``) with bounded concurrency.

* Jobs become ready when every job they depend on succeeded; their dependencies' outputs are
  appended to their prompt (the hybrid pipeline's hand-over). A job whose dependency did not
  succeed is ``skipped`` with that reason.
* Ready jobs wait in a :class:`~gearshift.engine.queue.WorkQueue`; the router reads its depth
  for load-aware routing.
* Every finished job is saved under the run id -- by the strategies that can, in the same
  transaction as its last attempt's row. Running the same run id again skips jobs that already
  succeeded (reusing their outputs) and continues interrupted escalation chains where they
  stopped, so a crash or ``kill -9`` costs nothing twice.
* The report's cost is the ledger's for the run id: each job's is what earlier sessions recorded
  for it plus what this one did (retries and judges included).
* Cancellation (Ctrl-C) stops the workers; what finished is recorded, the rest is ``cancelled``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gearshift.catalog import Tier, Usage
from gearshift.engine.context import RunContext, RunStats
from gearshift.engine.job import Attempt, Job, JobOutcome
from gearshift.engine.queue import InProcessQueue, WorkQueue
from gearshift.engine.run_state import FinishedJob
from gearshift.engine.strategies import get_strategy
from gearshift.engine.strategies.base import Plan
from gearshift.errors import BudgetExceeded, DefinitionError, PromptTooLong
from gearshift.ledger.record import new_id

__all__ = ["Engine", "RunReport", "check_graph", "run_jobs"]


@dataclass(slots=True)
class RunReport:
    """What a run did. ``seconds`` is wall time; ``stats.call_ms`` the calls' summed latency.
    ``other_cost_nanos`` is what earlier sessions of the run id recorded for jobs no longer in
    the pipeline: with it, :attr:`cost_nanos` is the ledger's total for the run id."""

    run_id: str
    outcomes: list[JobOutcome]
    seconds: float
    stats: RunStats
    counterfactual_nanos: dict[str, int] = field(default_factory=dict)
    other_cost_nanos: int = 0

    @property
    def cost_nanos(self) -> int:
        return sum(o.cost_nanos for o in self.outcomes) + self.other_cost_nanos

    @property
    def blocked(self) -> list[tuple[str, str]]:
        """(job id, why) of every job a budget refused."""
        return [(o.job_id, o.reason) for o in self.outcomes if o.status == "blocked"]

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    def to_dict(self) -> dict[str, Any]:
        from gearshift.catalog.cost import usd_text

        return {
            "run_id": self.run_id,
            "jobs": [o.to_dict() for o in self.outcomes],
            "totals": {
                "jobs": len(self.outcomes),
                "succeeded": self.count("succeeded"),
                "failed": self.count("failed"),
                "errors": self.count("error"),
                "skipped": self.count("skipped"),
                "blocked": self.count("blocked"),
                "cancelled": self.count("cancelled"),
                "resumed": sum(1 for o in self.outcomes if o.resumed),
                "calls": self.stats.calls,
                "escalations": self.stats.escalations,
                "cache_hits": self.stats.cache_hits,
                "retries": self.stats.retries,
                "retry_cost_usd": usd_text(self.stats.retry_cost_nanos),
                "cost_usd": usd_text(self.cost_nanos),
                "earlier_sessions_usd": usd_text(
                    sum(o.earlier_cost_nanos for o in self.outcomes) + self.other_cost_nanos
                ),
                "all_sonnet_usd": usd_text(self.counterfactual_nanos.get("sonnet", 0)),
                "all_opus_usd": usd_text(self.counterfactual_nanos.get("opus", 0)),
                "seconds": round(self.seconds, 3),
                "wall_seconds": round(self.seconds, 3),
                "call_seconds": round(self.stats.call_ms / 1000, 3),
            },
            "budgets": {
                "blocked": [{"job": job, "reason": why} for job, why in self.blocked],
                "waits": self.stats.budget_waits,
                "waited_seconds": round(self.stats.budget_wait_s, 3),
            },
        }


def check_graph(jobs: Sequence[Job]) -> None:
    """Unique ids, known dependencies, no cycles -- or a DefinitionError naming the job."""
    ids: set[str] = set()
    for job in jobs:
        if job.id in ids:
            raise DefinitionError(
                f"job {job.id!r} is defined twice", hint="give every task its own id"
            )
        ids.add(job.id)
    deps = {job.id: job.depends_on for job in jobs}
    for job in jobs:
        for dep in job.depends_on:
            if dep not in ids:
                raise DefinitionError(f"job {job.id!r} depends on unknown job {dep!r}")
    state: dict[str, int] = {}

    def visit(node: str, trail: tuple[str, ...]) -> None:
        if state.get(node) == 2:
            return
        if state.get(node) == 1:
            cycle = " -> ".join((*trail[trail.index(node) :], node))
            raise DefinitionError(f"depends_on makes a cycle: {cycle}")
        state[node] = 1
        for dep in deps[node]:
            visit(dep, (*trail, node))
        state[node] = 2

    for job in jobs:
        visit(job.id, ())


class Engine:
    """Runs jobs through the router and their strategies; see the module docstring."""

    def __init__(self, ctx: RunContext, queue: WorkQueue | None = None) -> None:
        self.ctx = ctx
        self.queue: WorkQueue = queue or InProcessQueue()
        if ctx.queue_depth is None:
            ctx.queue_depth = self.queue.depth

    async def run(self, jobs: Sequence[Job]) -> RunReport:
        check_graph(jobs)
        started = time.perf_counter()
        by_id = {job.id: job for job in jobs}
        outcomes: dict[str, JobOutcome] = {}
        outputs: dict[str, str] = {}
        done: dict[str, FinishedJob] = {}
        earlier: dict[str | None, int] = {}
        if self.ctx.store is not None:
            done = await asyncio.to_thread(self.ctx.store.finished, self.ctx.run_id)
            earlier = await asyncio.to_thread(self.ctx.store.costs, self.ctx.run_id)
            for job_id, finished in done.items():
                if job_id in by_id and finished.status == "succeeded":
                    outcomes[job_id] = JobOutcome(
                        job_id,
                        "succeeded",
                        output=finished.output,
                        reason="finished earlier",
                        resumed=True,
                        earlier_cost_nanos=earlier.get(job_id, 0),
                        earlier_tier_path=finished.tier_path,
                    )
                    outputs[job_id] = finished.output or ""
        waiting = {j.id: set(j.depends_on) - set(outcomes) for j in jobs if j.id not in outcomes}
        dependents: dict[str, list[str]] = {j.id: [] for j in jobs}
        for job in jobs:
            for dep in job.depends_on:
                dependents[dep].append(job.id)

        def settle(job_id: str, outcome: JobOutcome) -> list[str]:
            """Record an outcome (no awaits: atomic in the event loop); return newly ready jobs.
            A job whose dependency did not succeed is skipped, and so are its dependents."""
            ready: list[str] = []
            stack = [(job_id, outcome)]
            while stack:
                done_id, done = stack.pop()
                outcomes[done_id] = done
                if done.status == "succeeded" and done.output is not None:
                    outputs[done_id] = done.output
                self.ctx.stats.jobs_done += 1
                for child in dependents[done_id]:
                    if child not in waiting:
                        continue
                    if done.status != "succeeded":
                        waiting.pop(child)
                        reason = f"dependency {done_id} did not succeed"
                        stack.append((child, JobOutcome(child, "skipped", reason=reason)))
                        continue
                    waiting[child].discard(done_id)
                    if not waiting[child]:
                        waiting.pop(child)
                        ready.append(child)
            return ready

        async def finish(job_id: str, outcome: JobOutcome) -> None:
            for child in settle(job_id, outcome):
                await self.queue.put(child)
            if not waiting and len(outcomes) == len(by_id):
                self.queue.close()

        for job_id in [j for j, deps in waiting.items() if not deps]:
            waiting.pop(job_id)
            await self.queue.put(job_id)
        if not waiting and len(outcomes) == len(by_id):
            self.queue.close()

        async def worker() -> None:
            while True:
                job_id = await self.queue.get()
                if job_id is None:
                    return
                job = by_id[job_id]
                state = done.get(job_id)
                outcome = await self._run_one(job, outputs, state)
                outcome.earlier_cost_nanos = earlier.get(job_id, 0)
                outcome.recorded_nanos = self.ctx.job_costs.get(job_id, 0)
                if state is not None and state.progress:
                    outcome.earlier_tier_path = state.tier_path
                if (
                    self.ctx.store is not None
                    and outcome.status == "succeeded"
                    and not outcome.marked
                ):
                    record = FinishedJob(
                        job_id,
                        outcome.status,
                        outcome.output,
                        outcome.cost_nanos,
                        outcome.tier_path,
                    )
                    self.ctx.save_finished(record)
                await finish(job_id, outcome)

        tasks = [asyncio.create_task(worker()) for _ in range(max(1, self.ctx.concurrency))]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        finally:
            self.ctx.flush()
            for job in jobs:
                outcomes.setdefault(job.id, JobOutcome(job.id, "cancelled", reason="run stopped"))
        ordered = [outcomes[j.id] for j in jobs]
        return RunReport(
            self.ctx.run_id,
            ordered,
            time.perf_counter() - started,
            self.ctx.stats,
            self._counterfactual(ordered),
            sum(nanos for key, nanos in earlier.items() if key not in by_id),
        )

    async def run_one(
        self, job: Job, outputs: dict[str, str], state: FinishedJob | None = None
    ) -> JobOutcome:
        """Run one job whose dependencies' ``outputs`` are known, outside :meth:`run` (a
        distributed worker dispatches jobs one by one)."""
        return await self._run_one(job, outputs, state)

    async def _run_one(
        self, job: Job, outputs: dict[str, str], state: FinishedJob | None = None
    ) -> JobOutcome:
        """Route and run one job; ``state`` is how far an earlier session got with it (an
        interrupted chain continues)."""
        ctx = self.ctx
        depth = ctx.queue_depth() if ctx.load_aware and ctx.queue_depth else None
        decision = ctx.router.route(job.task, queue_depth=depth)
        prompt = job.task.text
        for dep in job.depends_on:
            prompt += f"\n\n--- output of {dep} ---\n{outputs.get(dep, '')}"
        progress = state.progress if state is not None else None
        chain_id = str(progress.get("chain_id") or new_id()) if progress else new_id()
        plan = Plan(decision, prompt, chain_id, progress)
        try:
            return await get_strategy(job.strategy)(ctx, job, plan)
        except BudgetExceeded as exc:
            return JobOutcome(
                job.id, "blocked", reason=exc.message, route=decision, chain_id=plan.chain_id
            )
        except PromptTooLong as exc:
            reason = f"{exc.message} (hint: {exc.hint})" if exc.hint else exc.message
            return JobOutcome(
                job.id, "error", reason=reason, route=decision, chain_id=plan.chain_id
            )

    def _counterfactual(self, outcomes: list[JobOutcome]) -> dict[str, int]:
        """Each job once on the default Sonnet / Opus model, with its final attempt's tokens
        (per item for the batch strategies, whose attempts carry an ``item`` tag)."""
        totals = {"sonnet": 0, "opus": 0}
        finals: list[Attempt] = []
        for outcome in outcomes:
            last: dict[str, Attempt] = {}
            for a in outcome.attempts:
                if a.role != "judge":
                    last[a.tags.get("item", "")] = a
            finals.extend(last.values())
        for final in finals:
            u = final.usage
            usage = Usage(
                u.input_tokens,
                u.output_tokens,
                u.cache_write_5m_tokens,
                u.cache_write_1h_tokens,
                u.cache_read_tokens,
            )
            for name, tier in (("sonnet", Tier.SONNET), ("opus", Tier.OPUS)):
                totals[name] += self.ctx.catalog.cost(
                    self.ctx.catalog.default_for(tier), usage
                ).nanos
        return totals


def run_jobs(ctx: RunContext, jobs: Sequence[Job]) -> RunReport:
    """The synchronous facade: run ``jobs`` to the end and return the report.

    The report is handed out through a list, not as the main task's result: on the way out,
    Python 3.11's ``asyncio.run`` formats the main task's repr -- result included -- which for
    a 10,000-job report costs about a second.
    """
    box: list[RunReport] = []

    async def main() -> None:
        box.append(await Engine(ctx).run(jobs))

    asyncio.run(main())
    return box[0]
