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

__all__ = ["Direct", "main", "parse_direct", "run"]


class _Spec:
    __slots__ = ("counts", "flags", "positional", "values")

    def __init__(
        self,
        flags: dict[str, str],  # spelling -> field
        values: dict[str, str],  # spelling -> field
        positional: bool = False,
        counts: frozenset[str] = frozenset(),  # fields that must be integers >= 1
    ) -> None:
        self.flags = flags
        self.values = values
        self.positional = positional
        self.counts = counts


_INGEST = ("ingest", "claude-code")
_SPEND = ("spend",)
_STATUSLINE = ("statusline",)
_SPECS: dict[tuple[str, ...], _Spec] = {
    _INGEST: _Spec(
        flags={"--json": "as_json", "--strict": "strict", "--hook": "hook"},
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
            "--tag": "tag",
            "--source": "source",
            "--tz": "tz",
        },
    ),
    _STATUSLINE: _Spec(
        flags={"--json": "as_json", "--refresh-budget": "refresh"},
        values={"--format": "template"},
    ),
}
_GLOBAL_VALUES = {"--ledger": "ledger", "--prices": "prices"}


class Direct:
    """A command line the direct entry runs: the command, global options, its options.

    (Plain classes here, not dataclasses: this is the path of every hook-run ingest, and
    importing dataclasses costs it ~7 ms.)"""

    __slots__ = ("command", "debug", "ledger", "options", "paths", "prices")

    def __init__(
        self,
        command: tuple[str, ...],
        ledger: str | None = None,
        prices: str | None = None,
        debug: bool = False,
        options: dict[str, str | int | bool] | None = None,
        paths: list[str] | None = None,
    ) -> None:
        self.command = command
        self.ledger = ledger
        self.prices = prices
        self.debug = debug
        self.options = {} if options is None else options
        self.paths = [] if paths is None else paths

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Direct):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self.__slots__)

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__)
        return f"Direct({shown})"


def run() -> None:
    """The ``gearshift`` command (and ``python -m gearshift``): :func:`main`, except that a
    command that ran directly then leaves the process at once (see :func:`_leave`)."""
    main(leave=True)


def main(argv: list[str] | None = None, *, leave: bool = False) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--version"]:  # as the Typer app prints it, without loading it (~0.1 s)
        from importlib.metadata import version

        print(f"gearshift {version('gearshift')}")
        return
    direct = parse_direct(args)
    if direct is None:
        from gearshift.cli.main import main as typer_main

        typer_main(args)
        return
    if leave:
        # A direct command is short and makes no reference cycles worth collecting; the
        # collector would rescan every module's objects as the imports allocate them (~1-2 ms),
        # and the process ends without the interpreter's teardown anyway.
        import gc

        gc.disable()
    from gearshift.cli.common import state
    from gearshift.cli.guard import run_guarded

    state.ledger_url = direct.ledger
    state.prices = direct.prices
    state.debug = direct.debug or bool(os.environ.get("GEARSHIFT_DEBUG"))

    def command() -> None:
        state.check_prices()  # as the Typer path does (gearshift.cli.main.main)
        _run(direct)

    run_guarded(command)
    if leave:
        _leave()


def _leave() -> None:
    """End the process now that a direct command is done: its ledger is closed (run_guarded
    closes it) and its output written. The output is flushed and the exit handlers run; what
    is skipped is the interpreter's teardown of every module and object, ~5 ms of a re-run's
    ~0.1 s on a small machine."""
    import atexit

    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # the reader went away (| head): as run_guarded treats it
        pass
    atexit._run_exitfuncs()
    os._exit(0)


def _run(direct: Direct) -> None:
    opts = direct.options
    if direct.command == _INGEST:
        from gearshift.ingest.discovery import start_discover

        # The walk of the transcript folders (in C, without the GIL) runs while the modules
        # the run needs are imported.
        pending = start_discover(direct.paths or None)
        from gearshift.cli.ingest_run import run_claude_code

        workers = opts.get("workers")
        run_claude_code(
            direct.paths or None,
            str(opts.get("mode", "auto")),
            bool(opts.get("strict", False)),
            int(workers) if workers is not None else None,
            bool(opts.get("as_json", False)),
            pending=pending,
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
        tag=text("tag"),
        source=text("source"),
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
    out = Direct(command, ledger, prices, debug)
    i += len(command)
    while i < len(args):
        arg = args[i]
        if not arg.startswith("-"):
            if not spec.positional:
                return None
            out.paths.append(arg)
            i += 1
            continue
        name, value, used = _option(args, i, spec.values)
        if name in spec.flags:
            out.options[spec.flags[name]] = True
        elif name in spec.values and value is not None:
            key = spec.values[name]
            if key in spec.counts:
                if not (value.isascii() and value.isdigit() and int(value) >= 1):
                    return None
                out.options[key] = int(value)
            else:
                out.options[key] = value
        else:
            return None
        i += used
    return out


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
