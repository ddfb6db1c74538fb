"""What every request handler of one proxy shares, and the small ASGI helpers they use."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from gearshift.catalog import Catalog
from gearshift.ledger import Ledger
from gearshift.server.metrics import ProxyMetrics
from gearshift.server.proxy.attribution import AgentTypes
from gearshift.server.proxy.gate import BudgetGate
from gearshift.server.proxy.meter import Meter
from gearshift.server.proxy.routes import ProxyRouter
from gearshift.server.proxy.settings import ProxySettings
from gearshift.server.proxy.upstream import Upstream
from gearshift.server.proxy.wire import error_body, error_headers, local_request_id

__all__ = [
    "Disconnected",
    "Receive",
    "Scope",
    "Send",
    "Shared",
    "read_body",
    "respond",
    "respond_error",
]

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]


class Disconnected(Exception):
    """The client went away before its request was read."""


class Shared:
    """The proxy's long-lived parts (one per worker process)."""

    def __init__(
        self,
        settings: ProxySettings,
        *,
        catalog: Catalog,
        ledger: Ledger,
        gate: BudgetGate,
        meter: Meter,
        router: ProxyRouter | None,
        upstream: Upstream,
        metrics: ProxyMetrics,
        agent_types: AgentTypes | None,
        hash_key: bytes,
        upstream_key: str | None,
        token: str | None,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.ledger = ledger
        self.gate = gate
        self.meter = meter
        self.router = router
        self.upstream = upstream
        self.metrics = metrics
        self.agent_types = agent_types
        self.hash_key = hash_key
        self.upstream_key = upstream_key
        self.token = token


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The request body, or ``None`` when it is longer than ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        if chunk:
            chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def respond(send: Send, status: int, headers: Headers, body: bytes = b"") -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def respond_error(
    send: Send,
    status: int,
    error_type: str,
    message: str,
    extra: Headers | None = None,
) -> str:
    """An answer of the proxy's own in Anthropic's error shape; returns its request id."""
    request_id = local_request_id()
    body = error_body(error_type, message, request_id)
    await respond(send, status, error_headers(request_id, extra), body)
    return request_id
