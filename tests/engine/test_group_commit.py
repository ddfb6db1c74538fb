"""The engine's group commit: rows queued in one event-loop turn share a transaction; with a
delay (the distributed worker's ``--commit-delay``), so do rows queued within that delay."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from gearshift.catalog import Usage
from gearshift.engine.run_state import GroupCommit
from gearshift.ledger import Execution, Ledger


@pytest.fixture
def counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Ledger, list[int]]]:
    """A ledger whose write transactions are counted."""
    ledger = Ledger.open(tmp_path / "ledger.db")
    transactions: list[int] = []
    write = ledger.write

    @contextlib.contextmanager
    def counting() -> Iterator[object]:
        with write() as conn:
            yield conn
        transactions.append(1)

    monkeypatch.setattr(ledger, "write", counting)
    try:
        yield ledger, transactions
    finally:
        ledger.close()


def _rows(ledger: Ledger, n: int) -> list[Execution]:
    return [ledger.price(agent=f"a{i}", model="haiku", usage=Usage(10, 10)) for i in range(n)]


async def _staggered(commits: GroupCommit, rows: list[Execution], gap_s: float) -> float:
    """Record ``rows`` one every ``gap_s`` seconds, each waiting for its commit; the longest
    wait."""
    loop = asyncio.get_running_loop()

    async def one(i: int, row: Execution) -> float:
        await asyncio.sleep(i * gap_s)
        started = loop.time()
        await commits.record(row)
        return loop.time() - started

    return max(await asyncio.gather(*(one(i, r) for i, r in enumerate(rows))))


def test_rows_finishing_one_by_one_commit_one_by_one_without_a_delay(
    counted: tuple[Ledger, list[int]],
) -> None:
    ledger, transactions = counted
    commits = GroupCommit(ledger, None, "run")
    asyncio.run(_staggered(commits, _rows(ledger, 4), 0.01))
    assert len(transactions) == 4
    assert ledger.count() == 4


def test_with_a_delay_rows_finishing_within_it_share_one_commit(
    counted: tuple[Ledger, list[int]],
) -> None:
    ledger, transactions = counted
    commits = GroupCommit(ledger, None, "run", delay_s=0.2)
    waited = asyncio.run(_staggered(commits, _rows(ledger, 4), 0.01))
    assert len(transactions) == 1
    assert ledger.count() == 4
    assert waited < 1.0  # each waited for the one commit, not for a delay of its own


def test_a_flush_writes_what_waits_for_the_delay_once(counted: tuple[Ledger, list[int]]) -> None:
    ledger, transactions = counted

    async def main() -> None:
        commits = GroupCommit(ledger, None, "run", delay_s=0.05)
        for row in _rows(ledger, 2):
            commits.enqueue(row)
        commits.flush()  # shutdown: written now
        assert (len(transactions), ledger.count()) == (1, 2)
        await asyncio.sleep(0.1)  # the delayed write then finds nothing left to do

    asyncio.run(main())
    assert (len(transactions), ledger.count()) == (1, 2)
