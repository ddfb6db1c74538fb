"""The dashboard as an ASGI app: :func:`create_app` over a ledger, for ``gearshift serve`` and
for any server that mounts it (the proxy can serve the same pages under a path of its own:
links follow the ASGI ``root_path``).

Routes (every one ``GET``/``HEAD``; see docs/api.md for the API)::

    /                      Overview        /api/overview (/api/spend, /api/summary, /api/budgets)
    /agents                Agents          /api/agents
    /executions[/{id}]     Executions      /api/executions[/{id}]
    /live                  Live            /api/live (server-sent events; ?once=1: one snapshot)
    /metrics               Prometheus      /api/health
    /static/app.js, /static/app.css

Work that reads the ledger runs on worker threads (the event loop keeps serving the live
stream); errors become a status and a one-line message, never a traceback.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from importlib import resources
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse
from starlette.routing import Route

from gearshift.errors import ConfigError, GearshiftError, LedgerError
from gearshift.ledger.browse import parse_cursor
from gearshift.server.dashboard import api, pages
from gearshift.server.dashboard.api import Dashboard, dumps
from gearshift.server.dashboard.background import Background
from gearshift.server.dashboard.collector import LedgerCollector
from gearshift.server.dashboard.guard import Guard
from gearshift.server.dashboard.layout import esc, shell
from gearshift.server.dashboard.live import LiveFeed
from gearshift.server.dashboard.params import (
    MAX_LIMIT,
    Query,
    read_by,
    read_int,
    read_query,
    read_stack,
)

if TYPE_CHECKING:
    from gearshift.catalog import Catalog
    from gearshift.config import Config
    from gearshift.insight.roster import Predictor
    from gearshift.ledger.store import Ledger

__all__ = ["DashboardApp", "create_app"]

#: The overview's window when the page is opened without one.
OVERVIEW_SINCE = "30d"
#: How long the Agents page waits for true cost and advice before it shows them as coming.
AGENTS_WAIT = 3.0
_STATIC = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}


def create_app(
    ledger: Ledger,
    config: Config,
    catalog: Catalog,
    *,
    token: str | None = None,
    tz: str | None = None,
    predictor: Predictor | None = None,
    live_interval: float = 1.0,
    metrics_ttl: float = 5.0,
    max_agents: int = 50,
    owns_ledger: bool = False,
) -> DashboardApp:
    """The dashboard over ``ledger`` (open it with ``Ledger.open_read_only``): pages, JSON API,
    live stream and ``/metrics``. ``token`` guards it (required beyond loopback, see
    :func:`gearshift.server.security.require_safe_bind`); ``tz`` is the zone of days when a
    request names none (default: the local zone); ``predictor`` gives P(success) per tier on
    the Agents page once a tier predictor is trained. ``owns_ledger``: :meth:`DashboardApp.close`
    closes ``ledger`` too."""
    board = Dashboard(ledger, config, catalog, tz, predictor)
    live = LiveFeed(ledger, interval=live_interval)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LedgerCollector(ledger, config, ttl=metrics_ttl, max_agents=max_agents))

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        await live.close()

    app = Starlette(routes=_routes(board, live, registry), lifespan=lifespan)
    return DashboardApp(app, token, live, ledger if owns_ledger else None)


class DashboardApp(Guard):
    """The dashboard's ASGI app, with what a server needs to stop it promptly."""

    def __init__(
        self, app: Starlette, token: str | None, live: LiveFeed, ledger: Ledger | None = None
    ) -> None:
        super().__init__(app, token)
        self.live = live
        self._ledger = ledger

    def end_streams(self) -> None:
        """End the live streams (they never end by themselves): call it when the server is
        asked to stop, before it waits for open connections. Safe from a signal handler."""
        self.live.end()

    async def close(self) -> None:
        """End the live streams and the feed's task, for a server that hosts the dashboard
        beside its own routes (``gearshift proxy --dashboard``) and runs no lifespan of ours."""
        self.live.end()
        await self.live.close()
        if self._ledger is not None:
            self._ledger.close()


