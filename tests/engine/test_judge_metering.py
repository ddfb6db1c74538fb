"""Validator model calls (an LLM judge) are paid calls: reserved against budgets, recorded as
they happen, and never lost -- not when a later validator fails, not on cancellation."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

from gearshift.budgets.model import make_budget
from gearshift.budgets.reservations import Reservations
from gearshift.catalog import load_catalog
from gearshift.engine.context import RunContext
from gearshift.engine.job import Job
from gearshift.engine.run_state import RunStore
from gearshift.engine.runner import Engine, run_jobs
from gearshift.engine.validators import AllValidator, JudgeValidator
from gearshift.errors import Overloaded
from gearshift.ledger import Ledger
from gearshift.providers.base import ModelRequest, ModelResult
from gearshift.routing.router import Router
from gearshift.routing.task import Task

CATALOG = load_catalog()


class Judged:
    """Generation on haiku answers; judges (on opus) answer PASS, or fail as scripted."""

    name = "judged"

    def __init__(self, judge_failures: int = 0, judge_delay: float = 0.0) -> None:
        self.judge_failures = judge_failures
        self.judge_delay = judge_delay
        self.calls: list[str] = []

    async def complete(self, request: ModelRequest) -> ModelResult:
        model = CATALOG.resolve(request.model)
        self.calls.append(model.tier.value)
        if model.tier.value == "opus":
            await asyncio.sleep(self.judge_delay)
            judged = self.calls.count("opus")
            if judged > 1 and self.judge_failures:
                raise Overloaded("529 overloaded", status=529)
            text = "verdict: PASS\nscore: 0.9"
        else:
            text = "an answer"
        from gearshift.catalog import Usage

        usage = Usage(request.estimated_input_tokens(), request.max_tokens)  # within the worst case
        return ModelResult(text, usage, model.id, 5, stop_reason="end_turn")

    async def count_tokens(self, request: ModelRequest) -> int:
        return 1

    async def close(self) -> None:
        return None


def _ctx(provider: Any, ledger: Ledger, guard: Reservations | None = None) -> RunContext:
    return RunContext(
        provider=provider,
        catalog=CATALOG,
        router=Router(CATALOG),
        ledger=ledger,
        store=RunStore(ledger),
        source="sim",
        concurrency=1,
        guard=guard,
    )


def _job(job_id: str, validators: tuple[Any, ...]) -> Job:
    return Job(job_id, Task("Summarise the notes", model="haiku"), validators=validators)


def test_judge_calls_are_reserved_against_a_blocking_budget(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "l.db")
    budget = make_budget(
        name="g", scope="global", value="", period="month", amount_usd="0.03", action="block"
    )
    guard = Reservations(ledger, [budget])
    provider = Judged()
    jobs = [_job(f"j{i}", (JudgeValidator("opus"),)) for i in range(3)]
    report = run_jobs(_ctx(provider, ledger, guard), jobs)
    spent = sum(e.cost_nanos for e in ledger.executions())
    assert spent <= budget.amount_nanos
    statuses = [o.status for o in report.outcomes]
    assert statuses[0] == "succeeded" and set(statuses[1:]) <= {"blocked", "failed"}
    roles = [e.tags.get("role") for e in ledger.executions()]
    assert "judge" in roles


def test_a_later_validator_failing_loses_no_recorded_judge_call(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "l.db")
    provider = Judged(judge_failures=1)
    both = AllValidator([JudgeValidator("opus"), JudgeValidator("opus")])
    report = run_jobs(_ctx(provider, ledger), [_job("j", (both,))])
    recorded = list(ledger.executions())
    assert provider.calls == ["haiku", "opus", "opus"]
    # every HTTP attempt is recorded: the judge call that failed too, at no cost
    assert sorted((e.tags.get("role"), e.status) for e in recorded) == [
        ("generate", "failure"), ("judge", "error"), ("judge", "success"),
    ]  # fmt: skip
    failed = next(e for e in recorded if e.status == "error")
    assert failed.cost_nanos == 0 and "Overloaded" in str(failed.validation)
    assert report.outcomes[0].cost_nanos == sum(e.cost_nanos for e in recorded)


def test_cancelled_while_validating_records_the_paid_call_and_settles(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "l.db")
    budget = make_budget(
        name="g", scope="global", value="", period="month", amount_usd="100", action="block"
    )
    guard = Reservations(ledger, [budget])
    provider = Judged(judge_delay=5.0)
    ctx = _ctx(provider, ledger, guard)

    async def main() -> None:
        task = asyncio.create_task(Engine(ctx).run([_job("j", (JudgeValidator("opus"),))]))
        while provider.calls != ["haiku", "opus"]:
            await asyncio.sleep(0.01)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(main())
    recorded = list(ledger.executions())
    assert [(e.tags.get("role"), e.status) for e in recorded] == [("generate", "error")]
    assert recorded[0].cost_nanos > 0
    with ledger.read() as conn:
        from sqlalchemy import text

        held = conn.execute(text("SELECT COUNT(*) FROM budget_reservations")).scalar_one()
    assert held == 0
