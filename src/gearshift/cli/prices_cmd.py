"""`gearshift prices`: the models and prices in force."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer

from gearshift.cli.common import console, print_json, state


def register(app: typer.Typer) -> None:
    app.command("prices")(prices)


def prices(
    at: Annotated[
        str | None, typer.Option("--at", help="Prices in force on this date (YYYY-MM-DD).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List every model with its tier and prices (USD per million tokens)."""
    from gearshift.errors import ConfigError

    catalog = state.catalog()
    try:
        day = dt.date.fromisoformat(at) if at else None
    except ValueError:
        raise ConfigError(f"--at: {at!r} is not a date", hint="use YYYY-MM-DD") from None
    rows: list[dict[str, Any]] = []
    for model in catalog:
        if day is not None and model.periods[0].since > day:
            continue  # not released yet on that day
        period = model.period_at(day)
        row: dict[str, Any] = {
            "model": model.id,
            "tier": model.tier.value,
            "aliases": list(model.aliases),
            "since": period.since.isoformat(),
            **period.base.as_dict(),
            "fast_multiplier": str(period.fast) if period.fast else None,
            "long_context": (
                {"threshold": period.long_context.threshold, **period.long_context.prices.as_dict()}
                if period.long_context
                else None
            ),
            "deprecated": model.deprecated.isoformat() if model.deprecated else None,
        }
        rows.append(row)
    if as_json:
        print_json(
            {
                "price_version": catalog.price_version,
                "tiers": {t.value: m for t, m in catalog.tier_defaults.items()},
                "models": rows,
            }
        )
        return
    from gearshift.cli.common import plain_table

    table = plain_table(title=f"prices ({catalog.price_version}), USD per million tokens")
    columns = ("model", "tier", "input", "output", "5m write", "1h write", "cache read", "notes")
    wide = console().width >= 110
    keep = [wide or col not in ("5m write", "1h write") for col in columns]  # narrow: drop
    for col, kept in zip(columns, keep, strict=True):
        if kept:
            left = col in {"model", "tier", "notes"}
            table.add_column(col, justify="left" if left else "right", no_wrap=col != "notes")
    for row in rows:
        notes = []
        if row["long_context"]:
            lc: dict[str, Any] = row["long_context"]
            notes.append(f">{lc['threshold'] // 1000}k: {lc['input']}/{lc['output']}")
        if row["fast_multiplier"]:
            notes.append(f"fast x{row['fast_multiplier']}")
        if row["deprecated"]:
            notes.append(f"deprecated {row['deprecated']}")
        cells = (
            str(row["model"]),
            str(row["tier"]),
            str(row["input"]),
            str(row["output"]),
            str(row["cache_write_5m"]),
            str(row["cache_write_1h"]),
            str(row["cache_read"]),
            "; ".join(notes),
        )
        table.add_row(*(c for c, kept in zip(cells, keep, strict=True) if kept))
    console().print(table)
