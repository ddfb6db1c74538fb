"""Connecting to a ledger's database: the engine with its connection options (WAL, write locks
taken up front, read-only sessions), whether every migration is applied, and errors that say
what to do when it cannot be opened."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from gearshift.errors import LedgerError
from gearshift.ledger.columns import EXECUTION_COLUMNS
from gearshift.ledger.locking import DEFAULT_LOCK_TIMEOUT, begin_immediate
from gearshift.ledger.migrations import MIGRATIONS
from gearshift.ledger.urls import LedgerLocation

__all__ = [
    "INSERT_COLS",
    "all_applied",
    "changes",
    "check_known",
    "closed_by_server",
    "closed_by_server_async",
    "copy_rows_pg",
    "make_engine",
    "open_error",
    "returned",
    "short_error",
]

INSERT_COLS = ", ".join(f'"{c}"' for c in EXECUTION_COLUMNS)


def make_engine(
    location: LedgerLocation,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    on_lock_wait: Callable[[str], object] | None = None,
    *,
    read_only: bool = False,
) -> Engine:
    if location.dialect == "postgresql":
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise LedgerError(
                "PostgreSQL support is not installed",
                hint="pip install 'gearshift[postgres]'",
            ) from None
        args: dict[str, Any] = {"connect_timeout": 5}
        if read_only:  # added to the URL's own options (a search_path, say), not instead
            given = make_url(location.url).query.get("options")
            given = given if isinstance(given, str) else " ".join(given or ())
            args["options"] = f"{given} -c default_transaction_read_only=on".strip()
        engine = create_engine(location.url, connect_args=args)
        event.listen(engine, "checkout", _checkout)
        event.listen(engine, "checkin", _checkin)
        return engine
    if location.path is None:
        engine = create_engine(
            location.url, poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
    else:
        engine = create_engine(
            location.url, connect_args={"timeout": lock_timeout, "check_same_thread": False}
        )
    memory = location.path is None

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {round(lock_timeout * 1000)}")
        if not memory:
            cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA cache_size = -65536")  # 64 MiB: bulk index updates stay in memory
        if read_only:
            cur.execute("PRAGMA query_only = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("gs_write", False)
        if write and not memory:
            begin_immediate(conn, lock_timeout, on_lock_wait, location.display)
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


#: A pooled connection unused for longer than this gets a ``SELECT 1`` at checkout: a peer that
#: vanished without a word (a NAT's or load balancer's idle timeout, a failover) is only found
#: by writing to it. Busier connections are checked by reading what has arrived.
IDLE_CHECK_S = 30.0


def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
    """SQLAlchemy's checkout event: a pooled connection the server has closed is replaced
    (raising DisconnectionError makes the pool connect again)."""
    if closed_by_server(dbapi_conn, record.info):
        raise DisconnectionError("the server closed the connection")


def closed_by_server(conn: Any, seen: dict[str, float]) -> bool:
    """Whether the server has ended this idle psycopg connection (sync; see
    :func:`closed_by_server_async`), mostly without a round trip.

    A server that restarts, or ends a backend (``pg_terminate_backend``, an idle timeout),
    sends its reason and closes the socket, so what has arrived is read (psycopg's connections
    are non-blocking: reading nothing costs a system call): the end of the stream marks it
    closed. A connection not checked for :data:`IDLE_CHECK_S` also answers a ``SELECT 1``.
    SQLAlchemy's ``pool_pre_ping`` and psycopg_pool's ``check_connection`` send that round
    trip on every checkout (three per distributed job). ``seen``: this connection's
    bookkeeping (when it was last checked)."""
    if _gone(conn):
        return True
    if not _stale(seen):
        return False
    from psycopg import Error

    before = conn.autocommit
    try:
        conn.autocommit = True
        conn.execute("SELECT 1")
        conn.autocommit = before
    except Error:
        return True
    return False


async def closed_by_server_async(conn: Any, seen: dict[str, float]) -> bool:
    """:func:`closed_by_server` for an async psycopg connection (an autocommit pool's)."""
    if _gone(conn):
        return True
    if not _stale(seen):
        return False
    from psycopg import Error

    try:
        await conn.execute("SELECT 1")
    except Error:
        return True
    return False


def _gone(conn: Any) -> bool:
    from psycopg import Error, pq

    if conn.closed:
        return True
    pgconn = conn.pgconn
    try:  # the server's reason, then the end of the stream (which raises)
        pgconn.consume_input()
        pgconn.consume_input()
    except Error:
        return True
    return bool(pgconn.status != pq.ConnStatus.OK)


def _stale(seen: dict[str, float]) -> bool:
    now = time.monotonic()
    last = seen.get("gs_checked", now)
    seen["gs_checked"] = now
    return now - last > IDLE_CHECK_S


def returned(seen: dict[str, float]) -> None:
    """A connection went back to its pool: its idle time counts from now (not from when it
    was taken: a connection held for a minute was not idle)."""
    seen["gs_checked"] = time.monotonic()


def _checkin(_dbapi_conn: Any, record: Any) -> None:
    if record is not None:
        returned(record.info)


def all_applied(conn: Connection) -> bool:
    names = {name for name, _ in MIGRATIONS}
    try:
        rows = conn.execute(text("SELECT name FROM gearshift_migrations")).fetchall()
    except (OperationalError, DBAPIError) as exc:
        if "does not exist" in str(exc) or "no such table" in str(exc):
            conn.rollback()
            return False
        raise
    done = {r[0] for r in rows}
    check_known(done)
    return names <= done


def check_known(done: set[str]) -> None:
    """Refuse a ledger that a newer gearshift has migrated further: this version would write
    it by rules that no longer hold (as 0007 changed how dedup keys stay unique)."""
    unknown = sorted(done - {name for name, _ in MIGRATIONS})
    if unknown:
        raise LedgerError(
            f"this ledger was upgraded by a newer gearshift (migration {unknown[-1]})",
            hint="upgrade gearshift: pip install -U gearshift",
        )


def changes(conn: Connection) -> int:
    return int(conn.exec_driver_sql("SELECT total_changes()").scalar_one())


#: up to this many rows are written by one INSERT (one round trip); more go through COPY into a
#: staging table (three round trips, and far faster per row in bulk)
COPY_FROM = 32
_ROW = "(" + ", ".join(["%s"] * len(EXECUTION_COLUMNS)) + ")"


def copy_rows_pg(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> int:
    """Insert ``rows`` (full rows of :data:`INSERT_COLS`) into ``executions``, skipping those
    already recorded; how many were new."""
    if len(rows) <= COPY_FROM:
        values = ", ".join([_ROW] * len(rows))
        flat = tuple(value for row in rows for value in row)
        result = conn.exec_driver_sql(
            f"INSERT INTO executions ({INSERT_COLS}) VALUES {values} ON CONFLICT DO NOTHING", flat
        )
        return int(result.rowcount)
    conn.exec_driver_sql(
        "CREATE TEMP TABLE IF NOT EXISTS _gs_stage (LIKE executions INCLUDING DEFAULTS) "
        "ON COMMIT DELETE ROWS"
    )
    raw = conn.connection.dbapi_connection
    assert raw is not None
    cursor: Any = raw.cursor()
    with cursor, cursor.copy(f"COPY _gs_stage ({INSERT_COLS}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    result = conn.exec_driver_sql(
        f"INSERT INTO executions ({INSERT_COLS}) SELECT {INSERT_COLS} FROM _gs_stage "
        "ON CONFLICT DO NOTHING"
    )
    return int(result.rowcount)


def short_error(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__


def open_error(location: LedgerLocation, exc: SQLAlchemyError) -> LedgerError:
    detail = short_error(exc)
    if location.dialect == "postgresql":
        return LedgerError(
            f"cannot connect to PostgreSQL ledger {location.display}: {detail}",
            hint="is the server running and the URL right? (--ledger / GEARSHIFT_LEDGER)",
        )
    if "not a database" in detail:
        hint = "that file is not a gearshift ledger; pick another --ledger path"
    elif "readonly" in detail or "unable to open" in detail:
        hint = "check the file's permissions, or pick another --ledger path"
    else:
        hint = "check the --ledger path"
    return LedgerError(f"cannot open ledger {location.display}: {detail}", hint=hint)
