"""Budgets: limits on spend, held under concurrency, forecast, and alerted on.

Below the engine and the proxy (which reserve before every call) and above the ledger (where
budgets, reservations and sent alerts are stored, so a team on one PostgreSQL ledger shares them):

* :mod:`~gearshift.budgets.model` -- a budget: scope, period, amount; from the config file
  (:func:`config_budgets`) and the ledger (``gearshift budget set``);
* :mod:`~gearshift.budgets.reservations` -- reserve a call's worst case before it, settle after,
  atomically on both stores;
* :mod:`~gearshift.budgets.forecast` -- where a budget's spend lands at the end of its period;
* :mod:`~gearshift.budgets.alerts` -- 50/80/100% and forecast alerts, sent once, to sinks;
* :mod:`~gearshift.budgets.pressure` -- which tasks fall under a budget in trouble (routing);
* :mod:`~gearshift.budgets.sql` -- the SQL on the budget tables.

Names load on first use, so importing the package does not import SQLAlchemy. (The function
``forecast`` is imported from its module: the package attribute of that name is the module.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gearshift._lazy import lazy_names

if TYPE_CHECKING:
    from gearshift.budgets.alerts import sinks_from_config
    from gearshift.budgets.forecast import Forecast
    from gearshift.budgets.model import (
        Budget,
        CallScope,
        config_budgets,
        load_budgets,
        make_budget,
        period_window,
        remove_budget,
        save_budget,
        spent,
    )
    from gearshift.budgets.pressure import over_budget_check
    from gearshift.budgets.reservations import (
        Decision,
        Reservation,
        Reservations,
        worst_case_nanos,
    )

_WHERE = {
    "sinks_from_config": ".alerts",
    "Forecast": ".forecast",
    "Budget": ".model",
    "CallScope": ".model",
    "config_budgets": ".model",
    "load_budgets": ".model",
    "make_budget": ".model",
    "period_window": ".model",
    "remove_budget": ".model",
    "save_budget": ".model",
    "spent": ".model",
    "over_budget_check": ".pressure",
    "Decision": ".reservations",
    "Reservation": ".reservations",
    "Reservations": ".reservations",
    "worst_case_nanos": ".reservations",
}

__all__ = [
    "Budget",
    "CallScope",
    "Decision",
    "Forecast",
    "Reservation",
    "Reservations",
    "config_budgets",
    "load_budgets",
    "make_budget",
    "over_budget_check",
    "period_window",
    "remove_budget",
    "save_budget",
    "sinks_from_config",
    "spent",
    "worst_case_nanos",
]

__getattr__, __dir__ = lazy_names(__name__, _WHERE, __all__)
