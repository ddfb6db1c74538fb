"""`gearshift run FILE`: run a pipeline -- route, call, validate, escalate, record every attempt.

The command is a thin shell around the library: :func:`gearshift.engine.pipeline.load_pipeline`
reads the file, :class:`gearshift.engine.runner.Engine` runs the jobs through a
:class:`~gearshift.engine.context.RunContext` that meters every attempt into the ledger, and
this module only builds the provider and the context and handles resuming; what is shown
lives in :mod:`gearshift.cli.run_view`.

Runs are resumable: every run has an id (printed first), each job that succeeds is saved under
it, and ``--run-id ID`` runs the same file again skipping what already succeeded -- after a
crash, ``kill -9`` or Ctrl-C nothing is paid twice. ``--dry-run`` routes and prices the jobs
without calling a provider or opening the ledger.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gearshift.cli.common import err_console, is_terminal, print_json, state

if TYPE_CHECKING:
    from gearshift.catalog import Catalog
    from gearshift.engine.context import RunContext
    from gearshift.engine.job import Job
    from gearshift.engine.pipeline import Pipeline
    from gearshift.engine.runner import RunReport
    from gearshift.ledger import Ledger
    from gearshift.providers import Provider
    from gearshift.routing.policies import Policy

#: simulated latency multiplier: a demo of a few dozen calls finishes in seconds
DEFAULT_TIME_SCALE = 0.02


def register(app: typer.Typer) -> None:
    app.command("run")(run)


def run(
    file: Annotated[Path, typer.Argument(help="A pipeline YAML file.", show_default=False)],
    provider: Annotated[
        str,
        typer.Option(
            "--provider",
            envvar="GEARSHIFT_PROVIDER",
            help="sim (offline simulator), anthropic (API, needs ANTHROPIC_API_KEY) or "
            "claude-code (claude -p).",
        ),
    ] = "anthropic",
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, help="Jobs and model calls at once.")
    ] = 8,
    provider_concurrency: Annotated[
        int | None,
        typer.Option(
            "--provider-concurrency",
            min=1,
            help="At most N calls in flight to the provider, validator calls included.",
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Route and estimate cost; call nothing, record nothing."),
    ] = False,
    run_id: Annotated[
        str | None,
        typer.Option(
            "--run-id", help="Resume this run: skip its jobs that succeeded.", show_default=False
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="sim: the random seed.")] = 0,
    time_scale: Annotated[
        float,
        typer.Option(
            "--time-scale", min=0.0, help="sim: latency multiplier (0 instant, 1 real time)."
        ),
    ] = DEFAULT_TIME_SCALE,
    enforce_budgets: Annotated[
        bool | None,
        typer.Option(
            "--enforce-budgets/--no-enforce-budgets",
            help="Reserve every call against the budgets. [default: on, off for sim]",
            show_default=False,
        ),
    ] = None,
    load_aware: Annotated[
        bool, typer.Option("--load-aware", help="Let the queue depth move tiers (load routing).")
    ] = False,
    agents_dir: Annotated[
        list[Path] | None,
        typer.Option(
            "--agents-dir",
            help="More agent definitions (dir or file); repeatable.",
            show_default=False,
        ),
    ] = None,
    project: Annotated[
        str, typer.Option("--project", help="The project recorded on every attempt.")
    ] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Run a pipeline file: every task routed, validated, escalated and metered in the ledger."""
    from gearshift.cli.run_view import plural, print_report, progress
    from gearshift.engine.pipeline import load_pipeline

    catalog = state.catalog()
    sim = provider == "sim"
    pipeline = load_pipeline(file, catalog=catalog, agent_dirs=agents_dir or (), sim=sim)
    if dry_run:
        _dry_run(pipeline, catalog, as_json=as_json)
        return
    if run_id is not None and not 0 < len(run_id) <= 64:
        from gearshift.errors import ConfigError

        raise ConfigError("--run-id must be 1 to 64 characters")
    model_provider = _provider(provider, seed=seed, time_scale=time_scale, catalog=catalog)
    if provider_concurrency is not None:
        from gearshift.providers.limit import LimitedProvider

        model_provider = LimitedProvider(model_provider, provider_concurrency)
    ctx = _context(pipeline, model_provider, catalog, run_id, provider, concurrency, project)
    ctx.load_aware = load_aware
    if enforce_budgets if enforce_budgets is not None else not sim:
        from gearshift.budgets.reservations import Reservations

        ctx.guard = Reservations(state.ledger(create=True), config=state.config())
    resume = _resume_command(file, provider, ctx.run_id)
    done_before = _succeeded(ctx, pipeline)
    if not as_json:
        jobs = plural(len(pipeline.jobs), "job")
        skipped = f", {len(done_before)} done earlier" if done_before else ""
        if run_id is not None and not done_before:
            skipped += " (nothing of this run id was finished before: starting it)"
        err_console().print(
            f"run {ctx.run_id}: {jobs} from {file} on {provider}{skipped}",
            markup=False,
        )
    show = not as_json and is_terminal()
    try:
        with progress(ctx, len(pipeline.jobs), len(done_before), enabled=show):
            report = asyncio.run(_execute(ctx, pipeline.jobs))
    except KeyboardInterrupt:
        _interrupted(ctx, pipeline, resume)
        raise typer.Exit(130) from None
    _counterfactual_resumed(report, state.ledger(create=True), catalog)
    if as_json:
        print_json({"pipeline": str(file), "provider": provider, "resume": resume,
                    **report.to_dict()})  # fmt: skip
    else:
        print_report(report, pipeline)
    failed = len(report.outcomes) - report.count("succeeded")
    if failed:
        err_console().print(
            f"{failed} of {len(report.outcomes)} jobs did not succeed; after fixing the cause, "
            f"re-run the rest with: {resume}",
            style="yellow",
            markup=False,
        )
        raise typer.Exit(1)


