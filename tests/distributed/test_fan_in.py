"""Workers finishing parents of the same children lock the children in job id order: a fan-in
never deadlocks, and a commit PostgreSQL still aborts as a deadlock victim is run again."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg
import pytest
from tests.distributed.test_shutdown import submitted

from gearshift.distributed.graph import end_in, finish_in
from gearshift.distributed.runtime import Runtime

pytestmark = pytest.mark.postgres

# children of p and q, and grandchildren that sort before them: a statement walking the DAG
# level by level reaches a child before any grandchild
CHILDREN = [f"c{i:02d}" for i in range(20)]
GRANDCHILDREN = [f"a{i:02d}" for i in range(5)]
FAN_IN = (
    "tasks:\n  - {id: p, task: Plan}\n  - {id: q, task: Plan again}\n"
    + "".join(f"  - {{id: {c}, task: Build {c}, depends_on: [p, q]}}\n" for c in CHILDREN)
    + "".join(f"  - {{id: {a}, task: Check {a}, depends_on: [c00, c19]}}\n" for a in GRANDCHILDREN)
)


def _until_blocked(url: str, timeout: float = 10.0) -> None:
    """Until a session of this database waits for a row lock (or ``timeout``: the finisher
    under test did not need one)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"
            ).fetchone()
            if waiting and waiting[0]:
                return
            time.sleep(0.05)


def _other_finisher(
    url: str,
    first: str,
    rest: list[str],
    started: threading.Event,
    wait: str = "100ms",
    blocks: bool = True,
) -> str:
    """Lock ``first`` then ``rest`` (as another worker following the order does); the deadlock
    check runs after ``wait``."""
    with psycopg.connect(url) as conn:
        conn.execute(f"SET deadlock_timeout = '{wait}'")
        conn.execute("SELECT 1 FROM gs_dist_nodes WHERE job_id = %s FOR UPDATE", (first,))
        started.set()
        # the finisher under test meanwhile locks what it can, then waits
        _until_blocked(url, 10.0 if blocks else 0.6)
        try:
            for job in rest:
                conn.execute("SELECT 1 FROM gs_dist_nodes WHERE job_id = %s FOR UPDATE", (job,))
        except psycopg.errors.DeadlockDetected:
            return "deadlock"
        time.sleep(0.2)
        return "ok"


@pytest.mark.parametrize("ending", [False, True], ids=["finishing", "ending"])
def test_finishing_or_ending_a_parent_locks_the_children_in_order(
    dist_db: str, tmp_path: Path, ending: bool
) -> None:
    ledger = submitted(dist_db, tmp_path, "fan", FAN_IN)
    try:
        first, *rest = sorted(CHILDREN + GRANDCHILDREN)
        started = threading.Event()
        result: list[str] = []
        other = threading.Thread(
            target=lambda: result.append(
                _other_finisher(dist_db, first, rest, started, blocks=ending)
            )
        )
        other.start()
        started.wait(5)
        try:
            with ledger.write() as conn:
                conn.exec_driver_sql("SET LOCAL deadlock_timeout = '100ms'")
                if ending:
                    end_in(conn, "fan", "p", "failed", "no")
                else:
                    finish_in(conn, "fan", ["p"])
        finally:
            other.join(15)
        assert result == ["ok"]
        remaining = dict(ledger.query("SELECT job_id, remaining_deps FROM gs_dist_nodes"))
        assert {remaining[c] for c in CHILDREN} == {2 if ending else 1}
    finally:
        ledger.close()


def test_a_deadlock_victim_ending_a_job_writes_it_again(dist_db: str, tmp_path: Path) -> None:
    ledger = submitted(dist_db, tmp_path, "fan", FAN_IN)
    try:
        last, *rest = sorted(CHILDREN + GRANDCHILDREN, reverse=True)  # against the order
        started = threading.Event()
        result: list[str] = []
        other = threading.Thread(  # it waits 5 s before checking: this worker is the victim
            target=lambda: result.append(_other_finisher(dist_db, last, rest, started, "5s"))
        )
        other.start()
        started.wait(5)
        try:
            Runtime(ledger, name="w:1")._end("fan", "p", "failed", "no")
        finally:
            other.join(15)
        assert result == ["ok"]
        states = dict(ledger.query("SELECT job_id, state FROM gs_dist_nodes"))
        assert states["p"] == "failed"
        assert {states[c] for c in CHILDREN + GRANDCHILDREN} == {"skipped"}
    finally:
        ledger.close()


@pytest.mark.parametrize("parents", [2, 150])  # one placeholder each; one array above 100
def test_the_claim_reads_every_parents_output(dist_db: str, tmp_path: Path, parents: int) -> None:
    import asyncio

    from gearshift.distributed.graph import load_run
    from gearshift.distributed.runtime import _claim_sql

    ledger = submitted(dist_db, tmp_path, "wide", "tasks:\n  - {id: child, task: Sum it up}\n")
    ids = [f"p{i}" for i in range(parents)]
    rows = [{"job": job, "out": f"output of {job}"} for job in ids]
    ledger.execute_many([(
        "INSERT INTO run_jobs (run_id, job_id, status, output, cost_nanos, tier_path, "
        "finished_at) VALUES ('wide', :job, 'succeeded', :out, 0, 'haiku', '2026-12-08')", rows,
    )])  # fmt: skip
    record = load_run(ledger, "wide")
    assert record is not None
    sql, params = _claim_sql([*ids, "child"])
    assert ("ids" in params) == (parents > 100)
    params.update(run="wide", job="child", worker="w:1", version=record.version)
    plain = dist_db.replace("postgresql+psycopg://", "postgresql://")

    async def claim() -> list[tuple[object, ...]]:
        async with await psycopg.AsyncConnection.connect(plain, autocommit=True) as conn:
            return await (await conn.execute(sql, params)).fetchall()

    try:
        claimed = asyncio.run(claim())
    finally:
        ledger.close()
    assert {row[1]: row[3] for row in claimed} == {r["job"]: r["out"] for r in rows}
