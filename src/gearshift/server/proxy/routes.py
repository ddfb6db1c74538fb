"""Routing in the proxy: one decision per conversation, kept (sticky), and the edits it needs.

A conversation is one (session, agent, requested model): Claude Code asks for different models
for its main loop, its subagents and its background calls, and each is routed on its own. The
first request of a conversation runs the routing chain (:mod:`gearshift.routing`) built from the
policy file (:mod:`.policy`):

    override (the policy's session, agent and kind maps) -> agent definitions' models ->
    rules -> complexity -> the requested model -> budget pressure -> floor

and the decision is kept: in memory (least recently used forgotten past a bound) and in the
ledger (``proxy_routes``), so every worker and host on the same ledger sends the conversation to
the same model. Switching mid-conversation rewrites the prompt cache and loses thinking blocks;
only a budget stepping it down moves a kept route (and it stays moved).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from gearshift.catalog import Catalog, Model, Tier
from gearshift.errors import GearshiftError
from gearshift.ledger import Ledger
from gearshift.ledger.routes import StoredRoute, claim_route, find_route, move_route
from gearshift.routing import (
    AgentModelPolicy,
    BudgetPolicy,
    ComplexityPolicy,
    EscalationFloorPolicy,
    KeywordEstimator,
    OverridePolicy,
    Policy,
    RouteContext,
    Router,
    RulesPolicy,
    Task,
)
from gearshift.server.proxy.edits import switch_blocker
from gearshift.server.proxy.policy import KEEP, RoutePolicy

__all__ = ["Conversation", "ProxyRouter", "RequestedPolicy", "Route", "conversation_key"]

log = logging.getLogger("gearshift.proxy")

_TASK_CHARS = 4000


class Route(msgspec.Struct, frozen=True):
    """Where a conversation goes. ``model`` is what is sent upstream (the requested id itself
    when it is not changed); thinking blocks of assistant turns before message
    ``since_message`` came from another model and are dropped."""

    requested: str
    model: str
    tier: str
    policy: str
    reason: str
    since_message: int = 0

    @property
    def changed(self) -> bool:
        return self.model != self.requested


class Conversation(msgspec.Struct, frozen=True, kw_only=True):
    """What routing knows of a request, beyond its body."""

    key: str
    session: str
    agent: str
    kind: str
    requested: Model


class RequestedPolicy:
    """Decides the model the client asked for, when no earlier policy decided (not pinned: a
    budget may still step it down)."""

    name = "requested"

    def __init__(self, model: Callable[[RouteContext], Model | None]) -> None:
        self._model = model

    def apply(self, ctx: RouteContext) -> None:
        model = self._model(ctx)
        if ctx.tier is not None or model is None:
            ctx.skip(self.name, f"already decided by {ctx.decided_by}")
            return
        ctx.decide(self.name, model.tier, f"the client asked for {model.id}", model=model.id)


def conversation_key(hash_key: bytes, session: str, agent: str, requested: str) -> str:
    data = "\x1f".join((session, agent, requested)).encode()
    return hashlib.blake2b(data, key=hash_key[:64], digest_size=16).hexdigest()


class ProxyRouter:
    """Decides and keeps routes. :meth:`cached` is the hot path (memory only);
    :meth:`decide` may read and write the ledger (run it off the event loop)."""

    def __init__(
        self,
        catalog: Catalog,
        policy: RoutePolicy,
        *,
        agents: Any = None,
        ledger: Ledger | None = None,
        over_budget: Callable[[Task], bool] | None = None,
        remember: int = 100_000,
    ) -> None:
        self.catalog = catalog
        self.policy = policy
        self.ledger = ledger
        self._remember = remember
        self._routes: OrderedDict[str, Route] = OrderedDict()
        self._requested: Model | None = None
        self._over_budget = over_budget
        self._lock = threading.RLock()
        # the cue tables, not the learned estimator: a proxy routes every request inline, and
        # the keyword estimator costs microseconds where the learned one costs a millisecond
        self._router = Router(
            catalog,
            agents=agents,
            policies=self._chain(),
            always_assess=False,
            estimator=KeywordEstimator(),
        )

    def set_pressure(self, check: Callable[[Task], bool] | None) -> None:
        """Budget pressure for the chain's budget policy (refreshed by the budget gate)."""
        self._over_budget = check

    def _chain(self) -> list[Policy]:
        p = self.policy
        chain: list[Policy] = [OverridePolicy(self.catalog)]
        if p.agent_models:
            chain.append(AgentModelPolicy(self.catalog))
        if p.rules is not None:
            chain.append(RulesPolicy(p.rules))
        if p.complexity:
            chain.append(ComplexityPolicy())
        chain.append(RequestedPolicy(lambda ctx: self._requested))
        if p.budget_aware:
            chain.append(BudgetPolicy(self._pressure, floor=p.floor or Tier.HAIKU))
        chain.append(EscalationFloorPolicy())
        return chain

    def _pressure(self, task: Task) -> bool:
        check = self._over_budget
        return check is not None and check(task)

    def __len__(self) -> int:
        """How many routes are kept in memory."""
        return len(self._routes)

    def cached(self, key: str) -> Route | None:
        with self._lock:
            route = self._routes.get(key)
            if route is not None:
                self._routes.move_to_end(key)
            return route

    def _keep(self, key: str, route: Route) -> Route:
        with self._lock:
            self._routes[key] = route
            self._routes.move_to_end(key)
            if len(self._routes) > self._remember:
                self._routes.popitem(last=False)
        return route

    def decide(self, conv: Conversation, doc: dict[str, Any], prompt_bytes: int) -> Route:
        """The conversation's route: stored in the ledger already, or decided now and stored
        (first writer wins across processes)."""
        if self.ledger is not None:
            stored = find_route(self.ledger, conv.key)
            if stored is not None:
                return self._keep(conv.key, _from_stored(conv.requested, stored))
        route = self._route(conv, doc, prompt_bytes)
        if self.ledger is not None:
            stored = claim_route(self.ledger, conv.key, _to_stored(route), time.time_ns() // 1000)
            route = _from_stored(conv.requested, stored)
        return self._keep(conv.key, route)

    def _route(self, conv: Conversation, doc: dict[str, Any], prompt_bytes: int) -> Route:
        explicit = self.policy.explicit(conv.session, conv.agent, conv.kind)
        wanted = explicit[0] if explicit is not None else None
        task = Task(
            _first_text(doc) or "(no text)",
            agent=conv.agent,
            model=conv.requested.id if wanted == KEEP else wanted,
            type=conv.kind or None,
            tags=(f"agent={conv.agent}", f"request_class={conv.kind}"),
            token_estimate=None,
            min_tier=self.policy.floor,
        )
        with self._lock:  # the chain reads the requested model from self._requested
            self._requested = conv.requested
            decision = self._router.route(task)
        target = self.catalog.resolve(decision.model)
        reasons = decision.reasons
        if explicit is not None and decision.decided_by == "override":
            where = Path(self.policy.source).name
            reasons[0] = f"override: {explicit[1]} in {where} -> {explicit[0]}"
        reason = "; ".join(reasons) or f"decided by {decision.decided_by}"
        model = conv.requested.id if target.id == conv.requested.id else target.id
        if model != conv.requested.id:
            blocker = switch_blocker(doc, target, prompt_bytes)
            if blocker is not None:
                requested = conv.requested
                reason = f"stays on {requested.id}: {blocker} (chain chose {target.id})"
                return Route(requested.id, requested.id, requested.tier.value, "requested", reason)
        since = _history(doc) if model != conv.requested.id else 0
        return Route(
            conv.requested.id, model, target.tier.value, decision.decided_by, reason, since
        )

    def step_down(self, conv: Conversation, route: Route, tier: Tier, why: str, at: int) -> Route:
        """Move the conversation one tier down for a step-down budget, for good."""
        target = self.catalog.default_for(tier)
        model = conv.requested.id if target.id == conv.requested.id else target.id
        moved = Route(
            conv.requested.id,
            model,
            tier.value,
            "budget",
            why,
            at if model != route.model else route.since_message,
        )
        if self.ledger is not None:
            try:
                move_route(self.ledger, conv.key, _to_stored(moved))
            except GearshiftError as exc:  # this process keeps it; others step down themselves
                log.warning("cannot store a stepped-down route: %s", exc)
        return self._keep(conv.key, moved)


def _to_stored(route: Route) -> StoredRoute:
    return StoredRoute(route.model, route.tier, route.policy, route.reason, route.since_message)


def _from_stored(requested: Model, stored: StoredRoute) -> Route:
    return Route(
        requested.id, stored.model, stored.tier, stored.policy, stored.reason,
        stored.since_message,
    )  # fmt: skip


def _history(doc: dict[str, Any]) -> int:
    """How many messages precede the new turn (their thinking blocks are another model's)."""
    messages = doc.get("messages")
    return max(0, len(messages) - 1) if isinstance(messages, list) else 0


def _first_text(doc: dict[str, Any]) -> str:
    """The first user message's text: what the conversation was asked to do."""
    for message in doc.get("messages") or ():
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content[:_TASK_CHARS]
        if isinstance(content, list):
            parts = [b.get("text", "") for b in content if isinstance(b, dict)]
            return " ".join(p for p in parts if isinstance(p, str))[:_TASK_CHARS]
    return ""
