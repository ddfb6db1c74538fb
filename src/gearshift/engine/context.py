"""The one door to a model: :meth:`RunContext.call` makes, checks, meters and records an attempt.

Every strategy calls models only through here, so every attempt -- whatever the strategy --
goes the same way:

1. an exact response-cache lookup when the job asks for reuse;
2. a worst-case budget reservation (when budgets are enforced); a ``step-down`` budget moves the
   call one tier cheaper, a ``block`` budget refuses it;
3. the provider call inside the one retry loop (:mod:`gearshift.providers.retry`);
4. the job's validators (an LLM judge's own calls are recorded as their own executions);
5. one ledger record with run id, job key, chain id, attempt number, strategy, validator result
   and escalation reason -- settled against the reservation in the same transaction.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gearshift.catalog import Catalog, Model, Tier, Usage
from gearshift.engine.job import Attempt, Job
from gearshift.errors import ProviderError
from gearshift.ledger.record import Execution, new_id
from gearshift.providers.base import ModelRequest, ModelResult, Provider

if TYPE_CHECKING:
    from gearshift.engine.store import RunStore
    from gearshift.engine.validators import ValidationResult
    from gearshift.insight.enforce import Reservations
    from gearshift.ledger.store import Ledger
    from gearshift.routing.router import Router

__all__ = ["RunContext", "RunStats"]


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
    ) -> Attempt:
        """Make, validate, meter and record one attempt of ``job`` on ``tier``."""
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
        attempt = Attempt(number, tier, model.id, escalation_reason=escalation_reason, role=role)
        async with self.semaphore():
            reservation, model = await self._reserve(job, model, request)
            if model.id != request.model:
                request = _with_model(request, model.id)
                attempt.model, attempt.tier = model.id, model.tier
            started = time.perf_counter()
            try:
                result = await self._complete(job, request, attempt)
            except ProviderError as exc:
                attempt.status, attempt.error = "error", f"{type(exc).__name__}: {exc}"
                attempt.latency_ms = int((time.perf_counter() - started) * 1000)
                self._record(job, attempt, Usage(), chain_id, strategy, reservation)
                return attempt
            except BaseException:
                if reservation is not None and self.guard is not None:
                    self.guard.release(reservation)
                raise
        attempt.text = result.text
        attempt.usage = result.usage
        attempt.latency_ms = result.latency_ms
        if validate and job.validators:
            attempt.validation = await self._validate(job, result.text, chain_id, strategy, number)
            attempt.status = "success" if attempt.validation.passed else "failure"
        self._record(job, attempt, result.usage, chain_id, strategy, reservation)
        return attempt

    async def _reserve(self, job: Job, model: Model, request: ModelRequest) -> tuple[Any, Model]:
        if self.guard is None:
            return None, model
        from gearshift.insight.budgets import CallScope
        from gearshift.insight.enforce import worst_case_nanos

        while True:
            scope = CallScope(
                project=self.project,
                agent=job.agent,
                model=model.id,
                tier=model.tier.value,
                tags={},
            )
            estimate = request.estimated_input_tokens() * 5 // 4 + 64
            worst = worst_case_nanos(self.catalog, model, estimate, request.max_tokens)
            decision = await asyncio.to_thread(self.guard.reserve, scope, worst)
            if decision.admitted:
                return decision.reservation, model
            lower = model.tier.down() if decision.action == "step-down" else None
            if lower is None:
                self.stats.blocked += 1
                raise decision.error()
            model = self.catalog.default_for(lower)

    async def _complete(self, job: Job, request: ModelRequest, attempt: Attempt) -> ModelResult:
        if job.cache_ttl_s > 0 and self.store is not None:
            from gearshift.engine.store import request_key

            key = request_key(
                request.model,
                request.system,
                request.prompt,
                request.max_tokens,
                request.temperature,
            )
            hit = await asyncio.to_thread(self.store.cache_get, key)
            if hit is not None:
                self.stats.cache_hits += 1
                attempt.cached = True
                return ModelResult(text=hit.text, usage=Usage(), model=hit.model, latency_ms=0)
            result = await self.provider.complete(request)
            usage = {
                "input_tokens": result.usage.input_tokens,
                "output_tokens": result.usage.output_tokens,
            }
            await asyncio.to_thread(
                self.store.cache_put, key, result.model, result.text, usage, job.cache_ttl_s
            )
            self.stats.calls += 1
            return result
        self.stats.calls += 1
        return await self.provider.complete(request)

    async def _validate(
        self, job: Job, output: str, chain_id: str, strategy: str, number: int
    ) -> ValidationResult:
        from gearshift.engine.validators import AllValidator, ValidationContext

        check = job.validators[0] if len(job.validators) == 1 else AllValidator(job.validators)
        context = ValidationContext(
            task=job.task.text,
            workdir=job.workdir,
            files=job.files,
            provider=self.provider,
            metadata={"task_id": job.id, "attempt": number},
        )
        try:
            verdict = await check.validate(output, context)
        except ProviderError as exc:
            from gearshift.engine.validators import ValidationResult

            verdict = ValidationResult(False, None, f"validator call failed: {exc}")
        for call in verdict.calls:
            judge = Attempt(
                number,
                self.catalog.resolve(call.model).tier,
                call.model,
                usage=call.usage,
                latency_ms=call.latency_ms,
                role="judge",
            )
            self._record(job, judge, call.usage, chain_id, strategy, None, judge=True)
        return verdict

    def _record(
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
                self.ledger.add(execution)
        if self.on_attempt is not None and not judge:
            self.on_attempt(job, attempt)

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
        tags = {"role": attempt.role}
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


def _with_model(request: ModelRequest, model: str) -> ModelRequest:
    from dataclasses import replace

    return replace(request, model=model)
