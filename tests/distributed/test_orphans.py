"""Whatever goes wrong on a worker, a node does not stay queued or running with nothing behind
it: an unexpected error ends it with the reason, and the sweep enqueues nodes that lost their
queue job again."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from tests.distributed.test_shutdown import nodes, submitted

from gearshift.distributed.liveness import register_worker
from gearshift.distributed.runtime import Runtime
from gearshift.distributed.worker import requeue_orphans
from gearshift.ledger import Ledger
from gearshift.providers.base import Provider

pytestmark = pytest.mark.postgres

THREE = """\
defaults: {strategy: single, model: haiku, max_tokens: 256}
tasks:
  - {id: s0, task: Write a haiku}
  - {id: s1, task: Write another haiku}
  - {id: s2, task: Write a third haiku}
"""


def _broken(options: dict[str, Any], catalog: Any, limiter: Any = None) -> Provider:
    raise RuntimeError("the provider plugin is broken")


def test_an_unexpected_error_setting_up_a_run_ends_the_job_with_the_reason(
    dist_db: str, tmp_path: Path
) -> None:
    ledger = submitted(dist_db, tmp_path, "broken")
    try:
        runtime = Runtime(ledger, name="w:1", provider_factory=_broken)
        asyncio.run(runtime.run_job("broken", "s0"))
        assert nodes(ledger, "broken")["s0"] == ("error", 0)
        reason = ledger.query("SELECT reason FROM gs_dist_nodes WHERE job_id = 's0'")[0][0]
        assert reason == "worker: RuntimeError: the provider plugin is broken"
    finally:
        ledger.close()


def _queued(ledger: Ledger, run: str) -> list[str]:
    rows = ledger.query(
        "SELECT args->>'job_id' FROM procrastinate_jobs WHERE status = 'todo' "
        "AND args->>'run_id' = :r ORDER BY 1",
        {"r": run},
    )
    return [r[0] for r in rows]


def test_the_sweep_enqueues_again_nodes_without_a_queue_job_unless_a_live_worker_holds_them(
    dist_db: str, tmp_path: Path
) -> None:
    run = "lost"
    ledger = submitted(dist_db, tmp_path, run, THREE)
    try:
        assert _queued(ledger, run) == ["s0", "s1", "s2"]
        register_worker(ledger, "alive:1")
        with ledger.write() as conn:
            conn.exec_driver_sql("DELETE FROM procrastinate_jobs")  # the queue jobs failed
            conn.exec_driver_sql(
                "UPDATE gs_dist_nodes SET state = 'running', started_at = clock_timestamp(), "
                "worker = CASE job_id WHEN 's1' THEN 'gone:1' ELSE 'alive:1' END "
                "WHERE job_id IN ('s1', 's2')"
            )
        assert requeue_orphans(ledger, 5.0) == 2
        assert _queued(ledger, run) == ["s0", "s1"]
        assert {k: s for k, (s, _) in nodes(ledger, run).items()} == {
            "s0": "queued", "s1": "queued", "s2": "running",
        }  # fmt: skip
        assert requeue_orphans(ledger, 5.0) == 0  # enqueued once
    finally:
        ledger.close()


def test_rows_of_workers_silent_for_long_are_pruned(dist_db: str, tmp_path: Path) -> None:
    from gearshift.distributed.liveness import prune_workers

    ledger = submitted(dist_db, tmp_path, "prune")
    try:
        register_worker(ledger, "old:1")
        register_worker(ledger, "new:1")
        with ledger.write() as conn:
            conn.exec_driver_sql(
                "UPDATE gs_dist_workers SET heartbeat_at = now() - interval '2 days' "
                "WHERE name = 'old:1'"
            )
        assert prune_workers(ledger, 86400.0) == 1
        assert ledger.query("SELECT name FROM gs_dist_workers") == [("new:1",)]
    finally:
        ledger.close()
