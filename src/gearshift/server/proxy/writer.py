"""How the meter's batches reach the ledger: rows and the reservations they settle, in one
transaction.

A batch is written on a worker thread while the event loop serves requests, and every moment
that thread runs Python it holds the GIL the loop needs. So rows are made into plain tuples as
they are queued (on the loop, a few microseconds each), and the write itself does as little
Python as it can:

* a SQLite ledger file is written through the standard library's :mod:`sqlite3`
  (:class:`~gearshift.ledger.sqlite3_ledger.LiteLedger`, the bulk writer transcript ingest
  uses): the statements run in C, with the GIL released while SQLite works;
* a PostgreSQL (or in-memory) ledger keeps the SQLAlchemy path (``COPY`` on PostgreSQL).

Both check dedup keys and ids under the write lock and drop the settled reservations in the
same transaction (the rows of a batch count exactly once, whichever commits).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from gearshift.budgets import Reservation, Reservations
from gearshift.catalog import Catalog
from gearshift.ledger import Execution, Ledger
from gearshift.ledger.sqlite3_ledger import LiteLedger

__all__ = ["LiteWriter", "RowWriter", "SqlWriter", "open_writer"]

Row = tuple[Any, ...]

#: The writer's SQLite page cache (KiB). Appending rows touches the last pages of the table and
#: of each index; a larger cache only grows the process over a long run.
_CACHE_KIB = 8192
_SETTLE = "DELETE FROM budget_reservations WHERE id = :id"


class RowWriter(Protocol):
    """Turns executions into rows (on the loop) and writes batches of them (on a thread)."""

    def to_row(self, execution: Execution) -> Row: ...

    def write(self, rows: Sequence[Row], held: Sequence[Reservation]) -> int:
        """Record ``rows`` and drop ``held`` in one transaction; returns the rows added."""
        ...

    def close(self) -> None: ...


class SqlWriter:
    """Through :class:`~gearshift.ledger.store.Ledger` (SQLAlchemy; ``COPY`` on PostgreSQL)."""

    def __init__(self, ledger: Ledger, reservations: Callable[[], Reservations]) -> None:
        self.ledger = ledger
        self._reservations = reservations

    def to_row(self, execution: Execution) -> Row:
        return self.ledger.to_row(execution)

    def write(self, rows: Sequence[Row], held: Sequence[Reservation]) -> int:
        with self.ledger.write() as conn:
            added = self.ledger.write_rows_in(conn, rows)
            self._reservations().settle_in(conn, held)
        return added

    def close(self) -> None:
        pass


class LiteWriter:
    """Through the standard library's :mod:`sqlite3` (a SQLite ledger file)."""

    def __init__(self, ledger: Ledger, lite: LiteLedger) -> None:
        self.ledger = ledger
        self.lite = lite

    def to_row(self, execution: Execution) -> Row:
        return self.ledger.to_row(execution)

    def write(self, rows: Sequence[Row], held: Sequence[Reservation]) -> int:
        settle = [(_SETTLE, [{"id": r.id} for r in held])] if held else []
        return self.lite.write_rows(rows, then=settle)

    def close(self) -> None:
        self.lite.close()


def open_writer(
    ledger: Ledger, catalog: Catalog, reservations: Callable[[], Reservations]
) -> RowWriter:
    """The lean writer for a SQLite ledger file (migrated already by ``ledger``), else the
    SQLAlchemy one."""
    lite = LiteLedger.open_current(
        ledger.location, lambda: catalog, cache_kib=_CACHE_KIB, mmap_bytes=0
    )
    if lite is None:
        return SqlWriter(ledger, reservations)
    return LiteWriter(ledger, lite)
