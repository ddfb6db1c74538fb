"""Routing policies: each looks at a task and decides its tier, adjusts it, or passes.

A :class:`Policy` has a ``name`` and an ``apply(ctx)`` that records exactly one step on the
:class:`~gearshift.routing.context.RouteContext`. Policies that *decide* only act while no
earlier policy has decided; policies that *adjust* only move a tier that exists and is not
pinned. The default chain (see :mod:`gearshift.routing.router`) is::

    override -> sticky -> agent -> rules -> complexity -> objective -> load -> budget -> escalation

* ``override``: the task's explicit ``model`` (dispatch-time override) — decides and pins.
* ``sticky``: a task continuing a session keeps the session's model (switching mid-context costs
  coherence and the prompt cache) — decides and pins; only escalation may move it, and up.
* ``agent``: the agent's declared static model (``inherit`` and undeclared models pass).
* ``rules``: the first matching rule of a ``task-router`` file (:mod:`~gearshift.routing.rules`).
* ``complexity``: the rubric tier of the task's scores, label or estimate.
* ``objective``: on a rubric near-tie, cost and speed round down, quality rounds up.
* ``load``: queue above the high-water mark sheds low-priority work to haiku; below the
  low-water mark, quality is preferred.
* ``budget``: when spend is forecast to exceed a budget, low-priority work steps down a tier,
  never below a floor.
* ``escalation``: never below the task's ``min_tier`` (escalation only goes up).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from gearshift.catalog import Catalog, Tier
from gearshift.errors import ConfigError, UnknownModel
from gearshift.routing.context import RouteContext
from gearshift.routing.task import Objective, Priority, Task

__all__ = [
    "AgentModelPolicy",
    "BudgetPolicy",
    "ComplexityPolicy",
    "EscalationFloorPolicy",
    "LoadPolicy",
    "ObjectivePolicy",
    "OverridePolicy",
    "Policy",
    "SessionMemory",
    "StickyPolicy",
]


@runtime_checkable
class Policy(Protocol):
    """One link of the routing chain. ``apply`` must record exactly one step on ``ctx``."""

    name: str

    def apply(self, ctx: RouteContext) -> None: ...


def _resolve(catalog: Catalog, value: str) -> tuple[Tier, str]:
    """A tier name or model id -> (tier, model id)."""
    model = catalog.resolve(value)
    return model.tier, model.id


@dataclass(slots=True)
class OverridePolicy:
    """The task's own ``model`` (tier or id) wins, as a dispatch-time override should."""

    catalog: Catalog
    name: str = "override"

    def apply(self, ctx: RouteContext) -> None:
        wanted = ctx.task.model
        if wanted is None:
            ctx.skip(self.name, "no model on the task")
            return
        try:
            tier, model_id = _resolve(self.catalog, wanted)
        except UnknownModel as exc:
            raise ConfigError(f"task model: {exc.message}", hint=exc.hint) from None
        ctx.decide(
            self.name,
            tier,
            f"the task asks for {wanted}",
            {"model": wanted},
            model=model_id,
            pin=True,
        )


@dataclass(slots=True)
class SessionMemory:
    """Which tier and model each session runs on, bounded (least recently used forgotten).

    Thread-safe. In-process by default; a shared store can implement the same three methods.
    """

    max_sessions: int = 100_000
    _items: OrderedDict[str, tuple[Tier, str]] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, session: str) -> tuple[Tier, str] | None:
        with self._lock:
            found = self._items.get(session)
            if found is not None:
                self._items.move_to_end(session)
            return found

    def remember(self, session: str, tier: Tier, model: str) -> None:
        with self._lock:
            self._items[session] = (tier, model)
            self._items.move_to_end(session)
            while len(self._items) > self.max_sessions:
                self._items.popitem(last=False)

    def forget(self, session: str) -> None:
        with self._lock:
            self._items.pop(session, None)


