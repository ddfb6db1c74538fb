"""Budget holds for the engine's calls: what is reserved before a call, and when it is released.

* **A bound that cannot be exceeded.** A call reserves its worst case: ``max_tokens`` of output
  and, for input, the provider's own count where it has one (``counts_tokens``: the Messages
  API's ``count_tokens``, asked once per distinct request) with a small margin, else
  :func:`~gearshift.providers.base.input_token_bound` -- the UTF-8 bytes of the request, images
  and PDF pages at the most they cost. Never chars / 4, which CJK, code and base64 overrun.
* **Released as soon as usage is known.** When the provider answers, the hold drops to the
  call's real cost (:meth:`~gearshift.budgets.reservations.Reservations.shrink`); the rest goes
  back to the budget before validation runs. The hold itself goes with the attempt's ledger row,
  in the same transaction (:class:`~gearshift.engine.run_state.GroupCommit`).
* **A blocked call waits, boundedly.** A call refused only because of holds in flight -- the
  spend recorded plus its own worst case still fits -- waits for those holds to settle, up to
  ``RunContext.budget_wait_s`` seconds, and then reserves again. A call that cannot fit even
  with every hold released is refused at once.
* **Billable retries are admitted too.** A retried attempt that cost money (a response dropped
  mid-body, with usage) is checked against the budgets before the retry goes out: spend so far
  plus the hold still held for the retry must fit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from gearshift.budgets.model import CallScope
from gearshift.budgets.reservations import Decision, Reservation, worst_case_nanos
from gearshift.errors import ProviderError
from gearshift.providers.base import input_token_bound

if TYPE_CHECKING:
    from gearshift.budgets.reservations import Reservations
    from gearshift.catalog import Catalog, Model, Usage
    from gearshift.engine.job import Job
    from gearshift.engine.stats import RunStats
    from gearshift.providers.base import ModelRequest, Provider

__all__ = ["counted_bound", "release_excess", "reserve", "reserve_more"]


class RunContext(Protocol):
    """What holds need of a run (:class:`gearshift.engine.context.RunContext` has it)."""

    provider: Provider
    catalog: Catalog
    guard: Reservations | None
    project: str
    stats: RunStats
    budget_wait_s: float


#: The first pause of a call waiting for holds to settle, and the longest.
FIRST_WAIT_S = 0.05
LONGEST_WAIT_S = 1.0


async def counted_bound(ctx: RunContext, request: ModelRequest) -> int:
    """The input tokens to reserve for ``request`` (see the module docstring)."""
    if getattr(ctx.provider, "counts_tokens", False):
        try:
            counted = await ctx.provider.count_tokens(request)
        except ProviderError:
            return input_token_bound(request)
        # the API's count is documented as an estimate, off by a few tokens at most
        return counted + counted // 50 + 16
    return input_token_bound(request)


def scope_of(ctx: RunContext, job: Job, model: Model, tags: Mapping[str, str]) -> CallScope:
    return CallScope(
        project=ctx.project,
        agent=job.agent,
        model=model.id,
        tier=model.tier.value,
        tags=dict(tags),
    )


async def reserve(
    ctx: RunContext, job: Job, model: Model, request: ModelRequest, tags: Mapping[str, str]
) -> tuple[Reservation | None, Model]:
    """Reserve the call's worst case against every budget covering it -- stepping down a tier
    when a budget says so, waiting for holds in flight when that can help -- or raise
    BudgetExceeded. The reservation runs in this thread: handing it to another one could commit
    it after a cancellation had lost its handle."""
    guard = ctx.guard
    if guard is None or not guard.covering(scope_of(ctx, job, model, tags)):
        return None, model  # no budget covers it: nothing to hold, no tokens to count
    tokens = await counted_bound(ctx, request)
    waited, pause = 0.0, FIRST_WAIT_S
    while True:
        worst = worst_case_nanos(ctx.catalog, model, tokens, request.max_tokens)
        decision = guard.reserve(scope_of(ctx, job, model, tags), worst)
        if decision.admitted:
            if waited:
                ctx.stats.budget_waits += 1
            return decision.reservation, model
        lower = model.tier.down() if decision.action == "step-down" else None
        if lower is not None:
            model = ctx.catalog.default_for(lower)
            continue
        if _holds_in_the_way(decision) and waited < ctx.budget_wait_s:
            step = min(pause, ctx.budget_wait_s - waited)
            await asyncio.sleep(step)
            waited += step
            ctx.stats.budget_wait_s += step
            pause = min(pause * 1.5, LONGEST_WAIT_S)
            continue
        ctx.stats.blocked += 1
        error = decision.error()
        if waited:
            error.message += f" (waited {waited:.1f}s for holds in flight to settle)"
        raise error


def _holds_in_the_way(decision: Decision) -> bool:
    """Whether every budget that refused the call would admit it once the holds in flight are
    settled at no cost: only then can waiting help."""
    refusing = [b for b in decision.breaches if b.budget.action != "alert"]
    return bool(refusing) and all(
        b.reserved_nanos > 0 and b.spent_nanos + b.request_nanos <= b.budget.amount_nanos
        for b in refusing
    )


def release_excess(
    ctx: RunContext, reservation: Reservation | None, model: str, usage: Usage
) -> Reservation | None:
    """Lower ``reservation`` to the real cost of ``usage`` on ``model`` (see the module
    docstring); the same reservation, smaller."""
    if reservation is None or ctx.guard is None:
        return reservation
    return ctx.guard.shrink(reservation, ctx.catalog.cost(model, usage).nanos)


def reserve_more(
    ctx: RunContext, job: Job, model: Model, tags: Mapping[str, str], nanos: int
) -> tuple[Reservation | None, Any]:
    """Admit ``nanos`` already spent by a retried attempt before the retry goes out: ``(hold,
    None)`` -- the hold is settled with the attempt's row -- or ``(None, BudgetExceeded)`` when
    the budgets cannot take the spend plus the retry still held."""
    if ctx.guard is None or nanos <= 0:
        return None, None
    decision = ctx.guard.reserve(scope_of(ctx, job, model, tags), nanos)
    if decision.admitted:
        return decision.reservation, None
    ctx.stats.blocked += 1
    return None, decision.error()