def _routes(board: Dashboard, live: LiveFeed, registry: CollectorRegistry) -> list[Route]:
    background = Background()

    def query(request: Request, **defaults: str) -> Query:
        return read_query(request.query_params, default_tz=board.tz, defaults=defaults)

    async def overview(request: Request) -> Response:
        q = query(request, since=OVERVIEW_SINCE)
        by = read_by(request.query_params)
        stack = read_stack(request.query_params, by) or "tier"

        data = await run_in_threadpool(api.overview_payload, board, q, by, stack)
        return HTMLResponse(pages.overview_page(_base(request), q, by, stack, data))

    async def agents(request: Request) -> Response:
        q = query(request)
        data = await run_in_threadpool(api.agents_page_payload, board, q, background, AGENTS_WAIT)
        return HTMLResponse(pages.agents_page(_base(request), q, data))

    async def executions(request: Request) -> Response:
        q = query(request)
        search, limit, before = _page_params(request)
        data = await run_in_threadpool(api.executions_payload, board, q, search, limit, before)
        return HTMLResponse(pages.executions_page(_base(request), q, data))

    async def execution(request: Request) -> Response:
        q = query(request)
        data = await run_in_threadpool(api.execution_payload, board, request.path_params["id"])
        if data is None:
            return _error_page(request, 404, "no such execution", "it may have been replaced")
        return HTMLResponse(pages.execution_page(_base(request), q, data))

    async def live_view(request: Request) -> Response:
        snap = await run_in_threadpool(live.snapshot)
        return HTMLResponse(pages.live_page(_base(request), snap))

    async def api_spend(request: Request) -> Response:
        q = query(request)
        by = read_by(request.query_params)
        stack = read_stack(request.query_params, by)
        return _json(await run_in_threadpool(api.spend_payload, board, q, by, stack))

    async def api_overview(request: Request) -> Response:
        q = query(request, since=OVERVIEW_SINCE)
        by = read_by(request.query_params)
        stack = read_stack(request.query_params, by) or "tier"
        return _json(await run_in_threadpool(api.overview_payload, board, q, by, stack))

    async def api_summary(request: Request) -> Response:
        return _json(await run_in_threadpool(api.summary_payload, board, query(request)))

    async def api_budgets(request: Request) -> Response:
        return _json(await run_in_threadpool(api.budgets_payload, board, query(request)))

    async def api_agents(request: Request) -> Response:
        return _json(await run_in_threadpool(api.agents_payload, board, query(request)))

    async def api_executions(request: Request) -> Response:
        q = query(request)
        search, limit, before = _page_params(request)
        return _json(
            await run_in_threadpool(api.executions_payload, board, q, search, limit, before)
        )

    async def api_execution(request: Request) -> Response:
        data = await run_in_threadpool(api.execution_payload, board, request.path_params["id"])
        if data is None:
            return _json({"error": "no such execution"}, 404)
        return _json(data)

    async def api_live(request: Request) -> Response:
        if request.query_params.get("once"):
            return _json(await run_in_threadpool(live.snapshot))

        async def events() -> AsyncIterator[bytes]:
            yield b"retry: 3000\n\n"
            async for snap in live.watch():
                yield b"event: snapshot\ndata: " + dumps(snap) + b"\n\n"

        headers = {"cache-control": "no-store", "x-accel-buffering": "no"}
        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    async def api_health(request: Request) -> Response:
        count = await run_in_threadpool(board.ledger.query, "SELECT 1")
        return _json({"ok": bool(count)})

    async def metrics(request: Request) -> Response:
        body = await run_in_threadpool(generate_latest, registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in _STATIC:
            return _json({"error": "not found"}, 404)
        body = resources.files("gearshift.server.dashboard").joinpath("static", name).read_bytes()
        return Response(body, media_type=_STATIC[name])

    handlers: list[tuple[str, Callable[[Request], Any]]] = [
        ("/", overview),
        ("/agents", agents),
        ("/executions", executions),
        ("/executions/{id}", execution),
        ("/live", live_view),
        ("/api/overview", api_overview),
        ("/api/spend", api_spend),
        ("/api/summary", api_summary),
        ("/api/budgets", api_budgets),
        ("/api/agents", api_agents),
        ("/api/executions", api_executions),
        ("/api/executions/{id}", api_execution),
        ("/api/live", api_live),
        ("/api/health", api_health),
        ("/metrics", metrics),
        ("/static/{name}", static),
    ]
    return [Route(path, _guarded(handler), methods=["GET", "HEAD"]) for path, handler in handlers]


def _guarded(handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
    """``handler`` with gearshift errors answered: a bad parameter 400, the ledger 503."""

    async def run(request: Request) -> Response:
        try:
            response: Response = await handler(request)
        except ConfigError as exc:
            return _failure(request, 400, exc)
        except LedgerError as exc:
            return _failure(request, 503, exc)
        except GearshiftError as exc:
            return _failure(request, 500, exc)
        return response

    return run


def _failure(request: Request, status: int, exc: GearshiftError) -> Response:
    if request.url.path.startswith(("/api/", "/metrics")):
        return _json({"error": exc.message, "hint": exc.hint}, status)
    return _error_page(request, status, exc.message, exc.hint)


def _error_page(request: Request, status: int, message: str, hint: str | None) -> Response:
    body = (
        f"<section class='card wide error'><h2>{esc(message)}</h2>"
        + (f"<p>{esc(hint)}</p>" if hint else "")
        + "</section>"
    )
    return HTMLResponse(shell("Error", "", body, _base(request)), status_code=status)


def _page_params(request: Request) -> tuple[str | None, int, str | None]:
    params = request.query_params
    search = params.get("q") or None
    if search is not None and len(search) > 200:
        raise ConfigError("q: longer than 200 characters")
    before = params.get("before") or None
    if before is not None:
        try:
            parse_cursor(before)
        except ValueError:
            raise ConfigError("before: not a cursor from an earlier page") from None
    return search, read_int(params, "limit", 50, 1, MAX_LIMIT), before


def _base(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def _json(payload: Any, status: int = 200) -> Response:
    return Response(dumps(payload), status_code=status, media_type="application/json")