def _provider(name: str, *, seed: int, time_scale: float, catalog: Catalog) -> Provider:
    """The named provider inside the one retry loop; missing credentials fail here, early."""
    from gearshift.errors import AuthError, ConfigError
    from gearshift.providers import RetryingProvider, get_provider

    if name == "sim":
        inner = get_provider("sim", seed=seed, time_scale=time_scale, catalog=catalog)
    elif name == "anthropic":
        if not os.environ.get("ANTHROPIC_API_KEY"):
            raise AuthError(
                "--provider anthropic needs an API key in ANTHROPIC_API_KEY",
                hint="export ANTHROPIC_API_KEY=..., or run offline with --provider sim",
            )
        from gearshift.providers.endpoint import base_url

        base_url(None)  # a malformed ANTHROPIC_BASE_URL stops the run before any job starts
        inner = get_provider("anthropic", catalog=catalog)
    elif name == "claude-code":
        binary = os.environ.get("GEARSHIFT_CLAUDE_BIN") or "claude"
        if shutil.which(binary) is None:
            raise ConfigError(
                f"--provider claude-code runs `{binary} -p`, and {binary!r} is not on PATH",
                hint="install Claude Code, set GEARSHIFT_CLAUDE_BIN, or use --provider sim",
            )
        inner = get_provider("claude-code")
    else:
        inner = get_provider(name)
    return RetryingProvider(inner)


def _context(
    pipeline: Pipeline,
    provider: Provider,
    catalog: Catalog,
    run_id: str | None,
    provider_name: str,
    concurrency: int,
    project: str,
) -> RunContext:
    from gearshift.budgets.pressure import over_budget_check
    from gearshift.engine.context import RunContext
    from gearshift.engine.store import RunStore
    from gearshift.ledger.record import new_id

    ledger = state.ledger(create=True)
    # budget-aware routing: low-priority tasks under a budget in trouble step down a tier
    pressure = over_budget_check(ledger, config=state.config(), project=project)
    return RunContext(
        provider=provider,
        catalog=catalog,
        router=pipeline.router(catalog, over_budget=pressure, learned=_learned(ledger, catalog)),
        ledger=ledger,
        run_id=run_id or new_id(),
        store=RunStore(ledger),
        project=project,
        source="sim" if provider_name == "sim" else "api",
        concurrency=concurrency,
    )


