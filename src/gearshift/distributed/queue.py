"""The job queue: procrastinate's tables in the ledger's own PostgreSQL database.

A queued job is only ``(run_id, job_id)``; everything else is in the ledger. Two procrastinate
apps share one task name:

* :func:`worker_app` -- on an async psycopg pool, what ``gearshift worker`` runs;
* :func:`deferring_app` -- never opened: it defers on a connection it is handed, inside the
  caller's transaction, so "job finished + children enqueued" is one commit
  (:mod:`gearshift.distributed.graph`).

The procrastinate schema is applied on first use, once, under an advisory lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from gearshift.errors import ConfigError

if TYPE_CHECKING:
    from procrastinate import App

    from gearshift.ledger.store import Ledger

__all__ = [
    "QUEUE",
    "TASK",
    "conninfo",
    "defer_in",
    "deferring_app",
    "ensure_schema",
    "require_postgres",
    "require_procrastinate",
    "worker_app",
]

#: The procrastinate task every gearshift job runs as, and its default queue.
TASK = "gearshift.run_job"
QUEUE = "gearshift"
#: pg_advisory_xact_lock key for applying procrastinate's schema once.
_SCHEMA_LOCK = 7231850

_deferring: App | None = None


def require_procrastinate(what: str = "--executor postgres") -> None:
    """Refuse clearly when the queue library is not installed (it is an optional extra)."""
    try:
        import procrastinate  # noqa: F401
    except ImportError:
        raise ConfigError(
            f"{what} needs procrastinate, which is not installed",
            hint="pip install 'gearshift[distributed]'",
        ) from None


def require_postgres(ledger: Ledger, what: str = "--executor postgres") -> None:
    """Refuse a ledger that workers on other machines cannot share."""
    if ledger.location.dialect != "postgresql":
        raise ConfigError(
            f"{what} needs a PostgreSQL ledger; {ledger.location.display} is SQLite",
            hint="pass --ledger postgresql://user@host/db (the database every worker uses), "
            "or run here with --executor local",
        )


def conninfo(ledger: Ledger) -> str:
    """The libpq connection string of the ledger's database (its driver name dropped)."""
    url = make_url(ledger.location.url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def ensure_schema(ledger: Ledger) -> bool:
    """Apply procrastinate's schema to the ledger's database unless it is there; whether it was
    applied now. Safe when several workers start at once."""
    from procrastinate.schema import SchemaManager

    with ledger.write() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _SCHEMA_LOCK})
        present = conn.execute(text("SELECT to_regclass('procrastinate_jobs')")).scalar()
        if present is not None:
            return False
        raw = conn.connection.driver_connection
        assert raw is not None
        raw.execute(SchemaManager.get_schema())  # no parameters: its % signs stay literal
    return True


def _register(app: App, run: Any) -> None:
    app.task(name=TASK, queue=QUEUE, pass_context=False)(run)


async def _not_here(run_id: str, job_id: str) -> None:  # pragma: no cover - never executed
    raise RuntimeError("the deferring app never runs jobs")


def deferring_app() -> App:
    """The app that defers on a caller's connection (one per process; it holds no pool)."""
    global _deferring
    if _deferring is None:
        from procrastinate import App, SyncPsycopgConnector

        _deferring = App(connector=SyncPsycopgConnector())
        _register(_deferring, _not_here)
    return _deferring


def worker_app(ledger: Ledger, run: Any, *, pool_size: int = 10) -> App:
    """The app a worker runs: ``run(run_id, job_id)`` executes one job."""
    from procrastinate import App, PsycopgConnector

    connector = PsycopgConnector(conninfo=conninfo(ledger), min_size=1, max_size=pool_size)
    app = App(connector=connector)
    _register(app, run)
    return app


def defer_in(
    conn: Connection,
    run_id: str,
    job_ids: Sequence[str],
    *,
    queue: str = QUEUE,
    after_s: float | None = None,
) -> None:
    """Enqueue ``job_ids`` of ``run_id`` inside ``conn``'s transaction (gone if it rolls back).

    No queueing lock: the caller enqueues only jobs it has just moved from ``waiting`` to
    ``queued`` in the same transaction, and that move happens once. ``after_s``: not before
    that many seconds (a Message Batch's next poll)."""
    if not job_ids:
        return
    raw = conn.connection.driver_connection
    options: dict[str, Any] = {"connection": raw, "queue": queue}
    if after_s is not None:
        options["schedule_in"] = {"seconds": after_s}
    deferrer = deferring_app().configure_task(TASK, **options)
    args: list[dict[str, Any]] = [{"run_id": run_id, "job_id": job_id} for job_id in job_ids]
    deferrer.batch_defer(*args)
