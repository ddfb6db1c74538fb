"""Execution strategies, one small module each, behind one signature:

``async def run(ctx: RunContext, job: Job, plan: Plan) -> JobOutcome``

``plan`` carries the routing decision (the starting tier) and the prompt with the outputs of the
job's dependencies folded in. Strategies are looked up by name, lazily, like providers.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from gearshift.errors import DefinitionError

if TYPE_CHECKING:
    from gearshift.engine.context import RunContext
    from gearshift.engine.job import Job, JobOutcome
    from gearshift.engine.strategies.base import Plan

__all__ = ["STRATEGIES", "Strategy", "get_strategy"]

Strategy = Callable[["RunContext", "Job", "Plan"], Awaitable["JobOutcome"]]

#: name -> "module:function"
STRATEGIES: dict[str, str] = {
    "single": "gearshift.engine.strategies.single:run",
    "tiered": "gearshift.engine.strategies.tiered:run",
    "confidence": "gearshift.engine.strategies.confidence:run",
    "batch": "gearshift.engine.strategies.batch:run",
    "exemplar": "gearshift.engine.strategies.exemplar:run",
}


def get_strategy(name: str) -> Strategy:
    target = STRATEGIES.get(name)
    if target is None:
        raise DefinitionError(
            f"unknown strategy {name!r}", hint=f"use one of: {', '.join(sorted(STRATEGIES))}"
        )
    module, _, func = target.partition(":")
    strategy: Strategy = getattr(importlib.import_module(module), func)
    return strategy
