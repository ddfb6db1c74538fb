"""`gearshift ingest claude-code`: Claude Code transcripts into the ledger."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ingest_app = typer.Typer(
    help="Bring usage recorded elsewhere into the ledger.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(ingest_app, name="ingest")


@ingest_app.command("claude-code")
def claude_code(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Claude config dirs, projects/ dirs or .jsonl files "
            "[default: $CLAUDE_CONFIG_DIR, else ~/.config/claude and ~/.claude]",
            show_default=False,
        ),
    ] = None,
    mode: Annotated[
        str,
        typer.Option("--mode", help="auto: costUSD when a line has it; calculate; display."),
    ] = "auto",
    strict: Annotated[
        bool, typer.Option("--strict", help="Malformed lines abort the run.")
    ] = False,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Files parsed at once [default: cores].")
    ] = None,
    follow_links: Annotated[
        bool,
        typer.Option(
            "--follow-links",
            help="Also read linked files whose target is outside the folders named "
            "(skipped by default, and listed).",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    hook: Annotated[
        bool,
        typer.Option(
            "--hook",
            help="As run by a Claude Code hook: if another writer holds the ledger for more "
            "than 1.5 s, write nothing, say so on stderr and exit 0 (the next run catches up).",
        ),
    ] = False,
) -> None:
    """Ingest every Claude Code transcript (subagents included), attributing spend per agent.

    Re-running reads only what was appended since the last run; nothing is counted twice.
    """
    from gearshift.cli.ingest_run import run_claude_code

    run_claude_code(
        list(paths) if paths else None, mode, strict, workers, as_json, follow_links, hook=hook
    )
