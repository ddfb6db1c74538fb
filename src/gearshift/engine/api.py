"""Run tasks from Python in one call: :func:`run_tasks`.

The engine's parts (jobs, a provider inside the retry loop, a router, a run context, the runner)
assembled with sensible defaults: the ``sim`` provider unless told otherwise, the ledger's learned
router when a ledger is given (the rubric chain otherwise), every attempt recorded in the ledger.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from gearshift.engine.context import RunContext
from gearshift.engine.job import Job
from gearshift.engine.runner import RunReport, run_jobs
from gearshift.engine.validator_specs import validator_from_spec
from gearshift.engine.validators import Validator
from gearshift.routing.task import Task

if TYPE_CHECKING:
    from gearshift.catalog import Catalog
    from gearshift.ledger.store import Ledger
    from gearshift.providers.base import Provider
    from gearshift.routing.router import Router

__all__ = ["run_tasks"]


def run_tasks(
    tasks: Iterable[Task | str],
    *,
    strategy: str = "tiered",
    provider: str | Provider = "sim",
    ledger: Ledger | None = None,
    router: Router | None = None,
    validators: Sequence[Validator | dict[str, Any]] = (),
    catalog: Catalog | None = None,
    concurrency: int = 8,
    seed: int = 0,
) -> RunReport:
    """Run every task with ``strategy`` (``single``, ``tiered``, ``confidence``, ...) and return
    the report. ``provider`` is a provider or a registered name (``sim`` runs offline, instantly);
    ``validators`` (objects or specs such as ``{"type": "regex", "must_match": "PASS"}``) check
    every answer, which is what makes a failure escalate and an outcome worth learning from.
    Without ``router``, a ledger's :func:`~gearshift.learn.learned_router` is used."""
    from gearshift.catalog import load_catalog
    from gearshift.providers import RetryingProvider, get_provider

    if catalog is None:
        catalog = ledger.catalog if ledger is not None else load_catalog()
    if router is None:
        router = _default_router(ledger, catalog)
    if isinstance(provider, str):
        options: dict[str, Any] = {"catalog": catalog}
        if provider == "sim":
            options.update(seed=seed, time_scale=0.0)
        provider = RetryingProvider(get_provider(provider, **options))
    checks = tuple(
        v if not isinstance(v, dict) else validator_from_spec(v, where=f"validators[{i}]")
        for i, v in enumerate(validators)
    )
    jobs = [
        Job(
            id=f"task-{i + 1}",
            task=t if isinstance(t, Task) else Task(t),
            strategy=strategy,
            validators=checks,
        )
        for i, t in enumerate(tasks)
    ]
    ctx = RunContext(
        provider=provider,
        catalog=catalog,
        router=router,
        ledger=ledger,
        source="sim" if getattr(provider, "name", "") == "sim" else "api",
        concurrency=concurrency,
    )
    return run_jobs(ctx, jobs)


def _default_router(ledger: Ledger | None, catalog: Catalog) -> Router:
    from gearshift.routing.features import sklearn_available
    from gearshift.routing.router import Router

    if ledger is None or not sklearn_available():
        return Router(catalog)
    from gearshift.learn.api import learned_router

    return learned_router(ledger)
