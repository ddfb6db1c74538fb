"""What `gearshift statusline` does, without Typer: shared by the Typer command and the direct
entry (:mod:`gearshift.cli.entry`), which runs it without importing Typer or SQLAlchemy.

Claude Code runs the command after every assistant message, so it must answer in a few dozen
milliseconds, never make a ledger writer wait, and never fail: whatever goes wrong, it prints a
short line and exits 0 (the reason goes to stderr, which Claude Code does not show).

The tightest budget takes far longer to work out than a status line may take, so a status line
shows the figure kept in the cache (:mod:`gearshift.budgets.glance`) and, when it is due,
starts ``gearshift statusline --refresh-budget`` in a process of its own to make the next one.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING

from gearshift.budgets.glance import GlanceFile
from gearshift.cli.common import state
from gearshift.errors import GearshiftError, LedgerError
from gearshift.insight.statusline import (
    FIELDS,
    Figures,
    default_line,
    gather,
    line_fields,
    read_payload,
    render,
)
from gearshift.ledger.glance import open_glance
from gearshift.ledger.urls import resolve_location

if TYPE_CHECKING:
    from gearshift.budgets.glance import BudgetGlance
    from gearshift.ledger.urls import LedgerLocation

__all__ = ["FALLBACK", "refresh_budget", "run_statusline"]

#: The line when the ledger cannot be read.
FALLBACK = "gearshift: ledger unavailable"
#: How long a read may wait for a lock before the line gives up on the ledger.
WAIT_MS = 100


def run_statusline(template: str | None, as_json: bool = False) -> None:
    """Read Claude Code's JSON on stdin, print the status line (``template`` fills in the named
    fields; ``None``: the default line), or with ``as_json`` every field as JSON."""
    problem = None
    try:
        line, problem = _line(template, as_json)
    except GearshiftError as exc:  # e.g. a --ledger that names no place a ledger could be
        line, problem = FALLBACK, exc.message
    except Exception as exc:  # a status line never fails: anything else is a short line
        if state.debug:
            raise
        line, problem = FALLBACK, f"internal error: {type(exc).__name__}: {exc}"
    out = sys.stdout.buffer
    out.write(line.encode("utf-8", "replace") + b"\n")
    out.flush()
    if problem:
        sys.stderr.write(f"gearshift statusline: {problem}\n")


def _line(template: str | None, as_json: bool) -> tuple[str, str | None]:
    payload = read_payload(_stdin())
    now = time.time()
    now_us = int(now * 1_000_000)
    location = resolve_location(state.ledger_url)
    kept = GlanceFile(location.display).read(now_us)
    if kept.due:
        _start_refresh(location, now_us)
    budget: BudgetGlance | None = kept.glance
    figures: Figures | None = None
    problem = f"budget: {kept.error}" if kept.error else None
    try:
        with open_glance(location, wait_ms=WAIT_MS) as glance:
            figures = gather(glance, payload.session_id, _midnight_us(now))
    except GearshiftError as exc:
        problem = exc.message
    fields = line_fields(payload, figures, budget)
    if as_json:
        from gearshift.cli.common import dumps

        return dumps(fields, indent=None), problem
    if template is not None:
        try:
            return render(template, fields), problem
        except ValueError as exc:
            return f"gearshift: --format: {exc}", f"--format: {exc}; fields: {', '.join(FIELDS)}"
    if figures is None:
        return FALLBACK, problem
    return default_line(fields), problem


def _stdin() -> bytes:
    """What Claude Code piped in; nothing when stdin is a terminal or closed (the command run
    by hand), so the line never waits for input that will not come."""
    try:
        if sys.stdin is None or sys.stdin.isatty():
            return b""
        return sys.stdin.buffer.read(1 << 20)
    except (OSError, ValueError):
        return b""


def _midnight_us(now: float) -> int:
    """The start of today in the user's zone (``$TZ``, else the system's), in microseconds."""
    t = time.localtime(now)
    return int(time.mktime((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0, 0, 0, -1))) * 1_000_000


def _start_refresh(location: LedgerLocation, now_us: int) -> None:
    """Start ``gearshift statusline --refresh-budget`` for this ledger in its own session (it
    outlives this process, and Claude Code stopping the status line does not stop it), unless
    the cache cannot be written: then nothing would read its result."""
    import contextlib
    import subprocess

    try:
        GlanceFile(location.display).mark_pending(now_us)
    except OSError:
        return
    env = dict(os.environ)
    if state.ledger_url:
        # in the environment, not on the command line, where a password would be shown
        env["GEARSHIFT_LEDGER"] = state.ledger_url
    if state.prices:
        env["GEARSHIFT_PRICES"] = state.prices
    with contextlib.suppress(OSError):  # no process to spare now: a later line tries again
        subprocess.Popen(
            [sys.executable, "-m", "gearshift", "statusline", "--refresh-budget"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )


def refresh_budget() -> None:
    """Work out the tightest budget and keep it for the status lines that follow; an error is
    kept in its place (a status line reports it on stderr)."""
    location = resolve_location(state.ledger_url)
    glance_file = GlanceFile(location.display)
    now_us = int(time.time() * 1_000_000)
    try:
        glance = _tightest(location)
    except GearshiftError as exc:
        glance_file.write(None, now_us, error=exc.message)
        raise
    except Exception as exc:
        glance_file.write(None, now_us, error=f"internal error: {type(exc).__name__}")
        raise
    glance_file.write(glance, now_us)


def _tightest(location: LedgerLocation) -> BudgetGlance | None:
    with open_glance(location, wait_ms=5_000) as glance:
        current = glance.is_current()
    if not current:  # migrating is for commands that write, not for a status line
        raise LedgerError(
            f"ledger {location.display} is not at this gearshift's version",
            hint="run any gearshift command that writes, e.g. gearshift ingest claude-code",
        )
    from gearshift.budgets.tightest import tightest_budget
    from gearshift.config import load_config

    config = load_config()
    return tightest_budget(state.ledger(create=False), config)
