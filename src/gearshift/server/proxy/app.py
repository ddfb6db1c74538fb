"""The proxy as an ASGI application: endpoints, access control, start-up and shutdown.

Endpoints (paths are matched without their query, so ``/v1/messages?beta=true`` is the Messages
endpoint):

* ``POST /v1/messages`` -- metered, routed and budgeted (:mod:`.relay`);
* ``POST /v1/messages/count_tokens`` -- relayed, never metered or refused; sent to the model the
  conversation is routed to (tokenizers differ between models);
* ``HEAD /``, ``HEAD /api/hello`` -- Claude Code's connection probes, answered here at once;
* ``GET /metrics`` -- Prometheus metrics;
* any other ``/v1/...`` (``GET /v1/models`` included) -- relayed as it is;
* ``/dashboard/...`` -- with ``--dashboard``, the dashboard (:mod:`gearshift.server.dashboard`)
  over the same ledger, read-only; it checks the access token its own way (a browser cannot
  send a header: ``?token=`` once, then a cookie).

With an access token every request must carry it in ``x-gearshift-token`` (Claude Code sends it
with ``ANTHROPIC_CUSTOM_HEADERS``); a missing or wrong one gets Anthropic's 401. Bodies over the
size limit get Anthropic's 413 before they are read to the end.

Start-up opens the upstream pool, reads the budgets, starts the meter and moves what it built
out of the garbage collector's reach (:func:`gc.freeze`); shutdown (SIGTERM:
the server first lets in-flight responses finish) stops taking budgets, writes what the meter
holds and closes the pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from typing import TYPE_CHECKING

import aiohttp
import msgspec

from gearshift.errors import GearshiftError
from gearshift.server.metrics import CONTENT_TYPE
from gearshift.server.proxy.attribution import attribute, credential_hash
from gearshift.server.proxy.edits import splice_model
from gearshift.server.proxy.relay import credential_of, messages, pick_headers
from gearshift.server.proxy.routes import conversation_key
from gearshift.server.proxy.state import (
    Disconnected,
    Receive,
    Scope,
    Send,
    Shared,
    read_body,
    respond,
    respond_error,
)
from gearshift.server.proxy.upstream import forward_headers, is_oauth, response_headers
from gearshift.server.security import token_matches

if TYPE_CHECKING:
    from gearshift.server.dashboard.app import DashboardApp

__all__ = ["DASHBOARD_PREFIX", "ProxyApp"]

#: Where ``--dashboard`` serves the dashboard's pages and API.
DASHBOARD_PREFIX = "/dashboard"

log = logging.getLogger("gearshift.proxy")

_PROBES = frozenset({"/", "/api/hello"})
_TOKEN = b"x-gearshift-token"
_METRICS_TYPE = CONTENT_TYPE.encode()


class _Model(msgspec.Struct):
    model: str = ""


class ProxyApp:
    """The ASGI callable. Build it with :func:`gearshift.server.proxy.build_app`."""

    def __init__(self, shared: Shared, dashboard: DashboardApp | None = None) -> None:
        self.shared = shared
        self.dashboard = dashboard
        self._tasks: list[asyncio.Task[None]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            if self.dashboard is not None and _under(scope["path"], DASHBOARD_PREFIX):
                root = scope.get("root_path", "") + DASHBOARD_PREFIX
                routed = {**scope, "root_path": root}
                await self.dashboard(routed, receive, send)  # type: ignore[arg-type]  # ASGI Send, typed by two libraries
                return
            await self.http(scope, receive, send)
        elif kind == "lifespan":
            await self.lifespan(receive, send)

    # -- lifespan ----------------------------------------------------------------------------

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except GearshiftError as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def startup(self) -> None:
        sh = self.shared
        await sh.upstream.start()
        await asyncio.to_thread(sh.gate.refresh)
        if sh.router is not None:
            sh.router.set_pressure(sh.gate.pressure)
        self._tasks = [
            asyncio.create_task(sh.meter.run(), name="gearshift-meter"),
            asyncio.create_task(self._budgets(), name="gearshift-budgets"),
        ]
        # What start-up made (modules, the catalog, SQLAlchemy's tables, the agent definitions)
        # lives as long as the process: kept out of the cyclic collector's full passes, which
        # would otherwise walk all of it, stopping the event loop, every few thousand requests.
        gc.collect()
        gc.freeze()

    async def _budgets(self) -> None:
        sh = self.shared
        while True:
            await asyncio.sleep(sh.gate.refresh_s)
            try:
                await asyncio.to_thread(sh.gate.refresh)
            except GearshiftError as exc:
                sh.metrics.ledger_errors.labels("budgets").inc()
                log.warning("cannot re-read budgets (the last ones stay in force): %s", exc)
            if sh.router is not None:
                sh.router.set_pressure(sh.gate.pressure)

    async def shutdown(self) -> None:
        sh = self.shared
        meter_task, budgets_task = self._tasks or (None, None)
        if budgets_task is not None:
            budgets_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await budgets_task
        await sh.meter.close()  # waits for a write in progress, then writes the rest
        if meter_task is not None:
            await meter_task
        sh.meter.writer.close()
        self._tasks = []
        await sh.upstream.close()
        if self.dashboard is not None:
            await self.dashboard.close()

    # -- requests ----------------------------------------------------------------------------

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request; an unexpected error still gets an answer in Anthropic's shape
        (when nothing was sent yet) and never reaches the server."""
        started = False

        async def tracked(message: dict[str, object]) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self._http(scope, receive, tracked)
        except Exception:
            log.exception("gearshift proxy error on %s %s", scope["method"], scope["path"])
            if not started:
                await respond_error(send, 500, "api_error", "internal error in the proxy")

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        sh = self.shared
        if sh.token is not None and not self._authorised(scope["headers"], sh.token):
            await respond_error(
                send,
                401,
                "authentication_error",
                "this gearshift proxy needs its access token in the x-gearshift-token header",
            )
            return
        method, path = scope["method"], scope["path"]
        if method == "HEAD" and path in _PROBES:
            await respond(send, 200, [(b"content-length", b"0")])
            return
        if method == "GET" and path == "/metrics":
            await respond(send, 200, [(b"content-type", _METRICS_TYPE)], sh.metrics.render())
            return
        if not path.startswith("/v1/"):
            await respond_error(send, 404, "not_found_error", f"no route for {method} {path}")
            return
        try:
            body = await self._body(scope, receive, send)
        except Disconnected:
            return
        if body is None:
            return
        if method == "POST" and path == "/v1/messages":
            await messages(sh, scope, receive, send, body)
        elif method == "POST" and path == "/v1/messages/count_tokens":
            await self.passthrough(scope, send, self._routed_count(scope, body), "count_tokens")
        else:
            await self.passthrough(scope, send, body, "other")

    @staticmethod
    def _authorised(headers: list[tuple[bytes, bytes]], token: str) -> bool:
        given = next((v for k, v in headers if k == _TOKEN), None)
        return token_matches(given.decode("latin-1") if given is not None else None, token)

    async def _body(self, scope: Scope, receive: Receive, send: Send) -> bytes | None:
        limit = self.shared.settings.max_body_bytes
        declared = b""
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value
                break
        if declared.isdigit() and int(declared) > limit:
            body = None
        else:
            body = await read_body(receive, limit)
        if body is None:
            await respond_error(
                send,
                413,
                "request_too_large",
                f"Request exceeds the maximum allowed number of bytes ({limit:,}).",
                [(b"connection", b"close")],
            )
        return body

    def _routed_count(self, scope: Scope, body: bytes) -> bytes:
        """A count_tokens body sent to the model its conversation is routed to, if any."""
        sh = self.shared
        if sh.router is None:
            return body
        try:
            model = msgspec.json.decode(body, type=_Model).model
        except (msgspec.DecodeError, msgspec.ValidationError):
            return body
        picked = pick_headers(scope["headers"])
        credential = credential_of(picked)
        who = attribute(
            picked,
            body=b"",
            session_hint="",
            credential=credential_hash(sh.hash_key, credential) if credential else "",
            types=None,
        )
        owner = who.agent_id or who.explicit or who.agent
        key = conversation_key(sh.hash_key, who.session or who.credential, owner, model)
        route = sh.router.cached(key)
        if route is None or not route.changed:
            return body
        return splice_model(body, route.model) or body

    async def passthrough(self, scope: Scope, send: Send, body: bytes, endpoint: str) -> None:
        """Relay a request and its answer unchanged; nothing is metered or refused."""
        sh = self.shared
        headers = scope["headers"]
        fwd = forward_headers(headers, sh.upstream_key, oauth=is_oauth(headers))
        path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        started = False
        status = 502
        try:
            async with sh.upstream.request(
                scope["method"], path, scope["query_string"], fwd, body
            ) as resp:
                status = resp.status
                await send({"type": "http.response.start", "status": status,
                            "headers": response_headers(resp.raw_headers)})  # fmt: skip
                started = True
                async for chunk in resp.content.iter_any():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except (OSError, TimeoutError, aiohttp.ClientError) as exc:
            if not started:
                timeout = isinstance(exc, TimeoutError)
                status = 504 if timeout else 502
                await respond_error(
                    send,
                    status,
                    "timeout_error" if timeout else "api_error",
                    "the upstream API cannot be reached",
                    [(b"x-should-retry", b"true")],
                )
            else:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        sh.metrics.request(endpoint, "-", "-", "-", status)


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")
