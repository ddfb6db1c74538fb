"""What a bulk importer needs of a ledger, whichever class opened it: plain SQL reads, statements
in one write transaction, and bulk inserts of execution rows.

Both ledger classes have it -- :class:`gearshift.ledger.store.Ledger` (SQLAlchemy, SQLite or
PostgreSQL) and :class:`gearshift.ledger.sqlite3_ledger.LiteLedger` (the standard library's
sqlite3, for a quick hook-run ingest) -- and both build their inserts with :func:`insert_sql`
and :func:`full_rows`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from gearshift.ledger.columns import EXECUTION_COLUMNS

if TYPE_CHECKING:
    from gearshift.catalog import Catalog
    from gearshift.ledger.urls import LedgerLocation

__all__ = [
    "BulkLedger",
    "Params",
    "Reader",
    "Row",
    "Settle",
    "Statement",
    "full_rows",
    "insert_sql",
    "sql_literal",
]

Row = tuple[Any, ...]
#: One SQL statement with ``:name`` parameters and the parameter sets it runs with.
Statement = tuple[str, Sequence[Mapping[str, Any]]]
#: Query parameters: ``:name`` ones as a mapping, ``?`` ones as a list or tuple.
Params = Mapping[str, Any] | list[Any] | tuple[Any, ...] | None


class Reader(Protocol):
    """What a report needs of a ledger: plain SQL reads."""

    def query(self, sql: str, params: Params = None) -> list[Row]:
        """Rows of a read-only statement: ``:name`` parameters given as a mapping, or ``?``
        ones as a sequence (cheaper for a long ``IN`` list: SQLite looks each name up)."""
        ...


#: See :meth:`BulkLedger.write_rows`: ``settle(reader) -> (rows, replace_keys)``.
Settle = Callable[[Reader], tuple[Sequence[Row], Sequence[str]]]


class BulkLedger(Protocol):
    """What a bulk importer needs of a ledger (both ledger classes have it)."""

    @property
    def location(self) -> LedgerLocation: ...

    @property
    def catalog(self) -> Catalog: ...

    def query(self, sql: str, params: Params = None) -> list[Row]:
        """As :meth:`Reader.query`."""
        ...

    def execute_many(self, statements: Sequence[Statement]) -> None:
        """Run each statement once per parameter set, all in one write transaction."""
        ...

    def write_rows(
        self,
        rows: Sequence[Row],
        *,
        replace_keys: Sequence[str] = (),
        columns: Sequence[str] | None = None,
        fixed: Mapping[str, Any] | None = None,
        then: Sequence[Statement] = (),
        settle: Settle | None = None,
    ) -> int:
        """Insert execution rows (see :func:`insert_sql`), then run ``then`` (as
        :meth:`execute_many` does) in the same transaction; return how many rows were new.

        ``settle(reader)``, when given, runs first in the write transaction (one writer of
        dedup keys at a time) and returns the rows to insert and the dedup keys whose records
        they replace, decided from what ``reader`` shows is recorded: the rows it returns
        hold distinct keys, none of them recorded but those it replaces (a writer need not
        look them up again)."""
        ...


def sql_literal(value: object) -> str:
    """``value`` as an SQL literal, for the constant columns of a bulk insert."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        raise TypeError("a bulk insert constant cannot be a bool; use 0 or 1")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("a bulk insert constant cannot contain NUL")
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"a bulk insert constant must be None, int or str, not {type(value).__name__}")


def _split(columns: Sequence[str] | None, fixed: Mapping[str, Any] | None) -> list[str]:
    names = list(columns if columns is not None else EXECUTION_COLUMNS)
    given = names + list(fixed or {})
    if sorted(given) != sorted(EXECUTION_COLUMNS):
        missing = sorted(set(EXECUTION_COLUMNS) - set(given))
        extra = sorted(set(given) - set(EXECUTION_COLUMNS))
        raise ValueError(f"bulk insert columns: missing {missing}, unknown or repeated {extra}")
    return names


def insert_sql(
    columns: Sequence[str] | None = None,
    fixed: Mapping[str, Any] | None = None,
    verb: str = "INSERT OR IGNORE",
) -> str:
    """The SQLite insert for rows holding ``columns`` (default: all, in
    :data:`EXECUTION_COLUMNS` order), with ``fixed`` columns the same in every row written as
    literals -- fewer bound parameters per row is most of a bulk insert's speed."""
    names = _split(columns, fixed)
    constants = dict(fixed or {})
    cols = ", ".join(f'"{c}"' for c in [*names, *constants])
    values = ", ".join(["?"] * len(names) + [sql_literal(v) for v in constants.values()])
    return f"{verb} INTO executions ({cols}) VALUES ({values})"


def full_rows(
    rows: Sequence[Row], columns: Sequence[str] | None, fixed: Mapping[str, Any] | None
) -> Sequence[Row]:
    """Rows of ``columns`` plus ``fixed`` as whole rows in :data:`EXECUTION_COLUMNS` order."""
    names = _split(columns, fixed)
    if names == list(EXECUTION_COLUMNS):
        return rows
    constants = dict(fixed or {})
    at = {name: i for i, name in enumerate(names)}
    picks = [(at[c], None) if c in at else (-1, constants[c]) for c in EXECUTION_COLUMNS]
    return [tuple(row[i] if i >= 0 else value for i, value in picks) for row in rows]
