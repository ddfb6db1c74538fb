"""`gearshift worker`: execute the jobs of distributed runs (``gearshift run --executor
postgres``) from the PostgreSQL ledger's queue; the library part is :mod:`gearshift.distributed`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from gearshift.cli.common import err_console, state


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)


def worker(
    ledger: Annotated[
        str | None,
        typer.Option(
            "--ledger",
            envvar="GEARSHIFT_LEDGER",
            help="The PostgreSQL ledger every worker and submitter shares.",
            show_default=False,
        ),
    ] = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, help="Jobs in flight in this process.")
    ] = 100,
    queues: Annotated[
        list[str] | None,
        typer.Option(
            "--queues",
            help="Queues to take jobs from; repeatable. [default: gearshift]",
            show_default=False,
        ),
    ] = None,
    heartbeat: Annotated[
        float, typer.Option("--heartbeat", min=0.1, help="Seconds between heartbeats.")
    ] = 5.0,
    stalled_after: Annotated[
        float,
        typer.Option(
            "--stalled-after",
            min=0.5,
            help="Seconds of silence after which a worker counts as dead: its jobs are re-queued "
            "and its budget holds released.",
        ),
    ] = 20.0,
    grace: Annotated[
        float,
        typer.Option(
            "--grace",
            min=0.0,
            help="On SIGTERM, seconds in-flight jobs get to finish before they are handed back.",
        ),
    ] = 30.0,
    rpm: Annotated[
        float,
        typer.Option(
            "--rpm",
            min=0,
            help="Requests per minute per model class, shared by every "
            "worker on the same provider key (0: no limit).",
        ),
    ] = 0,
    itpm: Annotated[
        float, typer.Option("--itpm", min=0, help="Input tokens per minute per model class.")
    ] = 0,
    otpm: Annotated[
        float, typer.Option("--otpm", min=0, help="Output tokens per minute per model class.")
    ] = 0,
    rate_burst: Annotated[
        float,
        typer.Option("--rate-burst", min=0.1, help="Seconds of the rate a full bucket holds."),
    ] = 60.0,
    commit_delay: Annotated[
        float,
        typer.Option(
            "--commit-delay",
            min=0.0,
            max=1.0,
            help="Seconds a finished attempt waits for others to share its database commit "
            "(0: commit each at once; more: fewer transactions, later results).",
        ),
    ] = 0.01,
    rate_limit_store: Annotated[
        str | None,
        typer.Option(
            "--rate-limit-store",
            envvar="GEARSHIFT_RATE_LIMIT_STORE",
            help="Where the shared rate limits' buckets live: redis://[:password@]host:6379/0 "
            "for Redis, or 'ledger'. [default: ledger]",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run jobs of distributed runs until SIGTERM; run one or two per core, on any number of
    hosts."""
    from gearshift.distributed.queue import QUEUE, require_procrastinate

    require_procrastinate("gearshift worker")  # before the modules that import it
    from gearshift.distributed.ratelimit import RateLimits, check_store_url
    from gearshift.distributed.worker import WorkerOptions, run_worker

    limits = RateLimits(rpm, itpm, otpm, rate_burst)
    if limits.any:
        check_store_url(rate_limit_store)  # a bad URL: one line naming the option

    if ledger:
        state.ledger_url = ledger
    options = WorkerOptions(
        concurrency=concurrency,
        queues=tuple(queues or (QUEUE,)),
        heartbeat_s=heartbeat,
        stalled_s=stalled_after,
        sweep_s=max(0.5, min(5.0, stalled_after / 3)),
        grace_s=grace,
        limits=limits,
        rate_limit_store=rate_limit_store,
        commit_delay_s=commit_delay,
    )
    where = ""
    if limits.any and rate_limit_store and rate_limit_store.strip().lower() != "ledger":
        from gearshift.redact import mask_password

        where = f"; rate limits in {mask_password(rate_limit_store)}"
    err_console().print(
        f"worker: {concurrency} jobs at once on {', '.join(options.queues)} "
        f"({state.ledger_display() or 'ledger'}{where})",
        markup=False,
    )
    from gearshift.distributed.queue import require_postgres

    shared = state.ledger(create=True)
    require_postgres(shared, "gearshift worker")
    run_worker(shared, options, config=state.config())
