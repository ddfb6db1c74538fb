"""`gearshift serve`: the dashboard in the browser (pages, JSON API, live view, /metrics)."""

from __future__ import annotations

from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from gearshift.cli.common import err_console, state

if TYPE_CHECKING:
    import uvicorn


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_cmd)


def serve_cmd(
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on; beyond loopback needs a token.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", help="Port to listen on.", min=1, max=65535)
    ] = 8788,
    auth_token: Annotated[
        str | None,
        typer.Option(
            "--auth-token",
            envvar="GEARSHIFT_AUTH_TOKEN",
            help="Token every request must carry (Authorization: Bearer, or ?token= once in "
            "a browser). Required with a --host other than loopback.",
            show_default=False,
        ),
    ] = None,
    tz: Annotated[
        str | None, typer.Option("--tz", help="Zone of days [default: the local zone].")
    ] = None,
) -> None:
    """Serve the dashboard: spend, agents, executions and a live view of the ledger, read-only."""
    import uvicorn

    from gearshift.ledger import Ledger
    from gearshift.server.dashboard import create_app
    from gearshift.server.security import is_loopback, require_safe_bind
    from gearshift.timespec import parse_zone

    require_safe_bind(host, auth_token)
    parse_zone(tz)  # a wrong --tz is an error now, not on every page
    ledger = Ledger.open_read_only(state.ledger_url, catalog=state.catalog())
    state._ledger = ledger  # closed by the error wrapper when the server stops
    app = create_app(ledger, state.config(), state.catalog(), token=auth_token, tz=tz)
    shown = f"[{host}]" if ":" in host else host
    err_console().print(
        f"gearshift dashboard on http://{shown}:{port}/ (ledger {ledger.location.display}, "
        f"read-only{'' if is_loopback(host) else ', token required'}); Ctrl-C stops it",
        markup=False,
        soft_wrap=True,
    )
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop" if _has("uvloop") else "asyncio",
        http="httptools" if _has("httptools") else "h11",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    _run(config, app.end_streams)


def _run(config: uvicorn.Config, before_exit: Callable[[], None]) -> None:
    """Run uvicorn, ending the dashboard's live streams as soon as it is asked to stop
    (otherwise it would wait for them, then cancel them with a traceback)."""
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            before_exit()
            super().handle_exit(sig, frame)

    Server(config).run()


def _has(module: str) -> bool:
    from importlib.util import find_spec

    return find_spec(module) is not None
