"""`gearshift spend` and `gearshift report`."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gearshift.cli.common import console, err_console, print_json, printable_text, state
from gearshift.cli.spend_run import build_filters

if TYPE_CHECKING:
    import datetime as dt

    from gearshift.config import Config
    from gearshift.insight.analysis import CostAnalysis
    from gearshift.insight.drift import LedgerVsBill
    from gearshift.insight.recommend import Recommendation
    from gearshift.insight.truecost import TrueCostReport
    from gearshift.ledger import Filters, Ledger

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


def spend_cmd(
    by: Annotated[
        str,
        typer.Option(
            "--by",
            help="day, week, month, agent, model, tier, project, session, task_type, source "
            "or status.",
        ),
    ] = "day",
    since: SinceOpt = None,
    until: UntilOpt = None,
    project: Annotated[str | None, typer.Option("--project", "-p")] = None,
    agent: Annotated[str | None, typer.Option("--agent", "-a")] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Exact model id.")] = None,
    tier: Annotated[str | None, typer.Option("--tier")] = None,
    source: Annotated[
        str | None, typer.Option("--source", help="api, claude-code, proxy, manual, import, sim.")
    ] = None,
    tag: Annotated[str | None, typer.Option("--tag", help="KEY=VALUE")] = None,
    tz: TzOpt = None,
    reprice: Annotated[
        bool,
        typer.Option(
            "--reprice",
            help="Price every execution with the prices in use (--prices) instead of showing "
            "its stored cost; labelled as such.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Spend grouped by a period or a column (stored costs, or --reprice)."""
    from gearshift.cli.spend_run import run_spend

    run_spend(by, since, until, tz, as_json, reprice=reprice, project=project, agent=agent,
              model=model, tier=tier, tag=tag, source=source)  # fmt: skip


def report_cmd(
    since: SinceOpt = None,
    until: UntilOpt = None,
    project: Annotated[str | None, typer.Option("--project", "-p")] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, yaml or json.")] = "table",
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
    tz: TzOpt = None,
    html_out: Annotated[
        Path | None,
        typer.Option("--html", help="Also write a self-contained HTML page with charts to FILE."),
    ] = None,
) -> None:
    """The cost analysis: per agent, true cost, a summary, and the recommendations."""
    from gearshift.errors import ConfigError
    from gearshift.insight.analysis import analyse
    from gearshift.insight.expected_cost import TrueCostRates
    from gearshift.insight.recommend import recommend
    from gearshift.insight.truecost import true_cost

    if as_json:
        fmt = "json"
    if fmt not in ("table", "yaml", "json"):
        raise ConfigError(f"--format: {fmt!r} is not a format", hint="use table, yaml or json")
    filters, zone = build_filters(since, until, tz, project=project)
    ledger = state.ledger(create=False)
    analysis = analyse(ledger, filters, zone)
    config = state.config()
    costs = true_cost(ledger, filters, TrueCostRates.from_config(config.true_cost))
    recs = recommend(ledger, filters, report=costs)
    bill = _ledger_vs_bill(ledger, filters)
    if html_out is not None:
        _write_html(html_out, ledger, filters, zone, config, analysis, costs, recs, project)
    if fmt == "json":
        data = analysis.to_dict()
        data["true_cost"] = costs.to_dict()
        data["recommendations"] = [r.to_dict() for r in recs]
        if bill is not None:
            data["ledger_vs_bill"] = bill.to_dict()
        print_json(data)
    elif fmt == "yaml":
        import yaml

        template = analysis.to_template()
        template["cost-analysis"]["true_cost"] = _true_cost_template(costs)
        template["cost-analysis"]["recommendations"] = [r.message for r in recs]
        if bill is not None:
            template["cost-analysis"]["ledger_vs_bill"] = bill.to_dict()
        typer.echo(yaml.safe_dump(template, sort_keys=False, width=100), nl=False)
    else:
        from gearshift.cli.spend_run import print_unpriced
        from gearshift.ledger.reprice import unpriced_models

        _print_analysis(analysis)
        if analysis.agents:
            _print_true_cost(costs)
            _print_recommendations(recs)
        if bill is not None:
            _print_ledger_vs_bill(bill)
        print_unpriced(unpriced_models(ledger, filters))
    if html_out is not None:
        err_console().print(f"wrote {html_out}", markup=False)


def _ledger_vs_bill(ledger: Ledger, filters: Filters) -> LedgerVsBill | None:
    """The stored comparisons with Anthropic's bill of the report's days (UTC days, as the
    bill's); ``None`` when ``gearshift reconcile`` never stored one."""
    import datetime as dt

    from gearshift.insight.drift import ledger_vs_bill

    since = filters.since.astimezone(dt.UTC).date() if filters.since else None
    until = None
    if filters.until is not None:
        end = filters.until.astimezone(dt.UTC)
        until = end.date() + dt.timedelta(days=end.time() != dt.time())
    return ledger_vs_bill(ledger, ledger.catalog, since, until)


def _print_ledger_vs_bill(bill: LedgerVsBill) -> None:
    from gearshift.cli.common import plain_table
    from gearshift.fmt import usd_nanos

    con = console()
    if not bill.models:
        con.print("ledger vs bill: no stored comparison covers these days", markup=False)
        return
    table = plain_table(title="ledger vs bill (newest `gearshift reconcile` of each UTC day)")
    for col in ("model", "days", "beyond", "ledger", "bill", "difference", "drift", "why"):
        table.add_column(col, justify="left" if col in ("model", "why") else "right")
    for m in bill.models:
        pct = m.drift_pct
        table.add_row(
            m.model,
            str(m.days),
            str(m.beyond_days),
            usd_nanos(m.ledger_nanos),
            usd_nanos(m.bill_nanos),
            usd_nanos(m.difference_nanos),
            f"{pct}%" if pct is not None else "",
            ", ".join(sorted(m.reasons)),
        )
    con.print(table)
    for note in bill.notes():
        con.print(f"! {note}", markup=False, soft_wrap=True)


