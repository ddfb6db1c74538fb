"""The dedup-key rules of :mod:`gearshift.ledger.dedup` on a SQLAlchemy connection: what
:class:`gearshift.ledger.store.Ledger` and the budget enforcer's writes use to lock out other
writers of keys and to read which keys and ids are recorded."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, text

__all__ = ["ConnReader", "lock_dedup_keys", "recorded_ids", "recorded_keys"]

Row = tuple[Any, ...]


#: The PostgreSQL advisory lock writers of dedup keys hold (``gearshif`` in ASCII).
_DEDUP_LOCK = 0x6765617273686966


class ConnReader:
    """A :class:`~gearshift.ledger.lite.Reader` on a write transaction in progress."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        return [tuple(r) for r in self._conn.execute(text(sql), dict(params or {}))]


def lock_dedup_keys(conn: Connection) -> None:
    """Make ``conn``'s write transaction the only writer of dedup keys until it ends, so that
    checking which keys are recorded and inserting the rest is atomic. SQLite's write
    transactions (``BEGIN IMMEDIATE``) are exclusive already; PostgreSQL takes an advisory
    lock."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_DEDUP_LOCK})")


def recorded_ids(conn: Connection, ids: Sequence[str]) -> Iterator[str]:
    """Which of ``ids`` are recorded."""
    return _where_in(conn, "id", "id", ids)


def recorded_keys(conn: Connection, groups: Sequence[int]) -> Iterator[str]:
    """The recorded dedup keys of these dedup groups."""
    return _where_in(conn, "dedup_key", "dedup_group", groups)


def _where_in(conn: Connection, column: str, where: str, values: Sequence[Any]) -> Iterator[Any]:
    """``column`` of the executions whose ``where`` is one of ``values`` (500 a statement)."""
    for i in range(0, len(values), 500):
        part = list(values[i : i + 500])
        marks = ", ".join(f":v{j}" for j in range(len(part)))
        sql = f"SELECT {column} FROM executions WHERE {where} IN ({marks})"
        for (value,) in conn.execute(text(sql), {f"v{j}": v for j, v in enumerate(part)}):
            yield value
