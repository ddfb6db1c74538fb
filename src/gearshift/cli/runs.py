"""`gearshift runs list|status|cancel`: distributed runs as every worker sees them; and the
submitting side of `gearshift run --executor postgres` (store, enqueue, watch)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gearshift.cli.common import console, err_console, print_json, state

if TYPE_CHECKING:
    from gearshift.distributed.runs import RunStatus
    from gearshift.engine.pipeline import Pipeline

runs_app = typer.Typer(help="Distributed runs: list, status, cancel.", no_args_is_help=True)

_LEDGER = typer.Option(
    "--ledger", envvar="GEARSHIFT_LEDGER", help="The PostgreSQL ledger.", show_default=False
)


def register(app: typer.Typer) -> None:
    app.add_typer(runs_app, name="runs")


def _ledger(url: str | None) -> Any:
    from gearshift.distributed.queue import require_postgres

    if url:
        state.ledger_url = url
    ledger = state.ledger(create=True)
    require_postgres(ledger, "gearshift runs (distributed runs)")
    return ledger


@runs_app.command("list")
def list_cmd(
    ledger: Annotated[str | None, _LEDGER] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Most recent N runs.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The most recent distributed runs with their job counts."""
    from gearshift.distributed.runs import list_runs

    found = list_runs(_ledger(ledger), limit)
    if as_json:
        print_json([r.to_dict() for r in found])
        return
    for r in found:
        console().print(f"{r.run_id}  {r.status:<9}  {_counts(r)}", markup=False)


@runs_app.command("status")
def status_cmd(
    run_id: Annotated[str, typer.Argument(help="The run id.", show_default=False)],
    ledger: Annotated[str | None, _LEDGER] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Where a run stands across every worker: jobs per state, re-runs, cost."""
    from gearshift.distributed.runs import status
    from gearshift.fmt import usd_nanos

    r = status(_ledger(ledger), run_id)
    if as_json:
        print_json(r.to_dict())
        return
    out = console()
    out.print(f"run {r.run_id}: {r.status}, {_counts(r)}", markup=False)
    out.print(
        f"cost {usd_nanos(r.cost_nanos)}; {r.restarts} job re-run(s) after a worker died, "
        f"{r.duplicate_calls} call(s) paid twice",
        markup=False,
    )
    if r.workers:
        out.print(f"running on: {', '.join(r.workers)}", markup=False)


@runs_app.command("cancel")
def cancel_cmd(
    run_id: Annotated[str, typer.Argument(help="The run id.", show_default=False)],
    ledger: Annotated[str | None, _LEDGER] = None,
) -> None:
    """Cancel a run: queued jobs are dropped; running ones finish their call, start nothing."""
    from gearshift.distributed.runs import cancel

    n = cancel(_ledger(ledger), run_id)
    err_console().print(f"run {run_id} cancelled: {n} job(s) will not run", markup=False)


def _counts(r: RunStatus) -> str:
    order = ("succeeded", "running", "queued", "waiting", "failed", "error", "blocked",
             "skipped", "cancelled")  # fmt: skip
    parts = [f"{r.states[s]} {s}" for s in order if r.states.get(s)]
    return f"{r.jobs} jobs: " + (", ".join(parts) or "none")


def submit_and_watch(
    pipeline: Pipeline,
    file: Path,
    run_id: str | None,
    options: dict[str, Any],
    *,
    detach: bool,
    as_json: bool,
) -> None:
    """`gearshift run --executor postgres`: store the run (its options too, for a resume),
    enqueue what is ready and, unless ``detach``, show the run's progress across workers until
    it ends."""
    from gearshift.distributed.queue import require_procrastinate

    require_procrastinate()  # before the modules that import it
    from gearshift.distributed.graph import submit
    from gearshift.distributed.queue import ensure_schema, require_postgres
    from gearshift.distributed.runs import status
    from gearshift.engine.run_state import RunStore
    from gearshift.ledger.record import new_id

    ledger = state.ledger(create=True)
    require_postgres(ledger)
    ensure_schema(ledger)
    run_id = run_id or new_id()
    RunStore(ledger).save_run(run_id, str(file.resolve()), options)
    body = file.read_text(encoding="utf-8")
    queued, done = submit(
        ledger, run_id, pipeline.jobs, pipeline_path=str(file.resolve()), pipeline_text=body,
        options=options, queue=str(options.get("queue") or "gearshift"),
    )  # fmt: skip
    err_console().print(
        f"run {run_id}: {len(pipeline.jobs)} jobs, {done} done earlier, {queued} enqueued; "
        f"workers: gearshift worker; watch: gearshift runs status {run_id}",
        markup=False,
    )
    if detach:
        if as_json:
            print_json({"run_id": run_id, "enqueued": queued, "done_before": done})
        return
    last = ""
    while True:
        r = status(ledger, run_id, with_cost=False)
        line = f"run {run_id}: {r.status}, {_counts(r)}"
        if line != last and not as_json:
            err_console().print(line, markup=False)
            last = line
        if r.done or r.status == "cancelled":
            break
        time.sleep(1.0)
    final = status(ledger, run_id)
    if as_json:
        print_json(final.to_dict())
    if final.states.get("succeeded", 0) != final.jobs:
        raise typer.Exit(1)
