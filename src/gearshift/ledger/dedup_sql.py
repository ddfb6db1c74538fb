"""The dedup-key rules of :mod:`gearshift.ledger.dedup` on a SQLAlchemy connection: what
:class:`gearshift.ledger.store.Ledger` and the budget enforcer's writes use to lock out other
writers of keys and to read which keys and ids are recorded."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, TextClause, text

if TYPE_CHECKING:
    from gearshift.ledger.bulk import Params

__all__ = ["ConnReader", "bind", "lock_dedup_keys", "recorded_ids", "recorded_keys"]

Row = tuple[Any, ...]


#: The PostgreSQL advisory lock writers of dedup keys hold (``gearshif`` in ASCII).
_DEDUP_LOCK = 0x6765617273686966


class ConnReader:
    """A :class:`~gearshift.ledger.bulk.Reader` on a write transaction in progress."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def query(self, sql: str, params: Params = None) -> list[Row]:
        return [tuple(r) for r in self._conn.execute(*bind(sql, params))]


def bind(sql: str, params: Params) -> tuple[TextClause, dict[str, Any]]:
    """``sql`` and ``params`` as SQLAlchemy runs them: ``?`` parameters given as a sequence
    (see :meth:`gearshift.ledger.bulk.Reader.query`) become ``:p0``, ``:p1``... in order (the
    statements passed here hold no ``?`` but their parameters)."""
    if params is None:
        return text(sql), {}
    if isinstance(params, list | tuple):
        parts = sql.split("?")
        if len(parts) != len(params) + 1:
            raise ValueError(f"{len(parts) - 1} '?' in the statement for {len(params)} values")
        named = "".join(f"{part}:p{i}" for i, part in enumerate(parts[:-1])) + parts[-1]
        return text(named), {f"p{i}": value for i, value in enumerate(params)}
    return text(sql), dict(params)


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
