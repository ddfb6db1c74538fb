"""What validators call models through: each judge call reserved, made and recorded as a
``judge`` execution of the attempt it checks (:class:`MeteredJudge`), and the checks an answer
must pass before it is judged at all.

:class:`~gearshift.engine.context.RunContext` is the :class:`Recorder` these need; it is named
here as a protocol so this module does not import the context that uses it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

from gearshift.catalog import Model, Usage
from gearshift.engine import holds
from gearshift.engine.context_window import fitting_model
from gearshift.engine.job import Attempt, Job
from gearshift.errors import ProviderError, ResponseDropped
from gearshift.providers.base import ModelRequest, ModelResult
from gearshift.providers.retry import RetryEvent, observe_retries

if TYPE_CHECKING:
    from gearshift.budgets.reservations import Reservation

__all__ = ["MeteredJudge", "Recorder", "corruption", "dropped_usage", "with_model"]


class Recorder(holds.RunContext, Protocol):
    """What a judge needs of its run: budgets (see :mod:`gearshift.engine.holds`) and the two
    ways an attempt is recorded."""

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
        status: str | None = None,
    ) -> None: ...

    def record_retry(
        self,
        job: Job,
        attempt: Attempt,
        event: RetryEvent,
        chain_id: str,
        strategy: str,
        model: Model,
        scope_tags: Mapping[str, str],
    ) -> None: ...


def corruption(text: str, stop_reason: str | None) -> str | None:
    """Why an output cannot be whole -- empty, or cut off at ``max_tokens`` -- else ``None``."""
    if stop_reason == "max_tokens":
        return "corrupted: the output was cut off at max_tokens (stop_reason max_tokens)"
    if not text or text.isspace():
        return "corrupted: the output is empty"
    return None


def dropped_usage(error: ProviderError) -> Usage:
    """What a failed call is billed for: the usage a dropped response carried, else nothing."""
    if isinstance(error, ResponseDropped) and error.usage:
        return Usage.from_api(error.usage)
    return Usage()


def with_model(request: ModelRequest, model: str) -> ModelRequest:
    """``request`` sent to ``model`` instead."""
    return replace(request, model=model)


class MeteredJudge:
    """The provider validators see: each call reserved, made, and recorded as a ``judge``
    execution of the attempt it checks, its cost folded into that attempt."""

    def __init__(
        self, ctx: Recorder, job: Job, attempt: Attempt, chain_id: str, strategy: str
    ) -> None:
        self.ctx, self.job, self.attempt = ctx, job, attempt
        self.chain_id, self.strategy = chain_id, strategy
        self.name = ctx.provider.name
        self.counts_tokens = bool(getattr(ctx.provider, "counts_tokens", False))
        self.seen: list[ModelResult] = []

    async def complete(self, request: ModelRequest) -> ModelResult:
        ctx = self.ctx
        model = ctx.catalog.resolve(request.model)
        fitted = fitting_model(ctx.catalog, model, request)
        if fitted is not model:
            model, request = fitted, with_model(request, fitted.id)
        tags = {**self.attempt.tags, "role": "judge"}
        reservation, model = await holds.reserve(ctx, self.job, model, request, tags)
        if model.id != request.model:
            request = with_model(request, model.id)
        judge = Attempt(self.attempt.number, model.tier, model.id, role="judge", tags=tags)

        def retried(event: RetryEvent) -> None:
            ctx.record_retry(self.job, judge, event, self.chain_id, self.strategy, model, tags)

        try:
            with observe_retries(retried):
                result = await ctx.provider.complete(request)
        except ProviderError as exc:  # the judge's last HTTP attempt is recorded too
            judge.status, judge.error = "error", f"{type(exc).__name__}: {exc}"
            judge.request_id = exc.request_id
            status = "dropped" if isinstance(exc, ResponseDropped) else "error"
            try:
                await ctx.record(
                    self.job, judge, dropped_usage(exc), self.chain_id, self.strategy,
                    reservation, judge=True, status=status,
                )  # fmt: skip
            finally:
                self.attempt.cost_nanos += judge.cost_nanos
            raise
        except BaseException:
            self.attempt.cost_nanos += judge.cost_nanos  # retried attempts it paid for
            if reservation is not None and ctx.guard is not None:
                ctx.guard.release(reservation)
            raise
        reservation = holds.release_excess(ctx, reservation, model.id, result.usage)
        self.seen.append(result)
        judge.model, judge.usage, judge.latency_ms = result.model, result.usage, result.latency_ms
        judge.tags, judge.request_id = self.attempt.tags, result.request_id
        try:
            await ctx.record(
                self.job, judge, result.usage, self.chain_id, self.strategy, reservation, judge=True
            )
        finally:
            self.attempt.cost_nanos += judge.cost_nanos
        return result

    async def count_tokens(self, request: ModelRequest) -> int:
        return await self.ctx.provider.count_tokens(request)

    async def close(self) -> None:
        return None