def _learned(ledger: Ledger, catalog: Catalog) -> Policy | None:
    """The learned policy when the ledger holds a trained model and scikit-learn is installed:
    the tiered strategy then starts each job where it says."""
    from gearshift.routing.features import sklearn_available

    if not sklearn_available():
        return None
    from gearshift.learn.api import learned_policy

    return learned_policy(ledger, catalog)


def _succeeded(ctx: RunContext, pipeline: Pipeline) -> set[str]:
    """The jobs of this pipeline that already succeeded under ``ctx.run_id``."""
    assert ctx.store is not None
    ids = {job.id for job in pipeline.jobs}
    finished = ctx.store.finished(ctx.run_id)
    return {job_id for job_id, f in finished.items() if f.status == "succeeded" and job_id in ids}


async def _execute(ctx: RunContext, jobs: list[Job]) -> RunReport:
    from gearshift.engine.runner import Engine

    try:
        return await Engine(ctx).run(jobs)
    finally:
        await ctx.provider.close()


def _resume_command(file: Path, provider: str, run_id: str) -> str:
    """The command that resumes this run. A ledger URL from ``GEARSHIFT_LEDGER`` is left out
    (the environment still holds it); one given with ``--ledger`` is repeated with its password
    masked, for the user to fill in."""
    words = ["gearshift"]
    display = state.ledger_display()
    if display and not state.ledger_from_env:
        words += ["--ledger", display]
    if state.prices:
        words += ["--prices", state.prices]
    words += ["run", str(file), "--provider", provider, "--run-id", run_id]
    return shlex.join(words)


def _interrupted(ctx: RunContext, pipeline: Pipeline, resume: str) -> None:
    from gearshift.fmt import usd_nanos

    done = _succeeded(ctx, pipeline)
    err_console().print(
        f"interrupted: {len(done)} of {len(pipeline.jobs)} jobs finished and are recorded "
        f"(every attempt made is in the ledger, {usd_nanos(ctx.stats.cost_nanos)} this session)."
        f"\nresume with: {resume}",
        style="yellow",
        markup=False,
    )


def _counterfactual_resumed(report: RunReport, ledger: Ledger, catalog: Catalog) -> None:
    """Add the jobs finished in an earlier session to the all-sonnet / all-opus totals.

    The engine prices the counterfactual from the attempts it made; a resumed job made none in
    this session, so its final attempts (one per item for batch jobs) are read from the ledger.
    """
    from gearshift.catalog import Tier, Usage

    resumed = [o.job_id for o in report.outcomes if o.resumed]
    for job_id in resumed:
        finals: dict[str, Any] = {}
        rows = ledger.executions(
            where="run_id = :run AND task_key = :key", params={"run": report.run_id, "key": job_id}
        )
        for e in rows:
            if e.tags.get("role") != "judge":
                finals[e.tags.get("item", "")] = e
        for e in finals.values():
            usage = Usage(e.input_tokens, e.output_tokens, e.cache_write_5m_tokens,
                          e.cache_write_1h_tokens, e.cache_read_tokens)  # fmt: skip
            for name, tier in (("sonnet", Tier.SONNET), ("opus", Tier.OPUS)):
                nanos = catalog.cost(catalog.default_for(tier), usage).nanos
                report.counterfactual_nanos[name] = report.counterfactual_nanos.get(name, 0) + nanos


def _dry_run(pipeline: Pipeline, catalog: Catalog, *, as_json: bool) -> None:
    """Route every job and estimate its cost; no provider is built and the ledger is not opened."""
    from gearshift.catalog.cost import usd_text
    from gearshift.cli.run_view import print_estimates
    from gearshift.engine.pipeline import estimate

    estimates = estimate(pipeline, catalog)
    totals = {
        "cost": sum(r.cost_nanos for r in estimates),
        "all_sonnet": sum(r.all_sonnet_nanos for r in estimates),
        "all_opus": sum(r.all_opus_nanos for r in estimates),
    }
    if as_json:
        print_json({"pipeline": str(pipeline.path), "dry_run": True,
                    "jobs": [r.to_dict() for r in estimates],
                    "totals": {f"{k}_usd": usd_text(v) for k, v in totals.items()}})  # fmt: skip
    else:
        print_estimates(pipeline, estimates, totals)
