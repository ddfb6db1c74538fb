"""The meter's ledger writers: a SQLite file is written with the standard library's sqlite3, and
either writer records each row once and drops the reservations it settles in the same
transaction; a row the ledger would refuse is dropped alone, not with its batch."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from gearshift.budgets import CallScope, Reservations
from gearshift.budgets.model import make_budget
from gearshift.catalog import load_catalog
from gearshift.ledger import Execution, Ledger
from gearshift.server.proxy.meter import Meter
from gearshift.server.proxy.writer import LiteWriter, RowWriter, SqlWriter, open_writer

CATALOG = load_catalog()
CALL = CallScope(project="acme", agent="coder", model="claude-sonnet-4-5", tier="sonnet")


@pytest.fixture(params=["lite", "sql"])
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Ledger, RowWriter]]:
    ledger = Ledger.open(tmp_path / "l.db", catalog=CATALOG)
    budget = make_budget(name="acme", scope="project", value="acme", period="day",
                         amount_usd="100", action="block")  # fmt: skip
    reservations = Reservations(ledger, [budget])
    if request.param == "lite":
        writer = open_writer(ledger, CATALOG, lambda: reservations)
        assert isinstance(writer, LiteWriter)
    else:
        writer = SqlWriter(ledger, lambda: reservations)
    yield ledger, writer
    writer.close()
    ledger.close()


def _row(key: str | None) -> Execution:
    return Execution(model="claude-sonnet-4-5", tier="sonnet", agent="coder", project="acme",
                     source="proxy", ts=dt.datetime.now(dt.UTC), dedup_key=key)  # fmt: skip


def _held(ledger: Ledger) -> int:
    return int(ledger.query("SELECT COUNT(*) FROM budget_reservations")[0][0])


def test_rows_count_once_and_settle_their_reservation(setup: tuple[Ledger, RowWriter]) -> None:
    ledger, writer = setup
    budget = make_budget(name="acme", scope="project", value="acme", period="day",
                         amount_usd="100", action="block")  # fmt: skip
    reservations = Reservations(ledger, [budget])
    decision = reservations.reserve(CALL, 1000)
    assert decision.reservation is not None and _held(ledger) == 1
    first, twin, plain = _row("cc:msg_1|req_1|m"), _row("cc:msg_1|req_1|m"), _row(None)
    rows = [writer.to_row(e) for e in (first, twin, plain)]
    assert writer.write(rows, [decision.reservation]) == 2
    assert _held(ledger) == 0
    again = writer.to_row(_row("cc:msg_1|req_1|m"))
    assert writer.write([again, rows[2]], []) == 0  # key and id recorded: nothing new
    assert sorted(e.id for e in ledger.executions()) == sorted([first.id, plain.id])


def test_a_row_the_ledger_refuses_is_dropped_alone(setup: tuple[Ledger, RowWriter]) -> None:
    ledger, writer = setup
    errors: list[int] = []
    meter = Meter(writer, on_error=lambda: errors.append(1))
    bad = _row(None)
    bad.output_tokens = -5
    good = _row(None)
    meter.add([bad, good])
    assert (meter.pending, meter.dropped, errors) == (1, 1, [1])
    assert asyncio.run(meter.flush())
    assert [e.id for e in ledger.executions()] == [good.id]