@dataclass(slots=True)
class StickyPolicy:
    """A task continuing a session keeps the model the session started with.

    The router calls :meth:`settle` after each decision so the session remembers its model;
    an escalated task (``min_tier`` above the session's tier) moves the session up with it.
    """

    memory: SessionMemory = field(default_factory=SessionMemory)
    name: str = "sticky"

    def apply(self, ctx: RouteContext) -> None:
        session = ctx.task.session
        if session is None:
            ctx.skip(self.name, "the task continues no session")
            return
        if ctx.tier is not None:
            ctx.skip(self.name, f"already decided by {ctx.decided_by}", {"session": session})
            return
        known = self.memory.get(session)
        if known is None:
            ctx.skip(self.name, "first task of its session", {"session": session})
            return
        tier, model = known
        ctx.decide(
            self.name,
            tier,
            f"session {session} runs on {model}; switching mid-context loses coherence and cache",
            {"session": session, "model": model},
            model=model,
            pin=True,
        )

    def settle(self, task: Task, tier: Tier, model: str) -> None:
        if task.session is not None:
            self.memory.remember(task.session, tier, model)


@dataclass(slots=True)
class AgentModelPolicy:
    """The agent definition's declared model, when it declares one (not ``inherit``)."""

    catalog: Catalog
    name: str = "agent"

    def apply(self, ctx: RouteContext) -> None:
        agent = ctx.agent
        if ctx.tier is not None:
            ctx.skip(self.name, f"already decided by {ctx.decided_by}")
        elif agent is None:
            ctx.skip(self.name, "no agent definition for the task")
        elif not agent.model_declared:
            ctx.skip(self.name, f"agent {agent.name} declares no model", {"agent": agent.name})
        elif agent.inherits:
            ctx.skip(self.name, f"agent {agent.name} inherits its parent's model")
        else:
            tier, model_id = _resolve(self.catalog, agent.model_text)
            ctx.decide(
                self.name,
                tier,
                f"agent {agent.name} declares model {agent.model_text}",
                {"agent": agent.name, "model": agent.model_text, "line": agent.model_line},
                model=model_id,
            )


@dataclass(slots=True)
class ComplexityPolicy:
    """The rubric's tier for the task's assessment (scores, label or estimate)."""

    name: str = "complexity"

    def apply(self, ctx: RouteContext) -> None:
        if ctx.tier is not None:
            ctx.skip(self.name, f"already decided by {ctx.decided_by}")
            return
        a = ctx.assessment()
        tier = ctx.rubric.tier_for(a)
        s = a.scores
        if a.source == "label" and a.label is not None:
            reason = f"complexity {a.label.value} -> {tier.value}"
        else:
            th = ctx.rubric.thresholds
            reason = (
                f"{a.source} scores {s.multi_step}+{s.judgment}+{s.stakes}={s.total} -> "
                f"{tier.value} (haiku <= {th.haiku_max} < sonnet <= {th.sonnet_max} < opus)"
            )
        ctx.decide(self.name, tier, reason, {"scores": s.as_tuple(), "source": a.source})


@dataclass(slots=True)
class ObjectivePolicy:
    """Breaks rubric near-ties by the task's objective (cost, quality or speed).

    Only tiers the rubric decided are touched, and only when the total sits on the edge of its
    band: at the bottom edge cost and speed take the tier below; at the top edge quality takes
    the tier above. Labels carry no such nuance and are left alone.
    """

    name: str = "objective"

    def apply(self, ctx: RouteContext) -> None:
        objective = ctx.task.objective
        if objective is None:
            ctx.skip(self.name, "no objective on the task")
            return
        a = ctx.peek_assessment()
        if ctx.tier is None or ctx.pinned or ctx.decided_by != "complexity" or a is None:
            ctx.skip(self.name, f"tier came from {ctx.decided_by}, not a rubric tie")
            return
        if a.source == "label":
            ctx.skip(self.name, "a complexity label has no near-ties")
            return
        edge = ctx.rubric.edge(a.scores.total)
        inputs = {"objective": objective.value, "total": a.scores.total, "edge": edge}
        if edge == "low" and objective in {Objective.COST, Objective.SPEED}:
            lower = ctx.tier.down()
            if lower is not None:
                ctx.adjust(
                    self.name,
                    lower,
                    f"total {a.scores.total} is the lowest of its band; {objective.value} wins",
                    inputs,
                )
                return
        if edge == "high" and objective is Objective.QUALITY:
            higher = ctx.tier.up()
            if higher is not None:
                ctx.adjust(
                    self.name,
                    higher,
                    f"total {a.scores.total} is the highest of its band; quality wins",
                    inputs,
                )
                return
        ctx.skip(self.name, f"no tie to break for {objective.value}", inputs)


