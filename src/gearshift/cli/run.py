"""`gearshift run FILE`: run a pipeline -- route, call, validate, escalate, record every attempt.

The command is a thin shell around the library: :func:`gearshift.engine.pipeline.load_pipeline`
reads the file, :class:`gearshift.engine.runner.Engine` runs the jobs through a
:class:`~gearshift.engine.context.RunContext` that meters every attempt into the ledger, and
this module only builds the provider and the context and handles resuming; what is shown
lives in :mod:`gearshift.cli.run_view`.

Runs are resumable: every run has an id (printed first), its options are saved with it, each job
that succeeds is saved under it, and ``--run-id ID`` runs the same file again with the same
options, skipping what already succeeded and continuing interrupted escalation chains -- after a
crash, ``kill -9`` or Ctrl-C nothing is paid twice. ``--dry-run`` routes and prices the jobs
without calling a provider or opening the ledger.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
from dataclasses import asdict, dataclass
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
#: as gearshift.engine.context.DEFAULT_BUDGET_WAIT_S (not imported: --help stays light)
DEFAULT_BUDGET_WAIT_S = 30.0


def register(app: typer.Typer) -> None:
    app.command("run")(run)


def run(
    file: Annotated[Path, typer.Argument(help="A pipeline YAML file.", show_default=False)],
    provider: Annotated[
        str | None,
        typer.Option(
            "--provider",
            envvar="GEARSHIFT_PROVIDER",
            help="sim (offline simulator), anthropic (API, needs ANTHROPIC_API_KEY) or "
            "claude-code (claude -p). [default: anthropic]",
            show_default=False,
        ),
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency",
            min=1,
            help="Jobs and model calls at once. [default: 8]",
            show_default=False,
        ),
    ] = None,
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
            "--run-id",
            help="Resume this run: skip its jobs that succeeded, continue its interrupted "
            "chains, with the options it was started with.",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option("--seed", help="sim: the random seed. [default: 0]", show_default=False),
    ] = None,
    time_scale: Annotated[
        float | None,
        typer.Option(
            "--time-scale",
            min=0.0,
            help="sim: latency multiplier (0 instant, 1 real time). [default: 0.02]",
            show_default=False,
        ),
    ] = None,
    enforce_budgets: Annotated[
        bool | None,
        typer.Option(
            "--enforce-budgets/--no-enforce-budgets",
            help="Reserve every call against the budgets. [default: on, off for sim]",
            show_default=False,
        ),
    ] = None,
    budget_wait: Annotated[
        float | None,
        typer.Option(
            "--budget-wait",
            min=0.0,
            help="Seconds a call a budget refuses waits, at most, for calls in flight to settle "
            "their holds. [default: 30]",
            show_default=False,
        ),
    ] = None,
    load_aware: Annotated[
        bool | None,
        typer.Option(
            "--load-aware/--no-load-aware",
            help="Let the queue depth move tiers (load routing). [default: off]",
            show_default=False,
        ),
    ] = None,
    agents_dir: Annotated[
        list[Path] | None,
        typer.Option(
            "--agents-dir",
            help="More agent definitions (dir or file); repeatable.",
            show_default=False,
        ),
    ] = None,
    project: Annotated[
        str | None,
        typer.Option(
            "--project", help="The project recorded on every attempt.", show_default=False
        ),
    ] = None,
    allow_commands: Annotated[
        bool,
        typer.Option(
            "--allow-commands",
            help="Also run command and callable validators of agent files found by search "
            "(.claude/agents) or included by the pipeline's agents: (read them first). "
            "[config: allow_commands under [run]]",
        ),
    ] = False,
    executor: Annotated[
        str,
        typer.Option(
            "--executor",
            help="local: this process runs the jobs. postgres: store the run in the PostgreSQL "
            "ledger's queue for `gearshift worker` processes on any host.",
        ),
    ] = "local",
    detach: Annotated[
        bool,
        typer.Option("--detach", help="postgres: enqueue and exit; do not watch the run."),
    ] = False,
    queue: Annotated[
        str,
        typer.Option(
            "--queue", help="postgres: the queue its jobs go to (gearshift worker --queues)."
        ),
    ] = "gearshift",
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Run a pipeline file: every task routed, validated, escalated and metered in the ledger."""
    from gearshift.cli.run_view import plural, print_report, progress
    from gearshift.engine.pipeline import load_pipeline

    given = RunOptions(
        provider=provider,
        concurrency=concurrency,
        provider_concurrency=provider_concurrency,
        seed=seed,
        time_scale=time_scale,
        enforce_budgets=enforce_budgets,
        budget_wait=budget_wait,
        load_aware=load_aware,
        agents_dir=[str(p.resolve()) for p in agents_dir] if agents_dir else None,
        project=project,
        prices=_price_option(state.prices),
    )
    if run_id is not None and not 0 < len(run_id) <= 64:
        from gearshift.errors import ConfigError

        raise ConfigError("--run-id must be 1 to 64 characters")
    options = given if dry_run or run_id is None else _resumed_options(run_id, file, given)
    catalog = state.catalog()
    chosen = options.filled()
    sim = chosen.provider == "sim"
    agent_dirs = [Path(p) for p in chosen.agents_dir or ()]
    allow = allow_commands or dry_run or state.config().run.allow_commands
    pipeline = load_pipeline(
        file, catalog=catalog, agent_dirs=agent_dirs, sim=sim, allow_commands=allow
    )
    if dry_run:
        _dry_run(pipeline, catalog, as_json=as_json)
        return
    if executor not in ("local", "postgres"):
        from gearshift.errors import ConfigError

        raise ConfigError(f"--executor {executor!r} is not known", hint="local or postgres")
    if executor == "postgres":
        from gearshift.catalog.prices import PROFILES
        from gearshift.cli.runs import submit_and_watch

        enforce = chosen.enforce_budgets if chosen.enforce_budgets is not None else not sim
        # the workers load the pipeline again: what the submitter allowed, they allow
        stored = {**options.stored(enforce), "queue": queue, "allow_commands": allow}
        # --concurrency, when given, caps each worker's calls in flight for this run
        stored["worker_calls"] = options.concurrency
        if chosen.prices and chosen.prices not in PROFILES:  # workers may not have the file
            stored["prices_text"] = Path(chosen.prices).read_text(encoding="utf-8")
        submit_and_watch(pipeline, file, run_id, stored, detach=detach, as_json=as_json)
        return
    name = str(chosen.provider)
    model_provider = _provider(
        name, seed=int(chosen.seed or 0), time_scale=float(chosen.time_scale or 0), catalog=catalog
    )
    if chosen.provider_concurrency is not None:
        from gearshift.providers.limit import LimitedProvider

        model_provider = LimitedProvider(model_provider, chosen.provider_concurrency)
    ctx = _context(pipeline, model_provider, catalog, run_id, chosen)
    enforce = chosen.enforce_budgets if chosen.enforce_budgets is not None else not sim
    if enforce:
        from gearshift.budgets.reservations import Reservations

        ctx.guard = Reservations(state.ledger(create=True), config=state.config())
    assert ctx.store is not None
    ctx.store.save_run(ctx.run_id, str(file.resolve()), options.stored(enforce))
    resume = _resume_command(file, ctx.run_id)
    done_before = _succeeded(ctx, pipeline)
    if not as_json:
        jobs = plural(len(pipeline.jobs), "job")
        skipped = f", {len(done_before)} done earlier" if done_before else ""
        if run_id is not None and not done_before:
            skipped += " (nothing of this run id was finished before: starting it)"
        err_console().print(
            f"run {ctx.run_id}: {jobs} from {file} on {name}{skipped}",
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
        print_json({"pipeline": str(file), "provider": name, "resume": resume,
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


@dataclass(frozen=True, slots=True)
class RunOptions:
    """The options a run is started with: saved with its run id (the ledger's ``runs`` table)
    and used again when the run is resumed. ``None`` means not given."""

    provider: str | None = None
    concurrency: int | None = None
    provider_concurrency: int | None = None
    seed: int | None = None
    time_scale: float | None = None
    enforce_budgets: bool | None = None
    budget_wait: float | None = None
    load_aware: bool | None = None
    agents_dir: list[str] | None = None
    project: str | None = None
    prices: str | None = None

    def filled(self) -> RunOptions:
        """These options, the defaults where none was given."""
        defaults = {
            "provider": "anthropic",
            "concurrency": 8,
            "seed": 0,
            "time_scale": DEFAULT_TIME_SCALE,
            "budget_wait": DEFAULT_BUDGET_WAIT_S,
            "load_aware": False,
            "agents_dir": [],
            "project": "",
        }
        given = {k: v for k, v in asdict(self).items() if v is not None}
        return RunOptions(**{**defaults, **given})

    def stored(self, enforce_budgets: bool) -> dict[str, Any]:
        """What is saved with the run: every option as it took effect."""
        data = asdict(self.filled())
        data["enforce_budgets"] = enforce_budgets
        return data

    def over(self, stored: dict[str, Any]) -> tuple[RunOptions, list[str]]:
        """``stored`` options with these given ones on top, and a note per option given with a
        value other than the stored one."""
        known = {k: v for k, v in stored.items() if k in RunOptions.__dataclass_fields__}
        notes = []
        merged = dict(known)
        for key, value in asdict(self).items():
            if value is None:
                continue
            before = known.get(key)
            if before is not None and before != value:
                flag = "--" + key.replace("_", "-")
                notes.append(f"{flag} {_plain(value)} (the run was started with {_shown(before)})")
            merged[key] = value
        return RunOptions(**merged), notes


def _plain(value: Any) -> str:
    return ", ".join(map(str, value)) or "none" if isinstance(value, list) else str(value)


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "none"
    return repr(value) if isinstance(value, str) else str(value)


def _price_option(prices: str | None) -> str | None:
    """``--prices`` as saved with a run: a profile as is, a price file as an absolute path."""
    if not prices:
        return None
    from gearshift.catalog.prices import PROFILES

    return prices if prices in PROFILES else str(Path(prices).expanduser().resolve())


def _resumed_options(run_id: str, file: Path, given: RunOptions) -> RunOptions:
    """The options ``run_id`` was started with, with those given now on top (each difference
    said on stderr); the run's price file is used again unless ``--prices`` names one."""
    from gearshift.engine.run_state import RunStore

    saved = RunStore(state.ledger(create=True)).run(run_id)
    if saved is None:
        return given
    pipeline, stored = saved
    options, notes = given.over(stored)
    if pipeline != str(file.resolve()):
        notes.append(f"this file is not the one run {run_id} was started from ({pipeline})")
    if options.prices and options.prices != state.prices:
        state.use_prices(options.prices)
    for note in notes:
        err_console().print(f"note: {note}", style="yellow", markup=False)
    return options


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
    options: RunOptions,
) -> RunContext:
    from gearshift.budgets.pressure import over_budget_check
    from gearshift.engine.context import RunContext
    from gearshift.engine.run_state import RunStore
    from gearshift.ledger.record import new_id

    ledger = state.ledger(create=True)
    project = options.project or ""
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
        source="sim" if options.provider == "sim" else "api",
        concurrency=options.concurrency or 8,
        load_aware=bool(options.load_aware),
        budget_wait_s=float(
            options.budget_wait if options.budget_wait is not None else DEFAULT_BUDGET_WAIT_S
        ),
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


def _resume_command(file: Path, run_id: str) -> str:
    """``gearshift run FILE --run-id R``: the run's options are saved with it. A ledger URL
    from ``GEARSHIFT_LEDGER`` is left out (the environment still holds it); one given with
    ``--ledger`` is repeated with its password masked, for the user to fill in."""
    words = ["gearshift"]
    display = state.ledger_display()
    if display and not state.ledger_from_env:
        words += ["--ledger", display]
    words += ["run", str(file), "--run-id", run_id]
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
