"""A Message Batch on a worker: submitted once, polled from scheduled queue jobs, its slot free
for other jobs meanwhile; the results recorded as in-process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from gearshift.distributed.graph import submit
from gearshift.distributed.queue import ensure_schema
from gearshift.distributed.worker import WorkerOptions, serve
from gearshift.engine.pipeline import load_pipeline
from gearshift.ledger import Ledger
from gearshift.testing.fake_anthropic import FakeAnthropic

from .conftest import serve_until

pytestmark = pytest.mark.postgres

PIPELINE = """\
tasks:
  - id: lint
    task: Lint this file
    strategy: batch
    options: {items: [a.py, b.py, c.py], use_batch_api: true, batch_poll_s: 0.3}
  - {id: note-1, task: Write a release note, strategy: single}
  - {id: note-2, task: Write a second release note, strategy: single}
"""


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        server.batch_polls = 4  # ended at the 5th status check
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        yield server


def _finished(ledger: Ledger, run: str) -> dict[str, tuple[str, object]]:
    rows = ledger.query(
        "SELECT job_id, state, finished_at FROM gs_dist_nodes WHERE run_id = :r", {"r": run}
    )
    return {r[0]: (r[1], r[2]) for r in rows}


def test_a_batch_is_polled_from_the_queue_without_holding_a_slot(
    dist_db: str, tmp_path: Path, fake: FakeAnthropic
) -> None:
    path = tmp_path / "batch.yaml"
    path.write_text(PIPELINE, encoding="utf-8")
    ledger = Ledger.open(dist_db)
    try:
        ensure_schema(ledger)
        pipeline = load_pipeline(path, catalog=ledger.catalog)
        options = {"provider": "anthropic", "enforce_budgets": False}
        submit(ledger, "batch", pipeline.jobs, pipeline_path=str(path),
               pipeline_text=PIPELINE, options=options)  # fmt: skip
        one_slot = WorkerOptions(
            concurrency=1, install_signal_handlers=False, heartbeat_s=0.5, poll_s=0.2
        )

        def done() -> bool:
            states = _finished(ledger, "batch")
            return all(s == "succeeded" for s, _ in states.values())

        serve_until(ledger, one_slot, done, "the batch run to succeed")
        states = _finished(ledger, "batch")
        # one slot, and the batch job was first in the queue: the notes could only finish before
        # it because its polls gave the slot back
        assert states["note-1"][1] < states["lint"][1] and states["note-2"][1] < states["lint"][1]
        assert fake.counts["/v1/messages/batches"] == 1  # submitted once, however often polled
        polls = ledger.query(
            "SELECT starts FROM gs_dist_nodes WHERE run_id = 'batch' AND job_id = 'lint'"
        )
        assert polls[0][0] == 1  # the polls are not counted as re-runs
        rows = ledger.query(
            "SELECT count(*) FROM executions WHERE run_id = 'batch' AND task_key = 'lint' "
            "AND flags % 2 = 1"
        )
        assert rows[0][0] == 3  # each item's result recorded once, at batch prices
    finally:
        ledger.close()


def test_a_run_a_worker_cannot_set_up_ends_its_jobs_with_the_reason(
    dist_db: str, tmp_path: Path
) -> None:
    path = tmp_path / "p.yaml"
    body = "tasks:\n  - {id: a, task: Write it}\n  - {id: b, task: Check it, depends_on: a}\n"
    path.write_text(body, encoding="utf-8")
    with Ledger.open(dist_db) as ledger:
        ensure_schema(ledger)
        jobs = load_pipeline(path, catalog=ledger.catalog).jobs
        submit(
            ledger,
            "nokey",
            jobs,
            pipeline_path=str(path),
            pipeline_text=body,
            options={"provider": "anthropic"},
        )  # fmt: skip  (no ANTHROPIC_API_KEY here)
        options = WorkerOptions(concurrency=2, install_signal_handlers=False, poll_s=0.2)

        async def until_ended() -> None:
            worker = asyncio.create_task(serve(ledger, options))
            try:
                for _ in range(100):
                    if not await asyncio.to_thread(
                        ledger.query,
                        "SELECT 1 FROM gs_dist_nodes WHERE state IN "
                        "('waiting', 'queued', 'running')",
                    ):
                        return
                    await asyncio.sleep(0.1)
            finally:
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker

        asyncio.run(until_ended())
        found = ledger.query("SELECT job_id, state, reason FROM gs_dist_nodes")
        rows = {job: (state, reason) for job, state, reason in found}
    assert rows["a"][0] == "error" and "ANTHROPIC_API_KEY" in rows["a"][1]
    assert rows["b"] == ("skipped", "dependency a did not succeed")
