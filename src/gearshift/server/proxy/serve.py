"""Building the proxy from its settings and serving it (uvicorn, httptools, uvloop).

:func:`build_app` opens what one process needs: the catalog, the ledger, the policy and agent
definitions, the budget gate, the meter, the upstream pool and the metrics. :func:`serve` runs
it: in this process, or with ``workers > 1`` in worker processes that each build their own
(they share the ledger, which serialises budget reservations, and the listening socket).

On SIGTERM or Ctrl-C the server stops accepting, lets in-flight responses (streams included)
finish for up to ``drain_timeout_s``, then the meter writes what it holds.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import secrets
import socket
import tempfile
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from gearshift.agents import AgentSet, LoadOptions, discover
from gearshift.catalog import Catalog, load_catalog
from gearshift.config import Config, load_config
from gearshift.errors import ConfigError, DefinitionError
from gearshift.ledger import Ledger
from gearshift.server.metrics import ProxyMetrics
from gearshift.server.proxy.app import ProxyApp
from gearshift.server.proxy.attribution import AgentTypes
from gearshift.server.proxy.gate import BudgetGate
from gearshift.server.proxy.meter import Meter
from gearshift.server.proxy.policy import RoutePolicy, load_policy
from gearshift.server.proxy.routes import ProxyRouter
from gearshift.server.proxy.settings import (
    HASH_KEY_ENV,
    SETTINGS_ENV,
    ProxySettings,
    settings_from_env,
)
from gearshift.server.proxy.state import Shared
from gearshift.server.proxy.upstream import Upstream
from gearshift.server.proxy.writer import open_writer
from gearshift.server.security import require_safe_bind

if TYPE_CHECKING:
    from gearshift.server.dashboard.app import DashboardApp

__all__ = [
    "bind_socket",
    "build_app",
    "data_dir",
    "hash_key",
    "serve",
    "uvicorn_options",
    "worker_app",
]

log = logging.getLogger("gearshift.proxy")


def data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "gearshift"


def hash_key() -> bytes:
    """The key credentials are hashed with: ``$GEARSHIFT_PROXY_HASH_KEY``, else a random key
    kept (mode 0600) in the data directory, made on first use and shared by every worker."""
    given = os.environ.get(HASH_KEY_ENV)
    if given:
        return given.encode("utf-8")
    path = data_dir() / "proxy-hash.key"
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
    return path.read_text(encoding="utf-8").strip().encode()


def _empty_policy() -> RoutePolicy:
    return RoutePolicy(
        source="",
        agents={},
        kinds={},
        sessions={},
        rules=None,
        complexity=False,
        agent_models=False,
        budget_aware=False,
        floor=None,
    )


def _agents(settings: ProxySettings, catalog: Catalog) -> AgentSet:
    options = LoadOptions(catalog=catalog)
    if settings.agents_dirs is not None:
        return discover([Path(d) for d in settings.agents_dirs], options)
    try:
        return discover(None, options)
    except DefinitionError as exc:  # a broken file in a default folder must not stop the proxy
        log.warning("agent definitions skipped: %s", exc)
        return AgentSet()


def build_app(
    settings: ProxySettings, config: Config, *, catalog: Catalog | None = None
) -> ProxyApp:
    """The proxy application for ``settings``; ``config`` holds the user's budgets."""
    catalog = catalog or load_catalog(settings.prices)
    ledger = Ledger.open(settings.ledger, catalog=catalog)
    metrics = ProxyMetrics()
    policy = load_policy(settings.policy, catalog) if settings.policy else _empty_policy()
    agents = _agents(settings, catalog)
    gate = BudgetGate(
        ledger,
        config,
        catalog,
        project=settings.project,
        fail_closed=settings.fail_closed,
        refresh_s=settings.budget_refresh_s,
    )
    router = ProxyRouter(catalog, policy, agents=agents, ledger=ledger)
    meter = Meter(
        open_writer(ledger, catalog, lambda: gate.reservations),
        flush_ms=settings.flush_ms,
        flush_rows=settings.flush_rows,
        spill_dir=data_dir(),
        on_error=lambda: metrics.ledger_errors.labels("write").inc(),
    )
    shared = Shared(
        settings,
        catalog=catalog,
        ledger=ledger,
        gate=gate,
        meter=meter,
        router=router,
        upstream=Upstream(
            settings.upstream,
            connect_timeout_s=settings.connect_timeout_s,
            read_timeout_s=settings.read_timeout_s,
        ),
        metrics=metrics,
        agent_types=AgentTypes(agents.values()) or None,
        hash_key=hash_key(),
        upstream_key=settings.upstream_key(),
        token=settings.auth_token(),
    )
    return ProxyApp(shared, _dashboard(settings, config, catalog, shared.token))


def _dashboard(
    settings: ProxySettings, config: Config, catalog: Catalog, token: str | None
) -> DashboardApp | None:
    """The dashboard beside the proxy (``--dashboard``), over the same ledger, read-only."""
    if not settings.dashboard:
        return None
    from gearshift.server.dashboard import create_app

    reader = Ledger.open_read_only(settings.ledger, catalog=catalog)
    return create_app(reader, config, catalog, token=token, owns_ledger=True)


def worker_app() -> ProxyApp:
    """The application of one worker process (``uvicorn --factory``)."""
    settings = settings_from_env()
    return build_app(settings, load_config(settings.config_path))


def uvicorn_options(settings: ProxySettings) -> dict[str, Any]:
    """The uvicorn options the proxy runs with (what ``uvicorn.Config`` takes)."""
    return {
        "host": settings.host,
        "port": settings.port,
        "loop": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        "http": "httptools",
        "lifespan": "on",
        "access_log": False,
        "proxy_headers": False,
        "server_header": False,
        "log_level": "warning",
        "timeout_graceful_shutdown": int(settings.drain_timeout_s),
        "timeout_keep_alive": 30,
    }


def serve(settings: ProxySettings, config: Config) -> None:
    """Serve until SIGTERM or Ctrl-C."""
    import uvicorn

    require_safe_bind(settings.host, settings.auth_token())
    if settings.dashboard and settings.workers > 1:
        raise ConfigError(
            "--dashboard serves from one worker only",
            hint="run the proxy with --workers 1 --dashboard, or `gearshift serve` beside it",
        )
    options = uvicorn_options(settings)
    if settings.workers <= 1:
        app = build_app(settings, config)
        board = app.dashboard

        class Server(uvicorn.Server):
            def handle_exit(self, sig: int, frame: FrameType | None) -> None:
                if board is not None:  # its live streams never end by themselves
                    board.end_streams()
                super().handle_exit(sig, frame)

        Server(uvicorn.Config(app, **options)).run()
        return
    os.environ[SETTINGS_ENV] = settings.to_env()
    with tempfile.TemporaryDirectory(prefix="gearshift-metrics-") as metrics_dir:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        probe = build_app(settings, config).shared  # fail here, not in every worker
        probe.meter.writer.close()
        probe.ledger.close()
        uvicorn.run(
            "gearshift.server.proxy.serve:worker_app",
            factory=True,
            workers=settings.workers,
            **options,
        )


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket (port 0: any free port), for tests and benchmarks."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock
