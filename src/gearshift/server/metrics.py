"""Prometheus instruments for the proxy: requests, tokens, cost, refusals, routes and timings.

Labels stay few: agent, model and tier (plus endpoint, status, kind or policy where they say
something). Agent and model names come from clients and upstream answers, so each label keeps
the first :data:`MAX_NAMES` distinct values it sees and folds the rest into ``other``: a client
inventing agent names cannot grow the series without bound.

With several worker processes (``gearshift proxy --workers N``) the instruments write to
``$PROMETHEUS_MULTIPROC_DIR`` and :meth:`ProxyMetrics.render` sums every worker's values, so any
worker's ``/metrics`` answers for the whole server.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

__all__ = ["CONTENT_TYPE", "MAX_NAMES", "OTHER", "Folder", "ProxyMetrics"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
#: Distinct agent (or model) names kept per label before the rest become :data:`OTHER`.
MAX_NAMES = 50
OTHER = "other"
_TOKEN_KINDS = ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read")
#: Seconds: the proxy's own overhead is sub-millisecond, a model's answer takes seconds.
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
                    60, 120, 300, 600)  # fmt: skip


class Folder:
    """Keeps the first ``limit`` distinct names and answers :data:`OTHER` for later ones."""

    def __init__(self, limit: int = MAX_NAMES) -> None:
        self.limit = limit
        self._kept: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, name: str) -> str:
        if name in self._kept:
            return name
        with self._lock:
            if len(self._kept) < self.limit:
                self._kept.add(name)
                return name
        return OTHER


class ProxyMetrics:
    """The proxy's instruments, in a registry of their own (several proxies in one test process
    do not collide)."""

    def __init__(self, *, max_names: int = MAX_NAMES) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.agent = Folder(max_names)
        self.model = Folder(max_names)
        self._children: dict[tuple[Any, ...], Any] = {}
        r = self.registry
        self.requests = Counter(
            "gearshift_proxy_requests",
            "Requests answered, by endpoint, agent, served model, tier and HTTP status.",
            ["endpoint", "agent", "model", "tier", "status"],
            registry=r,
        )
        self.tokens = Counter(
            "gearshift_proxy_tokens",
            "Tokens metered, by agent, model, tier and kind (input, output, cache writes, reads).",
            ["agent", "model", "tier", "kind"],
            registry=r,
        )
        self.cost = Counter(
            "gearshift_proxy_cost_usd",
            "Cost metered in USD (the ledger keeps the exact amount).",
            ["agent", "model", "tier"],
            registry=r,
        )
        self.blocked = Counter(
            "gearshift_proxy_blocked",
            "Requests refused before going upstream, by agent and reason.",
            ["agent", "reason"],
            registry=r,
        )
        self.routes = Counter(
            "gearshift_proxy_route_decisions",
            "Routing decisions (once per conversation, and each budget step-down), by the tier "
            "chosen, the policy that decided and whether the model changed.",
            ["tier", "policy", "changed"],
            registry=r,
        )
        self.latency = Histogram(
            "gearshift_proxy_latency_seconds",
            "Time from request to the end of the response, by endpoint and served model.",
            ["endpoint", "model"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "gearshift_proxy_time_to_first_token_seconds",
            "Time from request to the first content of a streamed answer, by served model.",
            ["model"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "gearshift_proxy_in_flight",
            "Requests being served.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.ledger_errors = Counter(
            "gearshift_proxy_ledger_errors",
            "Ledger writes or budget checks that failed (rows are kept and retried).",
            ["operation"],
            registry=r,
        )

    def _child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, kept: looking a child up by its labels validates them
        and takes a lock on every call, and a request touches several."""
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def request(self, endpoint: str, agent: str, model: str, tier: str, status: int) -> None:
        agent, model = self.agent(agent), self.model(model)
        self._child(self.requests, endpoint, agent, model, tier, str(status)).inc()

    def usage(
        self, agent: str, model: str, tier: str, counts: tuple[int, ...], cost_nanos: int
    ) -> None:
        """Tokens by kind (``counts`` in the order input, output, 5m write, 1h write, read)."""
        agent, model = self.agent(agent), self.model(model)
        for kind, count in zip(_TOKEN_KINDS, counts, strict=True):
            if count:
                self._child(self.tokens, agent, model, tier, kind).inc(count)
        if cost_nanos:
            self._child(self.cost, agent, model, tier).inc(cost_nanos / 1e9)

    def refused(self, agent: str, reason: str) -> None:
        self._child(self.blocked, self.agent(agent), reason).inc()

    def routed(self, tier: str, policy: str, *, changed: bool) -> None:
        self._child(self.routes, tier, policy, "true" if changed else "false").inc()

    def timing(self, endpoint: str, model: str, seconds: float, ttft: float | None) -> None:
        model = self.model(model)
        self._child(self.latency, endpoint, model).observe(seconds)
        if ttft is not None:
            self._child(self.ttft, model).observe(ttft)

    def render(self) -> bytes:
        """The exposition text: this process's instruments, or every worker's when several
        share ``$PROMETHEUS_MULTIPROC_DIR``."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            merged = CollectorRegistry()
            MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
            return bytes(generate_latest(merged))
        return bytes(generate_latest(self.registry))
