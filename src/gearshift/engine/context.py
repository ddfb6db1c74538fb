"""The one door to a model: :meth:`RunContext.call` makes, checks, meters and records an attempt.

Every strategy calls models only through here, so every attempt -- whatever the strategy --
goes the same way:

1. an exact response-cache lookup when the job asks for reuse (``Job.cache_ttl_s``): a hit costs
   $0, is recorded with the tag ``cache=hit`` and needs no reservation; only complete outputs
   that passed validation are stored;
2. a worst-case budget reservation (when budgets are enforced; see :mod:`gearshift.engine.holds`):
   a ``step-down`` budget moves the call one tier cheaper, a ``block`` budget refuses it once the
   holds in flight cannot make room;
3. the provider call inside the one retry loop (:mod:`gearshift.providers.retry`): every retried
   HTTP attempt is recorded as it happens (status ``retried``, or ``dropped`` for a response cut
   off mid-body, with the usage it carried); once the answer is in, the hold drops to its cost;
4. the job's validators (an LLM judge's own calls are recorded as their own executions);
5. one ledger record with run id, job key, chain id, attempt number, strategy, validator result
   and escalation reason -- group-committed with the release of its hold and, when the strategy
   passes ``mark``, the state of its job (finished, or how far its chain got), in one
   transaction (:class:`~gearshift.engine.run_state.GroupCommit`).

Whatever a job costs -- retries and judges included -- is summed per job in
:attr:`RunContext.job_costs`, so a run's report adds up to its ledger rows.

:meth:`RunContext.accept` is the second half of that path on its own, for results obtained
another way (Message Batches).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gearshift.catalog import Catalog, Model, Tier, Usage
from gearshift.engine import holds
from gearshift.engine.context_window import fitting_model
from gearshift.engine.job import Attempt, Job
from gearshift.engine.metered import MeteredJudge, corruption, dropped_usage, with_model
from gearshift.engine.stats import RunStats
from gearshift.errors import ProviderError, ResponseDropped
from gearshift.ledger.record import Execution, new_id
from gearshift.providers.base import ModelRequest, ModelResult, Provider
from gearshift.providers.retry import RetryEvent, observe_retries

if TYPE_CHECKING:
    from gearshift.budgets.reservations import Reservation, Reservations
    from gearshift.engine.run_state import FinishedJob, GroupCommit, RunStore
    from gearshift.engine.validators import ValidationResult
    from gearshift.ledger.store import Ledger
    from gearshift.routing.router import Router

__all__ = ["Marker", "RunContext", "RunStats", "corruption"]

#: What a strategy hands :meth:`RunContext.call` as ``mark``: given the attempt once it is
#: checked and priced, the job state to commit with its row (or ``None``); given ``None``, the
#: state to commit with the row of one of its HTTP attempts that is being retried (the attempt
#: is still under way: a resume makes it again, in the same chain).
Marker = Callable[["Attempt | None"], "FinishedJob | None"]

#: Seconds a call refused by a budget waits, at most, for holds in flight to settle.
DEFAULT_BUDGET_WAIT_S = 30.0


@dataclass(slots=True)
class RunContext:
    """Everything a strategy needs. ``ledger`` may be ``None`` (nothing recorded: dry runs and
    library users who meter elsewhere); ``guard`` enforces budgets when given, a refused call
    waiting up to ``budget_wait_s`` for holds in flight; ``load_aware`` hands the queue depth
    to the router (the article's load-based routing)."""

    provider: Provider
    catalog: Catalog
    router: Router
    ledger: Ledger | None = None
    run_id: str = field(default_factory=new_id)
    guard: Reservations | None = None
    store: RunStore | None = None
    project: str = ""
    source: str = "api"
    concurrency: int = 8
    load_aware: bool = False
    stats: RunStats = field(default_factory=RunStats)
    on_attempt: Callable[[Job, Attempt], None] | None = None
    queue_depth: Callable[[], int] | None = None
    budget_wait_s: float = DEFAULT_BUDGET_WAIT_S
    #: seconds an attempt's row waits for others to share its commit (:class:`GroupCommit`)
    commit_delay_s: float = 0.0
    job_costs: dict[str, int] = field(default_factory=dict)
    _calls: asyncio.Semaphore | None = None
    _commits: GroupCommit | None = None

    def semaphore(self) -> asyncio.Semaphore:
        if self._calls is None:
            self._calls = asyncio.Semaphore(self.concurrency)
        return self._calls

    def model_for(self, tier: Tier, job: Job) -> Model:
        """The model a tier means for ``job``: its explicit model when that is of this tier."""
        if job.task.model:
            pinned = self.catalog.find(job.task.model)
            if pinned is not None and pinned.tier is tier:
                return pinned
        return self.catalog.default_for(tier)

    async def call(
        self,
        job: Job,
        tier: Tier,
        prompt: str,
        *,
        number: int,
        chain_id: str,
        strategy: str,
        role: str = "generate",
        escalation_reason: str | None = None,
        system: str | None = None,
        validate: bool = True,
        complexity: int | None = None,
        require_complete: bool = False,
        tags: Mapping[str, str] | None = None,
        mark: Marker | None = None,
    ) -> Attempt:
        """Make, validate, meter and record one attempt of ``job`` on ``tier``.

        ``require_complete`` makes an empty or cut-off (``max_tokens``) output a failed
        attempt before any validator runs; ``tags`` go onto the ledger record; ``mark`` gives
        the job state committed with the attempt's row.
        """
        request = self.request_for(
            job,
            tier,
            prompt,
            number=number,
            chain_id=chain_id,
            system=system,
            complexity=complexity,
        )
        model = self.catalog.resolve(request.model)  # routed up when the prompt needs it
        attempt = Attempt(
            number,
            model.tier,
            request.model,
            escalation_reason=escalation_reason,
            role=role,
            tags=dict(tags) if tags else {},
        )
        hit = self._cache_get(job, request)
        if hit is not None:
            attempt.cached = True
            self.stats.cache_hits += 1
            return await self.accept(
                job,
                attempt,
                hit,
                chain_id=chain_id,
                strategy=strategy,
                validate=validate,
                require_complete=require_complete,
                mark=mark,
            )
        async with self.semaphore():
            scope_tags = {**attempt.tags, "role": role}
            reservation, model = await holds.reserve(self, job, model, request, scope_tags)
            if model.id != request.model:
                request = with_model(request, model.id)
                attempt.model, attempt.tier = model.id, model.tier
            started = time.perf_counter()
            self.stats.calls += 1

            def retried(event: RetryEvent) -> None:
                self.record_retry(job, attempt, event, chain_id, strategy, model, scope_tags, mark)

            try:
                with observe_retries(retried):
                    result: ModelResult | ProviderError = await self.provider.complete(request)
            except ProviderError as exc:
                result = exc
                attempt.latency_ms = int((time.perf_counter() - started) * 1000)
            except BaseException:
                if reservation is not None and self.guard is not None:
                    self.guard.release(reservation)
                raise
            if isinstance(result, ModelResult):
                reservation = holds.release_excess(self, reservation, attempt.model, result.usage)
        return await self.accept(
            job,
            attempt,
            result,
            chain_id=chain_id,
            strategy=strategy,
            reservation=reservation,
            cache_key=self._cache_key(job, request),
            validate=validate,
            require_complete=require_complete,
            mark=mark,
        )

    def request_for(
        self,
        job: Job,
        tier: Tier,
        prompt: str,
        *,
        number: int,
        chain_id: str,
        system: str | None = None,
        complexity: int | None = None,
    ) -> ModelRequest:
        """The request :meth:`call` sends (batch-submitting strategies build theirs here): on
        ``tier``'s model, or the first one above it (up to the job's ``ladder_top``) whose
        context window the prompt fits; PromptTooLong when none
        (:mod:`gearshift.engine.context_window`)."""
        model = self.model_for(tier, job)
        request = ModelRequest.user(
            prompt,
            model=model.id,
            system=system if system is not None else job.system,
            max_tokens=job.max_tokens,
            temperature=job.temperature,
            cache_system=job.cache_system,
            metadata={
                "attempt": number,
                "task_id": job.id,
                "chain_id": chain_id,
                "complexity": complexity if complexity is not None else 5,
            },
        )
        fitted = fitting_model(self.catalog, model, request, top=job.ladder_top)
        return request if fitted is model else with_model(request, fitted.id)

    async def accept(
        self,
        job: Job,
        attempt: Attempt,
        result: ModelResult | ProviderError,
        *,
        chain_id: str,
        strategy: str,
        validate: bool = True,
        require_complete: bool = False,
        reservation: Reservation | None = None,
        cache_key: str | None = None,
        mark: Marker | None = None,
    ) -> Attempt:
        """Check, validate and record ``result`` as ``attempt``: the second half of :meth:`call`.

        Public so a result obtained another way -- a Message Batches result, priced by its own
        usage (``batch=True``) -- goes through exactly the same checks and ledger path. A
        provider error is recorded as an ``error`` attempt that cost nothing -- or, for a
        response dropped mid-body, as ``dropped`` with the usage it carried.
        """
        attempt.request_id = result.request_id
        if isinstance(result, ProviderError):
            attempt.status, attempt.error = "error", f"{type(result).__name__}: {result}"
            attempt.usage = dropped_usage(result)
            await self.record(
                job, attempt, attempt.usage, chain_id, strategy, reservation, mark=mark,
                status="dropped" if isinstance(result, ResponseDropped) else None,
            )  # fmt: skip
            return attempt
        attempt.text, attempt.usage = result.text, result.usage
        attempt.latency_ms, attempt.stop_reason = result.latency_ms, result.stop_reason
        problem = corruption(result.text, result.stop_reason)
        if require_complete and problem is not None:
            from gearshift.engine.validators import ValidationResult

            attempt.validation = ValidationResult(False, None, problem)
            attempt.status = "failure"
        elif validate and job.validators:
            try:
                verdict = await self._validate(job, result.text, chain_id, strategy, attempt)
            except BaseException:
                # cancelled (Ctrl-C) while validating: the call was paid, so it is recorded
                attempt.status, attempt.error = "error", "interrupted while validating"
                self._record_now(job, attempt, result.usage, chain_id, strategy, reservation, mark)
                raise
            attempt.validation = verdict
            attempt.status = "success" if verdict.passed else "failure"
        if cache_key is not None and problem is None and attempt.status == "success":
            self._cache_put(job, cache_key, result)
        await self.record(job, attempt, result.usage, chain_id, strategy, reservation, mark=mark)
        return attempt

    def save_finished(self, finished: FinishedJob) -> None:
        """Remember under this run id how a job (or a batch item) ended, so a re-run of the run
        id skips it; written with the next group commit, after the rows queued before it (see
        :class:`~gearshift.engine.run_state.GroupCommit`). A strategy that knows the state when an
        attempt is recorded passes ``mark`` to :meth:`call` instead: then the state commits
        with the row."""
        if self.store is not None:
            self._group().mark(finished)

    def flush(self) -> None:
        """Write what waits for the next group commit now (the runner calls it on the way out,
        so a cancelled run still records every attempt that finished)."""
        if self._commits is not None:
            self._commits.flush()

    def _cache_key(self, job: Job, request: ModelRequest) -> str | None:
        if job.cache_ttl_s <= 0 or self.store is None:
            return None
        from gearshift.engine.run_state import request_key

        return request_key(
            request.model, request.system, request.prompt, request.max_tokens, request.temperature
        )

    def _cache_get(self, job: Job, request: ModelRequest) -> ModelResult | None:
        """An unexpired cached response to exactly this request, as a free result. Looked up
        before any budget reservation, so a blocking budget never refuses a $0 answer."""
        key = self._cache_key(job, request)
        if key is None or self.store is None:
            return None
        hit = self.store.cache_get(key)
        if hit is None:
            return None
        return ModelResult(text=hit.text, usage=Usage(), model=hit.model, latency_ms=0)

    def _cache_put(self, job: Job, key: str, result: ModelResult) -> None:
        if self.store is None:
            return
        usage = {
            "input_tokens": result.usage.input_tokens,
            "output_tokens": result.usage.output_tokens,
        }
        self.store.cache_put(key, result.model, result.text, usage, job.cache_ttl_s)

    async def _validate(
        self, job: Job, output: str, chain_id: str, strategy: str, attempt: Attempt
    ) -> ValidationResult:
        """Run the job's validators. Their model calls (an LLM judge) go through a metered
        provider: reserved against budgets like any call and recorded as they happen, so a
        validator that fails later, or a cancellation, loses no paid call."""
        from gearshift.engine.validators import AllValidator, ValidationContext, ValidationResult
        from gearshift.errors import GearshiftError

        check = job.validators[0] if len(job.validators) == 1 else AllValidator(job.validators)
        meter = MeteredJudge(self, job, attempt, chain_id, strategy)
        context = ValidationContext(
            task=job.task.text,
            workdir=job.workdir,
            outputs=job.outputs,
            files=job.files,
            provider=meter,
            metadata={"task_id": job.id, "attempt": attempt.number},
        )
        try:
            verdict = await check.validate(output, context)
        except GearshiftError as exc:  # a provider error, or a budget refusing the judge
            verdict = ValidationResult(False, None, f"validator call failed: {exc}")
        for call in verdict.calls:
            if any(call is seen for seen in meter.seen):
                continue  # recorded when it was made
            # a validator with a provider of its own: recorded here, after the fact
            judge = Attempt(
                attempt.number,
                self.catalog.resolve(call.model).tier,
                call.model,
                usage=call.usage,
                latency_ms=call.latency_ms,
                role="judge",
                tags=attempt.tags,
            )
            await self.record(job, judge, call.usage, chain_id, strategy, None, judge=True)
            attempt.cost_nanos += judge.cost_nanos
        return verdict

    def _record_now(
        self,
        job: Job,
        attempt: Attempt,
        usage: Usage,
        chain_id: str,
        strategy: str,
        reservation: Reservation | None,
        mark: Marker | None = None,
    ) -> None:
        """:meth:`record` without waiting (for a path being cancelled)."""
        execution = self._execution(job, attempt, usage, chain_id, strategy, False)
        self._count(job, attempt, execution)
        if self.ledger is not None:
            state = mark(attempt) if mark is not None and self.store is not None else None
            self._group().enqueue(execution, mark=state, settles=reservation)

    async def record(
        self,
        job: Job,
        attempt: Attempt,
        usage: Usage,
        chain_id: str,
        strategy: str,
        reservation: Reservation | None,
        *,
        judge: bool = False,
        mark: Marker | None = None,
        status: str | None = None,
    ) -> None:
        execution = self._execution(job, attempt, usage, chain_id, strategy, judge, status)
        self._count(job, attempt, execution)
        if self.ledger is not None:  # without one, nothing is recorded (nor held: no budgets)
            marked = mark is not None and not judge and self.store is not None
            state = mark(attempt) if marked and mark is not None else None
            await self._group().record(execution, mark=state, settles=reservation)
        if self.on_attempt is not None and not judge:
            self.on_attempt(job, attempt)

    def record_retry(
        self,
        job: Job,
        attempt: Attempt,
        event: RetryEvent,
        chain_id: str,
        strategy: str,
        model: Model,
        scope_tags: Mapping[str, str],
        mark: Marker | None = None,
    ) -> None:
        """Record an HTTP attempt the retry loop is about to retry (``retried``, or ``dropped``
        with the usage a cut-off response carried), its cost folded into ``attempt``'s, with the
        job state ``mark(None)`` gives. One that cost money must fit the budgets with the retry
        still held, or the retries stop."""
        error = event.error
        usage = dropped_usage(error)
        retry = Attempt(
            attempt.number,
            attempt.tier,
            attempt.model,
            usage=usage,
            latency_ms=event.latency_ms,
            status="error",
            error=f"{type(error).__name__}: {error}",
            role=attempt.role,
            tags={**attempt.tags, "http_attempt": str(event.attempt)},
        )
        retry.request_id = error.request_id
        status = "dropped" if isinstance(error, ResponseDropped) else "retried"
        execution = self._execution(job, retry, usage, chain_id, strategy, False, status)
        extra, refused = holds.reserve_more(self, job, model, scope_tags, execution.cost_nanos)
        self._count(job, retry, execution)
        attempt.cost_nanos += retry.cost_nanos
        if self.ledger is not None:
            state = mark(None) if mark is not None and self.store is not None else None
            self._group().enqueue(execution, mark=state, settles=extra)
        self.stats.retries += 1
        self.stats.retry_cost_nanos += execution.cost_nanos
        if refused is not None:
            raise refused

    def _count(self, job: Job, attempt: Attempt, execution: Execution) -> None:
        attempt.cost_nanos += execution.cost_nanos
        self.stats.cost_nanos += execution.cost_nanos
        self.stats.call_ms += execution.latency_ms or 0
        self.job_costs[job.id] = self.job_costs.get(job.id, 0) + execution.cost_nanos

    def _group(self) -> GroupCommit:
        if self._commits is None:
            from gearshift.engine.run_state import GroupCommit

            self._commits = GroupCommit(
                self.ledger, self.store, self.run_id, self.guard, delay_s=self.commit_delay_s
            )
        return self._commits

    def _execution(
        self,
        job: Job,
        attempt: Attempt,
        usage: Usage,
        chain_id: str,
        strategy: str,
        judge: bool,
        status: str | None = None,
    ) -> Execution:
        validation = None
        if attempt.validation is not None:
            v = attempt.validation
            validation = ("pass" if v.passed else "fail") + (
                f": {v.evidence[:300]}" if v.evidence else ""
            )
        elif attempt.error:
            validation = attempt.error[:300]
        tags = {**attempt.tags, "role": attempt.role}
        if attempt.cached:
            tags["cache"] = "hit"
        elif attempt.request_id:  # the provider's own id for the call, as its console shows it
            tags["request_id"] = attempt.request_id
        fields: dict[str, Any] = {
            "task": job.task.text,
            "task_type": job.task.type,
            "project": self.project,
            "session": job.task.session or "",
            "latency_ms": attempt.latency_ms,
            "status": status or ("success" if judge else attempt.status),
            "attempt": attempt.number,
            "chain_id": chain_id,
            "strategy": strategy,
            "source": self.source,
            "validation": None if judge and not attempt.error else validation,
            "escalation_reason": None if judge else attempt.escalation_reason,
            "run_id": self.run_id,
            "task_key": job.id,
            "tags": tags,
        }
        if self.ledger is not None:
            return self.ledger.price(agent=job.agent, model=attempt.model, usage=usage, **fields)
        cost = self.catalog.cost(attempt.model, usage)
        model = self.catalog.resolve(attempt.model)
        return Execution(
            model=model.id,
            tier=model.tier.value,
            agent=job.agent,
            cost_nanos=cost.nanos,
            price_version=cost.price_version,
            **fields,
        )
