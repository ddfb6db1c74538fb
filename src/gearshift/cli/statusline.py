"""`gearshift statusline`: the line Claude Code shows under its prompt (set it up with
`gearshift setup claude-code`)."""

from __future__ import annotations

from typing import Annotated

import typer

from gearshift.insight.statusline import FIELDS


def register(app: typer.Typer) -> None:
    app.command("statusline")(statusline)


def statusline(
    template: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="Your own line, with {field} names: " + ", ".join(FIELDS) + ".",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print every field as JSON.")] = False,
    refresh: Annotated[bool, typer.Option("--refresh-budget", hidden=True)] = False,
) -> None:
    """Print one status line for Claude Code from the JSON it pipes to stdin: this session's
    cost with its subagents, today's spend, the tightest budget and the proxy's tier.

    Figures are as fresh as the ledger (the ingest hook records each turn as it ends); the
    budget is worked out at most once a minute, in the background. Always exits 0.
    """
    from gearshift.cli.statusline_run import refresh_budget, run_statusline

    if refresh:
        refresh_budget()
        return
    run_statusline(template, as_json)
