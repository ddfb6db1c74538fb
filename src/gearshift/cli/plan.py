"""`gearshift plan WORKLOAD.yaml`: a what-if plan, priced with the global ``--prices`` catalog."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gearshift.cli.common import console, print_json, state

if TYPE_CHECKING:
    from rich.console import Console

    from gearshift.insight.plan import FigureCheck, Plan

#: Output width when stdout is a pipe or a file: wide enough for the tables not to wrap.
_PIPE_WIDTH = 200


def register(app: typer.Typer) -> None:
    app.command("plan")(plan_cmd)


def plan_cmd(
    workload: Annotated[Path, typer.Argument(help="Workload file (YAML).", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    prices: Annotated[
        str | None,
        typer.Option("--prices", help="Price profile or file [default: the global --prices]."),
    ] = None,
) -> None:
    """Monthly cost, quality and latency of a workload before and after a change of strategy.

    Figures listed under `article_figures` are shown beside ours, with the difference.
    """
    from gearshift.catalog import load_catalog
    from gearshift.insight.plan import make_plan
    from gearshift.insight.workload import load_workload

    catalog = load_catalog(prices) if prices else state.catalog()
    plan = make_plan(load_workload(workload), catalog)
    if as_json:
        print_json(plan.to_dict())
        return
    _print_plan(plan)
    if plan.checks:
        _print_checks(plan)


def wide_console() -> Console:
    """The shared console; when stdout is not a terminal, wide enough that tables do not wrap."""
    from gearshift.cli.common import is_terminal

    con = console()
    if not is_terminal() and con.width < _PIPE_WIDTH:
        from rich.console import Console

        return Console(highlight=False, soft_wrap=False, width=_PIPE_WIDTH)
    return con


def _print_plan(plan: Plan) -> None:
    from gearshift.cli.common import plain_table
    from gearshift.insight.plan import money

    con = wide_console()
    title = f"{plan.workload.name}: monthly cost (prices {plan.prices})"
    table = plain_table(title=title, show_footer=True)
    saving = f"{money(plan.saving)} ({_pct(plan.saving / plan.monthly_before)})"
    for name, footer in (
        ("task", "total"),
        ("runs/day", ""),
        ("before", ""),
        ("after", ""),
        ("month before", money(plan.monthly_before)),
        ("month after", money(plan.monthly_after)),
        ("saving", saving),
    ):
        left = name in ("task", "before", "after")
        table.add_column(name, footer=footer, justify="left" if left else "right")
    for t in plan.tasks:
        table.add_row(
            t.task.name,
            f"{float(t.task.per_day):g}",
            t.task.before.describe(),
            t.task.after.describe(),
            money(t.monthly_before),
            money(t.monthly_after),
            money(t.saving),
        )
    con.print(table)
    runs = plain_table(title="one run: cost, expected quality, latency (before -> after)")
    for name in ("task", "cost per run", "quality", "latency"):
        runs.add_column(name, justify="left" if name == "task" else "right")
    for t in plan.tasks:
        runs.add_row(
            t.task.name,
            f"{money(t.before.per_execution)} -> {money(t.after.per_execution)}",
            f"{_pct(t.before.quality)} -> {_pct(t.after.quality)}",
            f"{float(t.before.latency_s):g}s -> {float(t.after.latency_s):g}s",
        )
    runs.add_row(
        "all (by volume)",
        "",
        f"{_pct(plan.quality('before'))} -> {_pct(plan.quality('after'))}",
        "",
    )
    con.print(runs)
    con.print(
        f"yearly saving {money(plan.saving * 12)}; a month is "
        f"{float(plan.workload.days_per_month):g} days of volume",
        markup=False,
    )


def _print_checks(plan: Plan) -> None:
    from gearshift.cli.common import plain_table

    con = wide_console()
    table = plain_table(title="figures stated in the workload file, beside ours")
    cols = ("figure", "stated", "ours", "difference", "follows from its inputs?", "its own figures")
    for col in cols:
        table.add_column(
            col, justify="right" if col in ("stated", "ours", "difference") else "left"
        )
    for c in plan.checks:
        table.add_row(
            c.figure.figure, c.figure.text, _fmt(c, c.ours), _diff(c), _follows(c), _implied(c)
        )
    con.print(table)
    wrong = sum(not c.follows for c in plan.checks)
    con.print(
        f"{wrong} of {len(plan.checks)} stated figures do not follow from the workload's own "
        "inputs (volumes, tokens, prices)",
        markup=False,
    )


def _fmt(check: FigureCheck, value: object) -> str:
    from fractions import Fraction

    from gearshift.insight.plan import money

    assert isinstance(value, Fraction)
    if check.figure.unit == "%":
        return f"{float(value):.1f}%"
    return money(value)


def _diff(check: FigureCheck) -> str:
    diff = _fmt(check, abs(check.difference))
    return ("+" if check.difference > 0 else "-" if check.difference < 0 else "") + diff


def _follows(check: FigureCheck) -> str:
    if check.follows:
        return "yes"
    ratio = check.ratio
    if ratio is None or ratio <= 0:
        return "NO"
    factor = f"{float(ratio):.3g}x ours" if ratio >= 1 else f"{float(ratio):.2g}x ours"
    return f"NO: {factor}"


def _implied(check: FigureCheck) -> str:
    """How the stated figure squares with the other figures stated beside it."""
    parts = []
    for implied in check.implied:
        if implied.consistent:
            parts.append(f"consistent with {implied.how}")
        else:
            parts.append(f"NOT {implied.how} = {_fmt(check, implied.value)}")
    return "; ".join(parts)


def _pct(value: object) -> str:
    from fractions import Fraction

    assert isinstance(value, Fraction)
    return f"{float(value * 100):.1f}%"
