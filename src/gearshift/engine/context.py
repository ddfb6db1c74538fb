"""The one door to a model: :meth:`RunContext.call` makes, checks, meters and records an attempt.

Every strategy calls models only through here, so every attempt -- whatever the strategy --
goes the same way:

1. an exact response-cache lookup when the job asks for reuse (``Job.cache_ttl_s``): a hit costs
   $0, is recorded with the tag ``cache=hit`` and needs no reservation; only complete outputs
   that passed validation are stored;
2. a worst-case budget reservation (when budgets are enforced); a ``step-down`` budget moves the
   call one tier cheaper, a ``block`` budget refuses it;
3. the provider call inside the one retry loop (:mod:`gearshift.providers.retry`);
4. the job's validators (an LLM judge's own calls are recorded as their own executions);
5. one ledger record with run id, job key, chain id, attempt number, strategy, validator result
   and escalation reason -- settled against the reservation in the same transaction, or, without
   a reservation, group-committed with the other rows of the same event-loop turn.

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
from gearshift.engine.job import Attempt, Job
from gearshift.errors import ProviderError
from gearshift.ledger.record import Execution, new_id
from gearshift.providers.base import ModelRequest, ModelResult, Provider

if TYPE_CHECKING:
    from gearshift.budgets.reservations import Reservations
    from gearshift.engine.store import FinishedJob, GroupCommit, RunStore
    from gearshift.engine.validators import ValidationResult
    from gearshift.ledger.store import Ledger
    from gearshift.routing.router import Router

__all__ = ["RunContext", "RunStats", "corruption"]


@dataclass(slots=True)
class RunStats:
    """Live counters for progress displays."""

    calls: int = 0
    cache_hits: int = 0
    escalations: int = 0
    cost_nanos: int = 0
    jobs_done: int = 0
    blocked: int = 0


@dataclass(slots=True)
class RunContext:
    """Everything a strategy needs. ``ledger`` may be ``None`` (nothing recorded: dry runs and
    library users who meter elsewhere); ``guard`` enforces budgets when given; ``load_aware``
    hands the queue depth to the router (the article's load-based routing)."""

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
    ) -> Attempt:
        """Make, validate, meter and record one attempt of ``job`` on ``tier``.

        ``require_complete`` makes an empty or cut-off (``max_tokens``) output a failed
        attempt before any validator runs; ``tags`` go onto the ledger record.
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
        attempt = Attempt(
            number,
            tier,
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
            )
        async with self.semaphore():
            reservation, model = await self._reserve(
                job, self.model_for(tier, job), request, {**attempt.tags, "role": role}
            )
            if model.id != request.model:
                request = _with_model(request, model.id)
                attempt.model, attempt.tier = model.id, model.tier
            started = time.perf_counter()
            self.stats.calls += 1
            try:
                result: ModelResult | ProviderError = await self.provider.complete(request)
            except ProviderError as exc:
                result = exc
                attempt.latency_ms = int((time.perf_counter() - started) * 1000)
            except BaseException:
                if reservation is not None and self.guard is not None:
                    self.guard.release(reservation)
                raise
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
        """The request :meth:`call` sends (batch-submitting strategies build theirs here)."""
        return ModelRequest.user(
            prompt,
            model=self.model_for(tier, job).id,
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
        reservation: Any = None,
        cache_key: str | None = None,
    ) -> Attempt:
        """Check, validate and record ``result`` as ``attempt``: the second half of :meth:`call`.

        Public so a result obtained another way -- a Message Batches result, priced by its own
        usage (``batch=True``) -- goes through exactly the same checks and ledger path. A
        provider error is recorded as an ``error`` attempt that cost nothing.
        """
        if isinstance(result, ProviderError):
            attempt.status, attempt.error = "error", f"{type(result).__name__}: {result}"
            await self._record(job, attempt, Usage(), chain_id, strategy, reservation)
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
                self._record_now(job, attempt, result.usage, chain_id, strategy, reservation)
                raise
            attempt.validation = verdict
            attempt.status = "success" if verdict.passed else "failure"
        if cache_key is not None and problem is None and attempt.status == "success":
            self._cache_put(job, cache_key, result)
        await self._record(job, attempt, result.usage, chain_id, strategy, reservation)
        return attempt

    def save_finished(self, finished: FinishedJob) -> None:
        """Remember under this run id that a job (or a batch item) finished, so a re-run of the
        run id skips it; written with the next group commit, after the rows queued before it
        (see :class:`~gearshift.engine.store.GroupCommit`)."""
        if self.store is not None:
            self._group().mark_finished(finished)

    def flush(self) -> None:
        """Write what waits for the next group commit now (the runner calls it on the way out,
        so a cancelled run still records every attempt that finished)."""
        if self._commits is not None:
            self._commits.flush()

    async def _reserve(
        self, job: Job, model: Model, request: ModelRequest, tags: Mapping[str, str]
    ) -> tuple[Any, Model]:
        """Reserve the call's worst case against every budget covering it (stepping down a tier
        when a budget says so); BudgetExceeded when refused. The reservation runs in this thread:
        handing it to another one could commit it after a cancellation had lost its handle."""
        if self.guard is None:
            return None, model
        from gearshift.budgets.model import CallScope
        from gearshift.budgets.reservations import worst_case_nanos

        while True:
            scope = CallScope(
                project=self.project,
                agent=job.agent,
                model=model.id,
                tier=model.tier.value,
                tags=dict(tags),
            )
            estimate = request.estimated_input_tokens() * 5 // 4 + 64
            worst = worst_case_nanos(self.catalog, model, estimate, request.max_tokens)
            decision = self.guard.reserve(scope, worst)
            if decision.admitted:
                return decision.reservation, model
            lower = model.tier.down() if decision.action == "step-down" else None
            if lower is None:
                self.stats.blocked += 1
                raise decision.error()
            model = self.catalog.default_for(lower)

    def _cache_key(self, job: Job, request: ModelRequest) -> str | None:
        if job.cache_ttl_s <= 0 or self.store is None:
            return None
        from gearshift.engine.store import request_key

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
        meter = _MeteredProvider(self, job, attempt, chain_id, strategy)
        context = ValidationContext(
            task=job.task.text,
            workdir=job.workdir,
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
            await self._record(job, judge, call.usage, chain_id, strategy, None, judge=True)
            attempt.cost_nanos += judge.cost_nanos
        return verdict

    def _record_now(
        self,
        job: Job,
        attempt: Attempt,
        usage: Usage,
        chain_id: str,
        strategy: str,
        reservation: Any,
    ) -> None:
        """:meth:`_record` without waiting (for a path being cancelled)."""
        execution = self._execution(job, attempt, usage, chain_id, strategy, False)
        attempt.cost_nanos += execution.cost_nanos
        self.stats.cost_nanos += execution.cost_nanos
        if self.ledger is None:
            return
        if self.guard is not None and reservation is not None:
            self.guard.settle(reservation, execution)
        else:
            self._group().enqueue(execution)

    async def _record(
        self,
        job: Job,
        attempt: Attempt,
        usage: Usage,
        chain_id: str,
        strategy: str,
        reservation: Any,
        *,
        judge: bool = False,
    ) -> None:
        execution = self._execution(job, attempt, usage, chain_id, strategy, judge)
        attempt.cost_nanos += execution.cost_nanos
        self.stats.cost_nanos += execution.cost_nanos
        if self.ledger is not None:
            if self.guard is not None and reservation is not None:
                self.guard.settle(reservation, execution)
            else:
                await self._group().record(execution)
        if self.on_attempt is not None and not judge:
            self.on_attempt(job, attempt)

    def _group(self) -> GroupCommit:
        if self._commits is None:
            from gearshift.engine.store import GroupCommit

            self._commits = GroupCommit(self.ledger, self.store, self.run_id)
        return self._commits

    def _execution(
        self, job: Job, attempt: Attempt, usage: Usage, chain_id: str, strategy: str, judge: bool
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
        fields: dict[str, Any] = {
            "task": job.task.text,
            "task_type": job.task.type,
            "project": self.project,
            "session": job.task.session or "",
            "latency_ms": attempt.latency_ms,
            "status": "success" if judge else attempt.status,
            "attempt": attempt.number,
            "chain_id": chain_id,
            "strategy": strategy,
            "source": self.source,
            "validation": None if judge else validation,
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


def corruption(text: str, stop_reason: str | None) -> str | None:
    """Why an output cannot be whole -- empty, or cut off at ``max_tokens`` -- else ``None``."""
    if stop_reason == "max_tokens":
        return "corrupted: the output was cut off at max_tokens (stop_reason max_tokens)"
    if not text or text.isspace():
        return "corrupted: the output is empty"
    return None


def _with_model(request: ModelRequest, model: str) -> ModelRequest:
    from dataclasses import replace

    return replace(request, model=model)


class _MeteredProvider:
    """The provider validators see: each call reserved, made, and recorded as a ``judge``
    execution of the attempt it checks, its cost folded into that attempt."""

    def __init__(
        self, ctx: RunContext, job: Job, attempt: Attempt, chain_id: str, strategy: str
    ) -> None:
        self.ctx, self.job, self.attempt = ctx, job, attempt
        self.chain_id, self.strategy = chain_id, strategy
        self.name = ctx.provider.name
        self.seen: list[ModelResult] = []

    async def complete(self, request: ModelRequest) -> ModelResult:
        ctx = self.ctx
        model = ctx.catalog.resolve(request.model)
        tags = {**self.attempt.tags, "role": "judge"}
        reservation, model = await ctx._reserve(self.job, model, request, tags)
        if model.id != request.model:
            request = _with_model(request, model.id)
        try:
            result = await ctx.provider.complete(request)
        except BaseException:
            if reservation is not None and ctx.guard is not None:
                ctx.guard.release(reservation)
            raise
        self.seen.append(result)
        judge = Attempt(
            self.attempt.number,
            model.tier,
            result.model,
            usage=result.usage,
            latency_ms=result.latency_ms,
            role="judge",
            tags=self.attempt.tags,
        )
        try:
            await ctx._record(
                self.job, judge, result.usage, self.chain_id, self.strategy, reservation, judge=True
            )
        finally:
            self.attempt.cost_nanos += judge.cost_nanos
        return result

    async def count_tokens(self, request: ModelRequest) -> int:
        return await self.ctx.provider.count_tokens(request)

    async def close(self) -> None:
        return None
