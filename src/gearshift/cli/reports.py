"""`gearshift spend` and `gearshift report`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from gearshift.cli.common import console, print_json, state

if TYPE_CHECKING:
    import datetime as dt

    from gearshift.ledger import Filters, SpendReport

SinceOpt = Annotated[
    str | None,
    typer.Option("--since", help="From this day (YYYY-MM-DD, YYYYMMDD, 7d, today), inclusive."),
]
UntilOpt = Annotated[str | None, typer.Option("--until", help="Up to this day, inclusive.")]
TzOpt = Annotated[
    str | None, typer.Option("--tz", help="Time zone for days [default: the local zone].")
]


def register(app: typer.Typer) -> None:
    app.command("spend")(spend_cmd)
    app.command("report")(report_cmd)


def build_filters(
    since: str | None,
    until: str | None,
    tz_name: str | None,
    **exact: str | None,
) -> tuple[Filters, dt.tzinfo]:
    from gearshift.errors import ConfigError
    from gearshift.ledger import Filters
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


def spend_cmd(
    by: Annotated[
        str,
        typer.Option(
            "--by", help="day, week, month, agent, model, tier, project, session, task_type."
        ),
    ] = "day",
    since: SinceOpt = None,
    until: UntilOpt = None,
    project: Annotated[str | None, typer.Option("--project", "-p")] = None,
    agent: Annotated[str | None, typer.Option("--agent", "-a")] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Exact model id.")] = None,
    tier: Annotated[str | None, typer.Option("--tier")] = None,
    tag: Annotated[str | None, typer.Option("--tag", help="KEY=VALUE")] = None,
    tz: TzOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Spend grouped by a period or a column."""
    from gearshift.ledger import spend

    filters, zone = build_filters(
        since, until, tz, project=project, agent=agent, model=model, tier=tier, tag=tag
    )
    report = spend(state.ledger(), by, filters, zone)
    if as_json:
        print_json(report.to_dict())
        return
    _print_spend(report)


def _print_spend(report: SpendReport) -> None:
    from rich.table import Table

    from gearshift.fmt import tokens, usd

    table = Table(title=f"spend by {report.by}", show_footer=True)
    total = report.total
    cols = [
        (report.by, "total", "left"),
        ("runs", f"{total.executions:,}", "right"),
        ("input", tokens(total.input_tokens), "right"),
        ("output", tokens(total.output_tokens), "right"),
        ("cache write", tokens(total.cache_creation_tokens), "right"),
        ("cache read", tokens(total.cache_read_tokens), "right"),
        ("cost", usd(total.cost_usd, places=2), "right"),
    ]
    for name, footer, justify in cols:
        table.add_column(name, footer=footer, justify=justify)  # type: ignore[arg-type]
    for row in report.rows:
        table.add_row(
            row.key,
            f"{row.executions:,}",
            tokens(row.input_tokens),
            tokens(row.output_tokens),
            tokens(row.cache_creation_tokens),
            tokens(row.cache_read_tokens),
            usd(row.cost_usd, places=2),
        )
    if not report.rows:
        console().print("no executions recorded for this selection")
        return
    console().print(table)


def report_cmd(
    since: SinceOpt = None,
    until: UntilOpt = None,
    project: Annotated[str | None, typer.Option("--project", "-p")] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, yaml or json.")] = "table",
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
    tz: TzOpt = None,
) -> None:
    """The cost analysis: per agent, a summary, and the optimisation opportunities."""
    from gearshift.errors import ConfigError
    from gearshift.insight.analysis import analyse

    if as_json:
        fmt = "json"
    if fmt not in ("table", "yaml", "json"):
        raise ConfigError(f"--format: {fmt!r} is not a format", hint="use table, yaml or json")
    filters, _ = build_filters(since, until, tz, project=project)
    analysis = analyse(state.ledger(), filters)
    if fmt == "json":
        print_json(analysis.to_dict())
    elif fmt == "yaml":
        import yaml

        typer.echo(yaml.safe_dump(analysis.to_template(), sort_keys=False, width=100), nl=False)
    else:
        _print_analysis(analysis)


def _print_analysis(analysis: object) -> None:
    from rich.table import Table

    from gearshift.fmt import pct, tokens, usd_nanos
    from gearshift.insight.analysis import CostAnalysis

    assert isinstance(analysis, CostAnalysis)
    con = console()
    if not analysis.agents:
        con.print("no executions recorded for this selection")
        return
    table = Table(title=f"cost analysis, {analysis.period_text()}")
    for col in ("agent", "model", "runs", "input", "output", "cost", "avg/run", "share", "ok"):
        table.add_column(col, justify="left" if col in ("agent", "model") else "right")
    for a in analysis.agents:
        table.add_row(
            a.agent,
            a.tier if len(a.tiers) == 1 else "/".join(sorted(a.tiers)),
            f"{a.executions:,}",
            tokens(a.input_tokens),
            tokens(a.output_tokens),
            usd_nanos(a.cost_nanos),
            usd_nanos(a.average_nanos),
            pct(a.cost_nanos, analysis.total_cost_nanos),
            pct(a.successes, a.executions, 0),
        )
    con.print(table)
    split = "  ".join(
        f"{t} {pct(analysis.tier_cost.get(t, 0), analysis.total_cost_nanos)}"
        for t in ("haiku", "sonnet", "opus")
    )
    con.print(
        f"total {usd_nanos(analysis.total_cost_nanos)} over {analysis.total_executions:,} "
        f"executions; success {pct(analysis.successes, analysis.total_executions)}; "
        f"tier split (cost): {split}"
    )
    for opp in analysis.opportunities:
        con.print(f"• {opp.message}", markup=False)
