"""`gearshift demo`: the main job on embedded defaults, in a ledger of its own."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gearshift.cli.common import console, print_json, state

if TYPE_CHECKING:
    from gearshift.engine.pipeline import Pipeline
    from gearshift.engine.runner import RunReport
    from gearshift.ledger import Ledger


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    out: Annotated[
        str | None,
        typer.Option(
            "--out",
            help="A folder of its own for the demo's ledger, transcripts and report "
            "[default: $XDG_DATA_HOME/gearshift/demo].",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 7,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Fill a fresh demo ledger with a realistic month of agent work and report on it."""
    from gearshift.budgets.model import make_budget, save_budget
    from gearshift.cli.budget import _forecasts, _print_status
    from gearshift.cli.reports import (
        _print_analysis,
        _print_recommendations,
        _print_true_cost,
        _write_html,
    )
    from gearshift.cli.run_view import print_report
    from gearshift.cli.spend_run import print_spend
    from gearshift.demo.month import fill_month
    from gearshift.ingest.claude_code import ingest_claude_code
    from gearshift.insight.analysis import analyse
    from gearshift.insight.expected_cost import TrueCostRates
    from gearshift.insight.recommend import recommend
    from gearshift.insight.truecost import true_cost
    from gearshift.ledger import Filters, Ledger, spend
    from gearshift.ledger.urls import default_path
    from gearshift.timespec import local_zone

    if out is not None and "://" in out:
        from gearshift.errors import ConfigError

        raise ConfigError("--out takes a folder, not a URL", hint="e.g. --out /tmp/gearshift-demo")
    folder = _demo_folder(Path(out) if out else default_path().with_name("demo"), default=not out)
    path = folder / "ledger.db"
    ledger = Ledger.open(path, catalog=state.catalog())
    state._ledger = ledger
    recorded = fill_month(ledger, seed=seed)
    run_report, pipeline = _run_demo_pipeline(ledger, seed)
    transcripts = _claude_code_tree(folder / "claude", seed)
    ingested = ingest_claude_code(ledger, [transcripts])
    from_claude = spend(ledger, "agent", Filters(source="claude-code"))
    save_budget(
        ledger,
        make_budget(
            name="team-monthly",
            scope="global",
            value="",
            period="month",
            amount_usd="150",
            action="alert",
        ),
        state.config(),
    )
    forecasts = _forecasts(None, ledger)
    analysis = analyse(ledger, tz=local_zone())
    filters = Filters()
    config = state.config()
    costs = true_cost(ledger, filters, TrueCostRates.from_config(config.true_cost))
    recs = recommend(ledger, filters, report=costs)
    page = folder / "report.html"
    _write_html(page, ledger, filters, local_zone(), config, analysis, costs, recs, None)
    if as_json:
        print_json(
            {
                "ledger": str(path),
                "recorded": recorded,
                "run": run_report.to_dict(),
                "claude_code": {
                    "transcripts": str(transcripts),
                    "ingest": ingested.to_dict(),
                    "spend_by_agent": from_claude.to_dict(),
                },
                "report": analysis.to_dict(),
                "true_cost": costs.to_dict(),
                "recommendations": [r.to_dict() for r in recs],
                "html_report": str(page),
                "budgets": [f.to_dict() for f in forecasts],
                "spend_by_tier": spend(ledger, "tier").to_dict(),
            }
        )
        return
    con = console()
    con.rule("gearshift demo")
    con.print(f"recorded {recorded:,} agent executions (a month of the article's agents) in {path}")
    con.print(
        "\nrouted and ran a day of agent work on the offline simulator (tiered: cheap first, "
        "validated, escalated on failure; every attempt in the ledger):"
    )
    print_report(run_report, pipeline)
    con.print()
    _print_analysis(analysis)
    _print_true_cost(costs)
    _print_recommendations(recs)
    con.print()
    con.print(
        f"ingested a generated Claude Code tree ({transcripts}): {ingested.new_records:,} API "
        f"calls from {ingested.files:,} transcripts, {ingested.duplicates:,} duplicate lines "
        "removed -- what each subagent cost:"
    )
    print_spend(from_claude)
    print_spend(spend(ledger, "tier"))
    print_spend(spend(ledger, "week"))
    _print_status(forecasts)
    con.print(f"\ncharts: {page} (open it in a browser)")
    # one command a line, never wrapped, the path quoted: each can be pasted into a shell
    ledger_arg = shlex.quote(str(path))
    con.print("explore it yourself:")
    for command in ("spend --by agent", "report --format yaml"):
        con.print(f"  gearshift --ledger {ledger_arg} {command}", soft_wrap=True, markup=False)


_MARKER = ".gearshift-demo"


def _demo_folder(folder: Path, *, default: bool) -> Path:
    """The demo's own folder, emptied of an earlier demo. It refuses anything else: a URL, an
    existing file, or a folder with content that an earlier demo did not put there -- the demo
    deletes what it finds in its folder, so it must never be pointed at real data."""
    import shutil

    from gearshift.errors import ConfigError

    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"--out: {folder} is a file", hint="name a new or empty folder")
    if folder.is_dir() and any(folder.iterdir()) and not (folder / _MARKER).exists():
        raise ConfigError(
            f"--out: {folder} has files the demo did not make, and the demo replaces what is there",
            hint="name a new or empty folder",
        )
    if not default and not folder.parent.is_dir():
        raise ConfigError(f"--out: {folder.parent} does not exist", hint="create it first")
    if folder.is_dir():
        shutil.rmtree(folder)
    folder.mkdir(parents=default)
    (folder / _MARKER).write_text("a folder made by `gearshift demo`; it is replaced on each run\n")
    return folder


def _claude_code_tree(out: Path, seed: int) -> Path:
    """A small generated Claude Code config dir (transcripts of the last month)."""
    import datetime as dt
    import shutil

    from gearshift.samples.claude_logs import generate_corpus

    shutil.rmtree(out, ignore_errors=True)
    start = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=30)
    generate_corpus(out, size_bytes=3_000_000, seed=seed, start=start, days=30)
    return out


def _run_demo_pipeline(ledger: Ledger, seed: int) -> tuple[RunReport, Pipeline]:
    """The bundled demo pipeline, run on the simulator into ``ledger``."""
    from importlib import resources

    from gearshift.engine.context import RunContext
    from gearshift.engine.pipeline import load_pipeline
    from gearshift.engine.run_state import RunStore
    from gearshift.engine.runner import run_jobs
    from gearshift.providers import RetryingProvider, get_provider

    catalog = state.catalog()
    path = Path(str(resources.files("gearshift.demo").joinpath("pipeline.yaml")))
    pipeline = load_pipeline(path, catalog=catalog, sim=True)
    provider = get_provider("sim", seed=seed, time_scale=0, catalog=catalog)
    ctx = RunContext(
        provider=RetryingProvider(provider),
        catalog=catalog,
        router=pipeline.router(catalog),
        ledger=ledger,
        store=RunStore(ledger),
        project="demo",
        source="sim",
    )
    return run_jobs(ctx, pipeline.jobs), pipeline
