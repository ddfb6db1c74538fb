"""`gearshift demo`: the main job on embedded defaults, in a ledger of its own."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gearshift.cli.common import console, print_json, state


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Demo ledger file [default: $XDG_DATA_HOME/gearshift/demo.db]."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 7,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Fill a fresh demo ledger with a realistic month of agent work and report on it."""
    from gearshift.cli.reports import _print_analysis, _print_spend
    from gearshift.demo.month import fill_month
    from gearshift.insight.analysis import analyse
    from gearshift.ledger import Ledger, spend
    from gearshift.ledger.urls import default_path

    path = out or default_path().with_name("demo.db")
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    ledger = Ledger.open(path, catalog=state.catalog())
    state._ledger = ledger
    recorded = fill_month(ledger, seed=seed)
    analysis = analyse(ledger)
    if as_json:
        print_json(
            {
                "ledger": str(path),
                "recorded": recorded,
                "report": analysis.to_dict(),
                "spend_by_tier": spend(ledger, "tier").to_dict(),
            }
        )
        return
    con = console()
    con.rule("gearshift demo")
    con.print(f"recorded {recorded:,} agent executions (a month of the article's agents) in {path}")
    _print_analysis(analysis)
    con.print()
    _print_spend(spend(ledger, "tier"))
    _print_spend(spend(ledger, "week"))
    con.print(
        f"\nexplore it yourself: gearshift --ledger {path} spend --by agent | report --format yaml"
    )