@dataclass(slots=True)
class LoadPolicy:
    """The article's load-aware routing, from the engine's queue depth.

    Above ``high_water`` tasks below ``protect`` priority go to haiku and protected ones keep
    their tier; below ``low_water`` tasks are raised to at least ``idle_tier`` (quality while
    there is capacity) unless their objective is cost; in between, nothing changes. Depth
    comes from the route call, else from ``depth`` (e.g. the engine queue's ``qsize``).
    """

    high_water: int = 100
    low_water: int = 20
    protect: Priority = Priority.HIGH
    idle_tier: Tier | None = Tier.SONNET
    depth: Callable[[], int] | None = None
    name: str = "load"

    def __post_init__(self) -> None:
        if not 0 <= self.low_water <= self.high_water:
            raise ConfigError(
                f"load marks must satisfy 0 <= low ({self.low_water}) <= high ({self.high_water})"
            )

    def apply(self, ctx: RouteContext) -> None:
        depth = ctx.queue_depth
        if depth is None and self.depth is not None:
            depth = self.depth()
        if depth is None:
            ctx.skip(self.name, "queue depth unknown")
            return
        tier = ctx.tier
        if tier is None or ctx.pinned:
            ctx.skip(self.name, f"{ctx.decided_by} is final", {"queue_depth": depth})
            return
        inputs = {"queue_depth": depth, "high_water": self.high_water, "low_water": self.low_water}
        if depth > self.high_water:
            if ctx.task.priority.rank >= self.protect.rank:
                ctx.skip(
                    self.name,
                    f"queue {depth} > {self.high_water}: high priority keeps {tier}",
                    inputs,
                )
            elif tier is not Tier.HAIKU:
                ctx.adjust(
                    self.name,
                    Tier.HAIKU,
                    f"queue {depth} > {self.high_water}: low priority -> haiku",
                    inputs,
                )
            else:
                ctx.skip(self.name, f"queue {depth} > {self.high_water}: already haiku", inputs)
        elif depth < self.low_water and self.idle_tier is not None and tier < self.idle_tier:
            if ctx.task.objective is Objective.COST:
                ctx.skip(
                    self.name, f"queue {depth} < {self.low_water} but objective is cost", inputs
                )
            else:
                ctx.adjust(
                    self.name,
                    self.idle_tier,
                    f"queue {depth} < {self.low_water}: capacity to spare, quality preferred",
                    inputs,
                )
        else:
            ctx.skip(self.name, f"queue {depth}: standard assignment", inputs)


@dataclass(slots=True)
class BudgetPolicy:
    """Steps low-priority work down a tier while spend is forecast to exceed a budget.

    ``over_budget(task)`` answers whether the budgets covering ``task`` are forecast to be
    exceeded (the money-control module provides it). Never below ``floor``; tasks at or above
    ``protect`` priority and pinned tasks are not touched.
    """

    over_budget: Callable[[Task], bool]
    floor: Tier = Tier.HAIKU
    protect: Priority = Priority.HIGH
    name: str = "budget"

    def apply(self, ctx: RouteContext) -> None:
        tier = ctx.tier
        if tier is None or ctx.pinned:
            ctx.skip(self.name, f"{ctx.decided_by} is final")
            return
        if not self.over_budget(ctx.task):
            ctx.skip(self.name, "spend forecast within budget")
            return
        inputs = {"over_budget": True, "floor": self.floor.value}
        lower = tier.down()
        if ctx.task.priority.rank >= self.protect.rank:
            ctx.skip(
                self.name, f"over budget, but {ctx.task.priority.value} priority is kept", inputs
            )
        elif lower is None or lower < self.floor:
            ctx.skip(self.name, f"over budget, but {tier} is the floor", inputs)
        else:
            ctx.adjust(self.name, lower, f"spend forecast over budget: {tier} -> {lower}", inputs)


@dataclass(slots=True)
class EscalationFloorPolicy:
    """No decision goes below the task's ``min_tier``: escalation only moves up."""

    name: str = "escalation"

    def apply(self, ctx: RouteContext) -> None:
        floor = ctx.task.min_tier
        if floor is None:
            ctx.skip(self.name, "no escalation floor")
        elif ctx.tier is None or ctx.tier < floor:
            ctx.adjust(self.name, floor, f"escalated: at least {floor}", {"min_tier": floor.value})
        else:
            ctx.skip(self.name, f"{ctx.tier} is at or above the floor {floor}")
