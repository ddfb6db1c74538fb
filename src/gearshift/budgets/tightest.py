"""Which budget is closest to its limit, for the status line's budget figure.

Every budget in force (the config file's and the ledger's, as ``gearshift budget status`` lists
them) whose period is running is forecast; the tightest is the one whose forecast ends its period
at the highest share of its amount (then the highest share spent, then the name). Its figures
are the ones ``budget status`` shows, as a :class:`BudgetGlance`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

from gearshift.budgets.forecast import Forecast, forecast
from gearshift.budgets.glance import BudgetGlance
from gearshift.budgets.model import Budget, load_budgets
from gearshift.ledger.record import us_from_ts

if TYPE_CHECKING:
    from gearshift.config import Config
    from gearshift.ledger.store import Ledger

__all__ = ["tightest_budget"]


def tightest_budget(
    ledger: Ledger,
    config: Config,
    now: dt.datetime | None = None,
    *,
    budgets: Sequence[Budget] | None = None,
) -> BudgetGlance | None:
    """The tightest budget running at ``now`` (default: now), or ``None`` when none is; of
    ``budgets`` when given, else of every budget in force (``config``'s and the ledger's)."""
    now = now or dt.datetime.now(dt.UTC)
    candidates = budgets if budgets is not None else load_budgets(ledger, config)
    forecasts = [forecast(ledger, b, now) for b in candidates if b.active(now)]
    if not forecasts:
        return None
    tightest = min(forecasts, key=_order)
    return BudgetGlance(
        name=tightest.budget.name,
        used_percent=tightest.used_percent,
        forecast_percent=_percent(tightest.projected_nanos, tightest.amount_nanos),
        status=tightest.status,
        period_end_us=us_from_ts(tightest.period_end),
    )


def _order(f: Forecast) -> tuple[int, int, str]:
    """Tightest first: the higher forecast share, then the higher share spent (both compared
    exactly, on a common scale), then the name."""
    scale = 10**12
    return (
        -(f.projected_nanos * scale // f.amount_nanos),
        -(f.spent_nanos * scale // f.amount_nanos),
        f.budget.name,
    )


def _percent(part: int, whole: int) -> int:
    """``part`` as a whole percentage of ``whole``, rounded half up."""
    return (part * 200 + whole) // (2 * whole)
