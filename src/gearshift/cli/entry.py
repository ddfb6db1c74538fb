"""The `gearshift` executable's entry point.

Every command goes through the Typer app (:mod:`gearshift.cli.main`) except ``--version`` and
three that run often and want to answer at once: ``ingest claude-code`` (from a Claude Code hook
or a cron job), ``statusline`` (Claude Code runs it after every message) and ``spend``. With
plain arguments they run directly: no Typer, and on an existing SQLite ledger no SQLAlchemy --
half a second or more less per call. Anything the direct parser does not recognise (``--help``,
an unknown, abbreviated or malformed option) goes to the Typer app, which gives its usual help
and errors. Both paths run the same functions
(:mod:`gearshift.cli.ingest_run`, :mod:`gearshift.cli.statusline_run`,
:mod:`gearshift.cli.spend_run`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

from gearshift.cli.common import state
from gearshift.cli.guard import run_guarded

__all__ = ["Direct", "main", "parse_direct", "run"]


class _Spec(NamedTuple):
    flags: dict[str, str]  # spelling -> field
    values: dict[str, str]  # spelling -> field
    positional: bool = False
    counts: frozenset[str] = frozenset()  # fields that must be integers >= 1


_INGEST = ("ingest", "claude-code")
_SPEND = ("spend",)
_STATUSLINE = ("statusline",)
_SPECS: dict[tuple[str, ...], _Spec] = {
    _INGEST: _Spec(
        flags={
            "--json": "as_json",
            "--strict": "strict",
            "--follow-links": "follow_links",
            "--hook": "hook",
        },
        values={"--mode": "mode", "--workers": "workers"},
        positional=True,
        counts=frozenset({"workers"}),
    ),
    _SPEND: _Spec(
        flags={"--json": "as_json", "--reprice": "reprice"},
        values={
            "--by": "by",
            "--since": "since",
            "--until": "until",
            "--project": "project",
            "-p": "project",
            "--agent": "agent",
            "-a": "agent",
            "--model": "model",
            "-m": "model",
            "--tier": "tier",
            "--source": "source",
            "--tag": "tag",
            "--tz": "tz",
        },
    ),
    _STATUSLINE: _Spec(
        flags={"--json": "as_json", "--refresh-budget": "refresh"},
        values={"--format": "template"},
    ),
}
_GLOBAL_VALUES = {"--ledger": "ledger", "--prices": "prices"}


class Direct(NamedTuple):
    """A command line the direct entry runs: the command, global options, its options."""

    command: tuple[str, ...]
    ledger: str | None = None
    prices: str | None = None
    debug: bool = False
    options: Mapping[str, str | int | bool] = MappingProxyType({})
    paths: tuple[str, ...] = ()


def run() -> None:
    """The ``gearshift`` command (and ``python -m gearshift``)."""
    main()


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--version"]:  # as the Typer app prints it, without loading it
        from importlib.metadata import version  # (it loads the email and zip modules)

        print(f"gearshift {version('gearshift')}")
        return
    direct = parse_direct(args)
    if direct is None:
        from gearshift.cli.main import main as typer_main  # the full CLI: Typer, every command

        typer_main(args)
        return
    state.ledger_url = direct.ledger
    state.prices = direct.prices
    state.debug = direct.debug or bool(os.environ.get("GEARSHIFT_DEBUG"))

    def command() -> None:
        state.check_prices()  # as the Typer path does (gearshift.cli.main.main)
        _run(direct)

    run_guarded(command)
    try:
        sys.stdout.flush()
    except BrokenPipeError:  # the reader went away (| head): done, as run_guarded has it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit


def _run(direct: Direct) -> None:
    opts = direct.options
    if direct.command == _INGEST:
        from gearshift.cli.ingest_run import run_claude_code

        workers = opts.get("workers")
        run_claude_code(
            list(direct.paths) or None,
            str(opts.get("mode", "auto")),
            bool(opts.get("strict", False)),
            int(workers) if workers is not None else None,
            bool(opts.get("as_json", False)),
            bool(opts.get("follow_links", False)),
            hook=bool(opts.get("hook", False)),
        )
        return
    if direct.command == _STATUSLINE:
        from gearshift.cli.statusline_run import refresh_budget, run_statusline

        if opts.get("refresh"):
            refresh_budget()
        else:
            template = opts.get("template")
            run_statusline(None if template is None else str(template), bool(opts.get("as_json")))
        return
    from gearshift.cli.spend_run import run_spend

    def text(name: str) -> str | None:
        value = opts.get(name)
        return None if value is None else str(value)

    run_spend(
        text("by") or "day",
        text("since"),
        text("until"),
        text("tz"),
        bool(opts.get("as_json", False)),
        reprice=bool(opts.get("reprice", False)),
        project=text("project"),
        agent=text("agent"),
        model=text("model"),
        tier=text("tier"),
        source=text("source"),
        tag=text("tag"),
    )


def parse_direct(args: list[str]) -> Direct | None:
    """``args`` as a plain ``[global options] COMMAND [options]`` for a command that runs
    directly, or ``None`` for anything else (which the Typer app then handles)."""
    ledger = prices = None
    debug = False
    i = 0
    while i < len(args) and args[i].startswith("-"):
        name, value, used = _option(args, i, _GLOBAL_VALUES)
        if name == "--debug":
            debug = True
        elif name == "--ledger" and value is not None:
            ledger = value
        elif name == "--prices" and value is not None:
            prices = value
        else:
            return None
        i += used
    command = next((c for c in _SPECS if tuple(args[i : i + len(c)]) == c), None)
    if command is None:
        return None
    spec = _SPECS[command]
    options: dict[str, str | int | bool] = {}
    paths: list[str] = []
    i += len(command)
    while i < len(args):
        arg = args[i]
        if not arg.startswith("-"):
            if not spec.positional:
                return None
            paths.append(arg)
            i += 1
            continue
        name, value, used = _option(args, i, spec.values)
        if name in spec.flags:
            options[spec.flags[name]] = True
        elif name in spec.values and value is not None:
            key = spec.values[name]
            if key in spec.counts:
                if not (value.isascii() and value.isdigit() and int(value) >= 1):
                    return None
                options[key] = int(value)
            else:
                options[key] = value
        else:
            return None
        i += used
    return Direct(command, ledger, prices, debug, options, tuple(paths))


def _option(args: list[str], i: int, valued: dict[str, str]) -> tuple[str, str | None, int]:
    """``(name, value, tokens used)`` of the option at ``args[i]``: ``--name=value`` or
    ``--name value`` for long options in ``valued``, ``-x value`` for short ones; ``""`` for
    a spelling the direct parser leaves to Typer."""
    arg = args[i]
    name, eq, inline = arg.partition("=")
    if name not in valued:
        return (arg if not eq else "", None, 1)
    if eq:
        return (name, inline, 1) if name.startswith("--") else ("", None, 1)
    if i + 1 < len(args):
        return name, args[i + 1], 2
    return name, None, 1
