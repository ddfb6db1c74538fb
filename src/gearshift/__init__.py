"""gearshift: put every Claude agent task on the right model tier, and know what it cost.

The public API, loaded on first use so that ``import gearshift`` stays light (no database
driver, SDK or CLI framework until a name that needs one is touched)::

    from gearshift import Ledger, load_catalog, Usage, Tier, Router, Task

    ledger = Ledger.open()
    ledger.record(agent="reviewer", model="sonnet", input_tokens=2000, output_tokens=1500)

Routing with what the ledger has learned (:func:`learned_router`, trained by
:func:`fit_ledger`) and running tasks with a strategy (:func:`run_tasks`) are one call each; the
README's "Use it from Python" shows them together.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gearshift._lazy import lazy_names

if TYPE_CHECKING:
    from gearshift.catalog import Catalog, Tier, Usage, load_catalog
    from gearshift.engine.api import run_tasks
    from gearshift.errors import GearshiftError
    from gearshift.learn.api import fit_ledger, learned_router
    from gearshift.ledger import Execution, Filters, Ledger, spend
    from gearshift.routing.router import Router
    from gearshift.routing.task import Task

__version__ = "0.1.0"

_WHERE = {
    "Catalog": "gearshift.catalog",
    "Tier": "gearshift.catalog",
    "Usage": "gearshift.catalog",
    "load_catalog": "gearshift.catalog",
    "GearshiftError": "gearshift.errors",
    "Execution": "gearshift.ledger",
    "Filters": "gearshift.ledger",
    "Ledger": "gearshift.ledger",
    "spend": "gearshift.ledger",
    "Router": "gearshift.routing.router",
    "Task": "gearshift.routing.task",
    "fit_ledger": "gearshift.learn.api",
    "learned_router": "gearshift.learn.api",
    "run_tasks": "gearshift.engine.api",
}

__all__ = [
    "Catalog",
    "Execution",
    "Filters",
    "GearshiftError",
    "Ledger",
    "Router",
    "Task",
    "Tier",
    "Usage",
    "__version__",
    "fit_ledger",
    "learned_router",
    "load_catalog",
    "run_tasks",
    "spend",
]


__getattr__, __dir__ = lazy_names(__name__, _WHERE, __all__)
