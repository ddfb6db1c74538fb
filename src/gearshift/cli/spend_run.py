"""What `gearshift spend` does, without Typer: shared by the Typer command and the direct entry
(:mod:`gearshift.cli.entry`), which on an existing SQLite ledger runs it without importing Typer
or SQLAlchemy -- the report most often asked for answers in a fraction of the time."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gearshift.cli.common import console, print_json, state

if TYPE_CHECKING:
    import datetime as dt

    from gearshift.ledger import Filters, SpendReport

__all__ = ["build_filters", "print_spend", "print_unpriced", "run_spend"]


def run_spend(
    by: str,
    since: str | None,
    until: str | None,
    tz: str | None,
    as_json: bool,
    *,
    reprice: bool = False,
    **exact: str | None,
) -> None:
    """``gearshift spend``: stored costs, or with ``reprice`` every execution priced with the
    prices in use (``--prices``), labelled as such."""
    from gearshift.errors import ConfigError
    from gearshift.ledger.queries import GROUPS, spend
    from gearshift.ledger.reprice import repriced_spend, unpriced_models

    if by not in GROUPS:
        raise ConfigError(f"--by: cannot group by {by!r}", hint=f"use one of: {', '.join(GROUPS)}")
    filters, zone = build_filters(since, until, tz, **exact)
    reader = state.reader()
    if reprice:
        what_if = repriced_spend(reader, by, state.catalog(), filters, zone)
        if as_json:
            print_json(what_if.to_dict())
            return
        print_spend(what_if.report, repriced_with=what_if.price_version)
        _print_repriced_footer(what_if.stored_nanos, what_if.unknown)
        return
    report = spend(reader, by, filters, zone)
    unpriced = unpriced_models(reader, filters)
    if as_json:
        data = report.to_dict()
        if unpriced:
            data["unpriced"] = unpriced
        print_json(data)
        return
    print_spend(report)
    print_unpriced(unpriced)
    if state.prices:
        console().print(
            "costs as recorded (stored costs); --prices applies to them with --reprice",
            style="dim",
            markup=False,
        )


def _print_repriced_footer(stored_nanos: int, unknown: dict[str, int]) -> None:
    from gearshift.fmt import usd_nanos

    console().print(f"stored costs of the same executions: {usd_nanos(stored_nanos)}", markup=False)
    if unknown:
        names = ", ".join(f"{m} ({n:,})" for m, n in sorted(unknown.items()))
        console().print(
            f"these prices do not know {names}: their stored costs are counted",
            style="yellow",
            markup=False,
        )


def print_unpriced(unpriced: dict[str, int]) -> None:
    """Say which executions were recorded without a price, and how to price them."""
    if not unpriced:
        return
    count = sum(unpriced.values())
    noun = "execution has" if count == 1 else "executions have"
    known = [m for m in unpriced if state.catalog().find(m) is not None]
    how = (
        f"the prices in use know {', '.join(sorted(known))}: run `gearshift ledger reprice`"
        if known
        else "once a price file knows the model, run `gearshift --prices FILE ledger reprice`"
    )
    console().print(
        f"note: {count:,} {noun} no price ({', '.join(sorted(unpriced))}), counted at $0; {how}",
        style="yellow",
        markup=False,
        soft_wrap=True,
    )


def build_filters(
    since: str | None,
    until: str | None,
    tz_name: str | None,
    **exact: str | None,
) -> tuple[Filters, dt.tzinfo]:
    from gearshift.errors import ConfigError
    from gearshift.ledger.queries import Filters
    from gearshift.timespec import parse_when, parse_zone

    tz = parse_zone(tz_name)
    start = parse_when(since, tz, option="--since")
    end = parse_when(until, tz, end=True, option="--until")
    if start and end and start >= end:
        raise ConfigError("--since is after --until", hint="swap them")
    tag = None
    raw_tag = exact.pop("tag", None)
    if raw_tag:
        key, sep, value = raw_tag.partition("=")
        if not sep:
            raise ConfigError(f"--tag {raw_tag!r}: expected KEY=VALUE")
        tag = (key, value)
    return Filters(since=start, until=end, tag=tag, **exact), tz


def print_spend(report: SpendReport, *, repriced_with: str | None = None) -> None:
    from gearshift.cli.common import plain_table
    from gearshift.fmt import tokens, usd

    title = f"spend by {report.by}" + (", repriced" if repriced_with is not None else "")
    table = plain_table(title=title, show_footer=True)
    total = report.total
    cols = [
        (report.by, "total", "left"),
        ("runs", f"{total.executions:,}", "right"),
        ("input", tokens(total.input_tokens), "right"),
        ("output", tokens(total.output_tokens), "right"),
        ("cache write", tokens(total.cache_creation_tokens), "right"),
        ("cache read", tokens(total.cache_read_tokens), "right"),
        ("cost", usd(total.cost_usd), "right"),
    ]
    wide = (
        console().width >= 100 or len(max((r.key for r in report.rows), key=len, default="")) < 12
    )
    keep = [wide or name not in ("cache write", "cache read") for name, _, _ in cols]
    for (name, footer, justify), kept in zip(cols, keep, strict=True):
        if kept:
            table.add_column(name, footer=footer, justify=justify)
    for row in report.rows:
        cells = (
            row.key,
            f"{row.executions:,}",
            tokens(row.input_tokens),
            tokens(row.output_tokens),
            tokens(row.cache_creation_tokens),
            tokens(row.cache_read_tokens),
            usd(row.cost_usd),
        )
        table.add_row(*(c for c, kept in zip(cells, keep, strict=True) if kept))
    if not report.rows:
        console().print("no executions recorded for this selection")
        return
    if repriced_with is not None:
        console().print(
            f"costs repriced with prices {repriced_with}, not the stored costs", markup=False
        )
    console().print(table)
