"""`gearshift learn import|fit|status|eval`: train the tier predictor on outcomes and measure it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gearshift.cli.common import console, err_console, plain_table, print_json, state

if TYPE_CHECKING:
    from gearshift.learn.evaluate import EvalReport

learn_app = typer.Typer(
    help="Learn which tier each task needs from outcomes: import, fit, status, eval.",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
LadderOpt = Annotated[
    str | None,
    typer.Option(
        "--ladder",
        metavar="MODEL=TIER,...",
        help="Map the file's models to tiers, e.g. "
        "claude-instant-v1=haiku,claude-v1=sonnet,gpt-4-1106-preview=opus.",
        show_default=False,
    ),
]
WhereOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--where",
        metavar="COLUMN=VALUE",
        help="Only rows whose column has this value (repeatable), e.g. split=train.",
        show_default=False,
    ),
]


def register(app: typer.Typer) -> None:
    app.add_typer(learn_app, name="learn")


def _say(message: str) -> None:
    err_console().print(message, markup=False, style="dim")


@learn_app.command("import")
def import_cmd(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="CSV or JSONL of outcomes.")],
    ladder: LadderOpt = None,
    where: WhereOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Import a file imported before again.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Import outcomes (task, tier or model, success; optional agent, task_type, cost_usd,
    input_tokens, output_tokens), all or nothing."""
    from gearshift.learn.files import parse_ladder, parse_where
    from gearshift.learn.outcomes import import_file

    ledger = state.ledger(create=True)
    result = import_file(
        ledger,
        file,
        state.catalog(),
        ladder=parse_ladder(ladder),
        where=parse_where(where),
        force=force,
    )
    if as_json:
        print_json(result.to_dict())
        return
    tiers = ", ".join(f"{t} {n:,}" for t, n in result.per_tier.items() if n)
    if result.already:
        console().print(
            f"{file} was imported before ({result.outcomes:,} outcomes); nothing added "
            "(--force imports it again)",
            markup=False,
        )
    else:
        console().print(f"imported {result.outcomes:,} outcomes ({tiers})", markup=False)