def _write_html(
    path: Path,
    ledger: Ledger,
    filters: Filters,
    zone: dt.tzinfo,
    config: Config,
    analysis: CostAnalysis,
    costs: TrueCostReport,
    recs: list[Recommendation],
    project: str | None,
) -> None:
    import datetime as dt

    from gearshift.errors import ConfigError
    from gearshift.insight.html import Page, daily_by_tier, render

    page = Page(
        analysis,
        costs,
        recs,
        daily_by_tier(ledger, filters, zone),
        _forecasts(ledger, config, zone, project),
        generated=dt.datetime.now(zone).strftime("%Y-%m-%d %H:%M %Z"),
    )
    try:
        path.write_text(render(page), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--html: cannot write {path}: {exc.strerror or exc}") from None


def _forecasts(ledger: Ledger, config: Config, zone: dt.tzinfo, project: str | None) -> list[Any]:
    """Forecasts of the budgets that cover the report: global ones, and the project's."""
    import datetime as dt

    from gearshift.budgets import load_budgets
    from gearshift.budgets.forecast import forecast

    now = dt.datetime.now(dt.UTC)
    chosen = [
        b
        for b in load_budgets(ledger, config)
        if b.active(now, zone)
        and (b.scope == "global" or (b.scope == "project" and b.value == project))
    ]
    return [(b.name, forecast(ledger, b, now, zone)) for b in chosen[:3]]


def _true_cost_template(costs: TrueCostReport) -> dict[str, Any]:
    from gearshift.fmt import usd_nanos
    from gearshift.insight.expected_cost import nanos

    def money(amount: Fraction) -> str:
        return usd_nanos(nanos(amount))

    return {
        "rates": costs.rates.to_dict(),
        "agents": {
            a.agent: {
                "tier": a.home.tier.value,
                "tokens": usd_nanos(sum(r.token_nanos for r in a.rows)),
                "double_pay": usd_nanos(sum(r.double_pay_nanos for r in a.rows)),
                "rework": money(sum((r.rework for r in a.rows), Fraction(0))),
                "waiting": money(sum((r.waiting for r in a.rows), Fraction(0))),
                "true_cost": money(a.total),
                "per_task": money(a.per_task),
                "per_month": money(costs.monthly(a.total)),
            }
            for a in costs.agents
        },
        "hidden_costs": [f.message for f in costs.flags],
    }


def _print_true_cost(costs: TrueCostReport) -> None:
    from gearshift.cli.common import plain_table
    from gearshift.cli.plan import wide_console
    from gearshift.fmt import usd_nanos
    from gearshift.insight.expected_cost import nanos

    rates = costs.rates
    table = plain_table(
        title=f"true cost (${rates.hourly_rate}/h, {rates.investigate_minutes} min per failure, "
        f"blocking {rates.blocking_factor})"
    )
    cols = ("agent", "tier", "tokens", "double-pay", "rework", "waiting", "true cost", "/task")
    for col in (*cols, "/month"):
        table.add_column(col, justify="left" if col in ("agent", "tier") else "right")
    for a in costs.agents:
        for r in a.rows:
            first = r is a.rows[0]
            table.add_row(
                a.agent if first else "",
                r.tier.value,
                usd_nanos(r.token_nanos),
                usd_nanos(r.double_pay_nanos),
                usd_nanos(nanos(r.rework)),
                usd_nanos(nanos(r.waiting)),
                usd_nanos(nanos(r.total)),
                usd_nanos(nanos(a.per_task)) if first else "",
                usd_nanos(nanos(costs.monthly(a.total))) if first else "",
            )
    con = wide_console()
    con.print(table)
    for flag in costs.flags:
        con.print(f"! {printable_text(flag.message, flag.agent)}", markup=False, soft_wrap=True)


def _print_recommendations(recs: list[Recommendation]) -> None:
    con = console()
    if not recs:
        return
    con.print("recommendations:")
    for rec in recs:
        message = printable_text(rec.message, rec.agent)
        con.print(f"• [{rec.kind}] {message}", markup=False, soft_wrap=True)
        for line in rec.evidence:
            con.print(f"    - {printable_text(line, rec.agent)}", markup=False, soft_wrap=True)


def _print_analysis(analysis: object) -> None:
    from gearshift.cli.common import plain_table
    from gearshift.fmt import pct, tokens, usd_nanos
    from gearshift.insight.analysis import CostAnalysis

    assert isinstance(analysis, CostAnalysis)
    con = console()
    if not analysis.agents:
        con.print("no executions recorded for this selection")
        return
    table = plain_table(title=f"cost analysis, {analysis.period_text()}")
    columns = ("agent", "model", "runs", "input", "output", "cost", "avg/run", "share", "ok")
    keep = [c not in ("input", "output") or con.width >= 100 for c in columns]  # narrow: drop
    for col, kept in zip(columns, keep, strict=True):
        if kept:
            table.add_column(col, justify="left" if col in ("agent", "model") else "right")
    for a in analysis.agents:
        cells = (
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
        table.add_row(*(c for c, kept in zip(cells, keep, strict=True) if kept))
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
        con.print(f"• {printable_text(opp.message, opp.agent)}", markup=False, soft_wrap=True)
