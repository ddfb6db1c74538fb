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
    "gearshift.cli.reconcile",
    "gearshift.cli.prices_cmd",
    "gearshift.cli.budget",
    "gearshift.cli.route",
    "gearshift.cli.learn",
    "gearshift.cli.run",
    "gearshift.cli.worker",
    "gearshift.cli.runs",
    "gearshift.cli.plan",
    "gearshift.cli.replay",
    "gearshift.cli.schema",
    "gearshift.cli.proxy",
    "gearshift.cli.demo",
    "gearshift.cli.serve",
    "gearshift.cli.setup_cmd",
    "gearshift.cli.statusline",
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
    ctx: typer.Context,
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
    lock_timeout: Annotated[
        float,
        typer.Option(
            "--lock-timeout",
            min=0.0,
            metavar="SECONDS",
            help="How long a write waits for another writer of a SQLite ledger.",
        ),
    ] = 60.0,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    source = ctx.get_parameter_source("ledger")
    state.ledger_url = ledger
    # by name: Typer carries its own copy of click, whose enum is not click's
    state.ledger_from_env = source is not None and source.name == "ENVIRONMENT"
    state.prices = prices
    state.lock_timeout = lock_timeout
    state.debug = debug or bool(os.environ.get("GEARSHIFT_DEBUG"))


for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; turn gearshift errors into a message, a hint and an exit code. A price
    file named by ``--prices`` or ``GEARSHIFT_PRICES`` is checked before the command runs
    (:meth:`State.check_prices`), the one place a bad one fails."""
    import sys

    from gearshift.cli.common import global_prices
    from gearshift.cli.guard import run_guarded

    args = list(sys.argv[1:] if argv is None else argv)
    prices, runs = global_prices(args)

    def command() -> None:
        if runs:
            state.check_prices(prices)
        app(args=args, prog_name="gearshift")

    run_guarded(command)


if __name__ == "__main__":
    main()
