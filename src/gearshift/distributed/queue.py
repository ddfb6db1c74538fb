"""The job queue: procrastinate's tables in the ledger's own PostgreSQL database.

A queued job is only ``(run_id, job_id)``; everything else is in the ledger. Two procrastinate
apps share one task name:

* :func:`worker_app` -- on an async psycopg pool, what ``gearshift worker`` runs;
* :func:`deferring_app` -- never opened: it defers on a connection it is handed, inside the
  caller's transaction, so "job finished + children enqueued" is one commit
  (:mod:`gearshift.distributed.graph`).

The procrastinate schema is applied on first use, once, under an advisory lock.

A job's queue row is deleted by the commit that ends the job (:class:`Acks`), not by a
transaction of its own after it: procrastinate's finish is skipped for the rows that commit
deleted, one round trip and one database transaction fewer per job.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, text
from sqlalchemy.engine import make_url

from gearshift.errors import ConfigError

if TYPE_CHECKING:
    from procrastinate import App

    from gearshift.ledger.store import Ledger

__all__ = [
    "ACK_SQL",
    "QUEUE",
    "TASK",
    "Acks",
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


#: deletes the queue rows of jobs a gearshift commit ends, as procrastinate's finish would
#: (the rows locked in id order first: the stalled sweep locks them one by one, in id order)
ACK_SQL = (
    "DELETE FROM procrastinate_jobs WHERE id IN (SELECT id FROM procrastinate_jobs "
    "WHERE id IN :acks AND status IN ('todo', 'doing') ORDER BY id FOR UPDATE)"
)
_ACK = text(ACK_SQL).bindparams(bindparam("acks", expanding=True))


class Acks:
    """The queue rows of the jobs executing here, deleted by the commit that ends their job.

    The runtime registers a job's queue row while the job runs (:meth:`start`); the commit that
    records it succeeded, or ends it otherwise, deletes that row in its own transaction
    (:meth:`handing` and :data:`ACK_SQL`, or :meth:`delete_in`); once that commit has returned,
    :meth:`confirm` tells procrastinate's finish to skip the row (:meth:`skips`). A row whose
    commit failed or whose outcome is unknown is finished by procrastinate as before (a row
    already gone is then no error)."""

    def __init__(self) -> None:
        self._running: dict[tuple[str, str], int] = {}
        #: rows handed to a commit that may have committed
        self._handed: set[int] = set()
        #: rows a commit deleted: procrastinate's finish skips them
        self._done: set[int] = set()

    def start(self, run_id: str, job_id: str, queue_job: int | None) -> None:
        if queue_job is not None:
            self._running[(run_id, job_id)] = queue_job

    def stop(self, run_id: str, job_id: str) -> None:
        self._running.pop((run_id, job_id), None)

    def handing(self, run_id: str, job_ids: Sequence[str]) -> list[int]:
        """The queue rows of ``job_ids`` executing here, which the caller deletes in its
        transaction (:data:`ACK_SQL`, its ``:acks`` parameter) -- they may be gone from now."""
        ids = [q for j in job_ids if (q := self._running.get((run_id, j))) is not None]
        self._handed.update(ids)
        return ids

    def delete_in(self, conn: Connection, queue_jobs: Sequence[int]) -> None:
        if queue_jobs:
            self._handed.update(queue_jobs)
            conn.execute(_ACK, {"acks": list(queue_jobs)})

    def confirm(self, queue_job: int | None) -> None:
        """The commit that ended ``queue_job``'s job returned: its row, if that commit deleted
        it, is gone."""
        if queue_job is not None and queue_job in self._handed:
            self._handed.discard(queue_job)
            self._done.add(queue_job)

    def skips(self, queue_job: int) -> bool:
        """Whether procrastinate's finish of ``queue_job`` is to be skipped (asked once)."""
        if queue_job in self._done:
            self._done.discard(queue_job)
            return True
        return False

    def handed(self, queue_job: int) -> bool:
        """Whether a commit of unknown outcome may have deleted ``queue_job`` (asked once)."""
        if queue_job in self._handed:
            self._handed.discard(queue_job)
            return True
        return False


def worker_app(ledger: Ledger, run: Any, *, pool_size: int = 10, acks: Acks | None = None) -> App:
    """The app a worker runs: ``run(context, run_id, job_id)`` executes one job; the queue rows
    ``acks`` has seen deleted are not finished again."""
    from procrastinate import App, PsycopgConnector
    from procrastinate.manager import JobManager
    from psycopg import OperationalError

    from gearshift.ledger.connect import closed_by_server_async, returned

    class _Manager(JobManager):
        async def finish_job(self, job: Any, status: Any, delete_job: bool) -> None:
            if acks is not None and job.id is not None and acks.skips(job.id):
                return
            try:
                await super().finish_job(job, status, delete_job)
            except Exception:
                if acks is not None and job.id is not None and acks.handed(job.id):
                    return  # its row went with the commit that ended the job
                raise
            if acks is not None and job.id is not None:
                acks.handed(job.id)  # that commit did not delete it: forgotten

    # autocommit: each of procrastinate's queries is one statement (a function call), so no
    # BEGIN and COMMIT round trips around every fetch, finish and heartbeat
    async def autocommit(conn: Any) -> None:
        await conn.set_autocommit(True)

    seen: weakref.WeakKeyDictionary[Any, dict[str, float]] = weakref.WeakKeyDictionary()

    async def alive(conn: Any) -> None:
        if await closed_by_server_async(conn, seen.setdefault(conn, {})):
            raise OperationalError("the server closed the connection")

    async def back(conn: Any) -> None:
        returned(seen.setdefault(conn, {}))

    def pool(**options: Any) -> Any:  # procrastinate's check_connection is a round trip
        from psycopg_pool import AsyncConnectionPool

        return AsyncConnectionPool(**{**options, "check": alive, "reset": back})

    connector = PsycopgConnector(
        conninfo=conninfo(ledger),
        min_size=1,
        max_size=pool_size,
        configure=autocommit,
        pool_factory=pool,
    )
    app = App(connector=connector)
    app.job_manager = _Manager(connector=connector)
    app.task(name=TASK, queue=QUEUE, pass_context=True)(run)
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
