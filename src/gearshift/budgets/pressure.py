"""Budget pressure for budget-aware routing: which tasks fall under a budget in trouble.

The routing chain's budget policy asks one question per task -- "is spend forecast to exceed a
budget that covers this task?" -- and steps low-priority tasks down a tier when it is. This module
answers it from the ledger's budgets and their forecasts, computed once per run (a forecast is a
query; routing is on every task's hot path).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from gearshift.budgets.forecast import forecast
from gearshift.budgets.model import Budget, CallScope, load_budgets
from gearshift.config import Config

if TYPE_CHECKING:
    from gearshift.ledger.store import Ledger


class Tagged(Protocol):
    """What pressure needs of a task: its agent and its ``KEY=VALUE`` tags."""

    @property
    def agent(self) -> str | None: ...

    @property
    def tags(self) -> Sequence[str]: ...


__all__ = ["TROUBLE", "Tagged", "over_budget_check"]

#: Forecast statuses that count as pressure.
TROUBLE = ("breached", "forecast-breach")


def over_budget_check(
    ledger: Ledger,
    *,
    config: Config,
    project: str = "",
    budgets: Sequence[Budget] | None = None,
    now: dt.datetime | None = None,
    tz: dt.tzinfo | None = None,
) -> Callable[[Tagged], bool] | None:
    """A predicate for :class:`~gearshift.routing.policies.BudgetPolicy`, or ``None`` when no
    budget is in trouble. Budgets scoped to a model or tier are left out: before routing, a task
    has neither (they are still enforced on every call)."""
    now = now or dt.datetime.now(dt.UTC)
    candidates = budgets if budgets is not None else load_budgets(ledger, config)
    hot = [
        b
        for b in candidates
        if b.scope not in ("model", "tier")
        and b.active(now, tz)
        and forecast(ledger, b, now, tz).status in TROUBLE
    ]
    if not hot:
        return None

    def check(task: Tagged) -> bool:
        tags = dict(t.split("=", 1) for t in task.tags if "=" in t)
        scope = CallScope(project=project, agent=task.agent or "default", tags=tags)
        return any(b.covers(scope) for b in hot)

    return check
