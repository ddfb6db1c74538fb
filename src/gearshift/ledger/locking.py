"""Waiting for another writer of a SQLite ledger, out loud.

SQLite lets one writer in at a time; the others wait up to their busy timeout inside the
library, silently. A command blocked behind a long ingest would look hung. So a write first
waits at most a second; if the ledger is still locked it says so (through ``on_wait``) and
waits out the rest of ``timeout``, then fails with a clear error. SQLite does not say which
process holds the lock, so the message says that too.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError

from gearshift.errors import LedgerLocked

__all__ = ["DEFAULT_LOCK_TIMEOUT", "begin_immediate"]

DEFAULT_LOCK_TIMEOUT = 60.0
_QUIET = 1.0  # seconds waited before saying anything


def begin_immediate(
    conn: Connection, timeout: float, on_wait: Callable[[str], object] | None, where: str
) -> None:
    """``BEGIN IMMEDIATE`` on ``conn``, waiting up to ``timeout`` seconds for another writer;
    raises LedgerLocked when the ledger is still locked after that."""
    first = min(_QUIET, timeout)
    try:
        if _try_begin(conn, first):
            return
        if timeout <= first:
            raise _still_locked(where, timeout)
        if on_wait is not None:
            on_wait(
                f"the ledger {where} is locked by another writer (SQLite does not say which "
                f"process); waiting up to {timeout:g} s (--lock-timeout)"
            )
        if not _try_begin(conn, timeout - first):
            raise _still_locked(where, timeout)
    finally:
        conn.exec_driver_sql(f"PRAGMA busy_timeout = {round(timeout * 1000)}")


def _try_begin(conn: Connection, wait: float) -> bool:
    conn.exec_driver_sql(f"PRAGMA busy_timeout = {round(wait * 1000)}")
    try:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    except OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return False
        raise
    return True


def _still_locked(where: str, timeout: float) -> LedgerLocked:
    return LedgerLocked(
        f"the ledger {where} is still locked by another writer after {timeout:g} s",
        hint="wait for the other gearshift command (an ingest, a run) to finish, or give it "
        "longer with --lock-timeout SECONDS",
    )
