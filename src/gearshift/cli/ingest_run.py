"""What `gearshift ingest claude-code` does, without Typer: shared by the Typer command and the
direct entry (:mod:`gearshift.cli.entry`), which runs it without importing Typer or, for an
existing SQLite ledger, SQLAlchemy -- so a re-run from a hook or cron job starts in a fraction
of the time."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, cast

from gearshift.cli.common import console, is_terminal, print_json, state
from gearshift.errors import ConfigError, IngestError, LedgerLocked
from gearshift.ingest.claude_code import ingest_claude_code
from gearshift.ingest.discover import discover
from gearshift.ingest.summary import IngestSummary
from gearshift.ledger.bulk import BulkLedger
from gearshift.ledger.sqlite3_ledger import LiteLedger
from gearshift.ledger.urls import resolve_location

if TYPE_CHECKING:
    from gearshift.ingest.price import CostMode

__all__ = ["HOOK_LOCK_WAIT_S", "run_claude_code"]

#: How long a hook-run ingest waits for another writer before leaving its work to the next run.
HOOK_LOCK_WAIT_S = 1.5


def run_claude_code(
    paths: Sequence[str | os.PathLike[str]] | None,
    mode: str,
    strict: bool,
    workers: int | None,
    as_json: bool,
    follow_links: bool = False,
    *,
    hook: bool = False,
) -> None:
    """``hook``: run from a Claude Code hook, which must not hold Claude Code up. A ledger
    another writer holds is waited for at most :data:`HOOK_LOCK_WAIT_S`; then this run writes
    nothing, says so in one line on stderr and returns (exit 0): the next run reads what this
    one left, since a file's progress is saved with its records."""
    started = time.perf_counter()
    if mode not in ("auto", "calculate", "display"):
        raise ConfigError(f"--mode: {mode!r} is not a mode", hint="use auto, calculate or display")

    def run(ledger: BulkLedger) -> IngestSummary:
        found = discover(list(paths) if paths else None, follow_links=follow_links)
        if not found.roots:  # a new ledger is discarded with the error
            raise IngestError(
                "no Claude Code data found (looked in ~/.config/claude and ~/.claude)",
                hint="pass the folder: gearshift ingest claude-code PATH, or set CLAUDE_CONFIG_DIR",
            )

        def ingest(progress: Callable[[int, int], None] | None = None) -> IngestSummary:
            return ingest_claude_code(
                ledger,
                mode=cast("CostMode", mode),
                strict=strict,
                workers=workers,
                discovery=found,
                progress=progress,
            )

        if is_terminal() and not as_json:
            return _with_progress(ingest, found.total_bytes, len(found.files))
        return ingest()

    if hook:
        state.lock_timeout = min(state.lock_timeout, HOOK_LOCK_WAIT_S)
    try:
        summary = _run_on_ledger(run)
    except LedgerLocked as exc:
        if not hook:
            raise
        import sys

        print(f"gearshift: {exc.message}; left for the next run", file=sys.stderr)
        return
    summary.seconds = time.perf_counter() - started
    if as_json:
        print_json(summary.to_dict())
    else:
        _print(summary)


def _run_on_ledger(run: Callable[[BulkLedger], IngestSummary]) -> IngestSummary:
    """``run`` on the ledger: the standard-library SQLite ledger when the ledger is a SQLite
    file, current or new (a new one staged, so a first import is written once and the file
    appears complete); else the full one (which migrates an older file, or connects to
    PostgreSQL)."""
    location = resolve_location(state.ledger_url)
    lite = LiteLedger.open_or_create(location, state.catalog, staged=True)
    if lite is None:
        return run(state.ledger(create=True))
    lite.wait_for_writers(state.lock_timeout)
    try:
        summary = run(lite)
    except BaseException:
        lite.close()  # a staged ledger is discarded with what this run wrote
        raise
    if lite.publish():
        return summary
    # Another process created the ledger while this one was being filled: this run's records
    # go into that one instead (its dedup keys keep whatever it has once).
    other = LiteLedger.open_current(location, state.catalog)
    if other is None:
        return run(state.ledger(create=True))
    other.wait_for_writers(state.lock_timeout)
    with other:
        return run(other)


def _print(summary: IngestSummary) -> None:
    from gearshift.fmt import usd_nanos  # (decimal and the catalog's cost math; --json needs none)

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
    if summary.reattributed_agents:
        con.print(
            f"{summary.reattributed_agents:,} subagents recorded earlier as 'subagent' now carry "
            "their type"
        )
    if summary.malformed:
        con.print(f"[yellow]{summary.malformed:,} malformed lines skipped[/yellow], e.g.:")
        for example in summary.malformed_examples[:5]:
            con.print(f"  {example}", markup=False)
    if summary.skipped_links:
        con.print(
            f"{len(summary.skipped_links):,} linked file(s) pointing outside the folders read "
            "were skipped (read them with --follow-links), e.g.:",
            style="yellow",
        )
        for link in summary.skipped_links[:5]:
            con.print(f"  {link}", markup=False)
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
