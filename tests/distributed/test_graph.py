"""A run's DAG in the ledger: what a duplicate execution may and may not write."""

from __future__ import annotations

from pathlib import Path

import pytest

from gearshift.distributed.graph import DistributedRunStore, submit
from gearshift.distributed.queue import ensure_schema
from gearshift.distributed.runtime import _STATES, _inputs
from gearshift.engine.pipeline import load_pipeline
from gearshift.engine.run_state import FinishedJob
from gearshift.ledger import Ledger

pytestmark = pytest.mark.postgres

CHAIN = "tasks:\n  - {id: a, task: 'x'}\n  - {id: b, task: 'y', depends_on: [a]}\n"


def test_a_duplicate_execution_never_overwrites_the_first_success(
    dist_db: str, tmp_path: Path
) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(CHAIN, encoding="utf-8")
    ledger = Ledger.open(dist_db)
    try:
        ensure_schema(ledger)
        pipeline = load_pipeline(path, catalog=ledger.catalog)
        submit(ledger, "R", pipeline.jobs, pipeline_path=str(path), pipeline_text=CHAIN,
               options={})  # fmt: skip
        store = DistributedRunStore(ledger)
        with ledger.write() as conn:  # a succeeds: b is enqueued
            store.save_in(conn, "R", [FinishedJob("a", "succeeded", "OUTPUT-A", 10, "haiku")])
        with ledger.write() as conn:  # a duplicate execution of a, mid-chain
            store.save_in(conn, "R", [FinishedJob("a", "running", None, 5, "haiku", {"step": 1})])
        with ledger.write() as conn:  # ... and its own success
            store.save_in(conn, "R", [FinishedJob("a", "succeeded", "OTHER", 20, "sonnet")])
        rows = ledger.query("SELECT job_id, status, output, cost_nanos FROM run_jobs")
        assert [tuple(r) for r in rows] == [("a", "succeeded", "OUTPUT-A", 10)]
        with ledger.read() as conn:
            states = conn.execute(_STATES, {"run": "R", "ids": ["a", "b"]}).fetchall()
        b = next(job for job in pipeline.jobs if job.id == "b")
        assert _inputs(b, states)[0] == {"a": "OUTPUT-A"}
        queued = ledger.query("SELECT count(*) FROM procrastinate_jobs WHERE args->>'job_id' = 'b'")
        assert queued[0][0] == 1
    finally:
        ledger.close()


def test_a_large_submission_leaves_the_queue_analysed_so_a_fetch_takes_the_index(
    dist_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gearshift.distributed import graph

    body = "tasks:\n" + "".join(f"  - {{id: t{i}, task: 'x{i}'}}\n" for i in range(30))
    path = tmp_path / "p.yaml"
    path.write_text(body, encoding="utf-8")
    ledger = Ledger.open(dist_db)
    try:
        ensure_schema(ledger)
        pipeline = load_pipeline(path, catalog=ledger.catalog)

        def analysed() -> int:
            rows = ledger.query(
                "SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'procrastinate_jobs'"
            )
            return int(rows[0][0])

        before = analysed()
        monkeypatch.setattr(graph, "ANALYZE_AFTER", 31)  # 30 enqueued: below it
        submit(ledger, "small", pipeline.jobs, pipeline_path=str(path), pipeline_text=body,
               options={})  # fmt: skip
        assert analysed() == before
        monkeypatch.setattr(graph, "ANALYZE_AFTER", 30)
        submit(ledger, "large", pipeline.jobs, pipeline_path=str(path), pipeline_text=body,
               options={})  # fmt: skip
        assert analysed() == before + 1
    finally:
        ledger.close()
