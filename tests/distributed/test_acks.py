"""A job's queue row goes with the commit that ends it: procrastinate's own finish (a round trip
and a transaction of its own) is skipped for those rows, and nothing is left in the queue."""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path
from typing import Any

import pytest

from gearshift.distributed.queue import Acks
from gearshift.distributed.worker import WorkerOptions
from gearshift.ledger import Ledger

from .conftest import serve_until
from .test_shutdown import nodes, submitted

pytestmark = pytest.mark.postgres

PIPELINE = """\
defaults: {strategy: single, model: haiku, max_tokens: 256}
tasks:
  - {id: a, task: Write a haiku}
  - {id: b, task: Write another haiku, depends_on: [a]}
  - {id: c, task: Write a limerick, depends_on: [a]}
  - {id: d, task: Write a sonnet}
  - {id: e, task: Write a couplet}
  - {id: f, task: Write a ballad}
"""


def test_the_commit_that_ends_a_job_deletes_its_queue_row_and_procrastinate_does_not_finish_it(
    dist_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from procrastinate.manager import JobManager

    finished: list[int] = []
    original = JobManager.finish_job_by_id_async

    async def counting(self: Any, job_id: int, **kwargs: Any) -> None:
        finished.append(job_id)
        await original(self, job_id, **kwargs)

    monkeypatch.setattr(JobManager, "finish_job_by_id_async", counting)
    run = "acks"
    ledger = submitted(dist_db, tmp_path, run, PIPELINE)
    options = WorkerOptions(concurrency=4, install_signal_handlers=False, poll_s=0.2)

    def ended() -> dict[str, tuple[str, int]] | None:
        states = nodes(ledger, run)
        live = any(s in ("waiting", "queued", "running") for s, _ in states.values())
        return None if live else states

    try:
        states = serve_until(ledger, options, ended, "the run to end")
        assert len(states) == 6
        assert all(starts == 1 for _, starts in states.values())  # each started once
        # every job ended (succeeded, or failed on the simulator's verdict: both ack the row)
        assert ledger.query("SELECT count(*) FROM procrastinate_jobs")[0][0] == 0
        assert finished == []  # no finish of its own for any of them
    finally:
        ledger.close()


def test_a_row_whose_commit_rolled_back_is_finished_by_procrastinate(dist_db: str) -> None:
    ledger = Ledger.open(dist_db)
    try:
        acks = Acks()
        acks.start("r", "j", 41)
        with contextlib.suppress(RuntimeError), ledger.write() as conn:
            conn.exec_driver_sql("CREATE TEMP TABLE procrastinate_jobs (id bigint, status text)")
            acks.delete_in(conn, acks.handing("r", ["j"]))
            raise RuntimeError("the commit fails")
        # no confirm (the commit raised): procrastinate's finish runs, and a failure of it is
        # forgiven once (the row may have gone with a commit whose outcome is unknown)
        assert not acks.skips(41)
        assert acks.handed(41)
        assert not acks.handed(41)
        # a commit that returned: the finish is skipped, once
        with ledger.write() as conn:
            conn.exec_driver_sql("CREATE TEMP TABLE procrastinate_jobs (id bigint, status text)")
            acks.delete_in(conn, acks.handing("r", ["j"]))
        acks.confirm(41)
        assert acks.skips(41)
        assert not acks.skips(41)
        acks.stop("r", "j")
        with ledger.write() as conn:
            # no longer running here: nothing to delete
            acks.delete_in(conn, acks.handing("r", ["j"]))
        assert not acks.handed(41)
    finally:
        ledger.close()


def test_the_queue_pool_replaces_a_connection_the_server_ended_without_a_round_trip(
    dist_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """procrastinate's own pool check is a statement per fetch; ours reads what the server sent
    (and sends nothing while the connection is in use)."""
    import asyncio

    import psycopg

    from gearshift.ledger import connect

    sent: list[str] = []
    real = psycopg.AsyncConnection.execute

    async def counting(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(str(query))  # procrastinate's queries go through cursors, checks do not
        return await real(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.AsyncConnection, "execute", counting)
    monkeypatch.setattr(connect, "IDLE_CHECK_S", connect.IDLE_CHECK_S)  # restored afterwards

    from gearshift.distributed.queue import ensure_schema, worker_app

    ledger = Ledger.open(dist_db)
    ensure_schema(ledger)

    async def nothing(context: Any, run_id: str, job_id: str) -> None:  # never run
        raise AssertionError

    async def main() -> tuple[int, int, int]:
        app = worker_app(ledger, nothing, pool_size=1)
        async with app.open_async():
            query = app.connector.execute_query_one_async
            first = (await query("SELECT pg_backend_pid() AS pid"))["pid"]
            same = (await query("SELECT pg_backend_pid() AS pid"))["pid"]
            plain = dist_db.replace("postgresql+psycopg://", "postgresql://")
            with psycopg.connect(plain, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s, 5000)", (first,))
            after = (await query("SELECT pg_backend_pid() AS pid"))["pid"]
            assert sent == []  # nothing but the queries themselves
            connect.IDLE_CHECK_S = 0.0  # as if unused for long: a SELECT 1 first
            await asyncio.sleep(0.01)
            await query("SELECT 1 AS one")
            assert sent == ["SELECT 1"]
        return first, same, after

    try:
        first, same, after = asyncio.run(main())
    finally:
        ledger.close()
    assert same == first  # pooled, and not replaced while alive
    assert after != first


def _ended(ledger: Ledger, run: str) -> bool:
    return all(
        state not in ("waiting", "queued", "running") for state, _ in nodes(ledger, run).values()
    )


def test_a_worker_of_one_job_at_a_time_commits_without_a_delay(
    dist_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--commit-delay only helps jobs end close together; with --concurrency 1 it would only
    make each job later."""
    from gearshift.distributed import worker

    delays: list[float] = []

    class Seen(worker.Runtime):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            delays.append(self.commit_delay_s)

    monkeypatch.setattr(worker, "Runtime", Seen)
    body = "tasks:\n  - {id: a, task: Write a haiku}\n"
    for concurrency, expected in ((1, 0.0), (4, 0.01)):
        run = f"one-{concurrency}"
        ledger = submitted(dist_db, tmp_path, run, body)
        options = WorkerOptions(concurrency=concurrency, install_signal_handlers=False, poll_s=0.2)
        try:
            serve_until(ledger, options, functools.partial(_ended, ledger, run), "the job")
        finally:
            ledger.close()
        assert delays[-1] == expected