@learn_app.command("fit")
def fit_cmd(
    since: Annotated[
        str | None,
        typer.Option("--since", help="Only outcomes from this day (YYYY-MM-DD, 30d, ...)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Train the tier predictor on every outcome (imported, and executions with a validator
    verdict) and store it in the ledger."""
    import datetime as dt

    from gearshift.learn.api import fit_ledger
    from gearshift.timespec import parse_when

    start = parse_when(since, dt.UTC)
    stored, predictor = fit_ledger(state.ledger(create=True), since=start, progress=_say)
    meta = predictor.meta
    if as_json:
        print_json({"model_id": stored.id, **_fit_summary(meta)})
        return
    s = meta["summary"]
    m = meta["metrics"]["overall"]
    console().print(
        f"trained on {s['outcomes']:,} outcomes of {s['tasks']:,} tasks "
        f"({s['paired_tasks']:,} with several tiers); model {stored.id}",
        markup=False,
    )
    console().print(
        f"held out (cross-validated): log loss {m['log_loss']:.3f}, Brier {m['brier']:.3f}, "
        f"AUC {_num(m['auc'])}, ECE {m['ece']:.3f}",
        markup=False,
    )


def _fit_summary(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: meta[k] for k in ("created", "mode", "summary", "metrics") if k in meta}


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


@learn_app.command("status")
def status_cmd(as_json: JsonOpt = False) -> None:
    """What the newest model learned from (per tier and agent), its held-out metrics, its age."""
    from gearshift.learn.api import status

    info = status(state.ledger(create=False))
    if as_json:
        print_json(info)
        return
    con = console()
    available = info["outcomes_available"]
    if not info["trained"]:
        con.print(
            f"no model trained; outcomes available: {available['import']:,} imported, "
            f"{available['ledger']:,} validated executions (run `gearshift learn fit`)",
            markup=False,
        )
        return
    s = info["summary"]
    con.print(
        f"model {info['model_id']}  trained {info['created']} ({info['age_days']} days ago), "
        f"{info['mode']}, gearshift {info['gearshift_version']}",
        markup=False,
    )
    con.print(
        f"data: {s['outcomes']:,} outcomes of {s['tasks']:,} tasks; "
        f"{info['new_since_fit']:,} new since (refit to use them)",
        markup=False,
    )
    table = plain_table(title="per tier (held-out, cross-validated)")
    for col in ("tier", "outcomes", "pass rate", "log loss", "AUC", "ECE"):
        table.add_column(col, justify="left" if col == "tier" else "right")
    for tier in ("haiku", "sonnet", "opus"):
        t = s["tiers"][tier]
        m = info["metrics"].get(tier) or {}
        rate = f"{t['passed'] / t['outcomes']:.0%}" if t["outcomes"] else "-"
        table.add_row(
            tier,
            f"{t['outcomes']:,}",
            rate,
            _num(m.get("log_loss")),
            _num(m.get("auc")),
            _num(m.get("ece")),
        )
    con.print(table)
    agents = plain_table(title="outcomes per agent and tier")
    for col in ("agent", "haiku", "sonnet", "opus"):
        agents.add_column(col, justify="left" if col == "agent" else "right")
    for name, per in sorted(s["agents"].items(), key=lambda kv: -sum(kv[1].values()))[:20]:
        agents.add_row(name, *(f"{per.get(t, 0):,}" for t in ("haiku", "sonnet", "opus")))
    con.print(agents)
    _print_reliability(info["metrics"]["overall"])


def _print_reliability(metrics: dict[str, Any]) -> None:
    table = plain_table(title="reliability (held-out): predicted vs observed pass rate")
    for col in ("P(pass)", "n", "mean predicted", "observed"):
        table.add_column(col, justify="right")
    for row in metrics.get("table", []):
        lo, hi = row["bin"]
        table.add_row(
            f"{lo:.1f}-{hi:.1f}", f"{row['n']:,}", f"{row['mean_p']:.3f}", f"{row['pass_rate']:.3f}"
        )
    console().print(table)


@learn_app.command("eval")
def eval_cmd(
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE",
            help="Held-out outcomes on every tier: a wide CSV (<model>|score, <model>|cost_usd) "
            "or long rows (task, tier, success, cost_usd).",
        ),
    ],
    ladder: LadderOpt = None,
    where: WhereOpt = None,
    bootstrap: Annotated[
        int, typer.Option("--bootstrap", min=0, help="Bootstrap resamples for the intervals.")
    ] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random baseline.")] = 0,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot", metavar="FILE.svg", help="Write the curves as SVG.", show_default=False
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """APGR, CPT(50%) and CPT(80%) of the learned router beside random, prompt-length and
    rubric baselines, with bootstrap 95% intervals, on outcomes it was not trained on."""
    from gearshift.errors import ConfigError
    from gearshift.learn.artefact import load_latest
    from gearshift.learn.evaluate import evaluate
    from gearshift.learn.files import parse_ladder, parse_where
    from gearshift.learn.tables import eval_table

    found = load_latest(state.ledger(create=False))
    if found is None:
        raise ConfigError("no trained model in this ledger", hint="run `gearshift learn fit`")
    catalog = state.catalog()
    table = eval_table(file, catalog, ladder=parse_ladder(ladder), where=parse_where(where))
    _say(f"evaluating on {len(table.texts):,} tasks ({bootstrap:,} bootstrap resamples)")
    report = evaluate(table, found[1], catalog, bootstrap=bootstrap, seed=seed)
    if plot is not None:
        from gearshift.learn.plot import svg

        plot.write_text(svg(report, f"{file.name}: {report.tasks:,} tasks"), encoding="utf-8")
    if as_json:
        print_json(report.to_dict())
        return
    _print_eval(report, plot)


def _print_eval(report: EvalReport, plot: Path | None) -> None:
    con = console()
    table = plain_table(
        title=f"{report.tasks:,} tasks; 95% intervals from {report.bootstrap:,} resamples"
    )
    for col in ("router", "APGR (95% CI)", "CPT(50%)", "CPT(80%)", "learned - it (95% CI)"):
        table.add_column(col, justify="left" if col == "router" else "right")
    for r in report.routers:
        apgr = f"{r.apgr:.3f}"
        if report.bootstrap:
            apgr += f" ({r.apgr_ci[0]:.3f}-{r.apgr_ci[1]:.3f})"
        diff = ""
        if r.diff is not None and r.diff_ci is not None:
            diff = f"{r.diff:+.3f} ({r.diff_ci[0]:+.3f}, {r.diff_ci[1]:+.3f})"
        table.add_row(r.name, apgr, _num(r.cpt50), _num(r.cpt80), diff)
    con.print(table)
    always = ", ".join(
        f"{t} quality {v['quality']:.3f} cost ${v['cost_usd']}" for t, v in report.always.items()
    )
    con.print(f"always one tier: {always}", markup=False)
    curve = plain_table(title="learned router: cost-quality curve (normalised)")
    curve.add_column("cost", justify="right")
    curve.add_column("gap recovered", justify="right")
    learned = report.result("learned").curve
    for target in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0):
        import numpy as np

        curve.add_row(f"{target:.1f}", f"{float(np.interp(target, learned.x, learned.y)):.3f}")
    con.print(curve)
    if plot is not None:
        con.print(f"curves written to {plot}", markup=False)
