"""A run killed (SIGKILL) at every point of its write path, then resumed: nothing finished is
paid again, nothing paid is lost, interrupted escalation chains continue where they stopped, and
the report's cost is the ledger's for the run id.

Each case forks a child that runs the pipeline with :meth:`Ledger.write` instrumented to kill
the process inside or right after its k-th write transaction; the parent then resumes the run
in-process and checks the ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gearshift.catalog import Usage, load_catalog
from gearshift.engine.context import RunContext
from gearshift.engine.job import Job
from gearshift.engine.run_state import RunStore
from gearshift.engine.runner import RunReport, run_jobs
from gearshift.engine.validators import RegexValidator
from gearshift.ledger import Ledger
from gearshift.ledger.record import Execution
from gearshift.providers.base import ModelRequest, ModelResult
from gearshift.routing.router import Router
from gearshift.routing.task import Task

CATALOG = load_catalog()
RUN_ID = "01CRASHPOINTSRUN0000000000"
JOBS = 6
#: the tier each job's answer first passes on: chains of one, two and three attempts
NEEDS = {f"job-{i}": ("haiku", "sonnet", "opus")[i % 3] for i in range(JOBS)}
RANK = {"haiku": 0, "sonnet": 1, "opus": 2}


class Ladder:
    """Passes a job once its call reaches the tier the job needs (see ``NEEDS``)."""

    name = "ladder"
    counts_tokens = True

    async def complete(self, request: ModelRequest) -> ModelResult:
        job_id = str(request.metadata["task_id"])
        await asyncio.sleep(0.003 * (1 + int(job_id[-1]) % 2))  # the two workers' commits apart
        model = CATALOG.resolve(request.model)
        need = NEEDS[job_id]
        verdict = "PASS" if RANK[model.tier.value] >= RANK[need] else "FAIL"
        return ModelResult(f"{verdict} on {model.tier.value}", Usage(700, 300), model.id, 5)

    async def count_tokens(self, request: ModelRequest) -> int:
        return 700

    async def close(self) -> None:
        return None


def jobs() -> list[Job]:
    validators = (RegexValidator([r"\bPASS\b"]),)
    return [
        Job(job_id, Task(f"Task {job_id}", model="haiku"), strategy="tiered",
            validators=validators, options={"top_retries": 0})
        for job_id in NEEDS
    ]  # fmt: skip


def run(db: Path) -> RunReport:
    ledger = Ledger.open(db, catalog=CATALOG)
    try:
        ctx = RunContext(provider=Ladder(), catalog=CATALOG, router=Router(CATALOG),
                         ledger=ledger, store=RunStore(ledger), run_id=RUN_ID, concurrency=2,
                         source="sim")  # fmt: skip
        return run_jobs(ctx, jobs())
    finally:
        ledger.close()


def instrument(kill_at: int, phase: str, counter: list[int]) -> None:
    """Make the ``kill_at``-th write transaction kill the process: ``inside`` it (its
    statements ran, the commit did not) or right ``after`` its commit."""
    original = Ledger.write

    @contextlib.contextmanager
    def write(self: Ledger) -> Iterator[Any]:
        counter[0] += 1
        n = counter[0]
        with original(self) as conn:
            yield conn
            if n == kill_at and phase == "inside":
                os.kill(os.getpid(), signal.SIGKILL)
        if n == kill_at and phase == "after":
            os.kill(os.getpid(), signal.SIGKILL)

    Ledger.write = write  # type: ignore[method-assign]


def in_child(db: Path, kill_at: int, phase: str, out: Path | None = None) -> int:
    """Run the pipeline in a forked child; the child's exit status (or -signal)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            counter = [0]
            instrument(kill_at, phase, counter)
            run(db)
            if out is not None:
                out.write_text(str(counter[0]))
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def executions(db: Path) -> list[Execution]:
    with Ledger.open(db, catalog=CATALOG) as ledger:
        return list(ledger.executions(where="run_id = :r", params={"r": RUN_ID}))


@pytest.fixture(scope="module")
def writes(tmp_path_factory: pytest.TempPathFactory) -> int:
    """How many write transactions an uninterrupted run makes."""
    where = tmp_path_factory.mktemp("clean")
    out = where / "writes"
    assert in_child(where / "ledger.db", 0, "none", out) == 0
    return int(out.read_text())


def check(db: Path, before: list[Execution], report: RunReport) -> None:
    rows = executions(db)
    assert {o.status for o in report.outcomes} == {"succeeded"}
    # nothing paid is lost: every row committed before the kill is still there
    assert {r.id for r in before} <= {r.id for r in rows}
    by_job: dict[str, list[Execution]] = defaultdict(list)
    for row in rows:
        by_job[str(row.task_key)].append(row)
    for job_id, need in NEEDS.items():
        chain = sorted(by_job[job_id], key=lambda r: r.attempt)
        # finished jobs are paid once, and a chain continues where it stopped: one chain, each
        # attempt once, each tier once, up to the tier the job needs
        assert Counter(r.status for r in chain)["success"] == 1, job_id
        assert len({r.chain_id for r in chain}) == 1, job_id
        assert [r.attempt for r in chain] == list(range(1, len(chain) + 1)), job_id
        assert [r.tier for r in chain] == ["haiku", "sonnet", "opus"][: RANK[need] + 1], job_id
    assert report.cost_nanos == sum(r.cost_nanos for r in rows)


@pytest.mark.parametrize("phase", ["inside", "after"])
def test_kill_at_every_write_then_resume(tmp_path: Path, writes: int, phase: str) -> None:
    assert writes >= JOBS
    for kill_at in range(1, writes + 1):
        db = tmp_path / f"{phase}-{kill_at}.db"
        status = in_child(db, kill_at, phase)
        assert status in (0, -signal.SIGKILL), f"write {kill_at} of {writes}"
        before = executions(db)
        report = run(db)
        check(db, before, report)
