"""The `gearshift` command: global options, command registration and the one error wrapper.

Each command group lives in its own module under ``gearshift.cli`` and exposes
``register(app: typer.Typer) -> None``. Command bodies import the library lazily, so ``--help``
stays fast.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Annotated

import typer

from gearshift.cli.common import err_console, state

#: Modules whose ``register(app)`` adds commands, in help order.
COMMAND_MODULES = (
    "gearshift.cli.ledger_cmds",
    "gearshift.cli.ingest",
    "gearshift.cli.sample",
    "gearshift.cli.reports",
    "gearshift.cli.prices_cmd",
    "gearshift.cli.budget",
    "gearshift.cli.route",
    "gearshift.cli.run",
    "gearshift.cli.plan",
    "gearshift.cli.replay",
    "gearshift.cli.demo",
)

app = typer.Typer(
    name="gearshift",
    help="Put every Claude agent task on the right model tier, and know what it cost.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"gearshift {version('gearshift')}")
        raise typer.Exit()


@app.callback()
def _global(
    ledger: Annotated[
        str | None,
        typer.Option(
            "--ledger",
            envvar="GEARSHIFT_LEDGER",
            help="Ledger: a file path, sqlite:///PATH or postgresql://... "
            "[default: $XDG_DATA_HOME/gearshift/ledger.db]",
            show_default=False,
        ),
    ] = None,
    prices: Annotated[
        str | None,
        typer.Option(
            "--prices",
            envvar="GEARSHIFT_PRICES",
            help="Price profile (anthropic, article) or a TOML price file.",
            show_default=False,
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    state.ledger_url = ledger
    state.prices = prices
    state.debug = debug or bool(os.environ.get("GEARSHIFT_DEBUG"))


for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; turn gearshift errors into a message, a hint and an exit code."""
    from gearshift.errors import GearshiftError

    try:
        app(args=argv, prog_name="gearshift")
    except GearshiftError as exc:
        if state.debug:
            raise
        _report(f"error: {exc.message}", exc.hint)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _report("interrupted", None)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except OSError as exc:  # the machine said no: permissions, a full or read-only disk
        if state.debug:
            raise
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        _report(
            f"error: {exc.strerror or exc}{where}", "check the path, its permissions and free space"
        )
        sys.exit(1)
    except Exception as exc:
        if state.debug:
            raise
        _report(
            f"internal error: {type(exc).__name__}: {exc}",
            "this is a bug in gearshift; run again with --debug for the traceback and report it",
        )
        sys.exit(70)
    finally:
        state.close()


def _report(message: str, hint: str | None) -> None:
    con = err_console()
    con.print(message, style="bold red", markup=False, soft_wrap=True)
    if hint:
        con.print(f"hint: {hint}", style="yellow", markup=False, soft_wrap=True)


if __name__ == "__main__":
    main()
