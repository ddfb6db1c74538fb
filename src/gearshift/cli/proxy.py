"""`gearshift proxy`: run the Anthropic-compatible gateway (meter, route, cap)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gearshift.cli.common import err_console, state


def register(app: typer.Typer) -> None:
    app.command("proxy")(proxy)


def proxy(
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (beyond loopback: --auth-token).")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port to listen on.")
    ] = 8787,
    upstream: Annotated[
        str, typer.Option("--upstream", metavar="URL", help="The API requests are relayed to.")
    ] = "https://api.anthropic.com",
    upstream_key_env: Annotated[
        str | None,
        typer.Option(
            "--upstream-key-env",
            metavar="VAR",
            help="Replace clients' credentials upstream by the key in this environment variable "
            "(e.g. ANTHROPIC_API_KEY). Default: clients' own credentials go upstream.",
            show_default=False,
        ),
    ] = None,
    auth_token: Annotated[
        str | None,
        typer.Option(
            "--auth-token",
            envvar="GEARSHIFT_PROXY_TOKEN",
            metavar="TOKEN",
            help="Access token clients send in x-gearshift-token (needed beyond loopback).",
            show_default=False,
            show_envvar=True,
        ),
    ] = None,
    policy: Annotated[
        Path | None,
        typer.Option(
            "--policy",
            metavar="FILE",
            help="Routing policy (YAML, docs/proxy.md).",
            show_default=False,
        ),
    ] = None,
    agents_dir: Annotated[
        list[Path] | None,
        typer.Option(
            "--agents-dir",
            metavar="DIR",
            help="Agent definitions, to tell subagent types from their prompts; repeatable. "
            "[default: .claude/agents, ~/.claude/agents]",
            show_default=False,
        ),
    ] = None,
    project: Annotated[
        str, typer.Option("--project", "-p", help="Project recorded on every row.")
    ] = "",
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes.")] = 1,
    max_body_mb: Annotated[
        int, typer.Option("--max-body-mb", min=1, help="Largest request body accepted.")
    ] = 32,
    fail_open: Annotated[
        bool,
        typer.Option(
            "--fail-open/--fail-closed",
            help="When the ledger cannot be reached, let requests under a blocking budget "
            "through (--fail-open) or refuse them (--fail-closed, the default).",
        ),
    ] = False,
    flush_ms: Annotated[
        int, typer.Option("--flush-ms", min=10, help="Ledger writes are batched this often.")
    ] = 200,
    dashboard: Annotated[
        bool,
        typer.Option(
            "--dashboard",
            help="Also serve the dashboard at /dashboard/ (read-only, same ledger; one worker).",
        ),
    ] = False,
) -> None:
    """Relay Claude Code and any Anthropic client to the API: meter every request in the
    ledger, route by a policy, refuse what a blocking budget would not allow.

    Point Claude Code at it with ANTHROPIC_BASE_URL=http://127.0.0.1:8787.
    """
    from gearshift.config import config_path
    from gearshift.errors import ConfigError

    try:
        from gearshift.server.proxy import ProxySettings, serve
    except ImportError as exc:  # pragma: no cover - the dependencies are regular ones
        raise ConfigError(
            f"the proxy needs {exc.name}", hint="pip install -U gearshift (it depends on it)"
        ) from None
    from gearshift.server.security import require_safe_bind

    if auth_token:
        import os

        os.environ["GEARSHIFT_PROXY_TOKEN"] = auth_token  # read by every worker
    require_safe_bind(host, auth_token)
    config = state.config()
    settings = ProxySettings(
        host=host,
        port=port,
        upstream=upstream,
        upstream_key_env=upstream_key_env,
        ledger=state.ledger_url,
        prices=state.prices,
        config_path=str(config.path) if config.path else None,
        policy=str(policy) if policy else None,
        agents_dirs=tuple(str(d) for d in agents_dir) if agents_dir else None,
        project=project,
        max_body_bytes=max_body_mb * 1024 * 1024,
        fail_closed=not fail_open,
        flush_ms=flush_ms,
        workers=workers,
        dashboard=dashboard,
    )
    shown = f"[{host}]" if ":" in host else host
    err_console().print(
        f"gearshift proxy on http://{shown}:{port} -> {upstream} "
        f"({workers} worker{'s' if workers > 1 else ''}; ledger {state.ledger_url or 'default'}; "
        f"config {config.path or config_path()})"
        + (f"; dashboard on http://{shown}:{port}/dashboard/" if dashboard else ""),
        markup=False,
        highlight=False,
    )
    serve(settings, config)
