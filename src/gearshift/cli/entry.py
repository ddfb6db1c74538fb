"""The `gearshift` executable's entry point.

Every command goes through the Typer app (:mod:`gearshift.cli.main`) except the one that runs
unattended and often -- ``gearshift ingest claude-code``, from a Claude Code hook or a cron
job -- which, when its arguments are plain, runs directly: no Typer, and for an existing SQLite
ledger no SQLAlchemy, so a re-run with little new starts in a fraction of the time. Anything
the direct parser does not recognise (``--help``, an unknown or malformed option) goes to the
Typer app, which gives its usual help and errors; both run the same code
(:func:`gearshift.cli.ingest_run.run_claude_code`).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["DirectIngest", "main", "parse_direct_ingest"]


@dataclass(slots=True)
class DirectIngest:
    ledger: str | None = None
    prices: str | None = None
    debug: bool = False
    paths: list[Path] = field(default_factory=list)
    mode: str = "auto"
    strict: bool = False
    workers: int | None = None
    as_json: bool = False


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    direct = parse_direct_ingest(args)
    if direct is None:
        from gearshift.cli.main import main as typer_main

        typer_main(args)
        return
    from gearshift.cli.common import state
    from gearshift.cli.guard import run_guarded
    from gearshift.cli.ingest_run import run_claude_code

    state.ledger_url = direct.ledger
    state.prices = direct.prices
    state.debug = direct.debug or bool(os.environ.get("GEARSHIFT_DEBUG"))
    run_guarded(
        lambda: run_claude_code(
            direct.paths or None, direct.mode, direct.strict, direct.workers, direct.as_json
        )
    )


def parse_direct_ingest(args: list[str]) -> DirectIngest | None:
    """``args`` as a plain ``[global options] ingest claude-code [options] [PATH ...]``, or
    ``None`` for anything else (which the Typer app then handles)."""
    out = DirectIngest()
    i = 0
    while i < len(args) and args[i].startswith("-"):
        name, value, used = _option(args, i, ("--ledger", "--prices"))
        if name == "--debug":
            out.debug = True
        elif name == "--ledger" and value is not None:
            out.ledger = value
        elif name == "--prices" and value is not None:
            out.prices = value
        else:
            return None
        i += used
    if args[i : i + 2] != ["ingest", "claude-code"]:
        return None
    i += 2
    while i < len(args):
        arg = args[i]
        if not arg.startswith("-"):
            out.paths.append(Path(arg))
            i += 1
            continue
        name, value, used = _option(args, i, ("--mode", "--workers"))
        if name == "--json":
            out.as_json = True
        elif name == "--strict":
            out.strict = True
        elif name == "--mode" and value is not None:
            out.mode = value
        elif name == "--workers" and value is not None and value.isdigit() and int(value) >= 1:
            out.workers = int(value)
        else:
            return None
        i += used
    return out


def _option(args: list[str], i: int, valued: tuple[str, ...]) -> tuple[str, str | None, int]:
    """``(name, value, tokens used)`` of the option at ``args[i]``; ``--name=value`` or
    ``--name value`` for the options in ``valued``."""
    arg = args[i]
    name, eq, inline = arg.partition("=")
    if name not in valued:
        return (arg if not eq else "", None, 1)
    if eq:
        return name, inline, 1
    if i + 1 < len(args):
        return name, args[i + 1], 2
    return name, None, 1
