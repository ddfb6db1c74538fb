"""A run submitted again with another pipeline: workers build it again instead of using the
pipeline they cached, a job the pipeline no longer has ends with the reason, idle runs close."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tests.distributed.test_shutdown import nodes, submitted

from gearshift.distributed.runtime import Runtime

pytestmark = pytest.mark.postgres

FIRST = """\
defaults: {strategy: single, model: haiku, max_tokens: 256}
tasks:
  - {id: s0, task: Write a haiku}
  - {id: s1, task: Write another haiku}
"""
SECOND = """\
defaults: {strategy: single, model: haiku, max_tokens: 256}
tasks:
  - {id: s0, task: Write a haiku}
  - {id: s2, task: Write a limerick}
"""


def test_a_run_submitted_again_is_built_again_and_its_dropped_jobs_end(
    dist_db: str, tmp_path: Path
) -> None:
    ledger = submitted(dist_db, tmp_path, "again", FIRST)
    try:
        runtime = Runtime(ledger, name="w:1")

        def resubmit() -> None:
            submitted(dist_db, tmp_path, "again", SECOND).close()

        async def scenario() -> int:
            await runtime.run_job("again", "s0")  # builds and caches the first pipeline
            await asyncio.to_thread(resubmit)
            await runtime.run_job("again", "s2")
            await runtime.run_job("again", "s1")
            evicted = await runtime.evict_idle(0.0)
            await runtime.close()
            return evicted

        evicted = asyncio.run(scenario())
        states = nodes(ledger, "again")
        assert states == {"s0": ("succeeded", 1), "s1": ("error", 0), "s2": ("succeeded", 1)}
        reason = ledger.query("SELECT reason FROM gs_dist_nodes WHERE job_id = 's1'")[0][0]
        assert "not in the run's pipeline any more" in reason
        assert evicted == 2  # the first build, retired when the run changed, and the second
    finally:
        ledger.close()
