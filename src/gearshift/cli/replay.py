"""`gearshift replay --policy POLICY.yaml`: the ledger's tasks re-priced under another policy."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gearshift.cli.common import print_json, state
from gearshift.cli.reports import SinceOpt, TzOpt, UntilOpt
from gearshift.cli.spend_run import build_filters

if TYPE_CHECKING:
    from gearshift.insight.replay import ReplayReport


def register(app: typer.Typer) -> None:
    app.command("replay")(replay_cmd)


def replay_cmd(
    policy: Annotated[
        Path, typer.Option("--policy", help="Policy file (YAML): agent/task type -> tier(s).")
    ],
    since: SinceOpt = None,
    until: UntilOpt = None,
    project: Annotated[str | None, typer.Option("--project", "-p")] = None,
    tz: TzOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """What the recorded tasks would have cost, and how well they would have done, under POLICY.

    Success rates come from the ledger (per task type and tier); rates it cannot support are
    defaults, and the output names them.
    """
    from gearshift.insight.replay import load_policy, replay

    rules = load_policy(policy)
    filters, _ = build_filters(since, until, tz, project=project)
    report = replay(state.ledger(create=False), rules, filters)
    if as_json:
        print_json(report.to_dict())
        return
    _print(report)


def _print(report: ReplayReport) -> None:
    from gearshift.cli.common import plain_table
    from gearshift.cli.plan import wide_console
    from gearshift.fmt import usd_nanos
    from gearshift.insight.expected_cost import nanos

    con = wide_console()
    if not report.agents:
        con.print("no executions recorded for this selection")
        return
    table = plain_table(title=f"replay of {report.policy}: as it ran -> under the policy")
    for col in ("agent", "tasks", "routed", "cost", "quality", "escalations"):
        table.add_column(col, justify="left" if col in ("agent", "routed") else "right")
    for a in report.agents:
        tasks = a.tasks or 1
        table.add_row(
            a.agent,
            f"{a.tasks:,}",
            ", ".join(f"{route} {n:,}" for route, n in sorted(a.routes.items())),
            f"{usd_nanos(a.actual_nanos)} -> {usd_nanos(nanos(a.replay_cost))}",
            f"{_pct(Fraction(a.actual_ok, tasks))} -> {_pct(a.replay_ok / tasks)}",
            f"{a.actual_escalations:,} -> {float(a.replay_escalations):,.0f}",
        )
    con.print(table)
    total = report.totals()
    actual, replayed = (
        usd_nanos(nanos(Fraction(total[k]))) for k in ("actual_cost_usd", "replayed_cost_usd")
    )
    quality = (_pct(Fraction(total[k])) for k in ("actual_quality", "replayed_quality"))
    con.print(
        f"total: {actual} -> {replayed}; quality {' -> '.join(quality)}",
        markup=False,
        soft_wrap=True,
    )
    assumed = sorted({r for a in report.agents for r in a.assumed})
    if assumed:
        con.print(
            "assumed (too few runs in the ledger): " + ", ".join(assumed),
            markup=False,
            soft_wrap=True,
        )


def _pct(value: Fraction) -> str:
    return f"{float(value * 100):.1f}%"
