"""The `gearshift` command: global options, command registration and the one error wrapper.

Each command group lives in its own module under ``gearshift.cli`` and exposes
``register(app: typer.Typer) -> None``. Command bodies import the library lazily, so ``--help``
stays fast.
"""

from __future__ import annotations

import importlib
import os
from typing import Annotated

import typer

from gearshift.cli.common import state

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
    "gearshift.cli.serve",
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
    from gearshift.cli.guard import run_guarded

    run_guarded(lambda: app(args=argv, prog_name="gearshift"))


if __name__ == "__main__":
    main()
