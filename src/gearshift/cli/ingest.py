"""`gearshift ingest claude-code`: Claude Code transcripts into the ledger."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer

from gearshift.cli.common import console, is_terminal, print_json, state

if TYPE_CHECKING:
    from gearshift.ingest.claude_code import CostMode
    from gearshift.ingest.summary import IngestSummary

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
        int | None, typer.Option("--workers", min=1, help="Parser processes [default: cores].")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Ingest every Claude Code transcript (subagents included), attributing spend per agent.

    Re-running reads only what was appended since the last run; nothing is counted twice.
    """
    import time

    from gearshift.errors import ConfigError, IngestError
    from gearshift.fmt import usd_nanos
    from gearshift.ingest.discovery import discover
    from gearshift.ingest.quick import unchanged_files
    from gearshift.ingest.summary import IngestSummary
    from gearshift.ledger.urls import resolve_location

    started = time.perf_counter()
    if mode not in ("auto", "calculate", "display"):
        raise ConfigError(f"--mode: {mode!r} is not a mode", hint="use auto, calculate or display")
    found = discover(list(paths) if paths else None)
    if not found.roots:
        raise IngestError(
            "no Claude Code data found (looked in ~/.config/claude and ~/.claude)",
            hint="pass the folder: gearshift ingest claude-code PATH, or set CLAUDE_CONFIG_DIR",
        )
    same = unchanged_files(resolve_location(state.ledger_url), found, "claude-code")
    if same is not None:
        summary = IngestSummary(files=same, files_unchanged=same)
        summary.seconds = time.perf_counter() - started
    else:
        from gearshift.ingest.claude_code import ingest_claude_code

        run = functools.partial(
            ingest_claude_code,
            state.ledger(),
            mode=cast("CostMode", mode),
            strict=strict,
            workers=workers,
            discovery=found,
        )
        if is_terminal() and not as_json:
            summary = _with_progress(run, found.total_bytes, len(found.files))
        else:
            summary = run()
    if as_json:
        print_json(summary.to_dict())
        return
    con = console()
    con.print(
        f"{summary.files:,} files ({summary.files_parsed:,} read, {summary.files_unchanged:,} "
        f"unchanged, {summary.files_reread:,} re-read), {summary.bytes_parsed / 1e6:,.1f} MB, "
        f"{summary.lines:,} lines, {summary.usage_lines:,} with usage, "
        f"{summary.duplicates:,} duplicates removed, {summary.api_errors:,} API errors"
    )
    con.print(
        f"[bold]{summary.new_records:,} new records, {usd_nanos(summary.cost_added_nanos)} added"
        f"[/bold] in {summary.seconds:.2f}s"
    )
    if summary.malformed:
        con.print(f"[yellow]{summary.malformed:,} malformed lines skipped[/yellow], e.g.:")
        for example in summary.malformed_examples[:5]:
            con.print(f"  {example}", markup=False)
    for problem in summary.unreadable[:5]:
        con.print(f"unreadable: {problem}", style="yellow", markup=False)
    if summary.unpriced_models:
        names = ", ".join(f"{m} ({n})" for m, n in summary.unpriced_models.items())
        con.print(
            f"no price for {names}: recorded at $0 (add them with --prices FILE)",
            style="yellow",
            markup=False,
        )


def _with_progress(
    run: Callable[..., IngestSummary], total_bytes: int, files: int
) -> IngestSummary:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console(), transient=True) as bar:
        task = bar.add_task(f"ingesting 0/{files:,} files", total=total_bytes)

        def update(files_done: int, bytes_done: int) -> None:
            bar.update(
                task, completed=bytes_done, description=f"ingesting {files_done:,}/{files:,} files"
            )

        return run(progress=update)
